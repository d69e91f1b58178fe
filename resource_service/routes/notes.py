"""Each user's notes: /api/v1/notes, scopes `read:notes` and `write:notes` (RFC 6750 bearer).

The owner is the token's `sub`. Another user's note is answered 404, never 403, so ids reveal
nothing (OWASP API1:2023, broken object level authorization). A token that acts for no user
(client credentials: `sub` is the client id) gets 403: notes only exist for people.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import IntegrityError

from resource_service.deps import Now, SessionDep, require_scopes
from resource_service.repositories.notes import NoteRepository
from resource_service.repositories.profiles import ProfileRepository
from shared.claims import AccessTokenClaims
from shared.input_guard import MAX_DB_INTEGER, is_clean_text
from shared.models import Note
from shared.models.notes import MAX_BODY_LENGTH, MAX_TITLE_LENGTH

router = APIRouter(prefix="/api/v1/notes", tags=["notes"])
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
NOT_FOUND = "note not found"
NO_USER = "this access token does not act for a user"


def encode_cursor(note_id: int) -> str:
    return base64.urlsafe_b64encode(f"n{note_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a page continues after; opaque to clients, so its form may change."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor") from None
    if len(text) > 20 or not text.startswith("n") or not text[1:].isdigit():
        raise ValueError("invalid cursor")
    note_id = int(text[1:])
    if note_id > MAX_DB_INTEGER:
        raise ValueError("invalid cursor")
    return note_id


def _check_cursor(cursor: str | None) -> str | None:
    if cursor is not None:
        decode_cursor(cursor)  # a ValueError becomes FastAPI's standard 422
    return cursor


Cursor = Annotated[str | None, AfterValidator(_check_cursor)]
# Beyond the database's integer range an id cannot exist; refuse it rather than fail the query.
NoteId = Annotated[int, Path(ge=1, le=MAX_DB_INTEGER)]


def _clean(value: str) -> str:
    if not is_clean_text(value):
        raise ValueError("text must not contain NUL characters or unpaired surrogates")
    return value


CleanText = AfterValidator(_clean)


# The rules for a note's text, shared with the MCP tools (resource_service/mcp_server).
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE_LENGTH),
    CleanText,
]
Body = Annotated[str, Field(max_length=MAX_BODY_LENGTH), CleanText]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body = ""


class NoteOut(BaseModel):
    id: int
    title: str
    body: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, note: Note) -> NoteOut:
        assert note.id is not None  # noqa: S101 - rows read or flushed have ids
        return cls(
            id=note.id,
            title=note.title,
            body=note.body,
            created_at=note.created_at,
            updated_at=note.updated_at,
        )


class NotePage(BaseModel):
    items: list[NoteOut]
    next_cursor: str | None


def _acting_user(claims: AccessTokenClaims) -> str:
    if claims.sub == claims.client_id:  # client credentials: the client acts for itself
        raise HTTPException(status_code=403, detail=NO_USER)
    return claims.sub


async def reader(
    session: SessionDep,
    claims: Annotated[AccessTokenClaims, Depends(require_scopes("read:notes"))],
) -> str:
    owner_id = _acting_user(claims)
    if await ProfileRepository(session).get_by_id(owner_id) is None:  # e.g. a deleted account
        raise HTTPException(status_code=403, detail=NO_USER)
    return owner_id


async def writer(
    claims: Annotated[AccessTokenClaims, Depends(require_scopes("write:notes"))],
) -> str:
    # No profile read before a write: on SQLite a deferred transaction that has read cannot
    # start writing once another process has committed (SQLITE_BUSY at once, no busy wait).
    # The write itself settles it: the foreign key refuses an unknown owner.
    return _acting_user(claims)


Reader = Annotated[str, Depends(reader)]
Writer = Annotated[str, Depends(writer)]


@router.get("", response_model=NotePage)
async def list_notes(
    owner_id: Reader,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[Cursor, Query(max_length=32)] = None,
) -> NotePage:
    return await read_page(NoteRepository(session), owner_id, limit=limit, cursor=cursor)


async def read_page(
    notes: NoteRepository, owner_id: str, *, limit: int, cursor: str | None
) -> NotePage:
    """One page of the owner's notes, newest first, and the cursor of the next (if any)."""
    before_id = decode_cursor(cursor) if cursor else None
    # One row more than asked tells whether another page exists without a COUNT.
    rows = await notes.list_for_owner(owner_id, limit=limit + 1, before_id=before_id)
    page = [NoteOut.of(note) for note in rows[:limit]]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > limit else None
    return NotePage(items=page, next_cursor=next_cursor)


@router.post("", response_model=NoteOut, status_code=201)
async def create_note(
    note_in: NoteIn, owner_id: Writer, session: SessionDep, now: Now, response: Response
) -> NoteOut:
    note = Note(
        owner_id=owner_id, title=note_in.title, body=note_in.body, created_at=now, updated_at=now
    )
    try:
        created = NoteOut.of(await NoteRepository(session).add(note))
    except IntegrityError:  # note.owner_id -> user_account.id: no such user
        raise HTTPException(status_code=403, detail=NO_USER) from None
    response.headers["Location"] = f"{router.prefix}/{created.id}"
    return created


@router.get("/{note_id}", response_model=NoteOut)
async def get_note(note_id: NoteId, owner_id: Reader, session: SessionDep) -> NoteOut:
    note = await NoteRepository(session).get_for_owner(owner_id, note_id)
    if note is None:
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return NoteOut.of(note)


@router.delete("/{note_id}", status_code=204)
async def delete_note(note_id: NoteId, owner_id: Writer, session: SessionDep) -> Response:
    if not await NoteRepository(session).delete_for_owner(owner_id, note_id):
        # Read after the DELETE, inside what is now a write transaction.
        if await ProfileRepository(session).get_by_id(owner_id) is None:
            raise HTTPException(status_code=403, detail=NO_USER)
        raise HTTPException(status_code=404, detail=NOT_FOUND)
    return Response(status_code=204)
