"""Logging: every record about a job carries its id, type, root id and attempt.

Two formats: readable lines for people (default), or one JSON object per line
(``ORCH_LOG_FORMAT=json``) with the job fields and the service name
(``ORCH_SERVICE``: api, worker, beat, flower or cli) for log collectors.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, Protocol

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JOB_FIELDS = ("job_id", "job_type", "root_id", "attempt")
# In JSON the job fields are separate keys: the readable prefix would repeat them.
_prefix_messages = True


class JobLike(Protocol):
    """What the job logger needs to know about a job."""

    id: str
    type: str
    root_id: str
    attempts: int


class JobLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    """Adds the job's context as record attributes (and, for people, as a prefix)."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        ctx = self.extra or {}
        kwargs["extra"] = {**ctx, **kwargs.get("extra", {})}
        if not _prefix_messages:
            return msg, kwargs
        prefix = (
            f"[{ctx['job_type']} {ctx['job_id']} attempt={ctx['attempt']} root={ctx['root_id']}]"
        )
        return f"{prefix} {msg}", kwargs


def job_logger(logger: logging.Logger, job: JobLike) -> JobLoggerAdapter:
    """A logger adapter bound to ``job``."""
    return JobLoggerAdapter(
        logger,
        {
            "job_id": job.id,
            "job_type": job.type,
            "root_id": job.root_id,
            "attempt": job.attempts,
        },
    )


def service_name() -> str:
    """Which process of the stack this is (``ORCH_SERVICE``, default ``cli``)."""
    return os.environ.get("ORCH_SERVICE", "cli")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, service, message and job fields.

    ``json.dumps`` escapes every control character in strings (a newline as ``\\n``,
    ESC as ``\\u001b``, and with ``ensure_ascii`` U+2028 too): a record stays one line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single-line JSON object."""
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "service": service_name(),
            "message": record.getMessage(),
        }
        for field in JOB_FIELDS:
            if hasattr(record, field):
                body[field] = getattr(record, field)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


# Control characters (C0, DEL, C1) and Unicode's line and paragraph separators, as
# Python escapes them: a newline as \n, ESC as \x1b. A backslash stays as it is, so
# Windows paths read as themselves; a literal "\n" in a message is thus ambiguous, but
# cannot start a line.
_ESCAPES = {
    code: repr(chr(code))[1:-1] for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)
}


def escape_control(text: str) -> str:
    """``text`` with its control characters escaped: one line, no terminal escapes."""
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """Readable lines; a record's message is one line whatever the values in it hold.

    Messages quote user data (a webhook's folder path, a player's answer): a newline
    in it would forge a log line, an ANSI escape colour the terminal. Tracebacks keep
    their lines, being the platform's own; but the exception's message may quote user
    data too, so every line of a traceback is escaped and indented: no line of it can
    pass for a record, which starts at the first column.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record's line, then its traceback or stack if any, indented."""
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        lines = [escape_control(self.formatMessage(record))]
        # Not logging's cached exc_text: another handler's formatter may have cached
        # the traceback unescaped.
        if record.exc_info:
            lines.append(_indented(self.formatException(record.exc_info)))
        elif record.exc_text:
            lines.append(_indented(record.exc_text))
        if record.stack_info:
            lines.append(_indented(self.formatStack(record.stack_info)))
        return "\n".join(lines)


def _indented(text: str) -> str:
    return "\n".join("    " + escape_control(line) for line in text.split("\n"))


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``text`` or ``json``; also decides whether messages get a prefix."""
    global _prefix_messages
    _prefix_messages = log_format != "json"
    return JsonFormatter() if log_format == "json" else TextFormatter(DEFAULT_FORMAT)


# --- routine maintenance -------------------------------------------------------------------

# Tasks that run every few seconds and mostly find nothing to do (the reaper, the sweep).
_routine: set[str] = set()


def routine(name: str) -> None:
    """Log the lines of task ``name`` that only say it ran at DEBUG, not INFO: the
    reaper's every ten seconds made a quarter of a deployment's log."""
    _routine.add(name)


def is_routine(name: str) -> bool:
    """Whether ``name`` was declared with :func:`routine`."""
    return name in _routine


class RoutineLines(logging.Filter):
    """Drops Celery's INFO lines about routine tasks ("received", "succeeded in", beat's
    "Sending due task") unless DEBUG is on."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for an INFO line naming a routine task while DEBUG is off."""
        if record.levelno != logging.INFO or logging.getLogger().isEnabledFor(logging.DEBUG):
            return True
        args = record.args
        names = [args.get("name")] if isinstance(args, dict) else list(args or ())
        return not any(isinstance(name, str) and name in _routine for name in names)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Log to stderr in the chosen format (the API and the CLI)."""
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RoutineLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def use_format_on(logger: logging.Logger, log_format: str) -> None:
    """Give every handler of ``logger`` the chosen format (Celery sets up its own), and
    keep routine maintenance out of it."""
    formatter = make_formatter(log_format)
    for handler in logger.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(f, RoutineLines) for f in handler.filters):
            handler.addFilter(RoutineLines())


# --- forks ------------------------------------------------------------------------------

_held_across_fork: list[logging.Handler] = []


def _every_handler() -> list[logging.Handler]:
    loggers = [logging.getLogger()] + [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)
    ]
    return list({id(handler): handler for lg in loggers for handler in lg.handlers}.values())


def _before_fork() -> None:
    # A fork while another thread writes a log line copies the stream's own lock held:
    # the child's first line then waits for ever, holding whatever it held (the SQLite
    # writer lock, and with it every writer of every process). Celery forks a new pool
    # process while its timeout thread logs the job it killed. So a fork waits for the
    # line being written: every handler writes under its lock.
    _held_across_fork[:] = _every_handler()
    for handler in _held_across_fork:
        handler.acquire()


def _after_fork_in_parent() -> None:
    for handler in reversed(_held_across_fork):
        handler.release()
    _held_across_fork.clear()


def _after_fork_in_child() -> None:
    # logging gives the child's handlers new locks itself.
    _held_across_fork.clear()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
