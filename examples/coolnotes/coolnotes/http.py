"""The HTTP client library under Authlib's httpx integration, which all our calls go through.

Authlib runs on httpx2 where it is installed (the `mcp` SDK of the resource service brings it
into the same environment) and on httpx otherwise; the app names its types and errors from the
same module, or an outage of the provider would escape the app's error handler.
"""

from __future__ import annotations

try:
    import httpx2 as httpx
except ImportError:  # pragma: no cover - an environment without the mcp SDK
    import httpx  # type: ignore[no-redef]

__all__ = ["httpx"]
