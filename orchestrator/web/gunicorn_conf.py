"""Gunicorn settings for the API (``gunicorn -c python:orchestrator.web.gunicorn_conf``)."""

from __future__ import annotations

import json
from typing import Any

from gunicorn.glogging import Logger

from orchestrator.observability.logs import TextFormatter, configure_logging, escape_control
from orchestrator.processes.readiness import bind_error
from orchestrator.runtime import bootstrap

# Gunicorn reads this file first: the master's runtime, which its workers inherit.
_settings = bootstrap().settings

accesslog = "-"
# The path without its query string: webhooks may carry ?apikey=.
if _settings.log_format == "json":
    access_log_format = (
        '{"ts": "%(t)s", "service": "api", "logger": "access", "remote": "%(h)s",'
        ' "method": "%(m)s", "path": "%(U)s", "status": %(s)s, "bytes": "%(b)s",'
        ' "ms": %(M)s, "agent": "%(a)s"}'
    )
else:
    access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


class EscapingLogger(Logger):
    """Gunicorn's logger, one line per record whatever the client sends.

    The path (decoded: ``%0a`` is a newline), the user agent and the other request
    values in an access line are the client's: escaped, as JSON strings in the JSON
    format (a quote would break the object), as in ``orchestrator.observability.logs`` otherwise.
    Gunicorn's own error lines may quote a malformed request: escaped too.
    """

    def setup(self, cfg: Any) -> None:
        """Gunicorn's handlers, the error log's with the escaping text formatter."""
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(TextFormatter(self.error_fmt, self.datefmt))

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        """Gunicorn's info lines; its "Listening at" names the addresses bound."""
        if msg.startswith("Listening at:") and args and not args[0]:
            # With --reuse-port the workers bind, not the master: it would say "" here.
            args = (",".join(f"http://{address}" for address in self.cfg.bind), *args[1:])
        super().info(msg, *args, **kwargs)

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        """The access line's values, the strings escaped."""
        atoms = super().atoms(resp, req, environ, request_time)
        escape = _json_string if _settings.log_format == "json" else escape_control
        return {name: escape(v) if isinstance(v, str) else v for name, v in atoms.items()}


def _json_string(value: str) -> str:
    """``value`` escaped for the inside of a JSON string."""
    return json.dumps(value)[1:-1]


logger_class = EscapingLogger

# The relay of this API: a thread of the master process (see orchestrator.delivery.relay).
_relay: Any = None


def when_ready(server: Any) -> None:
    """Start the relay in the master, before it forks the worker processes."""
    from orchestrator.delivery.relay import Relay

    global _relay
    _relay = Relay()
    _relay.start()


def post_fork(server: Any, worker: Any) -> None:
    """A worker process records jobs and rings the master's relay, which publishes them."""
    from orchestrator.jobs.dispatch import use_relay
    from orchestrator.runtime import current

    current().after_fork()
    use_relay(_relay.ring if _relay is not None else None)


def post_worker_init(worker: Any) -> None:
    """Give the application's own loggers the configured format in each worker process."""
    configure_logging(_settings.log_level, _settings.log_format)


def on_starting(server: Any) -> None:
    """Stop at once, as without ``--reuse-port``, when something listens on our port.

    With ``--reuse-port`` (see ``orchestrator.processes.stack.api_command``) each worker process
    binds a socket of its own, so a second API of the same user would quietly share the
    port (and its requests) instead of failing: a plain bind first keeps it an error.
    """
    if not server.cfg.reuse_port:
        return
    for address in server.cfg.address:
        if not isinstance(address, tuple):
            continue  # a Unix socket
        error = bind_error(address[0], address[1])
        if error is not None:
            server.log.error("cannot listen on %s:%s: %s", address[0], address[1], error)
            raise SystemExit(1) from error
