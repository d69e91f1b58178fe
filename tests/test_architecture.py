"""Import boundaries of the layout (style guide §1), checked by parsing every module with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "auth_service", "resource_service")


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "versions" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import (absolute imports only)")
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".", 1)[0]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("shared", {"auth_service", "resource_service"}),
        ("resource_service", {"auth_service"}),
        ("auth_service", {"resource_service"}),
    ],
)
def test_architecture_package_imports_only_what_the_layout_allows(
    package: str, forbidden: set[str]
) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) in forbidden
    ]
    assert offenders == []


@pytest.mark.parametrize("layer", ["auth_service/oauth", "auth_service/security"])
def test_architecture_protocol_core_imports_no_web_framework(layer: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name in _imports(path)
        if _top(name) in ("fastapi", "starlette")
    ]
    assert offenders == []


def test_architecture_joserfc_is_used_only_through_the_token_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {name}"
        for package in PACKAGES
        for path in _modules(package)
        for name in _imports(path)
        if _top(name) == "joserfc" and path != ROOT / "shared" / "tokens.py"
    ]
    assert offenders == []


def test_architecture_shared_reads_no_environment() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in _modules("shared")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    ]
    assert offenders == []


def test_architecture_no_module_reads_settings_at_import_time() -> None:
    # Apps are built by create_app(settings); a module-level get_settings() would freeze the env.
    offenders = []
    for package in PACKAGES:
        for path in _modules(package):
            if path.name == "__main__.py":
                continue  # an entry point reads its settings by definition
            tree = ast.parse(path.read_text())
            for node in tree.body:
                if isinstance(node, ast.Assign | ast.Expr) and "get_settings()" in ast.unparse(
                    node
                ):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
