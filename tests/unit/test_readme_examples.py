"""The README's Python examples run as written (a test of the docs, so they cannot rot).

The job module of "Adding a job type" is written where its first line says, imported
(registering its type as ``ORCH_JOB_MODULES`` would) and run with a ``FakeJobContext``,
which checks the follow-up job it submits as the real context does.
"""

from __future__ import annotations

import importlib
import re
import sys
from types import ModuleType

import pytest

from orchestrator import PermanentError, RetryableError
from orchestrator.jobs.registry import get_job_type
from tests.conftest import REPO_ROOT
from tests.fakes.job_context import FakeJobContext

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)


@pytest.fixture(scope="module")
def job_module(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The README's job module, written to its path and imported (once per process)."""
    [block] = [b for b in BLOCKS if b.startswith("# mypackage/jobs.py")]
    if "mypackage.jobs" in sys.modules:
        return sys.modules["mypackage.jobs"]
    root = tmp_path_factory.mktemp("readme")
    (root / "mypackage").mkdir()
    (root / "mypackage" / "__init__.py").write_text("")
    (root / "mypackage" / "jobs.py").write_text(block)
    sys.path.insert(0, str(root))
    return importlib.import_module("mypackage.jobs")


def test_the_readme_has_its_python_examples() -> None:
    assert BLOCKS, "no ```python block in the README"


def test_the_job_example_registers_and_runs_as_described(job_module: ModuleType) -> None:
    assert get_job_type("resize-poster").max_retries == 3
    ctx = FakeJobContext("resize-poster")
    payload = {"library_id": 1, "path": "/movies/Heat (1995)/poster.jpg"}

    result = job_module.resize_poster(payload, ctx)

    [child] = ctx.submitted
    assert (child.job_type, child.payload) == (
        "notify-players",
        {"library_id": 1, "path": "/movies/Heat (1995)"},
    )
    assert result == {"width": 1000, "child": child.id}
    assert ctx.progress_reports == [(50, "decoded")]
    with pytest.raises(PermanentError):
        job_module.resize_poster({}, FakeJobContext("resize-poster"))
    with pytest.raises(RetryableError):
        job_module.resize_poster({**payload, "busy": True}, FakeJobContext("resize-poster"))


def test_the_fake_context_refuses_what_the_real_one_refuses() -> None:
    from orchestrator.errors import InvalidPayload

    ctx = FakeJobContext("resize-poster")
    with pytest.raises(PermanentError, match="no-such-type"):
        ctx.submit("no-such-type", {})
    with pytest.raises(InvalidPayload, match="library_id"):
        ctx.submit("notify-players", {"path": "/movies/Heat (1995)"})  # the README's old example
    assert ctx.submitted == []
