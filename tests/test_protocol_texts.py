"""Every error text written in the code stays inside the characters RFC 6749 §4.1.2.1 and §5.2
allow in `error_description` (%x20-21 / %x23-5B / %x5D-7E), which RFC 6750 §3 also requires of
`WWW-Authenticate` attributes. Checked by parsing the modules with `ast`, so a text that only a
rare request would produce is caught too; values interpolated at run time are reduced to the
set by `OAuthError` itself (tests/unit/shared/test_errors.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shared.errors import PROTOCOL_TEXT_CHARACTERS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "auth_service", "resource_service")
# Functions whose result becomes a description (ClientMetadataError(f"{uri}: {problem}")).
PROBLEM_SUFFIX = "_problem"


def _modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "versions" not in path.parts
    )


def _texts(node: ast.expr | None) -> Iterator[str]:
    """The literal parts of an expression that builds a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        for part in node.values:
            yield from _texts(part)
    elif isinstance(node, ast.BinOp):
        yield from _texts(node.left)
        yield from _texts(node.right)
    elif isinstance(node, ast.IfExp):
        yield from _texts(node.body)
        yield from _texts(node.orelse)


def _callee(call: ast.Call) -> str:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def _description_takers(trees: list[ast.Module]) -> set[str]:
    """Helpers that wrap a description into an error, e.g. `_page(description)`."""
    return {
        node.name
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.args.args[:1]
        and node.args.args[0].arg == "description"
    }


def _descriptions(tree: ast.Module, takers: set[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _callee(node)
            if name.endswith("Error") or name in takers:
                args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "description")]
                for arg in args:
                    yield from ((node.lineno, text) for text in _texts(arg))
        elif isinstance(node, ast.FunctionDef) and node.name.endswith(PROBLEM_SUFFIX):
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return):
                    yield from ((ret.lineno, text) for text in _texts(ret.value))
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "default_description" for t in node.targets):
                yield from ((node.lineno, text) for text in _texts(node.value))


def _all_descriptions() -> list[tuple[str, int, str]]:
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in _modules()}
    takers = _description_takers(list(trees.values()))
    return [
        (str(path.relative_to(ROOT)), line, text)
        for path, tree in trees.items()
        for line, text in _descriptions(tree, takers)
    ]


def test_protocol_texts_every_error_description_in_the_code_is_in_the_rfc_6749_set() -> None:
    offenders = [
        f"{path}:{line}: {text!r}"
        for path, line, text in _all_descriptions()
        if not PROTOCOL_TEXT_CHARACTERS.issuperset(text)
    ]
    assert offenders == []


def test_protocol_texts_scan_finds_the_texts_it_must_check() -> None:
    # Guards the scan itself: if it stopped finding texts, the test above would pass vacuously.
    texts = {(path, text) for path, _, text in _all_descriptions()}
    assert ("shared/errors.py", "the access token is invalid") in texts  # default_description
    assert ("auth_service/oauth/end_session.py", "the client is unknown") in texts  # _page(...)
    assert ("auth_service/security/redirect_uris.py", "redirect URI is too long") in texts
    assert ("auth_service/clients/registry.py", " grant is only for first-party clients ") in {
        (path, text.split("(")[0]) for path, text in texts
    }
    assert len(texts) > 150
