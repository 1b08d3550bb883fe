"""Prometheus metrics kept in SQL, so that they are the same whichever process is scraped.

Counters and histogram buckets are rows of ``metric_counters``. What a transaction
counts is added up in its process once it commits (``orchestrator.jobs.unit_of_work``), and
a thread of the process adds
those sums to the rows every ``FLUSH_INTERVAL`` (an upsert per event inside every
transaction was a fifth of a job's cost). A scrape writes its own process's sums
first, then reads the rows back (plus job counts by status and queue depths) and
renders the Prometheus text format. So a scrape sees another process's counts at
most ``FLUSH_INTERVAL`` late, and a process killed outright loses at most that much.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from orchestrator.jobs.models import Job, MetricCounter, WorkerSeen, utcnow
from orchestrator.jobs.priorities import QUEUES
from orchestrator.observability.background import BatchWriter
from orchestrator.runtime import current
from orchestrator.storage.db import write_session

log = logging.getLogger(__name__)

BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

# Counted event -> counter; histogram observed from the event's data.
EVENT_COUNTERS = {
    "job.created": "jobs_submitted",
    "job.completed": "jobs_completed",
    "job.failed": "jobs_failed",
    "job.retrying": "jobs_retried",
}
EVENT_HISTOGRAMS = {
    "job.started": ("job_wait_seconds", "wait_s"),
    "job.completed": ("job_run_seconds", "duration_s"),
    "job.failed": ("job_run_seconds", "duration_s"),
}
HELP = {
    "jobs_submitted": "Jobs created, by type.",
    "jobs_completed": "Jobs completed, by type.",
    "jobs_failed": "Jobs failed for good, by type.",
    "jobs_retried": "Automatic retries scheduled, by type.",
    "webhooks_received": "Webhooks accepted, by source and event type.",
    "process_restarts": "Children of `orchestrator up` restarted after they exited, by service.",
    "stale_writes": (
        "Writes of an attempt that was no longer its job's current one, discarded: by type"
        " and write (result, failure, retry, progress, checkpoint)."
    ),
    "player_verifications": (
        "Players told of a change, by player type and outcome: verified (seen in its"
        " library), unverified (not checked) or not-updated (checked, and missing)."
    ),
    "job_run_seconds": "Time a job's handler ran, by type.",
    "job_wait_seconds": "Time a job waited between being due and starting, by type.",
    "worker_slots": (
        "Pool processes of the live workers consuming each queue (a worker on several"
        ' queues counts in each): the critical lane\'s capacity is queue="critical".'
    ),
    "jobs_running": "Jobs processing now, by queue.",
}
PREFIX = "orchestrator_"
FLUSH_INTERVAL = 0.2


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={labels[key]}" for key in sorted(labels))


def _parse(labels: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in labels.split(",") if part)


@lru_cache(maxsize=4)
def _upsert_statement(dialect: str) -> Any:
    statement: Any = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(
        MetricCounter
    )
    return statement.on_conflict_do_update(
        index_elements=["metric", "labels"],
        set_={"value": MetricCounter.value + statement.excluded.value},
    )


def _write(rows: list[dict[str, Any]]) -> None:
    """Add the committed counts to their rows, summed per counter, in one transaction."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for row in rows:
        totals[row["metric"], row["labels"]] += row["value"]
    summed = [{"metric": m, "labels": k, "value": v} for (m, k), v in totals.items()]
    try:
        with write_session() as session:
            connection = session.connection()
            connection.execute(_upsert_statement(connection.dialect.name), summed)
    except SQLAlchemyError as exc:
        # Kept and tried again every FLUSH_INTERVAL: one line per outage, not five a second.
        if not _outage.is_set():
            _outage.set()
            log.warning("metric counters not written (%s); kept until the database is back", exc)
        counts.add(*summed)
        return
    if _outage.is_set():
        _outage.clear()
        log.info("metric counters written again")


_outage = threading.Event()  # set while the counters cannot be written


counts: BatchWriter[dict[str, Any]] = BatchWriter("metric-counters", _write, FLUSH_INTERVAL)


def counter_row(metric: str, labels: dict[str, str], amount: float = 1) -> dict[str, Any]:
    """One addition to a counter, as ``counts`` takes it."""
    return {"metric": metric, "labels": _labels(labels), "value": amount}


def _observation(metric: str, labels: dict[str, str], value: float) -> list[dict[str, Any]]:
    # The count is the +Inf bucket's running total: no row of its own is needed.
    bucket = next((str(b) for b in BUCKETS if value <= b), "+Inf")
    return [
        counter_row(f"{metric}:bucket", {**labels, "le": bucket}),
        counter_row(f"{metric}:sum", labels, value),
    ]


def count(metric: str, labels: dict[str, str], amount: float = 1) -> None:
    """Add ``amount`` to a counter now (what no transaction of jobs is part of)."""
    counts.add(counter_row(metric, labels, amount))


def event_counts(name: str, job_type: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """What a lifecycle event feeds (counters, histograms), for its transaction to count."""
    labels = {"type": job_type}
    rows = []
    if name in EVENT_COUNTERS:
        rows.append(counter_row(EVENT_COUNTERS[name], labels))
    if name in EVENT_HISTOGRAMS:
        metric, field = EVENT_HISTOGRAMS[name]
        if isinstance(data.get(field), int | float):
            rows.extend(_observation(metric, labels, float(data[field])))
    return rows


class SqlCollector:
    """A prometheus_client collector reading the shared totals at scrape time."""

    def __init__(self, session: Session, queue_depths: dict[str, int]) -> None:
        self.session = session
        self.queue_depths = queue_depths

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family."""
        rows = self.session.execute(select(MetricCounter)).scalars().all()
        counters: dict[str, list[MetricCounter]] = defaultdict(list)
        for row in rows:
            counters[row.metric].append(row)
        for metric in ("jobs_submitted", "jobs_completed", "jobs_failed", "jobs_retried",
                       "webhooks_received", "process_restarts",
                       "player_verifications", "stale_writes"):  # fmt: skip
            yield _counter(metric, counters.get(metric, []))
        for metric in ("job_run_seconds", "job_wait_seconds"):
            yield _histogram(metric, counters)
        statuses = GaugeMetricFamily(
            PREFIX + "jobs", "Jobs in the database, by status.", labels=["status"]
        )
        query = select(Job.status, func.count()).group_by(Job.status)
        for status, count in self.session.execute(query):
            statuses.add_metric([status], count)
        yield statuses
        depth = GaugeMetricFamily(
            PREFIX + "queue_depth", "Messages waiting in each queue.", labels=["queue"]
        )
        for queue, count in sorted(self.queue_depths.items()):
            depth.add_metric([queue], count)
        yield depth
        yield from self._capacity()

    def _capacity(self) -> Iterator[Metric]:
        """Pool processes of live workers per queue, and the jobs running on each: how
        much room the critical lane has left, for instance."""
        live_since = utcnow() - timedelta(seconds=current().settings.worker_timeout)
        slots: dict[str, int] = dict.fromkeys(QUEUES, 0)
        workers = select(WorkerSeen.queues, WorkerSeen.slots).where(
            WorkerSeen.seen_at >= live_since, WorkerSeen.slots.is_not(None)
        )
        for queues, count in self.session.execute(workers):
            for queue in (queues or "").split(","):
                if queue in slots:
                    slots[queue] += count or 0
        family = GaugeMetricFamily(PREFIX + "worker_slots", HELP["worker_slots"], labels=["queue"])
        for queue, count in slots.items():
            family.add_metric([queue], count)
        yield family
        running = dict.fromkeys(QUEUES, 0)
        query = (
            select(Job.queue, func.count())
            .where(Job.status == "processing")  # lifecycle's JobStatus imports this module
            .group_by(Job.queue)
        )
        running.update({queue: count for queue, count in self.session.execute(query)})
        family = GaugeMetricFamily(PREFIX + "jobs_running", HELP["jobs_running"], labels=["queue"])
        for queue, count in running.items():
            family.add_metric([queue], count)
        yield family


def _counter(metric: str, rows: list[MetricCounter]) -> CounterMetricFamily:
    names = sorted({key for row in rows for key in _parse(row.labels)}) or ["type"]
    family = CounterMetricFamily(PREFIX + metric, HELP[metric], labels=names)
    for row in rows:
        labels = _parse(row.labels)
        family.add_metric([labels.get(name, "") for name in names], row.value)
    return family


def _histogram(metric: str, counters: dict[str, list[MetricCounter]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(PREFIX + metric, HELP[metric], labels=["type"])
    per_type: dict[str, dict[str, float]] = defaultdict(dict)
    for row in counters.get(f"{metric}:bucket", []):
        labels = _parse(row.labels)
        per_type[labels["type"]][labels["le"]] = row.value
    sums = {_parse(r.labels)["type"]: r.value for r in counters.get(f"{metric}:sum", [])}
    for job_type, buckets in sorted(per_type.items()):
        running, cumulative = 0.0, []
        for bound in [*map(str, BUCKETS), "+Inf"]:
            running += buckets.get(bound, 0.0)
            cumulative.append((bound, running))
        family.add_metric([job_type], cumulative, sums.get(job_type, 0.0))
    return family


def render(session: Session, queue_depths: dict[str, int]) -> bytes:
    """The Prometheus text exposition of every metric."""
    counts.flush()  # this process's own counts are never late
    registry = CollectorRegistry()
    registry.register(SqlCollector(session, queue_depths))
    return generate_latest(registry)
