"""The import rules of docs/design.md §1.3: the platform knows nothing of the domain."""

from __future__ import annotations

import ast
import graphlib
import os
import subprocess
import sys
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


PACKAGES = ("orchestrator", "services", "api", "tasks")


def _modules() -> dict[str, Path]:
    """Every module of ours by dotted name (a package by its own name), migrations aside."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports_of_ours(path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules of ours that ``path`` imports, inside functions and for the type checker
    alone too (a circle there is a circle a reader must untangle all the same)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from orchestrator import lifecycle`` names a module; ``... import job`` not.
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    found = set()
    for name in names:
        while name and name not in modules:  # a name in a module: that module
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found


def test_there_is_no_import_circle() -> None:
    """Every module of ours can be read, and imported, after the modules it imports."""
    modules = _modules()
    graph = {module: _imports_of_ours(path, modules) - {module} for module, path in modules.items()}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        pytest.fail(f"import circle: {' -> '.join(exc.args[1])}")


def test_importing_the_packages_builds_nothing_and_reads_no_setting() -> None:
    """Wiring happens in the composition root (orchestrator/runtime.py), called by the
    entry points, never at import: with every setting invalid, each package imports, and
    no runtime, thread or connection exists afterwards."""
    from orchestrator.settings import Settings

    env = {key: value for key, value in os.environ.items() if not key.startswith("ORCH_")}
    env |= {variable: "not a value" for variable in Settings.variables()}
    env |= {"ORCH_SCAN_DELAY": "not a value", "ORCH_JOB_MODULES": "tests.jobs"}
    script = (
        "import sys, threading, gc\n"
        "import orchestrator, orchestrator.cli, api, services, tasks, tests.jobs\n"
        "import orchestrator.runtime as runtime\n"
        "from sqlalchemy import Engine\n"
        "from redis import Redis\n"
        # type(), not isinstance(): a Celery task proxy asked its __class__ builds the app.
        "built = [o for o in gc.get_objects() if issubclass(type(o), (Engine, Redis))]\n"
        "print(runtime._current, threading.active_count(), len(built))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["None", "1", "0"]
