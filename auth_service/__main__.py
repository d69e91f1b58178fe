"""`python -m auth_service`: the same as `auth-service serve` (settings' host, port, TLS, proxies)."""

from auth_service.cli import serve_command

serve_command()
