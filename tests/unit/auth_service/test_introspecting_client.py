"""Who may use the introspection endpoint (RFC 7662 §2.1, §4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from auth_service.oauth.introspection import validate_introspecting_client
from shared.errors import ForbiddenClientError
from shared.models import Client

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def client(*, can_introspect: bool, is_public: bool = False) -> Client:
    return Client(
        client_id="resource-server",
        name="Resource server",
        can_introspect=can_introspect,
        is_public=is_public,
        created_at=NOW,
        updated_at=NOW,
    )


def test_introspecting_client_designated_confidential_client_is_allowed() -> None:
    allowed = client(can_introspect=True)

    assert validate_introspecting_client(allowed) is allowed


@pytest.mark.parametrize(
    ("can_introspect", "is_public"),
    [(False, False), (True, True), (False, True)],
    ids=["not-designated", "public-row-with-flag", "public"],
)
def test_introspecting_client_other_clients_return_403_unauthorized_client(
    can_introspect: bool, is_public: bool
) -> None:
    with pytest.raises(ForbiddenClientError) as caught:
        validate_introspecting_client(client(can_introspect=can_introspect, is_public=is_public))

    assert caught.value.status_code == 403
    assert caught.value.to_dict() == {
        "error": "unauthorized_client",
        "error_description": "this client is not allowed to introspect tokens",
    }
