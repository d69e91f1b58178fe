"""The start-up warning when MCP clients could not use the API's audience as their `resource`."""

from __future__ import annotations

import logging

import pytest

from resource_service.main import warn_if_mcp_cannot_use


@pytest.mark.parametrize(
    ("audience", "public_url"),
    [
        ("http://127.0.0.1:8001", "http://127.0.0.1:8001"),
        ("https://api.example/", "https://api.example"),
        ("https://api.example/notes", "https://api.example/notes"),
    ],
    ids=["same", "trailing-slash", "with-path"],
)
def test_audience_that_is_a_parent_of_the_mcp_url_logs_nothing(
    caplog: pytest.LogCaptureFixture, audience: str, public_url: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="resource_service.main"):
        warn_if_mcp_cannot_use(audience, public_url)

    assert caplog.records == []


@pytest.mark.parametrize(
    ("audience", "public_url"),
    [
        ("https://notes-api", "https://api.example"),
        ("https://api.example/v2", "https://api.example"),
        ("https://api.example", "https://api.example.evil"),
    ],
    ids=["other-name", "deeper-path", "longer-host"],
)
def test_audience_that_is_not_a_parent_of_the_mcp_url_warns(
    caplog: pytest.LogCaptureFixture, audience: str, public_url: str
) -> None:
    with caplog.at_level(logging.WARNING, logger="resource_service.main"):
        warn_if_mcp_cannot_use(audience, public_url)

    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert f"{public_url}/mcp" in caplog.records[0].getMessage()
