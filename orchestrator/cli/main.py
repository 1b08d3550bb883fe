"""The ``orchestrator`` command line (docs/design.md §5.4)."""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from celery.utils.nodenames import default_nodename, host_format
from kombu.exceptions import OperationalError as KombuOperationalError
from kombu.utils.url import maybe_sanitize_url
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError

from orchestrator.cli.jobs import COMMANDS
from orchestrator.cli.keys import key
from orchestrator.delivery import beatlock
from orchestrator.jobs.priorities import QUEUES
from orchestrator.observability import metrics
from orchestrator.observability.logs import configure_logging
from orchestrator.processes import embedded, readiness, stack
from orchestrator.processes.supervisor import Child, Supervisor, describe_exit
from orchestrator.runtime import current
from orchestrator.settings import SQLITE_FILE, Settings
from orchestrator.storage import credentials
from orchestrator.storage.migrate import upgrade
from orchestrator.storage.private_files import keep_private

PLUGIN_GROUP = "orchestrator.commands"


class OrchestratorGroup(click.Group):
    """Turns an unreachable broker or database into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; explain connection failures."""
        try:
            return super().invoke(ctx)
        except SQLAlchemyOperationalError as exc:
            url = maybe_sanitize_url(current().settings.effective_database_url)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise click.ClickException(
                f"database unreachable at {url}: {reason} (check ORCH_DATABASE_URL)"
            ) from exc
        except (KombuOperationalError, RedisConnectionError) as exc:
            url = maybe_sanitize_url(current().settings.effective_broker_url)
            raise click.ClickException(
                f"broker unreachable at {url}: {exc} (check ORCH_BROKER_URL, or start"
                " `orchestrator up` for the embedded one)"
            ) from exc


# Commands that run a service: they log at ORCH_LOG_LEVEL. The others answer a person,
# whose output INFO lines ("created (priority 5, ...)") would only clutter, unless -v.
SERVICES = frozenset({"up", "api", "worker", "beat", "flower"})
# The commands that may make a deployment's data dir and database; the others use one.
MAKERS = SERVICES | {"db"}


@click.group(cls=OrchestratorGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log INFO lines too (commands but services).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Celery-based job orchestration for home-media automation."""
    settings = current().settings
    # Before anything is created: the data dir holds secrets (see private_files).
    keep_private(settings.data_dir)
    level = settings.log_level
    number = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    if ctx.invoked_subcommand not in SERVICES and not verbose and number < logging.WARNING:
        level = "WARNING"
    configure_logging(level, settings.log_format)
    if ctx.invoked_subcommand not in MAKERS and not _asks_for_help():
        _require_database(settings)


def _asks_for_help() -> bool:
    # The group runs before its command reads its arguments: help needs no deployment.
    return any(argument in ("--help", "-h") for argument in sys.argv[1:])


def _require_database(settings: Settings) -> None:
    """Stop, saying where it looked and how to point it, when there is no database: a
    command run outside a deployment used to make an empty one and report its tables
    missing."""
    if settings.database_url:
        return  # a server's: its own errors say what is wrong
    database = settings.data_dir.resolve() / SQLITE_FILE
    if database.exists():
        return
    raise click.ClickException(
        f"no orchestrator database in {database.parent}: the data dir is ORCH_DATA_DIR, else"
        " the nearest var/ that `orchestrator up` made in this folder or above, else ./var."
        " Run the command where `orchestrator up` runs, or set ORCH_DATA_DIR to its data"
        " dir (or ORCH_DATABASE_URL to its database)"
    )


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
    """Run the whole stack: API, workers, beat and Flower (Ctrl-C stops it all).

    A child that exits is restarted with backoff; only Ctrl-C or SIGTERM stop the stack.
    """
    settings = current().settings
    _check_api_key(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _lock_beat(settings, "orchestrator up")  # held until this process exits
    # Its beat holds the deployment's lease in this process's name: a beat restarted
    # after a crash takes the schedule back at once instead of waiting for the lease.
    os.environ[beatlock.HOLDER_VARIABLE] = beatlock.this_process()
    _check_ports(host, port, flower_port)
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    # Before anything starts, so that a Ctrl-C during start-up still stops it all.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    redis_child = stack.prepare(settings, own_redis=True)
    commands = stack.up_commands(settings, host, port, flower_port)
    supervisor = Supervisor([Child(*named) for named in commands], on_restart=_count_restart)
    exit_code = 0
    try:
        if not stopping:
            supervisor.start()
            problem = _wait_until_ready(supervisor, host, port, flower_port, lambda: stopping)
            if problem:
                click.echo(f"{problem}; stopping", err=True)
                exit_code = 1
            elif not stopping:
                click.echo(_banner(settings, host, port, flower_port, redis_child is not None))
        while not stopping and not exit_code:
            supervisor.poll()
            time.sleep(0.2)
    finally:
        # The broker last: the others would log its loss while they stop.
        supervisor.stop()
        if redis_child is not None:
            embedded.stop(redis_child)
    click.echo("stopped")
    sys.exit(exit_code)


def _check_api_key(settings: Settings) -> None:
    """Stop with a one-line error before serving an API behind a weak key."""
    try:
        credentials.api_key(settings)
    except credentials.WeakApiKey as exc:
        raise click.ClickException(str(exc)) from exc


def _lock_beat(settings: Settings, holder: str) -> int:
    """Hold the data dir's beat lock, or stop with a one-line error naming its holder."""
    try:
        return beatlock.acquire(settings.data_dir, holder)
    except beatlock.BeatLockHeld as exc:
        raise click.ClickException(str(exc)) from exc


def _check_ports(host: str, port: int, flower_port: int) -> None:
    """Refuse at once a port we could not listen on, naming the option that changes it."""
    if port == flower_port:
        raise click.ClickException(f"--port and --flower-port are both {port}; choose two ports")
    for option, number in (("--port", port), ("--flower-port", flower_port)):
        error = readiness.bind_error(host, number)
        if error is None:
            continue
        if error.errno == errno.EADDRINUSE:
            reason = f"port {number} on {host} is already in use"
        else:
            reason = f"cannot listen on {host}:{number} ({error.strerror or error})"
        raise click.ClickException(f"{reason}; choose another with {option}")


STARTUP_TIMEOUT = 120.0


def _wait_until_ready(
    supervisor: Supervisor, host: str, port: int, flower_port: int, stopping: Callable[[], bool]
) -> str | None:
    """Wait until both ports listen and both workers answer; what went wrong, if anything."""
    workers = [default_nodename(None), host_format(stack.CRITICAL_WORKER)]
    answered: set[str] = set()
    api_up = flower_up = False
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not stopping():
        failed = supervisor.first_exited()
        if failed is not None:
            assert failed.process is not None
            code = describe_exit(failed.process.returncode)
            return f"{failed.name} exited with code {code} while starting"
        api_up = api_up or readiness.listens(host, port)
        flower_up = flower_up or readiness.listens(host, flower_port)
        if len(answered) < len(workers):
            answered |= readiness.answering_workers(workers, timeout=0.5)
        waiting = [what for what, ready in (
            (f"API on port {port}", api_up),
            (f"Flower on port {flower_port}", flower_up),
            *((name, name in answered) for name in workers),
        ) if not ready]  # fmt: skip
        if not waiting:
            return None
        if time.monotonic() > deadline:
            return f"not ready after {STARTUP_TIMEOUT:g} s: {', '.join(waiting)}"
        time.sleep(0.2)
    return None


def _banner(settings: Settings, host: str, port: int, flower_port: int, embedded: bool) -> str:
    """What a newcomer needs: the page first, then the API and Flower, each secret with
    where it is kept."""
    key, _ = credentials.api_key(settings)
    user, password, _ = credentials.flower_credentials(settings)
    data_dir = settings.data_dir.resolve()
    key_from = "ORCH_API_KEY" if settings.api_key else f"kept in {data_dir / 'api_key'}"
    password_from = (
        "ORCH_FLOWER_PASSWORD"
        if settings.flower_password
        else f"kept in {data_dir / 'flower_password'}"
    )
    if embedded:
        broker = f"embedded Redis at {settings.embedded_redis_socket}"
    else:
        broker = maybe_sanitize_url(settings.effective_broker_url)
    # An address that listens everywhere is not one a browser can open: this machine's.
    browse = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return (
        f"\norchestrator is up\n"
        f"  page     http://{browse}:{port}/   (sign in with the API key)\n"
        f"  API      http://{browse}:{port}/api/v1/jobs\n"
        f"  API key  {key}   ({key_from})\n"
        f"  Flower   http://{browse}:{flower_port}/   (user {user}, password {password};"
        f" {password_from})\n"
        f"  broker   {broker}\n"
        f"  data     {data_dir}\n"
        f"Press Ctrl-C to stop.\n"
    )


def _count_restart(child: Child) -> None:
    """Count a restart in SQL, where /metrics (another process) reads it."""
    # Written by the counters' own thread, which keeps it while the database is away.
    metrics.count("process_restarts", {"service": child.name})


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Gunicorn processes.")
@click.option(
    "--threads",
    default=16,
    show_default=True,
    help="Threads per process for requests (event streams get ORCH_MAX_STREAMS more).",
)
def api(host: str, port: int, workers: int, threads: int) -> None:
    """Serve the HTTP API under gunicorn."""
    settings = current().settings
    _check_api_key(settings)
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
    stack.prepare(current().settings)
    _exec("worker", stack.worker_command(queues, concurrency, pool, hostname, loglevel))


@main.command()
@click.option(
    "--loglevel", default="INFO", show_default=True, help="DEBUG shows each routine send too."
)
def beat(loglevel: str) -> None:
    """Run Celery beat (the periodic re-dispatch sweep and scheduled jobs)."""
    settings = current().settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Kept through the exec: celery beat itself then holds the lock.
    os.set_inheritable(_lock_beat(settings, "orchestrator beat"), True)
    stack.prepare(settings)
    try:
        # The deployment's lease too, for this pid: the beat it execs renews it.
        beatlock.refuse_second_beat(beatlock.this_process())
    except beatlock.BeatLockHeld as exc:
        raise click.ClickException(str(exc)) from exc
    _exec("beat", stack.beat_command(settings, loglevel))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5555, show_default=True)
def flower(host: str, port: int) -> None:
    """Run Flower with basic auth (ORCH_FLOWER_USER / ORCH_FLOWER_PASSWORD)."""
    settings = current().settings
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
    from orchestrator.delivery.relay import publish_unpublished

    click.echo(f"re-published {publish_unpublished(grace=current().settings.sweep_grace)} jobs")


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


for _command in (*COMMANDS, key):
    main.add_command(_command)
_add_plugin_commands(main)
