"""A TCP server that speaks just enough of the PostgreSQL protocol to refuse every connection with
a given SQLSTATE, the way a real server does while it starts up or shuts down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

# Requests a client may send before its startup message; we answer "no" to both.
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
STARTING_UP = ("57P03", "the database system is starting up")
SHUTTING_DOWN = ("57P03", "the database system is shutting down")


def error_response(sqlstate: str, message: str) -> bytes:
    """An ErrorResponse message (protocol 3.0, §55.8): severity, code, message."""
    fields = b"".join(
        kind + value.encode() + b"\0"
        for kind, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", sqlstate), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + (len(body) + 4).to_bytes(4, "big") + body


@contextlib.asynccontextmanager
async def refusing_postgres(sqlstate: str, message: str) -> AsyncIterator[str]:
    """Yields a `postgresql+asyncpg://` URL whose server refuses every connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = int.from_bytes(await reader.readexactly(4), "big")
                body = await reader.readexactly(length - 4)
                if int.from_bytes(body[:4], "big") not in (SSL_REQUEST, GSSENC_REQUEST):
                    break  # the startup message
                writer.write(b"N")
            writer.write(error_response(sqlstate, message))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/myauth"
    finally:
        server.close()
        await server.wait_closed()
