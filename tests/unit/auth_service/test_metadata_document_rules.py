"""Client ID Metadata Documents: the client_id URL rules (draft-ietf-oauth-client-id-metadata-
document-00 §3) and the cache lifetime from HTTP headers (§4.4, RFC 9111)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from auth_service.clients.metadata_documents import (
    CachePolicy,
    client_id_url_problem,
    looks_like_document_url,
)
from auth_service.config import AuthSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = CachePolicy(floor=timedelta(seconds=60), ceiling=timedelta(hours=1))


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example/client.json",
        "https://app.example:8443/oauth/client-metadata.json",
        "https://app.example/client?version=2",  # §3: a query is allowed
        "https://app.example/" + "a" * (255 - len("https://app.example/")),
    ],
)
def test_client_id_url_valid_in_production(url: str) -> None:
    assert client_id_url_problem(url, development=False) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://app.example/client.json", "the client_id URL must be an absolute https URL"),
        ("https:///client.json", "the client_id URL must be an absolute https URL"),
        ("https://app.example", "the client_id URL must contain a path"),
        ("https://app.example/", "the client_id URL must contain a path"),
        ("https://app.example/c.json#x", "the client_id URL must not contain a fragment"),
        ("https://app.example/c.json#", "the client_id URL must not contain a fragment"),
        (
            "https://u:p@app.example/c.json",
            "the client_id URL must not contain a user name or password",
        ),
        ("https://app.example/a/../c.json", "the client_id URL must not contain dot segments"),
        ("https://app.example/a/.", "the client_id URL must not contain dot segments"),
        ("https://app.example/c json", "the client_id URL must be printable ASCII without spaces"),
        ("https://äpp.example/c.json", "the client_id URL must be printable ASCII without spaces"),
        ("https://[bad/c.json", "the client_id URL is malformed"),
        (
            "https://app.example/" + "a" * 240,
            "the client_id URL is longer than 255 characters",
        ),
    ],
)
def test_client_id_url_refused(url: str, problem: str) -> None:
    assert client_id_url_problem(url, development=False) == problem


def test_client_id_url_http_only_in_development() -> None:
    assert client_id_url_problem("http://127.0.0.1:9/c.json", development=True) is None
    assert client_id_url_problem("ftp://127.0.0.1/c.json", development=True) is not None


def test_looks_like_document_url_only_for_http_schemes() -> None:
    assert looks_like_document_url("https://app.example/c.json")
    assert looks_like_document_url("http://127.0.0.1/c.json")
    assert not looks_like_document_url("Zx8_abc-123")  # our own ids have no colon


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "max-age=600"}, 600),
        ({"cache-control": 'private, max-age="900"'}, 900),
        ({"cache-control": "max-age=10"}, 60),
        ({"cache-control": "max-age=99999999"}, 3600),
        ({"cache-control": "max-age=-5"}, 60),
        ({"cache-control": "max-age=soon"}, 60),
        ({"cache-control": "no-store, max-age=600"}, 60),
        ({"cache-control": "No-Cache"}, 60),
        ({"cache-control": "max-age=600", "expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 600),
        ({"expires": "Thu, 01 Jan 2026 00:20:00 GMT"}, 1200),
        ({"expires": "Thu, 01 Jan 1970 00:00:00 GMT"}, 60),
        ({"expires": "0"}, 60),
        ({}, 60),
    ],
)
def test_cache_lifetime_from_headers_within_floor_and_ceiling(
    headers: dict[str, str], seconds: int
) -> None:
    assert POLICY.lifetime(httpx.Headers(headers), NOW) == timedelta(seconds=seconds)


def test_settings_refuse_a_floor_above_the_ceiling() -> None:
    with pytest.raises(ValidationError, match="AUTH_CLIENT_METADATA_MIN_TTL must not exceed"):
        AuthSettings(
            _env_file=None,  # type: ignore[call-arg]
            client_metadata_min_ttl=600,
            client_metadata_max_ttl=60,
        )
