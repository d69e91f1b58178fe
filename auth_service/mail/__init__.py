"""Outgoing mail: messages rendered from templates, queued in the database, sent in the
background over SMTP (architecture: nothing on a request path waits for SMTP)."""
