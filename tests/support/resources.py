"""Authorization requests with resource indicators (RFC 8707 §2.1), `resource` once per value."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from tests.support.flows import AuthorizationRequest


@dataclass
class ResourceRequest(AuthorizationRequest):
    """An authorization request that also sends each of `resources` as a `resource` parameter."""

    resources: list[str] = field(default_factory=list)

    def url(self) -> str:
        return super().url() + "".join("&" + urlencode({"resource": r}) for r in self.resources)
