"""Job commands of the ``orchestrator`` CLI: submit, jobs list|show|watch|retry|cancel, status."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from sqlalchemy import Select, func, select
from sqlalchemy.orm import load_only

from orchestrator.delivery.broker import live_workers, queue_depths
from orchestrator.errors import OrchestratorError
from orchestrator.jobs.dispatch import cancel_job, retry_job, submit
from orchestrator.jobs.lifecycle import TERMINAL, JobStatus
from orchestrator.jobs.models import Job
from orchestrator.jobs.priorities import QUEUES
from orchestrator.jobs.registry import load_job_modules, maintenance_type_names
from orchestrator.jobs.summaries import summary_contains
from orchestrator.processes.stack import prepare
from orchestrator.runtime import current
from orchestrator.storage.db import read_session


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _job_json(job: Job, children: list[Job] | None = None) -> str:
    """The job as JSON; ``children`` (given by ``jobs show``) as short forms, as the API."""
    fields = (
        "id", "type", "summary", "status", "priority", "queue", "attempts", "retry_count",
        "max_retries", "parent_id", "root_id", "payload", "result", "error",
    )  # fmt: skip
    body = {name: getattr(job, name) for name in fields}
    body["progress"] = {"percent": job.progress_percent, "message": job.progress_message}
    for name in ("created_at", "started_at", "completed_at", "next_retry_at"):
        body[name] = _iso(getattr(job, name))
    if children is not None:
        body["children"] = [_child(child) for child in children]
    return json.dumps(body, indent=2, default=str)


def _child(job: Job) -> dict[str, Any]:
    error = job.error and {"type": job.error.get("type"), "message": job.error.get("message")}
    return {
        "id": job.id, "type": job.type, "summary": job.summary, "status": job.status,
        "attempts": job.attempts, "created_at": _iso(job.created_at),
        "completed_at": _iso(job.completed_at), "error": error,
    }  # fmt: skip


@click.command("submit")
@click.argument("job_type")
@click.option("--payload", default="{}", help="The payload as a JSON object.")
@click.option("--priority", default=None, help="critical, high, normal, low or 1..10.")
@click.option("--max-retries", type=int, default=None)
@click.option("--countdown", type=float, default=None, help="Seconds to wait before running.")
@click.option("--dedupe-key", default=None)
@click.option("--wait", is_flag=True, help="Wait for the job to finish, with a progress bar.")
@click.option("--json", "as_json", is_flag=True, help="With --wait: end with the whole job.")
def submit_command(
    job_type: str,
    payload: str,
    priority: str | None,
    max_retries: int | None,
    countdown: float | None,
    dedupe_key: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Submit a job of JOB_TYPE."""
    try:
        body = json.loads(payload)
    except ValueError as exc:
        _fail(f"--payload is not valid JSON: {exc}")
    load_job_modules()
    prepare(current().settings)
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
        wait_and_tell(job.id, as_json)


def wait_and_tell(job_id: str, as_json: bool = False, chain: bool = False) -> None:
    """Wait for the job with a progress bar (``chain``: then for every job it led to), and
    say how it ended in one line, or the first failure of its chain (``as_json``: the whole
    job); exit 1 unless everything completed."""
    final = _wait_for(job_id)
    ended = _wait_for_chain(job_id) if chain and final.status == JobStatus.COMPLETED else []
    failed = [job for job in ended if job.status != JobStatus.COMPLETED]
    if as_json:
        click.echo(_job_json(final))
    elif failed:
        click.echo(outcome(failed[0]))
    else:
        led_to = max(0, len(ended) - 1)  # the chain holds the job itself
        click.echo(outcome(final) + (f" (and the {led_to} jobs it led to)" if led_to else ""))
    if final.status != JobStatus.COMPLETED or failed:
        sys.exit(1)


def _wait_for_chain(root_id: str, poll: float = 0.25) -> list[Job]:
    """Every job of the chain that ``root_id`` started, once none is waiting or running;
    oldest first."""
    query = (
        select(Job)
        .options(load_only(Job.id, Job.type, Job.summary, Job.status, Job.error, Job.result))
        .where(Job.root_id == root_id)
        .order_by(Job.created_at)
    )
    terminal = {status.value for status in TERMINAL}
    while True:
        with read_session() as session:
            chain = list(session.scalars(query))
        if all(job.status in terminal for job in chain):
            return chain
        time.sleep(poll)


# Characters of a result or an error message that an outcome line shows.
OUTCOME_SHOWN = 200


def outcome(job: Job) -> str:
    """How a finished job ended, in one line: ``completed: <what> -> <result>`` or
    ``failed: <error>`` (``jobs show ID`` has the whole)."""
    what = f"{job.type} {job.summary}" if job.summary else job.type
    if job.status == JobStatus.COMPLETED:
        result = "" if job.result in (None, {}, []) else json.dumps(job.result, default=str)
        return f"completed: {what}" + (f" -> {_cut(result, OUTCOME_SHOWN)}" if result else "")
    error = job.error or {}
    message = str(error.get("message") or "").strip().splitlines()
    reason = f"{error.get('type', 'Error')}: {message[0] if message else 'no message'}"
    return f"{job.status}: {what}: {_cut(reason, OUTCOME_SHOWN)}"


def _read(job_id: str) -> Job:
    with read_session() as session:
        job = session.get(Job, job_id)
    assert job is not None
    return job


def _wait_for(job_id: str, poll: float = 0.25) -> Job:
    job = _read(job_id)
    with click.progressbar(length=100, label=job.status, show_percent=True) as bar:
        shown = 0
        while True:
            done = job.status == JobStatus.COMPLETED
            percent = 100 if done else int(job.progress_percent or 0)
            # The label first: the bar is drawn by update(), with the label it has then.
            changed = bar.label != job.status
            bar.label = job.status
            if percent > shown:
                bar.update(percent - shown)
                shown = percent
            elif changed:
                bar.render_progress()
            if job.status in TERMINAL:
                return job
            time.sleep(poll)
            job = _read(job_id)


@click.group()
def jobs() -> None:
    """List, show, retry and cancel jobs."""


SEARCH_HELP = "Only jobs whose summary contains this (any case), e.g. matrix."
MAINTENANCE_HELP = "Show the platform's own maintenance runs (reaper, retention) too."


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), default=None)
@click.option("--type", "job_type", default=None)
@click.option("-q", "--search", default=None, help=SEARCH_HELP)
@click.option("--limit", default=20, show_default=True)
@click.option("--offset", default=0, show_default=True, help="Skip this many newest first.")
@click.option("--maintenance", is_flag=True, help=MAINTENANCE_HELP)
def jobs_list(
    status: str | None,
    job_type: str | None,
    search: str | None,
    limit: int,
    offset: int,
    maintenance: bool,
) -> None:
    """The newest jobs, with what each is about (not the platform's maintenance runs)."""
    query = _table_query(status, job_type, limit, search, maintenance)
    with read_session() as session:
        rows = list(session.scalars(query.offset(offset)))
        # The same filters, counted: no column of the jobs read.
        total = session.scalar(query.with_only_columns(func.count()).order_by(None).limit(None))
    click.echo(_jobs_table(rows))
    more = (total or 0) - offset - len(rows)
    if more > 0:
        click.echo(
            f"{more} more: --offset {offset + len(rows)} for the next {min(more, limit)},"
            " or --limit N for more at once"
        )


@jobs.command("watch")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), default=None)
@click.option("--type", "job_type", default=None)
@click.option("-q", "--search", default=None, help=SEARCH_HELP)
@click.option("--limit", default=20, show_default=True)
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes.")
@click.option("--count", type=int, default=None, help="Stop after this many refreshes.")
@click.option("--maintenance", is_flag=True, help=MAINTENANCE_HELP)
def jobs_watch(
    status: str | None,
    job_type: str | None,
    search: str | None,
    limit: int,
    interval: float,
    count: int | None,
    maintenance: bool,
) -> None:
    """A live table of the newest jobs (Ctrl-C to stop). Piped, the table is printed once,
    then only the rows that changed, each once."""
    query = _table_query(status, job_type, limit, search, maintenance)
    refreshes = 0
    shown: dict[str, str] = {}  # each row as last printed
    try:
        while count is None or refreshes < count:
            with read_session() as session:
                rows = list(session.scalars(query))
                totals = dict(
                    session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
                )
            summary = "  ".join(f"{s.value} {totals.get(s.value, 0)}" for s in JobStatus)
            if _on_a_terminal() or not shown:
                if _on_a_terminal():
                    click.clear()
                click.echo(f"{time.strftime('%H:%M:%S')}  {summary}\n{_jobs_table(rows)}\n")
            else:
                changed = [line for job in rows if shown.get(job.id) != (line := _row(job))]
                for line in reversed(changed):  # oldest first, as they happened
                    click.echo(line)
            shown = {job.id: _row(job) for job in rows}
            refreshes += 1
            if count is None or refreshes < count:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass


def _on_a_terminal() -> bool:
    return sys.stdout.isatty()


@jobs.command("show")
@click.argument("job_id")
def jobs_show(job_id: str) -> None:
    """One job in full, with its children (the jobs it submitted)."""
    with read_session() as session:
        job = session.get(Job, job_id)
        query = select(Job).where(Job.parent_id == job_id).order_by(Job.created_at)
        children = list(session.scalars(query.options(load_only(*CHILD_COLUMNS))))
    if job is None:
        _fail(f"no job with id {job_id}")
    else:
        click.echo(_job_json(job, children))


@jobs.command("retry")
@click.argument("job_id")
def jobs_retry(job_id: str) -> None:
    """Queue a failed or cancelled job again."""
    _change(retry_job, job_id, " again")


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


# What ``jobs show`` prints of each child: not its payload or result, as the API.
CHILD_COLUMNS = (
    Job.id, Job.type, Job.summary, Job.status, Job.attempts, Job.created_at, Job.completed_at,
    Job.error,
)  # fmt: skip


def _table_query(
    status: str | None,
    job_type: str | None,
    limit: int,
    search: str | None = None,
    maintenance: bool = False,
) -> Select[Job]:
    """The newest jobs, loading only the columns ``_jobs_table`` shows.

    Payloads, results and tracebacks may be megabytes each: they stay in the database
    (``jobs show`` prints them), and reading one by mistake raises instead of loading it.
    """
    shown = load_only(
        Job.id, Job.type, Job.status, Job.priority, Job.attempts, Job.progress_percent,
        Job.created_at, Job.summary, raiseload=True,
    )  # fmt: skip
    query = select(Job).options(shown).order_by(Job.created_at.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.type == job_type)
    elif not maintenance:
        query = query.where(Job.type.not_in(maintenance_type_names()))
    if search:
        query = query.where(summary_contains(search))
    return query


# Characters of the summary a table row shows; `jobs show ID` has it whole.
SUMMARY_SHOWN = 60


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _jobs_table(rows: list[Job]) -> str:
    header = (
        f"{'ID':36}  {'TYPE':20} {'STATUS':10} {'PRI':>3} {'TRIES':>5} {'PROGRESS':>8}  "
        f"{'CREATED':19}  SUMMARY"
    )
    return "\n".join([header, *map(_row, rows)])


def _row(job: Job) -> str:
    progress = f"{job.progress_percent:.0f}%" if job.progress_percent is not None else ""
    return (
        f"{job.id:36}  {job.type[:20]:20} {job.status:10} {job.priority:>3} "
        f"{job.attempts:>5} {progress:>8}  {job.created_at:%Y-%m-%d %H:%M:%S}  "
        f"{_cut(job.summary or '', SUMMARY_SHOWN)}"
    )


@jobs.command("cancel")
@click.argument("job_id")
def jobs_cancel(job_id: str) -> None:
    """Cancel a waiting or running job."""
    _change(cancel_job, job_id)


def _change(action: Callable[[str], Job], job_id: str, ending: str = "") -> None:
    """Apply ``action`` to the job and say its status; a refusal is one line (exit 1)."""
    try:
        job = action(job_id)
    except OrchestratorError as exc:
        _fail(str(exc))
    click.echo(f"job {job.id} is {job.status}{ending}")


COMMANDS = [submit_command, jobs, status]
