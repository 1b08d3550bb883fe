"""``/metrics``: Prometheus text, the same totals whichever process runs or serves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, select, update

from api import create_app
from orchestrator import submit
from orchestrator.delivery.broker import queue_depths
from orchestrator.jobs.models import Job, WorkerSeen, utcnow
from orchestrator.observability.metrics import FLUSH_INTERVAL
from orchestrator.storage.db import read_session, write_session
from tests.conftest import API_KEY, WorkerProcess, wait_for_job, wait_until

AUTH = {"X-Api-Key": API_KEY}


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


@pytest.fixture(scope="module")
def second_worker(worker: WorkerProcess) -> Iterator[WorkerProcess]:
    """A second worker process: jobs spread over both."""
    process = WorkerProcess(concurrency=1)
    yield process
    process.stop()


def _quiet() -> None:
    """No job of an earlier test left to run or to count: the "before" totals hold still.

    Earlier modules leave messages that no worker of theirs ran (jobs published where no
    worker runs); this module's workers run and count them: wait until they have (the
    queues empty and none of the counted types running, twice in a row), then until the
    last counts are written.
    """
    quiet_since = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if sum(queue_depths().values()) or _running(COUNTED):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 0.5:
            break
        time.sleep(0.1)
    time.sleep(FLUSH_INTERVAL * 2)  # the counts of the last ones are written


COUNTED = ("test-echo", "test-flaky", "test-permanent")


def _running(types: tuple[str, ...]) -> bool:
    with read_session() as session:
        query = select(Job.id).where(Job.status == "processing", Job.type.in_(types))
        return session.scalars(query).first() is not None


def test_totals_are_shared_by_every_worker_and_api_process(
    worker: WorkerProcess, second_worker: WorkerProcess
) -> None:
    first_api, second_api = create_app().test_client(), create_app().test_client()
    _quiet()
    before = scrape(first_api)

    jobs = [submit("test-echo", {"n": n}).job.id for n in range(20)]
    flaky = submit("test-flaky", {"fail_times": 1}).job.id
    failed = submit("test-permanent").job.id
    finished = [wait_for_job(job_id) for job_id in [*jobs, flaky, failed]]
    workers = {job.worker for job in finished}
    assert len(workers) == 2, workers  # both processes ran jobs
    after = before

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    def all_counted() -> bool:
        nonlocal after
        after = scrape(first_api)
        return (
            delta("orchestrator_job_run_seconds_count", type="test-echo") >= 20
            and delta("orchestrator_jobs_completed_total", type="test-flaky") >= 1
            and delta("orchestrator_jobs_failed_total", type="test-permanent") >= 1
        )

    # Each worker process writes its counts a moment after the job's own commit.
    wait_until(all_counted, timeout=5, what="every job counted")
    time.sleep(FLUSH_INTERVAL * 2)  # nothing more may come: the totals are exact
    after = scrape(first_api)
    assert after == scrape(second_api)  # two API processes read the same totals
    assert delta("orchestrator_jobs_submitted_total", type="test-echo") == 20
    assert delta("orchestrator_jobs_completed_total", type="test-echo") == 20
    assert delta("orchestrator_jobs_retried_total", type="test-flaky") == 1
    assert delta("orchestrator_jobs_completed_total", type="test-flaky") == 1
    assert delta("orchestrator_jobs_failed_total", type="test-permanent") == 1
    assert delta("orchestrator_job_run_seconds_count", type="test-echo") == 20
    assert delta("orchestrator_job_wait_seconds_count", type="test-echo") == 20
    assert delta("orchestrator_job_run_seconds_bucket", type="test-echo", le="+Inf") == 20
    assert value(after, "orchestrator_job_run_seconds_sum", type="test-echo") > 0
    assert value(after, "orchestrator_jobs", status="completed") >= 21
    for queue in ("critical", "high", "default", "low"):
        assert ("orchestrator_queue_depth", (("queue", queue),)) in after


def test_webhooks_are_counted_by_source_and_event(worker: WorkerProcess) -> None:
    client = create_app().test_client()
    before = scrape(client)

    for event in ("Test", "Grab", "NoSuchEvent"):
        response = client.post("/api/webhooks/radarr", json={"eventType": event}, headers=AUTH)
        assert response.status_code == 202

    after = scrape(client)
    for event in ("Test", "Grab", "other"):
        name = "orchestrator_webhooks_received_total"
        grown = value(after, name, source="radarr", event=event) - value(
            before, name, source="radarr", event=event
        )
        assert grown == 1, event


def test_metrics_need_the_key() -> None:
    response = create_app().test_client().get("/metrics")
    assert response.status_code == 401


def test_counts_are_kept_while_the_database_is_away_and_logged_once(
    database: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from contextlib import contextmanager

    from sqlalchemy.exc import OperationalError

    from orchestrator.observability import metrics

    client = create_app().test_client()
    before = value(scrape(client), "orchestrator_webhooks_received_total", source="x", event="y")

    @contextmanager
    def away() -> Iterator[None]:
        raise OperationalError("BEGIN", {}, Exception("the database went away"))
        yield

    monkeypatch.setattr(metrics, "write_session", away)
    for _ in range(3):
        metrics.count("webhooks_received", {"source": "x", "event": "y"})
        metrics.counts.flush()  # fails: the counts are kept
    warnings = [r for r in caplog.records if "metric counters not written" in r.getMessage()]
    assert len(warnings) == 1
    monkeypatch.undo()

    after = value(scrape(client), "orchestrator_webhooks_received_total", source="x", event="y")
    assert after - before == 3


def _status(job_id: str) -> str | None:
    with read_session() as session:
        return session.scalar(select(Job.status).where(Job.id == job_id))


def test_worker_slots_show_each_queues_capacity_and_what_runs_on_it(worker: WorkerProcess) -> None:
    client = create_app().test_client()
    critical = WorkerProcess(concurrency=1, queues="critical")
    try:
        ours = [worker.hostname, critical.hostname]
        with write_session() as session:
            # Only this module's workers: rows of earlier modules' workers may still count.
            session.execute(delete(WorkerSeen).where(WorkerSeen.hostname.not_in(ours)))
            # Both heard now, as the reaper records it (no beat runs the reaper here).
            session.execute(update(WorkerSeen).values(seen_at=utcnow()))
        job = submit("test-sleep", {"seconds": 3}, priority="critical").job
        wait_until(lambda: _status(job.id) == "processing", timeout=10)
        samples = scrape(client)
        with write_session() as session:  # the critical worker not heard for an hour
            session.execute(
                update(WorkerSeen)
                .where(WorkerSeen.hostname == critical.hostname)
                .values(seen_at=utcnow() - timedelta(hours=1))
            )
        later = scrape(client)
    finally:
        critical.stop()

    # The module's worker has 2 processes on every queue, the other 1 on critical alone.
    assert value(samples, "orchestrator_worker_slots", queue="critical") == 3
    assert value(samples, "orchestrator_worker_slots", queue="low") == 2
    assert value(samples, "orchestrator_jobs_running", queue="critical") == 1
    assert value(samples, "orchestrator_jobs_running", queue="low") == 0
    assert value(later, "orchestrator_worker_slots", queue="critical") == 2  # silent: gone
