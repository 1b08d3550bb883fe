"""The ``orchestrator`` command line (DESIGN 3.4)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.utils.url import maybe_sanitize_url
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from orchestrator import credentials, embedded, stack
from orchestrator.cli_jobs import COMMANDS
from orchestrator.logs import configure_logging
from orchestrator.migrate import upgrade
from orchestrator.priorities import QUEUES
from orchestrator.settings import get_settings

PLUGIN_GROUP = "orchestrator.commands"


class OrchestratorGroup(click.Group):
    """Turns an unreachable broker or database into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; explain connection failures."""
        try:
            return super().invoke(ctx)
        except SQLAlchemyOperationalError as exc:
            url = maybe_sanitize_url(get_settings().effective_database_url)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise click.ClickException(
                f"database unreachable at {url}: {reason} (check ORCH_DATABASE_URL)"
            ) from exc
        except (KombuOperationalError, RedisConnectionError) as exc:
            url = maybe_sanitize_url(get_settings().effective_broker_url)
            raise click.ClickException(
                f"broker unreachable at {url}: {exc} (check ORCH_BROKER_URL, or start"
                " `orchestrator up` for the embedded one)"
            ) from exc


@click.group(cls=OrchestratorGroup)
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


for _command in COMMANDS:
    main.add_command(_command)
_add_plugin_commands(main)
