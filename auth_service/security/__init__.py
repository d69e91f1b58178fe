"""Security primitives with no web framework and no database: hashing, secrets, keys, PKCE."""
