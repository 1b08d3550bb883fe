"""Job commands of the ``orchestrator`` CLI: submit, jobs list|show|watch|retry|cancel, status."""

from __future__ import annotations

import json
import sys
import time

import click
from sqlalchemy import Select, func, select
from sqlalchemy.orm import load_only

from orchestrator.broker import live_workers, queue_depths
from orchestrator.db import read_session
from orchestrator.dispatch import cancel_job, retry_job, submit
from orchestrator.errors import OrchestratorError
from orchestrator.lifecycle import TERMINAL, JobStatus
from orchestrator.models import Job
from orchestrator.priorities import QUEUES
from orchestrator.registry import load_job_modules
from orchestrator.settings import get_settings
from orchestrator.stack import prepare


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _job_json(job: Job) -> str:
    fields = (
        "id", "type", "status", "priority", "queue", "attempts", "retry_count", "max_retries",
        "parent_id", "root_id", "payload", "result", "error",
    )  # fmt: skip
    body = {name: getattr(job, name) for name in fields}
    body["progress"] = {"percent": job.progress_percent, "message": job.progress_message}
    for name in ("created_at", "started_at", "completed_at", "next_retry_at"):
        value = getattr(job, name)
        body[name] = value.isoformat() if value else None
    return json.dumps(body, indent=2, default=str)


@click.command("submit")
@click.argument("job_type")
@click.option("--payload", default="{}", help="The payload as a JSON object.")
@click.option("--priority", default=None, help="critical, high, normal, low or 1..10.")
@click.option("--max-retries", type=int, default=None)
@click.option("--countdown", type=float, default=None, help="Seconds to wait before running.")
@click.option("--dedupe-key", default=None)
@click.option("--wait", is_flag=True, help="Wait for the job to finish, with a progress bar.")
def submit_command(
    job_type: str,
    payload: str,
    priority: str | None,
    max_retries: int | None,
    countdown: float | None,
    dedupe_key: str | None,
    wait: bool,
) -> None:
    """Submit a job of JOB_TYPE."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        _fail(f"--payload is not valid JSON: {exc}")
    load_job_modules()
    prepare(get_settings())
    try:
        submitted = submit(
            job_type,
            body,
            priority=priority,
            max_retries=max_retries,
            countdown=countdown,
            dedupe_key=dedupe_key,
        )
    except (OrchestratorError, ValueError) as exc:
        _fail(str(exc))
    job = submitted.job
    note = "" if submitted.created else " (an identical pending job already existed)"
    click.echo(f"submitted {job.type} job {job.id}{note}")
    if wait:
        final = _wait_for(job.id)
        click.echo(_job_json(final))
        if final.status != JobStatus.COMPLETED:
            sys.exit(1)


def _wait_for(job_id: str, poll: float = 0.25) -> Job:
    with click.progressbar(length=100, label="running", show_percent=True) as bar:
        shown = 0.0
        while True:
            with read_session() as session:
                job = session.get(Job, job_id)
            assert job is not None
            percent = 100.0 if job.status == JobStatus.COMPLETED else job.progress_percent or 0.0
            if percent > shown:
                bar.update(int(percent - shown))
                shown = float(int(percent))
            bar.label = job.status
            if job.status in TERMINAL:
                return job
            time.sleep(poll)


@click.group()
def jobs() -> None:
    """List, show, retry and cancel jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), default=None)
@click.option("--type", "job_type", default=None)
@click.option("--limit", default=20, show_default=True)
def jobs_list(status: str | None, job_type: str | None, limit: int) -> None:
    """The newest jobs."""
    query = _table_query(status, job_type, limit)
    with read_session() as session:
        rows = list(session.scalars(query))
    click.echo(_jobs_table(rows))


@jobs.command("watch")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), default=None)
@click.option("--type", "job_type", default=None)
@click.option("--limit", default=20, show_default=True)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes.")
@click.option("--count", type=int, default=None, help="Stop after this many refreshes.")
def jobs_watch(
    status: str | None, job_type: str | None, limit: int, interval: float, count: int | None
) -> None:
    """A live table of the newest jobs (Ctrl-C to stop)."""
    query = _table_query(status, job_type, limit)
    refreshes = 0
    try:
        while count is None or refreshes < count:
            with read_session() as session:
                rows = list(session.scalars(query))
                totals = dict(
                    session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
                )
            if sys.stdout.isatty():
                click.clear()
            summary = "  ".join(f"{s.value} {totals.get(s.value, 0)}" for s in JobStatus)
            click.echo(f"{time.strftime('%H:%M:%S')}  {summary}\n{_jobs_table(rows)}\n")
            refreshes += 1
            if count is None or refreshes < count:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass


@jobs.command("show")
@click.argument("job_id")
def jobs_show(job_id: str) -> None:
    """One job in full."""
    with read_session() as session:
        job = session.get(Job, job_id)
    if job is None:
        _fail(f"no job with id {job_id}")
    else:
        click.echo(_job_json(job))


@jobs.command("retry")
@click.argument("job_id")
def jobs_retry(job_id: str) -> None:
    """Queue a failed or cancelled job again."""
    try:
        job = retry_job(job_id)
    except OrchestratorError as exc:
        _fail(str(exc))
    click.echo(f"job {job.id} is {job.status} again")


@click.command()
def status() -> None:
    """Workers, queue depths and jobs by status."""
    with read_session() as session:
        counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    depths = queue_depths()
    workers = live_workers() or {}
    click.echo(f"workers  {len(workers)} online")
    for name, running in sorted(workers.items()):
        click.echo(f"  {name}  running {len(running)}")
    click.echo("queues   " + "  ".join(f"{q} {depths[q]}" for q in QUEUES))
    click.echo("jobs     " + "  ".join(f"{s.value} {counts.get(s.value, 0)}" for s in JobStatus))


def _table_query(status: str | None, job_type: str | None, limit: int) -> Select[Job]:
    """The newest jobs, loading only the columns ``_jobs_table`` shows.

    Payloads, results and tracebacks may be megabytes each: they stay in the database
    (``jobs show`` prints them), and reading one by mistake raises instead of loading it.
    """
    shown = load_only(
        Job.id, Job.type, Job.status, Job.priority, Job.attempts, Job.progress_percent,
        Job.created_at, raiseload=True,
    )  # fmt: skip
    query = select(Job).options(shown).order_by(Job.created_at.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.type == job_type)
    return query


def _jobs_table(rows: list[Job]) -> str:
    lines = [
        f"{'ID':36}  {'TYPE':20} {'STATUS':10} {'PRI':>3} {'TRIES':>5} {'PROGRESS':>8}  CREATED"
    ]
    for job in rows:
        progress = f"{job.progress_percent:.0f}%" if job.progress_percent is not None else ""
        lines.append(
            f"{job.id:36}  {job.type[:20]:20} {job.status:10} {job.priority:>3} "
            f"{job.attempts:>5} {progress:>8}  {job.created_at:%Y-%m-%d %H:%M:%S}"
        )
    return "\n".join(lines)


@jobs.command("cancel")
@click.argument("job_id")
def jobs_cancel(job_id: str) -> None:
    """Cancel a waiting or running job."""
    try:
        job = cancel_job(job_id)
    except OrchestratorError as exc:
        _fail(str(exc))
    click.echo(f"job {job.id} is {job.status}")


COMMANDS = [submit_command, jobs, status]
