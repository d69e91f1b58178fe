"""Client ID Metadata Documents: the client_id URL rules (draft-ietf-oauth-client-id-metadata-
document-00 §3) and the cache lifetime from HTTP headers (§4.4, RFC 9111)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from auth_service.clients.keys import jwks_uri_problem
from auth_service.clients.metadata_documents import (
    CachePolicy,
    MetadataDocumentError,
    MetadataDocumentFetcher,
    client_id_url_problem,
    looks_like_document_url,
)
from auth_service.config import AuthSettings
from auth_service.security.egress import parse_deny_hosts

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = CachePolicy(floor=timedelta(seconds=60), ceiling=timedelta(hours=1))


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example/client.json",
        "https://app.example:443/oauth/client-metadata.json",  # the default port, spelt out
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
        ("https://app.example:99999/c.json", "the client_id URL is malformed"),
        ("https://app.example:abc/c.json", "the client_id URL is malformed"),
        (
            "https://app.example:8443/c.json",
            "the client_id URL must not name a port other than 443",
        ),
        ("https://app.example/c?version=2", "the client_id URL must not contain a query"),
        ("https://app.example/c?", "the client_id URL must not contain a query"),
        ("https://app.example/a/%2e%2E/c.json", "the client_id URL must not contain dot segments"),
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


@pytest.mark.parametrize(
    ("url", "denied"),
    [
        ("https://blocked.example/c.json", True),
        ("https://a.b.blocked.example/c.json", True),
        ("https://BLOCKED.example./c.json", True),
        ("https://notblocked.example/c.json", False),
        ("https://blocked.example.org/c.json", False),
        ("https://evil.test/c.json", True),
        ("https://x.evil.test/c.json", True),
        ("https://app.example/c.json", False),
    ],
)
def test_denied_hosts_and_their_subdomains_are_refused(url: str, denied: bool) -> None:
    deny_hosts = parse_deny_hosts(" Blocked.Example , *.evil.test,, ")
    assert deny_hosts == ("blocked.example", "evil.test")
    problem = client_id_url_problem(url, development=False, deny_hosts=deny_hosts)
    assert problem == ("the client_id URL host is not allowed" if denied else None)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.co\\m/c.json",  # a resolver reads \m as m (RFC 1035 §5.1)
        "https://evil.co\\109/c.json",  # and \109 as m
        "https://evil.com%00/c.json",
        "https://evil.com|/c.json",
        "https://a_b.evil.com/c.json",
        "https://-evil.com/c.json",
        "https://evil..com/c.json",
    ],
)
def test_hosts_that_are_no_plain_name_are_refused(url: str) -> None:
    """Spellings a resolver would turn into a denied name must not pass as other names."""
    problem = client_id_url_problem(url, development=False, deny_hosts=("evil.com",))
    assert problem == "the client_id URL host is not a valid name"


def test_unicode_spellings_of_a_denied_host_are_denied() -> None:
    """IDNA maps full-width and ideographic dots to "." and U-labels to A-labels before httpx
    dials, so the deny list is compared with that ASCII form, and accepts Unicode entries."""
    deny_hosts = parse_deny_hosts("internal.corp, bücher.example")
    assert deny_hosts == ("internal.corp", "xn--bcher-kva.example")
    for url in (
        "https://internal\u3002corp/k",
        "https://internal\uff0ecorp/k",
        "https://b\u00fccher.example/k",
        "https://xn--bcher-kva.example/k",
    ):
        problem = jwks_uri_problem(url, development=False, deny_hosts=deny_hosts)
        assert problem == "jwks_uri host is not allowed", url


async def test_slow_name_resolution_is_bounded_by_the_fetch_timeout() -> None:
    """A resolver that never answers must not hold the request past the fetch timeout."""
    resolving = asyncio.Event()

    async def stuck_resolver(host: str, port: int) -> list[str]:
        resolving.set()
        await asyncio.sleep(60)
        return ["93.184.215.14"]

    fetcher = MetadataDocumentFetcher(
        timeout=0.2,
        max_bytes=4096,
        cache=POLICY,
        development=False,
        clock=lambda: NOW,
        resolver=stuck_resolver,
    )
    started = time.monotonic()
    try:
        async with asyncio.timeout(5):  # fail the test, not hang it, when the bound is missing
            with pytest.raises(MetadataDocumentError) as raised:
                await fetcher.document("https://app.example/c.json")
    finally:
        await fetcher.aclose()

    assert resolving.is_set()
    assert str(raised.value) == "the client metadata document could not be fetched"
    assert time.monotonic() - started < 2


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
        ({"cache-control": "max-age=" + "9" * 5000}, 3600),  # past int()'s digit limit
        ({"cache-control": "max-age=+5000"}, 60),  # RFC 9111 §1.2.2: 1*DIGIT only
        ({"cache-control": "max-age=5_000"}, 60),
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
