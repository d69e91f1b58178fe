"""`python -m resource_service`: serve the resource API with the settings' host, port and TLS."""

from resource_service.config import get_settings
from shared.serving import serve

settings = get_settings()
serve(
    "resource_service.main:create_app",
    host=settings.host,
    port=settings.port,
    tls_cert=settings.tls_cert,
    tls_key=settings.tls_key,
    forwarded_allow_ips=settings.forwarded_allow_ips,
)
