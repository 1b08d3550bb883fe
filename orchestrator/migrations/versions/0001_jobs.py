"""jobs and job events

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = ("orchestrator",)
depends_on = None

PENDING_WITH_KEY = sa.text("status = 'pending' AND dedupe_key IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("queue", sa.String(50), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_retries", sa.Integer, nullable=False),
        sa.Column("progress_percent", sa.Float, nullable=True),
        sa.Column("progress_message", sa.Text, nullable=True),
        sa.Column(
            "parent_id",
            sa.String(36),
            sa.ForeignKey("jobs.id", ondelete="SET NULL", name="fk_jobs_parent_id"),
            nullable=True,
        ),
        sa.Column("root_id", sa.String(36), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("run_at", sa.DateTime, nullable=True),
        sa.Column("dispatched_at", sa.DateTime, nullable=True),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("completed_at", sa.DateTime, nullable=True),
        sa.Column("next_retry_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_jobs_type", "jobs", ["type"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index("ix_jobs_parent_id", "jobs", ["parent_id"])
    op.create_index("ix_jobs_root_id", "jobs", ["root_id"])
    op.create_index("ix_jobs_created_at_id", "jobs", ["created_at", "id"])
    op.create_index("ix_jobs_undispatched", "jobs", ["status", "dispatched_at"])
    op.create_index(
        "uq_jobs_pending_dedupe_key",
        "jobs",
        ["dedupe_key"],
        unique=True,
        sqlite_where=PENDING_WITH_KEY,
        postgresql_where=PENDING_WITH_KEY,
    )
    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_events_job_id"),
            nullable=False,
        ),
        sa.Column("root_id", sa.String(36), nullable=False),
        sa.Column("job_type", sa.String(100), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_job_events_job_id", "job_events", ["job_id"])
    op.create_index("ix_job_events_root_id", "job_events", ["root_id"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_table("jobs")
