"""A module of ``tasks/`` that defines job types imports no other such module: what
job modules share lives in modules that define none (``tasks/scanning.py``,
``tasks/summaries.py``), so that each job family can change on its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "tasks"


def _defines_jobs(tree: ast.Module) -> bool:
    """True when a function of the module is decorated with ``@job(...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(called).split(".")[-1] == "job":
                    return True
    return False


def _imported_task_modules(tree: ast.Module) -> set[str]:
    """The modules of ``tasks`` the module imports, by name ("scanning"), anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("tasks.")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 1 or (node.level == 0 and module.split(".")[0] == "tasks"):
                parts = module.split(".")[1:] if node.level == 0 else module.split(".")
                if parts and parts[0]:
                    names.add(parts[0])
                else:  # ``from tasks import scan_movie`` or ``from . import scan_movie``
                    names |= {alias.name for alias in node.names}
    return names


def _modules() -> dict[str, ast.Module]:
    return {
        path.stem: ast.parse(path.read_text())
        for path in TASKS.glob("*.py")
        if path.name != "__init__.py"
    }


def test_the_rule_sees_the_job_modules() -> None:
    jobs = {name for name, tree in _modules().items() if _defines_jobs(tree)}
    assert {"webhook", "scan_movie", "scan_season", "library_scan", "notify_players"} <= jobs
    assert not jobs & {"scanning", "settings", "summaries"}


def test_a_job_module_imports_no_other_job_module() -> None:
    modules = _modules()
    jobs = {name for name, tree in modules.items() if _defines_jobs(tree)}
    offenders = {
        f"tasks/{name}.py": sorted((_imported_task_modules(modules[name]) & jobs) - {name})
        for name in sorted(jobs)
        if (_imported_task_modules(modules[name]) & jobs) - {name}
    }
    assert offenders == {}, "move what they share to a module that defines no job"


def test_imports_of_task_modules_are_all_seen() -> None:
    tree = ast.parse(
        "import tasks.scan_movie\n"
        "from tasks.scan_season import x\n"
        "from tasks import webhook\n"
        "from . import notify_players\n"
        "from .library_scan import y\n"
        "def later():\n"
        "    from tasks.summaries import z\n"
    )
    assert _imported_task_modules(tree) == {
        "scan_movie", "scan_season", "webhook", "notify_players", "library_scan", "summaries",
    }  # fmt: skip
