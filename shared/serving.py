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
        proxy_headers=False,
    )
