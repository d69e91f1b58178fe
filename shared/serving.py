"""Run a service's app factory under uvicorn (uvloop, httptools), with TLS when configured."""

from __future__ import annotations

from pathlib import Path


def serve(
    app_factory: str,
    *,
    host: str,
    port: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    forwarded_allow_ips: str | None = None,
) -> None:
    import uvicorn

    uvicorn.run(
        app_factory,
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app logs one line per request itself
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
        # Unset or empty: X-Forwarded-* are ignored, so no client picks the address it is seen at.
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
    )
