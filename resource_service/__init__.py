"""The resource API: validates bearer JWTs locally against the issuer's cached keys."""
