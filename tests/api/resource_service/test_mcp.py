"""/mcp, the notes as MCP tools: the REST API's token validation, scope challenges at the HTTP
layer (MCP authorization 2025-11-25), the same repository and owner isolation."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from starlette.requests import Request

from auth_service.config import AuthSettings
from resource_service.mcp_server.tools import CLAIMS_STATE, TOOL_SCOPES
from resource_service.mcp_server.tools import authorized_owner as owner
from shared.claims import AccessTokenClaims
from shared.models import Note, SigningKey
from tests.conftest import AUDIENCE
from tests.factories import TestClient, TestUser, make_user
from tests.support.challenges import RESOURCE_METADATA, parse_challenges
from tests.support.clock import TestClock
from tests.support.db import Database
from tests.support.dpop import DpopKey
from tests.support.flows import AuthorizationRequest, tokens_for
from tests.support.forge import Forger, access_claims

REALM = "myauth-api"
ALGS = "ES256 PS256 EdDSA RS256"
BOTH = "read:notes write:notes"
# Streamable HTTP: clients accept both answers; we send JSON (stateless, nothing streams).
ACCEPT = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

Token = Callable[..., str]


@pytest.fixture
async def alice(db: Database) -> TestUser:
    return await make_user(db, username="alice", name="Alice")


@pytest.fixture
async def bob(db: Database) -> TestUser:
    return await make_user(db, username="bob", name="Bob")


@pytest.fixture
async def mcp(
    alice: TestUser, bob: TestUser, resource_client: httpx.AsyncClient
) -> httpx.AsyncClient:
    return resource_client


@pytest.fixture
def token(settings: AuthSettings, signing_key: SigningKey, clock: TestClock) -> Token:
    """Access tokens signed by the issuer's real key."""
    forger = Forger.from_key_dir(settings.key_dir, signing_key.kid)

    def sign(sub: str, scope: str = BOTH, **claims: Any) -> str:
        return forger.sign(access_claims(clock(), sub=sub, scope=scope, **claims))

    return sign


def _bearer(token: str) -> dict[str, str]:
    return {**ACCEPT, "Authorization": f"Bearer {token}"}


def _rpc(method: str, params: dict[str, Any] | None = None, id: int = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def _call(name: str, **arguments: Any) -> dict[str, Any]:
    return _rpc("tools/call", {"name": name, "arguments": arguments})


def _result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert "error" not in body, body
    result: dict[str, Any] = body["result"]
    return result


def _tool_error(response: httpx.Response) -> str:
    result = _result(response)
    assert result["isError"] is True, result
    text: str = result["content"][0]["text"]
    return text


async def _titles(db: Database, user: TestUser) -> list[str]:
    return sorted(note.title for note in await db.all(Note, Note.owner_id == user.id))


def _note(owner: TestUser, title: str) -> Note:
    return Note(owner_id=owner.id, title=title, body="", created_at=T0, updated_at=T0)


def _assert_challenge(response: httpx.Response, status: int, **bearer: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["cache-control"] == "no-store"
    assert parse_challenges(response.headers["www-authenticate"]) == [
        ("Bearer", {"realm": REALM, **bearer, "resource_metadata": RESOURCE_METADATA})
    ]


# --- the tools, end to end over HTTP ---------------------------------------------------------------


async def test_mcp_tools_list_names_the_four_notes_tools(
    mcp: httpx.AsyncClient, alice: TestUser, token: Token
) -> None:
    result = _result(
        await mcp.post("/mcp", json=_rpc("tools/list"), headers=_bearer(token(alice.id)))
    )

    assert [tool["name"] for tool in result["tools"]] == [
        "list_notes",
        "get_note",
        "create_note",
        "delete_note",
    ]


async def test_mcp_create_list_get_delete_use_the_notes_table(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    headers = _bearer(token(alice.id))

    created = _result(
        await mcp.post("/mcp", json=_call("create_note", title=" Hi ", body="b"), headers=headers)
    )
    note_id = created["structuredContent"]["id"]
    assert created["structuredContent"]["title"] == "Hi"  # the REST API's rules: stripped
    assert await _titles(db, alice) == ["Hi"]

    listed = _result(await mcp.post("/mcp", json=_call("list_notes"), headers=headers))
    assert [n["id"] for n in listed["structuredContent"]["items"]] == [note_id]
    fetched = _result(
        await mcp.post("/mcp", json=_call("get_note", note_id=note_id), headers=headers)
    )
    assert fetched["structuredContent"]["body"] == "b"

    deleted = _result(
        await mcp.post("/mcp", json=_call("delete_note", note_id=note_id), headers=headers)
    )
    assert deleted["structuredContent"] == {"id": note_id, "deleted": True}
    assert await db.count(Note) == 0


async def test_mcp_another_users_note_reads_as_not_found(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, bob: TestUser, token: Token
) -> None:
    await db.add(_note(bob, "bob's"))
    (theirs,) = await db.all(Note)
    headers = _bearer(token(alice.id))

    got = await mcp.post("/mcp", json=_call("get_note", note_id=theirs.id), headers=headers)
    gone = await mcp.post("/mcp", json=_call("delete_note", note_id=theirs.id), headers=headers)

    assert _tool_error(got) == "Error executing tool get_note: note not found"
    assert _tool_error(gone) == "Error executing tool delete_note: note not found"
    assert await _titles(db, bob) == ["bob's"]


async def test_mcp_invalid_title_is_a_tool_error_and_stores_nothing(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    response = await mcp.post(
        "/mcp", json=_call("create_note", title="   "), headers=_bearer(token(alice.id))
    )

    assert "string_too_short" in _tool_error(response)
    assert await db.count(Note) == 0


async def test_mcp_client_credentials_token_acts_for_no_user(
    mcp: httpx.AsyncClient, db: Database, token: Token
) -> None:
    service = token("svc-client", client_id="svc-client")

    response = await mcp.post(
        "/mcp", json=_call("create_note", title="x"), headers=_bearer(service)
    )

    assert _tool_error(response) == (
        "Error executing tool create_note: this access token does not act for a user"
    )
    assert await db.count(Note) == 0


# --- 401: no token or a bad one (RFC 6750 §3.1, RFC 9728 §5.1) --------------------------------------


async def test_mcp_without_a_token_returns_401_naming_metadata_and_scopes(
    mcp: httpx.AsyncClient, db: Database
) -> None:
    response = await mcp.post("/mcp", json=_call("create_note", title="x"), headers=ACCEPT)

    assert response.status_code == 401
    assert response.json() == {"error_description": "a bearer access token is required"}
    # MCP authorization: servers SHOULD name the scopes to ask for in the 401 challenge.
    assert parse_challenges(response.headers["www-authenticate"]) == [
        ("Bearer", {"realm": REALM, "scope": BOTH, "resource_metadata": RESOURCE_METADATA}),
        (
            "DPoP",
            {"realm": REALM, "scope": BOTH, "algs": ALGS, "resource_metadata": RESOURCE_METADATA},
        ),
    ]
    assert await db.count(Note) == 0


@pytest.mark.parametrize(
    ("case", "description"),
    [
        ("garbage", "malformed token"),
        ("expired", "token has expired"),
        ("other-audience", "token is not meant for this audience"),
    ],
)
async def test_mcp_invalid_token_returns_401_invalid_token(
    mcp: httpx.AsyncClient,
    db: Database,
    alice: TestUser,
    token: Token,
    clock: TestClock,
    case: str,
    description: str,
) -> None:
    value = {
        "garbage": "not-a-jwt",
        "expired": token(alice.id, exp=int(clock().timestamp()) - 3600),
        "other-audience": token(alice.id, aud="https://other.example"),
    }[case]

    response = await mcp.post("/mcp", json=_call("create_note", title="x"), headers=_bearer(value))

    assert response.json() == {"error": "invalid_token", "error_description": description}
    _assert_challenge(response, 401, error="invalid_token", error_description=description)
    assert await db.count(Note) == 0


# --- 403: a tool the token's scope does not cover ------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "scope", "challenged"),
    [
        ("create_note", {"title": "x"}, "read:notes", BOTH),
        ("delete_note", {"note_id": 1}, "read:notes profile", BOTH),
        ("get_note", {"note_id": 1}, "write:notes", BOTH),
        ("list_notes", {}, "profile", "read:notes"),
    ],
    ids=["create", "delete", "get", "list"],
)
async def test_mcp_tool_without_its_scope_returns_403_insufficient_scope(
    mcp: httpx.AsyncClient,
    db: Database,
    alice: TestUser,
    token: Token,
    tool: str,
    arguments: dict[str, Any],
    scope: str,
    challenged: str,
) -> None:
    await db.add(_note(alice, "kept"))  # id 1 is hers: the scope alone decides

    response = await mcp.post(
        "/mcp", json=_call(tool, **arguments), headers=_bearer(token(alice.id, scope))
    )

    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "the access token lacks the required scope",
    }
    # The scopes the call needs plus those of ours the token has, so a step-up loses nothing.
    _assert_challenge(
        response,
        403,
        error="insufficient_scope",
        error_description="the access token lacks the required scope",
        scope=challenged,
    )
    assert await _titles(db, alice) == ["kept"]


async def test_mcp_read_only_token_may_list_and_list_tools(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    await db.add(_note(alice, "kept"))
    headers = _bearer(token(alice.id, "read:notes"))

    tools = _result(await mcp.post("/mcp", json=_rpc("tools/list"), headers=headers))
    listed = _result(await mcp.post("/mcp", json=_call("list_notes"), headers=headers))

    assert len(tools["tools"]) == 4
    assert [n["title"] for n in listed["structuredContent"]["items"]] == ["kept"]


async def test_mcp_batch_with_one_unscoped_call_is_refused_whole(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    batch = [_call("list_notes"), {**_call("create_note", title="x"), "id": 2}]

    response = await mcp.post("/mcp", json=batch, headers=_bearer(token(alice.id, "read:notes")))

    assert response.status_code == 403
    assert await db.count(Note) == 0


async def test_mcp_dpop_token_without_the_scope_gets_a_dpop_challenge(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token, clock: TestClock
) -> None:
    key = DpopKey("ES256")
    bound = token(alice.id, "read:notes", cnf={"jkt": key.jkt})
    proof = key.proof("POST", f"{AUDIENCE}/mcp", now=clock(), access_token=bound)
    headers = {**ACCEPT, "Authorization": f"DPoP {bound}", "DPoP": proof}

    response = await mcp.post("/mcp", json=_call("create_note", title="x"), headers=headers)

    assert response.status_code == 403, response.text
    assert parse_challenges(response.headers["www-authenticate"]) == [
        (
            "DPoP",
            {
                "realm": REALM,
                "error": "insufficient_scope",
                "error_description": "the access token lacks the required scope",
                "scope": BOTH,
                "algs": ALGS,
                "resource_metadata": RESOURCE_METADATA,
            },
        )
    ]
    assert await db.count(Note) == 0


@pytest.mark.parametrize("method", ["initialize", "tools/list"])
async def test_mcp_token_with_none_of_the_tools_scopes_is_refused_from_the_start(
    mcp: httpx.AsyncClient, alice: TestUser, token: Token, method: str
) -> None:
    params = (
        {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        }
        if method == "initialize"
        else None
    )

    response = await mcp.post(
        "/mcp", json=_rpc(method, params), headers=_bearer(token(alice.id, "profile email"))
    )

    # Nothing here works without a notes scope: asked for the least one (the read-only tools').
    _assert_challenge(
        response,
        403,
        error="insufficient_scope",
        error_description="the access token lacks the required scope",
        scope="read:notes",
    )


async def test_mcp_dpop_bound_token_sent_as_bearer_returns_401(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    bound = token(alice.id, cnf={"jkt": DpopKey("ES256").jkt})

    response = await mcp.post("/mcp", json=_call("create_note", title="x"), headers=_bearer(bound))

    # RFC 9449 §7.2: a bound token is never accepted as a bearer token, here as at /api/v1.
    assert response.status_code == 401, response.text
    description = "the access token is DPoP-bound: send it with the DPoP scheme and a proof"
    assert response.json() == {"error": "invalid_token", "error_description": description}
    challenges = dict(parse_challenges(response.headers["www-authenticate"]))
    assert challenges["DPoP"]["error"] == "invalid_token"
    assert await db.count(Note) == 0


async def test_mcp_revoked_token_returns_401_once_the_revocation_arrives(
    mcp: httpx.AsyncClient,
    auth_client: httpx.AsyncClient,
    confidential_client: TestClient,
    user: TestUser,
) -> None:
    issued = await tokens_for(
        auth_client, AuthorizationRequest(confidential_client, scope="read:notes"), user
    )
    headers = _bearer(issued["access_token"])
    assert (await mcp.post("/mcp", json=_rpc("tools/list"), headers=headers)).status_code == 200
    revoked = await auth_client.post(
        "/oauth/revoke",
        data={"token": issued["access_token"], "token_type_hint": "access_token"},
        auth=confidential_client.basic_auth(),
    )
    assert revoked.status_code == 200, revoked.text

    # RFC 7009 §2: the resource server learns of it within a poll interval (2 s by default).
    deadline = time.monotonic() + 5
    while (
        response := await mcp.post("/mcp", json=_call("list_notes"), headers=headers)
    ).status_code == 200:
        assert time.monotonic() < deadline, "revoked token still accepted at /mcp after 5 s"
        await asyncio.sleep(0.2)

    description = "the access token was revoked"
    assert response.json() == {"error": "invalid_token", "error_description": description}
    _assert_challenge(response, 401, error="invalid_token", error_description=description)


async def test_mcp_oversized_body_returns_413_and_stores_nothing(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    title = "x" * (64 * 1024)  # ResourceSettings.max_body_bytes default: 64 KiB

    response = await mcp.post(
        "/mcp", json=_call("create_note", title=title), headers=_bearer(token(alice.id))
    )

    assert response.status_code == 413
    assert response.json()["error"] == "invalid_request"
    assert await db.count(Note) == 0


# --- the transport's own rules ------------------------------------------------------------------


async def test_mcp_request_from_a_foreign_origin_is_refused(
    mcp: httpx.AsyncClient, db: Database, alice: TestUser, token: Token
) -> None:
    headers = {**_bearer(token(alice.id)), "Origin": "http://evil.example"}

    refused = await mcp.post("/mcp", json=_call("create_note", title="x"), headers=headers)
    same_origin = await mcp.post(
        "/mcp", json=_call("list_notes"), headers={**headers, "Origin": AUDIENCE}
    )

    assert refused.status_code == 403
    assert refused.json() == {"detail": "requests from this origin are refused"}
    assert same_origin.status_code == 200, same_origin.text
    assert await db.count(Note) == 0


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_mcp_get_and_delete_are_405_stateless(
    mcp: httpx.AsyncClient, alice: TestUser, token: Token, method: str
) -> None:
    response = await mcp.request(method, "/mcp", headers=_bearer(token(alice.id)))
    unauthenticated = await mcp.request(method, "/mcp", headers=ACCEPT)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert unauthenticated.status_code == 401


async def test_mcp_requests_are_logged_and_counted_under_their_route(
    mcp: httpx.AsyncClient, alice: TestUser, token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="access"):
        await mcp.post("/mcp", json=_rpc("tools/list"), headers=_bearer(token(alice.id)))
        await mcp.post("/mcp", json=_rpc("tools/list"), headers=ACCEPT)

    routes = [r.fields["route"] for r in caplog.records if r.name == "access"]  # type: ignore[attr-defined]
    assert routes == ["/mcp", "/mcp"]  # the 200 and the 401 alike, never "<unmatched>"
    metrics = await mcp.get("/metrics")
    assert 'route="/mcp"' in metrics.text


async def test_mcp_body_that_is_not_json_rpc_gets_the_sdks_parse_error(
    mcp: httpx.AsyncClient, alice: TestUser, token: Token
) -> None:
    headers = {**_bearer(token(alice.id)), "Content-Type": "application/json"}

    response = await mcp.post("/mcp", content=b"[" * 5000, headers=headers)

    assert 400 <= response.status_code < 500
    assert json.loads(response.text)["error"]["code"] == -32700


# --- each tool checks its scope itself too ---------------------------------------------------------


def _context(claims: AccessTokenClaims | None) -> Any:
    """What a tool sees of the request: the SDK hands it the Starlette request (duck-typed here)."""
    state = {} if claims is None else {CLAIMS_STATE: claims}
    return SimpleNamespace(
        request_context=SimpleNamespace(request=Request({"type": "http", "state": state}))
    )


@pytest.mark.parametrize(
    ("tool", "scope", "missing"),
    [
        ("create_note", "read:notes", "write:notes"),
        ("delete_note", "read:notes", "write:notes"),
        ("list_notes", "write:notes", "read:notes"),
        ("get_note", "profile", "read:notes"),
    ],
)
def test_mcp_tool_without_its_scope_refuses_even_past_the_endpoint(
    tool: str, scope: str, missing: str
) -> None:
    claims = AccessTokenClaims(
        iss="i", sub="u", aud=AUDIENCE, client_id="c", scope=scope, iat=0, exp=0, jti="j"
    )

    with pytest.raises(ToolError) as refused:
        owner(_context(claims), tool)

    assert str(refused.value) == f"the access token lacks the required scope {missing}"
    assert TOOL_SCOPES[tool] == frozenset({missing})


def test_mcp_tool_without_verified_claims_refuses() -> None:
    with pytest.raises(ToolError, match="the request carried no verified access token"):
        owner(_context(None), "list_notes")
