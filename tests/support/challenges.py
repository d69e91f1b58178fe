"""WWW-Authenticate read as RFC 7235 §4.1 writes it: challenges, each a scheme and auth-params."""

from __future__ import annotations

import re

from tests.conftest import AUDIENCE

# RFC 9728 §5.1: the metadata URL every challenge of the resource API names.
RESOURCE_METADATA = f"{AUDIENCE}/.well-known/oauth-protected-resource"

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(?:{_QUOTED}|({_TOKEN}))\s*(?:,|$)")
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


def parse_challenges(header: str) -> list[tuple[str, dict[str, str]]]:
    """Every challenge in `header`, in order; a parameter named twice in one challenge fails."""
    challenges: list[tuple[str, dict[str, str]]] = []
    position = 0
    while position < len(header):
        scheme = _SCHEME.match(header, position)
        assert scheme is not None, f"no auth-scheme at {position}: {header!r}"
        position = scheme.end()
        params: dict[str, str] = {}
        while (param := _PARAM.match(header, position)) is not None:
            name = param.group(1).lower()
            assert name not in params, f"{name} twice in {header!r}"
            quoted, bare = param.group(2), param.group(3)
            params[name] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            position = param.end()
        challenges.append((scheme.group(1), params))
    return challenges


def challenge(header: str, scheme: str) -> dict[str, str]:
    """The auth-params of the one `scheme` challenge in `header`."""
    found = [params for name, params in parse_challenges(header) if name.lower() == scheme.lower()]
    assert len(found) == 1, header
    return found[0]
