"""How the services hand their settings to uvicorn (uvicorn itself is not ours: only its call is checked)."""

from __future__ import annotations

import runpy
import sys
from typing import Any

import pytest
import uvicorn

from shared.serving import serve


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    return calls


def test_serve_ignores_forwarded_headers_unless_proxies_are_named(
    uvicorn_calls: list[dict[str, Any]],
) -> None:
    serve("m:f", host="127.0.0.1", port=1, tls_cert=None, tls_key=None)
    serve(
        "m:f", host="127.0.0.1", port=1, tls_cert=None, tls_key=None, forwarded_allow_ips="10.0.0.2"
    )

    assert uvicorn_calls[0]["proxy_headers"] is False
    assert (uvicorn_calls[1]["proxy_headers"], uvicorn_calls[1]["forwarded_allow_ips"]) == (
        True,
        "10.0.0.2",
    )
    assert all(call["access_log"] is False for call in uvicorn_calls)


def test_serve_treats_an_empty_proxy_list_as_none(uvicorn_calls: list[dict[str, Any]]) -> None:
    """`AUTH_FORWARDED_ALLOW_IPS=` as .env.example leaves it."""
    serve("m:f", host="127.0.0.1", port=1, tls_cert=None, tls_key=None, forwarded_allow_ips="")

    assert uvicorn_calls[0]["proxy_headers"] is False


@pytest.mark.parametrize(
    ("module", "prefix"), [("auth_service", "AUTH_"), ("resource_service", "RESOURCE_")]
)
def test_python_m_service_trusts_the_configured_proxies(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, module: str, prefix: str
) -> None:
    # `python -m auth_service` once left AUTH_FORWARDED_ALLOW_IPS out, unlike `auth-service serve`:
    # behind a proxy every client then had the proxy's address (throttling, audit).
    monkeypatch.setenv(f"{prefix}FORWARDED_ALLOW_IPS", "10.0.0.2")
    monkeypatch.delitem(sys.modules, f"{module}.__main__", raising=False)

    runpy.run_module(module, run_name="__main__")

    assert (uvicorn_calls[0]["proxy_headers"], uvicorn_calls[0]["forwarded_allow_ips"]) == (
        True,
        "10.0.0.2",
    )
