"""Interactive API docs (Swagger UI) served from the assets of the installed `fastapi-offline`.

FastAPI's default `/docs` page pulls Swagger UI's script from a public CDN at a floating major
version, with no integrity check, onto the same origin as our consent page; it also fails offline.
Here every asset comes from the pinned package and our own initialiser, so the page's
Content-Security-Policy can name `'self'` alone and forbid inline script.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

# Swagger UI 5 (OpenAPI 3.1, which FastAPI emits); the package's own app class is not used.
SWAGGER_UI_ASSETS = files("fastapi_offline") / "static"

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)

# Relative URLs, so the page also works behind a proxy that mounts the service under a prefix.
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
"""

_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
});
"""


def install_api_docs(app: FastAPI, title: str) -> None:
    """Serve `/docs`; create the app with `docs_url=None` so FastAPI's CDN page is not served."""
    page = _PAGE.format(title=title)
    headers = {"content-security-policy": DOCS_CSP, "cache-control": "no-cache"}

    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    async def docs_init() -> Response:
        return Response(_INIT, media_type="text/javascript", headers=headers)

    app.add_api_route(DOCS_PATH, docs_page, methods=["GET"], include_in_schema=False)
    app.add_api_route(f"{DOCS_PATH}/init.js", docs_init, methods=["GET"], include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=str(SWAGGER_UI_ASSETS)), name="api-docs-assets")
