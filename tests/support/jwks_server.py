"""A client's real `jwks_uri`: a small Starlette app served by uvicorn on 127.0.0.1 in a thread.

Tests change what it serves (`jwks`, `delay`, `padding`, `status`) and read how often it was
asked (`hits`); nothing is mocked, the auth service fetches it over TCP.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.live import free_port


@dataclass
class JwksServer:
    port: int
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    delay: float = 0.0  # seconds before answering
    padding: int = 0  # extra bytes of whitespace in the body
    status: int = 200
    hits: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    async def _serve(self, request: Request) -> Response:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.status != 200:
            return Response(status_code=self.status)
        body = JSONResponse(self.jwks).body + b" " * self.padding
        return Response(body, media_type="application/jwk-set+json")


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer(port=free_port())
    app = Starlette(routes=[Route("/jwks.json", state._serve)])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=state.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the JWKS server did not start")
        time.sleep(0.01)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
