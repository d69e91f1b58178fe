"""The authorization endpoint (RFC 6749 §4.1): the request, its validation, the next step, the
pending request and the code, one module each."""
