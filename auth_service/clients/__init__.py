"""Registered clients: the registration rules every path shares (RFC 7591 §2) and the in-memory cache."""
