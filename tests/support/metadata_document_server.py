"""A client's own web server publishing Client ID Metadata Documents: a small Starlette app
served by uvicorn on 127.0.0.1 in a thread (like jwks_server.py). Nothing is mocked: the auth
service fetches every document over TCP.

Each path serves a `Served` answer that tests change at will; `hits` counts the requests per path
and `request_headers` keeps the headers of the last one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.support.live import free_port


@dataclass
class Served:
    """What one path answers: a JSON document (or raw `body`), status, headers, a delay."""

    document: Any = None
    body: bytes | None = None
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunked: bool = False  # no Content-Length: the body comes in 1 KiB chunks until it ends

    def content(self) -> bytes:
        return self.body if self.body is not None else json.dumps(self.document).encode()


@dataclass
class DocumentServer:
    port: int
    served: dict[str, Served] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    request_headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def publish(self, path: str, **metadata: Any) -> str:
        """Serve a valid public client's document at `path`; returns its URL (the client_id)."""
        client_id = self.url(path)
        document = {
            "client_id": client_id,
            "client_name": "Agent Smith",
            "redirect_uris": [f"http://127.0.0.1:{self.port}/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            **metadata,
        }
        self.served[path] = Served(document={k: v for k, v in document.items() if v is not None})
        return client_id

    async def _serve(self, request: Request) -> Response:
        path = request.url.path
        self.hits[path] += 1
        self.request_headers[path] = dict(request.headers)
        served = self.served.get(path)
        if served is None:
            return Response(status_code=404)
        if served.delay:
            await asyncio.sleep(served.delay)
        if served.chunked:
            content = served.content()
            chunks = (content[i : i + 1024] for i in range(0, len(content), 1024))
            return StreamingResponse(
                _iterate(chunks),
                status_code=served.status,
                headers={"content-type": served.content_type, **served.headers},
            )
        return Response(
            served.content(),
            status_code=served.status,
            headers={"content-type": served.content_type, **served.headers},
        )


async def _iterate(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


@contextmanager
def document_server() -> Iterator[DocumentServer]:
    state = DocumentServer(port=free_port())
    app = Starlette(routes=[Route("/{path:path}", state._serve)])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=state.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the document server did not start")
        time.sleep(0.01)
    try:
        yield state
    finally:
        server.should_exit = True
        thread.join(timeout=10)
