"""The notes tools: the same repository and rules as /api/v1/notes, one scope per tool.

`TOOL_SCOPES` is the one list of what each tool needs: the endpoint refuses a `tools/call`
without it at the HTTP layer (403 insufficient_scope, so a client can step up: MCP
authorization 2025-11-25, "Scope Challenge Handling"), and each tool checks it again itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request

from resource_service.deps import get_session
from resource_service.repositories.notes import NoteRepository
from resource_service.repositories.profiles import ProfileRepository
from resource_service.routes.notes import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    NO_USER,
    NOT_FOUND,
    Body,
    NoteOut,
    NotePage,
    Title,
    decode_cursor,
    read_page,
)
from shared.claims import AccessTokenClaims
from shared.input_guard import MAX_DB_INTEGER
from shared.models import Note

READ, WRITE = "read:notes", "write:notes"
NoteId = Annotated[int, Field(ge=1, le=MAX_DB_INTEGER, description="the note's id")]
# The claims the endpoint verified, on the request the SDK hands each tool.
CLAIMS_STATE = "access_claims"


class Deleted(BaseModel):
    id: int
    deleted: bool = True


def _request(ctx: Context) -> Request:
    request = ctx.request_context.request
    if not isinstance(request, Request):  # only the Streamable HTTP endpoint serves these tools
        raise ToolError("these tools are served over HTTP only")
    return request


def authorized_owner(ctx: Context, tool: str) -> str:
    """The user the token acts for, once it holds the tool's scope (RFC 6750 §3.1's rule, checked
    again here although the endpoint already refused such calls with a 403)."""
    claims: AccessTokenClaims | None = getattr(_request(ctx).state, CLAIMS_STATE, None)
    if claims is None:
        raise ToolError("the request carried no verified access token")
    needed = TOOL_SCOPES[tool]
    if not needed <= claims.scopes:
        raise ToolError(f"the access token lacks the required scope {' '.join(sorted(needed))}")
    if claims.sub == claims.client_id:  # client credentials: notes only exist for people
        raise ToolError(NO_USER)
    return claims.sub


@asynccontextmanager
async def _unit_of_work(ctx: Context) -> AsyncIterator[AsyncSession]:
    """The REST API's session dependency: committed on success, rolled back on any error."""
    async with asynccontextmanager(get_session)(_request(ctx)) as session:
        yield session


async def _require_profile(session: AsyncSession, owner_id: str) -> None:
    if await ProfileRepository(session).get_by_id(owner_id) is None:  # e.g. a deleted account
        raise ToolError(NO_USER)


async def list_notes(
    ctx: Context,
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Field(max_length=32)] = None,
) -> NotePage:
    """List your notes, newest first. Pass a page's next_cursor as cursor for the next page."""
    owner_id = authorized_owner(ctx, "list_notes")
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError:
            raise ToolError("invalid cursor") from None
    async with _unit_of_work(ctx) as session:
        await _require_profile(session, owner_id)
        return await read_page(NoteRepository(session), owner_id, limit=limit, cursor=cursor)


async def get_note(ctx: Context, note_id: NoteId) -> NoteOut:
    """Read one of your notes by its id."""
    owner_id = authorized_owner(ctx, "get_note")
    async with _unit_of_work(ctx) as session:
        await _require_profile(session, owner_id)
        note = await NoteRepository(session).get_for_owner(owner_id, note_id)
    if note is None:  # another user's note reads as missing, as in the REST API
        raise ToolError(NOT_FOUND)
    return NoteOut.of(note)


async def create_note(ctx: Context, title: Title, body: Body = "") -> NoteOut:
    """Write a new note with a title (1 to 200 characters) and an optional body."""
    owner_id = authorized_owner(ctx, "create_note")
    now = _request(ctx).app.state.clock()
    note = Note(owner_id=owner_id, title=title, body=body, created_at=now, updated_at=now)
    try:
        async with _unit_of_work(ctx) as session:
            created = NoteOut.of(await NoteRepository(session).add(note))
    except IntegrityError:  # note.owner_id -> user_account.id: no such user
        raise ToolError(NO_USER) from None
    return created


async def delete_note(ctx: Context, note_id: NoteId) -> Deleted:
    """Delete one of your notes by its id."""
    owner_id = authorized_owner(ctx, "delete_note")
    async with _unit_of_work(ctx) as session:
        if not await NoteRepository(session).delete_for_owner(owner_id, note_id):
            await _require_profile(session, owner_id)
            raise ToolError(NOT_FOUND)
    return Deleted(id=note_id)


# (tool, scope, read-only): the registrations below and TOOL_SCOPES both come from here.
TOOLS: tuple[tuple[Callable[..., Awaitable[Any]], str, bool], ...] = (
    (list_notes, READ, True),
    (get_note, READ, True),
    (create_note, WRITE, False),
    (delete_note, WRITE, False),
)
TOOL_SCOPES: dict[str, frozenset[str]] = {fn.__name__: frozenset({s}) for fn, s, _ in TOOLS}


def build_notes_server() -> MCPServer:
    """An MCP server with the four notes tools; the endpoint runs its session manager."""
    # subscriptions=False: no `subscriptions/listen` (MCP 2026-07-28), which would answer as a
    # stream that outlives the token it was opened with (expiry, revocation) and needs no scope.
    server: MCPServer = MCPServer("myauth-notes", title="MyAuthProvider notes", subscriptions=False)
    for fn, _, read_only in TOOLS:
        server.add_tool(
            fn,
            annotations=ToolAnnotations(
                read_only_hint=read_only, destructive_hint=fn is delete_note, open_world_hint=False
            ),
        )
    return server
