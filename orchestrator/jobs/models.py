"""SQL tables of the platform: jobs and their lifecycle events (docs/design.md §2.1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.storage.db import Base, UTCDateTime, utcnow

# The largest value of an INTEGER column (ids, counters): 32-bit on PostgreSQL.
INT32_MAX = 2**31 - 1


class Job(Base):
    """One unit of asynchronous work; its id is also its Celery task id."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    queue: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What the handler recorded as done, so that a retry does not do it again.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer)
    progress_percent: Mapped[float | None] = mapped_column(nullable=True)
    progress_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    root_id: Mapped[str] = mapped_column(String(36), index=True)
    dedupe_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # One line saying what the job is about (orchestrator/jobs/summaries.py); searched by LIKE.
    summary: Mapped[str | None] = mapped_column(String(200), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_jobs_created_at_id", "created_at", "id"),
        # At most one *pending* job per dedupe key: a second submit finds the first.
        Index(
            "uq_jobs_pending_dedupe_key",
            "dedupe_key",
            unique=True,
            sqlite_where=text("status = 'pending' AND dedupe_key IS NOT NULL"),
            postgresql_where=text("status = 'pending' AND dedupe_key IS NOT NULL"),
        ),
        Index("ix_jobs_undispatched", "status", "dispatched_at"),
    )


class JobEvent(Base):
    """A lifecycle event of a job; ``id`` increases, so it orders and resumes streams."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("jobs.id", ondelete="CASCADE"), index=True
    )
    root_id: Mapped[str] = mapped_column(String(36), index=True)
    job_type: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # PostgreSQL only (a default of migration 0006): the id of the writing transaction;
    # streams hold an event back while an older transaction is open (§2.6).
    xact_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class MetricCounter(Base):
    """A monotonic total (or one histogram bucket) kept in SQL, so that every process adds
    to the same number; ``labels`` is the canonical ``k=v,k=v`` form."""

    __tablename__ = "metric_counters"

    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    labels: Mapped[str] = mapped_column(String(500), primary_key=True)
    value: Mapped[float] = mapped_column(default=0.0)


class WorkerSeen(Base):
    """When the reaper last heard a worker answer; a worker silent for long is dead."""

    __tablename__ = "workers_seen"

    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What the worker said when it started: the queues it consumes (comma-separated) and
    # its pool size; NULL for a worker only the reaper heard of.
    queues: Mapped[str | None] = mapped_column(String(255), nullable=True)
    slots: Mapped[int | None] = mapped_column(Integer, nullable=True)


class BrokerMarker(Base):
    """A broker that was given a marker message: if the marker is gone, so is its data."""

    __tablename__ = "broker_markers"

    broker: Mapped[str] = mapped_column(String(500), primary_key=True)
    planted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lease(Base):
    """Something one process of the whole deployment holds until ``expires_at`` unless it
    renews it: beat's schedule (``orchestrator.delivery.beatlock``)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
