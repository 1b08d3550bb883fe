"""Job type registration and lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import job
from orchestrator.delivery.celery_app import app
from orchestrator.errors import UnknownJobType
from orchestrator.jobs.registry import get_job_type, job_type_names


def test_unknown_job_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownJobType) as caught:
        get_job_type("nope")
    assert "test-echo" in str(caught.value)
    assert "ORCH_JOB_MODULES" in str(caught.value)


def test_decorator_registers_a_celery_task_named_by_the_type() -> None:
    @job("unit-demo", priority="low", max_retries=7)
    def demo(payload: dict, ctx: object) -> None:
        """Demo."""

    kind = get_job_type("unit-demo")
    assert (kind.priority, kind.max_retries, kind.handler) == (8, 7, demo)
    assert "unit-demo" in job_type_names()
    assert app.tasks["unit-demo"].name == "unit-demo"


def test_a_name_cannot_be_taken_twice() -> None:
    with pytest.raises(ValueError, match="already registered"):

        @job("test-echo")
        def other(payload: dict, ctx: object) -> None:
            """Clash."""


def test_scheduled_job_types_are_on_beat_schedule() -> None:
    app.finalize()

    entry = app.conf.beat_schedule["library-scan-all"]

    assert entry["task"] == "library-scan-all"
    assert entry["schedule"] == 86400.0
    assert entry["options"]["queue"] == "low"
    assert "orchestrator.redispatch" in app.conf.beat_schedule


@pytest.mark.parametrize(
    "name", ["", "has space", "new\nline", "-leading-dash", "é-accent", "x" * 101, "a/b"]
)
def test_a_name_that_is_not_a_plain_label_is_refused_when_registered(name: str) -> None:
    with pytest.raises(ValueError, match="is not valid"):

        @job(name)
        def bad(payload: dict, ctx: object) -> None:
            """Badly named."""


def test_names_with_dots_and_colons_register_as_celery_tasks() -> None:
    @job("media.resize:poster")
    def resize(payload: dict, ctx: object) -> None:
        """Dotted."""

    assert app.tasks["media.resize:poster"].name == "media.resize:poster"


def test_every_job_type_has_a_soft_then_hard_time_limit() -> None:
    @job("unit-limited", time_limit=10)
    def limited(payload: dict, ctx: object) -> None:
        """Limited."""

    task = app.tasks["unit-limited"]
    assert (task.soft_time_limit, task.time_limit) == (10, 20)
    default = app.tasks["test-echo"]
    assert (default.soft_time_limit, default.time_limit) == (900, 930)  # ORCH_JOB_TIME_LIMIT


def test_maintenance_that_found_nothing_to_do_leaves_no_row(tmp_path: Path) -> None:
    from orchestrator.jobs.maintenance import retention
    from orchestrator.jobs.registry import get_job_type
    from orchestrator.jobs.runner import _is_idle
    from tests.catalog_db import catalog_database
    from tests.fakes.job_context import FakeJobContext

    with catalog_database(tmp_path):
        ctx = FakeJobContext("retention")
        result = retention({}, ctx)

    # A round of beat's with nothing to delete is idle: the runner forgets its row.
    assert result == {"deleted": 0}
    assert _is_idle(result, ctx)
    assert get_job_type("retention").keep_idle is False
    assert get_job_type("reaper").keep_idle is False
