"""examples/notes_cli.py's own rules, against a scripted server (its end-to-end test runs it
against live services): it waits as long as a busy server asks (RFC 9110 §10.2.3), honours
slow_down (RFC 8628 §3.5), refuses another issuer's metadata (RFC 8414 §3.3) and never prints
control characters."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes_cli.py"
TOKEN = "https://auth.example/oauth/token"


@pytest.fixture(scope="module")
def cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notes_cli", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sleeps(cli: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every time.sleep of the CLI, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(cli.time, "sleep", slept.append)
    return slept


def scripted(answers: list[httpx.Response]) -> httpx.Client:
    replies: Iterator[httpx.Response] = iter(answers)
    handler: Callable[[httpx.Request], httpx.Response] = lambda _request: next(replies)  # noqa: E731
    return httpx.Client(transport=httpx.MockTransport(handler))


def oauth_error(error: str, status: int = 400, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error}, headers=headers)


def test_poll_waits_retry_after_on_429_and_503_then_the_interval_again(
    cli: ModuleType, sleeps: list[float]
) -> None:
    http = scripted(
        [
            oauth_error("temporarily_unavailable", 429, **{"Retry-After": "30"}),
            httpx.Response(503, headers={"Retry-After": "2"}),  # shorter than the interval
            oauth_error("authorization_pending"),
            httpx.Response(200, json={"access_token": "at"}),
        ]
    )

    tokens: dict[str, Any] = cli.poll(http, TOKEN, "cli", "dc", interval=5, expires_in=600)

    assert tokens == {"access_token": "at"}
    assert sleeps == [5, 30, 5, 5]


def test_poll_slow_down_adds_five_seconds_for_good(cli: ModuleType, sleeps: list[float]) -> None:
    http = scripted(
        [
            oauth_error("slow_down"),
            oauth_error("authorization_pending"),
            httpx.Response(200, json={"access_token": "at"}),
        ]
    )

    cli.poll(http, TOKEN, "cli", "dc", interval=5, expires_in=600)

    assert sleeps == [5, 10, 10]


@pytest.mark.parametrize(("header", "expected"), [("99999", 300), ("0", 1), ("soon", 5), ("", 5)])
def test_retry_after_is_bounded_and_falls_back(
    cli: ModuleType, header: str, expected: float
) -> None:
    response = httpx.Response(429, headers={"Retry-After": header} if header else {})

    assert cli.retry_after(response, 5) == expected


def test_start_retries_a_busy_server_a_few_times_then_gives_up(
    cli: ModuleType, sleeps: list[float]
) -> None:
    busy = oauth_error("temporarily_unavailable", 429, **{"Retry-After": "7"})
    http = scripted([busy] * cli.BUSY_RETRIES)

    with pytest.raises(cli.SignInFailed, match="temporarily_unavailable"):
        cli.start(http, "https://auth.example/oauth/device_authorization", "cli", "read:notes")

    assert sleeps == [7] * cli.BUSY_RETRIES


def test_discover_refuses_metadata_naming_another_issuer(cli: ModuleType) -> None:
    http = scripted([httpx.Response(200, json={"issuer": "https://evil.example\x1b[2J"})])

    with pytest.raises(cli.SignInFailed) as refused:
        cli.discover(http, "https://auth.example")

    assert str(refused.value) == (
        "the metadata names the issuer 'https://evil.example[2J', not 'https://auth.example'"
    )


def test_printable_drops_control_and_format_characters(cli: ModuleType) -> None:
    assert cli.printable("\x1b[31mred\x07 \u202eevil\u202c\ttab\n") == "[31mred eviltab"
