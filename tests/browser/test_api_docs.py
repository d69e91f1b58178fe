"""`/docs` renders in Chromium from the package's assets alone, under its own strict policy."""

from __future__ import annotations

from playwright.sync_api import Page, Request

from tests.browser.support import Demo


def test_api_docs_render_offline_with_no_policy_violations(page: Page, demo: Demo) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(_url(request)))
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.goto(f"{demo.issuer}/docs")
    # Swagger UI drew the operations it read from openapi.json.
    operation = page.locator(".opblock-summary-path", has_text="/oauth/token").first
    operation.wait_for()
    operation.click()  # opening an operation draws its parameters and response models
    page.locator(".opblock-body").first.wait_for()
    page.get_by_role("button", name="Try it out").first.click()
    page.locator(".execute").first.wait_for()
    assert violations == []
    assert requested, "the page made no requests"
    assert all(url.startswith(demo.issuer) for url in requested), requested


def _url(request: Request) -> str:
    return request.url
