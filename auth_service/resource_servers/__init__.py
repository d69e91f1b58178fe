"""Registering resource servers (RFC 8707): the rules the CLI, the portal and the demo seed share."""
