"""The import rules of docs/design.md §1.3: the platform knows nothing of the domain."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> top-level packages of ours it must not import
FORBIDDEN = {
    "orchestrator": {"api", "tasks", "services"},
    "services": {"api", "tasks"},
    "tasks": {"api"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _service_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("services.")}


def test_services_never_import_each_other_but_the_catalog_models() -> None:
    # The one other edge allowed: a player's type is validated against the registry of
    # player clients, so a new player type is a client module, not a list to keep in step.
    allowed = {("services/catalog/config.py", "services.players")}
    offenders = {}
    for path in (ROOT / "services").rglob("*.py"):
        own = ".".join(path.relative_to(ROOT).parts[:2])
        where = str(path.relative_to(ROOT))
        foreign = {
            name
            for name in _service_imports(path)
            if not name.startswith(own.removesuffix(".py"))
            and name != "services.catalog.models"
            and (where, name) not in allowed
        }
        if foreign:
            offenders[str(path.relative_to(ROOT))] = sorted(foreign)
    assert offenders == {}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_layering(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
        if _imports(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def _runtime_imports_of_ours(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that ``path`` imports at run time, inside functions too
    (imports under ``if TYPE_CHECKING:`` are for the type checker only)."""
    tree = ast.parse(path.read_text())
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for inner in ast.walk(node)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == package:  # ``from orchestrator import lifecycle``
                names |= {f"{package}.{alias.name}" for alias in node.names}
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if name.startswith(f"{package}.")}


def test_the_platform_has_no_import_circle() -> None:
    """Every module of ``orchestrator`` can be imported without another one half-done."""
    graph = {}
    for path in (ROOT / "orchestrator").rglob("*.py"):
        if "migrations" in path.parts or path.name == "__init__.py":
            continue
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        graph[module] = _runtime_imports_of_ours(path, "orchestrator") - {module}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")
