"""PKCE at /oauth/authorize: RFC 7636 §4.2-4.3, S256 only and required by default (RFC 9700 §2.1.1)."""

from __future__ import annotations

import httpx
import pytest

from shared.models import AuthorizationCode, PendingAuthorization
from tests.factories import REDIRECT_URI, TestUser, make_client
from tests.support.authorize import RefusedRequest, assert_refused_with_error_redirect, refused
from tests.support.db import Database
from tests.support.flows import AuthorizationRequest, authorize, exchange_code
from tests.support.pages import assert_client_code, assert_step_redirect, sha256_hex

PUBLIC = {"is_public": True}
NO_PKCE: dict[str, str | None] = {"code_challenge": None, "code_challenge_method": None}
PKCE_REQUIRED = "code_challenge is required (PKCE, RFC 7636)"
S256_ONLY = "code_challenge_method must be S256"
MALFORMED_CHALLENGE = "code_challenge must be 43 base64url characters (RFC 7636 section 4.2)"

PKCE_REFUSALS = [
    # RFC 9700 §2.1.1: PKCE for public clients, and for confidential clients by default.
    *(
        refused(name, "invalid_request", PKCE_REQUIRED, client=client, extra=NO_PKCE)
        for name, client in [
            ("public_client_without_code_challenge_redirects_with_invalid_request", PUBLIC),
            (
                "confidential_client_without_code_challenge_redirects_with_invalid_request",
                {"is_public": False},
            ),
            (
                "public_client_registered_without_pkce_still_requires_it",
                {"is_public": True, "require_pkce": False},
            ),
        ]
    ),
    # RFC 9700 §2.1.1: `plain` gives no protection when the request leaks; only S256. RFC 7636
    # §4.3 defaults a missing method to `plain`, which we refuse too.
    *(
        refused(
            name,
            "invalid_request",
            S256_ONLY,
            client=client,
            extra={"code_challenge_method": method},
        )
        for name, client, method in [
            ("plain_code_challenge_method_redirects_with_invalid_request", PUBLIC, "plain"),
            (
                "legacy_confidential_client_with_plain_pkce_is_still_refused",
                {"require_pkce": False},
                "plain",
            ),
            ("missing_code_challenge_method_redirects_with_invalid_request", PUBLIC, None),
            ("lowercase_s256_code_challenge_method_redirects_with_invalid_request", PUBLIC, "s256"),
            ("s512_code_challenge_method_redirects_with_invalid_request", PUBLIC, "S512"),
        ]
    ),
    refused(
        "code_challenge_method_without_challenge_redirects_with_invalid_request",
        "invalid_request",
        "code_challenge_method was sent without code_challenge",
        client=PUBLIC,
        extra={"code_challenge": None},
    ),
    # RFC 7636 §4.2: an S256 challenge is exactly 43 base64url characters.
    *(
        refused(
            f"code_challenge_{name}_redirects_with_invalid_request",
            "invalid_request",
            MALFORMED_CHALLENGE,
            client=PUBLIC,
            extra={"code_challenge": challenge},
        )
        for name, challenge in [
            ("of_42_characters", "a" * 42),
            ("of_44_characters", "a" * 44),
            ("of_128_characters", "a" * 128),
            ("with_padding", "a" * 42 + "="),
            ("with_plus", "a" * 42 + "+"),
            ("with_slash", "a" * 42 + "/"),
            ("with_dot", "a" * 42 + "."),
            ("with_space", "a" * 42 + " "),
        ]
    ),
]


@pytest.mark.parametrize("case", PKCE_REFUSALS)
async def test_authorize_pkce(
    db: Database, auth_client: httpx.AsyncClient, case: RefusedRequest
) -> None:
    await assert_refused_with_error_redirect(db, auth_client, case)


async def test_authorize_legacy_confidential_client_without_pkce_is_accepted(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    # RFC 9700 §2.1.1 allows an operator to relax PKCE for a confidential client (nonce-based).
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await auth_client.get(request.url())

    request_id = assert_step_redirect(response, "/login")
    pending = await db.get(PendingAuthorization, request_id)
    assert pending is not None
    assert pending.params["code_challenge"] is None
    assert pending.params["code_challenge_method"] is None


async def test_authorize_legacy_confidential_client_without_pkce_gets_redeemable_code(
    db: Database, auth_client: httpx.AsyncClient, user: TestUser
) -> None:
    client = await make_client(db, require_pkce=False)
    request = AuthorizationRequest(
        client, extra={"code_challenge": None, "code_challenge_method": None}
    )

    response = await authorize(auth_client, request, user)

    code = assert_client_code(response, REDIRECT_URI, state=request.state)
    row = await db.get(AuthorizationCode, sha256_hex(code))
    assert row is not None
    assert (row.code_challenge, row.code_challenge_method) == (None, None)
    token = await exchange_code(auth_client, request, code, code_verifier=None)
    assert token.status_code == 200, token.text
