"""Protocol logic: typed requests in, typed results or OAuthErrors out. No FastAPI here."""
