"""The ``orchestrator`` command line (DESIGN 3.4)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import select

from orchestrator import credentials, embedded, stack
from orchestrator.db import read_session
from orchestrator.dispatch import cancel_job, retry_job, submit
from orchestrator.errors import OrchestratorError
from orchestrator.lifecycle import TERMINAL, JobStatus
from orchestrator.logs import configure_logging
from orchestrator.migrate import upgrade
from orchestrator.models import Job
from orchestrator.priorities import QUEUES
from orchestrator.registry import load_job_modules
from orchestrator.settings import get_settings

PLUGIN_GROUP = "orchestrator.commands"


@click.group()
def main() -> None:
    """Celery-based job orchestration for home-media automation."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)


def _exec(service: str, command: list[str], extra_env: dict[str, str] | None = None) -> None:
    """Replace this process with ``command`` (signals then reach it directly)."""
    sys.stdout.flush()
    env = {**os.environ, **(extra_env or {}), "ORCH_SERVICE": service}
    os.execvpe(command[0], command, env)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, help="API port.")
@click.option("--flower-port", default=5555, show_default=True, help="Flower port.")
def up(host: str, port: int, flower_port: int) -> None:
    """Run the whole stack: API, worker, beat and Flower (Ctrl-C stops it all)."""
    settings = get_settings()
    redis_child = stack.prepare(settings, own_redis=True)
    key, _ = credentials.api_key(settings)
    user, password, _ = credentials.flower_credentials(settings)
    commands: list[tuple[str, list[str], dict[str, str]]] = [
        ("api", stack.api_command(settings, host, port), {}),
        ("worker", stack.worker_command(), {}),
        ("beat", stack.beat_command(settings), {}),
        ("flower", stack.flower_command(host, flower_port), {}),
    ]
    children: list[tuple[str, subprocess.Popen]] = []
    for name, command, env in commands:
        process = subprocess.Popen(
            command, env={**os.environ, **env, "ORCH_SERVICE": name}, start_new_session=True
        )
        children.append((name, process))
    if redis_child is not None:
        broker = f"embedded Redis at {settings.embedded_redis_socket}"
    else:
        broker = maybe_sanitize_url(settings.effective_broker_url)
    click.echo(
        f"\norchestrator is up\n"
        f"  API      http://{host}:{port}/api/v1/jobs   (API key: {key})\n"
        f"  Flower   http://{host}:{flower_port}/        (user {user}, password {password})\n"
        f"  broker   {broker}\n"
        f"  data     {settings.data_dir.resolve()}\n"
        f"Press Ctrl-C to stop.\n"
    )
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    while not stopping:
        for name, process in children:
            if process.poll() is not None:
                click.echo(f"{name} exited with code {process.returncode}; stopping", err=True)
                stopping, exit_code = True, 1
        time.sleep(0.2)
    _stop_children(children)
    if redis_child is not None:
        embedded.stop(redis_child)
    click.echo("stopped")
    sys.exit(exit_code)


def _stop_children(children: list[tuple[str, subprocess.Popen]], timeout: float = 20.0) -> None:
    for _, process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for _, process in children:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Gunicorn processes.")
@click.option("--threads", default=16, show_default=True, help="Threads per process.")
def api(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the HTTP API under gunicorn."""
    settings = get_settings()
    stack.prepare(settings)
    _exec("api", stack.api_command(settings, host, port, workers, threads))


@main.command()
@click.option("-Q", "--queues", default=",".join(QUEUES), show_default=True)
@click.option("-c", "--concurrency", type=int, default=None, help="Processes (default: CPUs).")
@click.option("--pool", default=None, help="Celery pool (prefork, solo, threads).")
@click.option("-n", "--hostname", default=None, help="Worker name, e.g. worker1@%h.")
@click.option("--loglevel", default="INFO", show_default=True)
def worker(
    queues: str, concurrency: int | None, pool: str | None, hostname: str | None, loglevel: str
) -> None:
    """Run a Celery worker on the job queues."""
    stack.prepare(get_settings())
    _exec("worker", stack.worker_command(queues, concurrency, pool, hostname, loglevel))


@main.command()
def beat() -> None:
    """Run Celery beat (the periodic re-dispatch sweep and scheduled jobs)."""
    settings = get_settings()
    stack.prepare(settings)
    _exec("beat", stack.beat_command(settings))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5555, show_default=True)
def flower(host: str, port: int) -> None:
    """Run Flower with basic auth (ORCH_FLOWER_USER / ORCH_FLOWER_PASSWORD)."""
    settings = get_settings()
    stack.prepare(settings)
    user, password, generated = credentials.flower_credentials(settings)
    if generated:
        click.echo(f"Flower user {user}, generated password {password}")
    _exec("flower", stack.flower_command(host, port))


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration."""
    upgrade()
    click.echo("database is up to date")


@main.command()
def sweep() -> None:
    """Publish now the jobs whose message was never sent (what beat does periodically)."""
    from orchestrator.dispatch import redispatch_unpublished

    click.echo(f"re-published {redispatch_unpublished()} jobs")


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


@main.command("submit")
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
    stack.prepare(get_settings())
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


@main.group()
def jobs() -> None:
    """List, show, retry and cancel jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), default=None)
@click.option("--type", "job_type", default=None)
@click.option("--limit", default=20, show_default=True)
def jobs_list(status: str | None, job_type: str | None, limit: int) -> None:
    """The newest jobs."""
    query = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if status:
        query = query.where(Job.status == status)
    if job_type:
        query = query.where(Job.type == job_type)
    with read_session() as session:
        rows = list(session.scalars(query))
    click.echo(f"{'ID':36}  {'TYPE':20} {'STATUS':10} {'PRI':>3} {'TRIES':>5}  CREATED")
    for job in rows:
        click.echo(
            f"{job.id:36}  {job.type[:20]:20} {job.status:10} {job.priority:>3} "
            f"{job.attempts:>5}  {job.created_at:%Y-%m-%d %H:%M:%S}"
        )


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


def _add_plugin_commands(group: click.Group) -> None:
    """Add the commands other packages declare under the ``orchestrator.commands`` entry point."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            commands = entry.load()
        except Exception as exc:  # a broken plugin must not break the platform's CLI
            logging.getLogger(__name__).warning("commands %s not loaded: %s", entry.value, exc)
            continue
        for command in commands if isinstance(commands, list | tuple) else [commands]:
            group.add_command(command)


@jobs.command("cancel")
@click.argument("job_id")
def jobs_cancel(job_id: str) -> None:
    """Cancel a waiting or running job."""
    try:
        job = cancel_job(job_id)
    except OrchestratorError as exc:
        _fail(str(exc))
    click.echo(f"job {job.id} is {job.status}")


_add_plugin_commands(main)
