"""User data in log lines (a webhook's folder path) cannot forge a line or colour a terminal."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

import pytest

from orchestrator.observability.logs import escape_control, make_formatter

HOSTILE = "/movies/A\n[fake] ERROR forged\x1b[31m red\r\x00\x85\u2028end"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("tasks.webhook", logging.INFO, __file__, 1, msg, args, exc_info)


def _raised(message: str) -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def _assert_clean(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text and "\x00" not in text
    assert "\x85" not in text and "\u2028" not in text
    assert not any(line.startswith("[fake]") for line in text.split("\n")), text


@pytest.mark.parametrize(
    ("msg", "args"),
    [(HOSTILE, ()), ("scanning %s", (HOSTILE,)), ("payload %r then %s", ({"p": HOSTILE}, HOSTILE))],
)
def test_text_lines_escape_control_characters_in_message_and_args(
    msg: str, args: tuple[object, ...]
) -> None:
    line = make_formatter("text").format(_record(msg, *args))

    assert "\n" not in line
    _assert_clean(line)
    assert "A\\n[fake] ERROR forged\\x1b[31m red\\r\\x00\\x85\\u2028end" in line


def test_a_traceback_keeps_its_lines_but_its_message_cannot_forge_one() -> None:
    text = make_formatter("text").format(_record("failed %s", HOSTILE, exc=_raised(HOSTILE)))

    first, *traceback = text.split("\n")
    assert first.endswith(
        "failed /movies/A\\n[fake] ERROR forged\\x1b[31m red\\r\\x00\\x85\\u2028end"
    )
    assert traceback[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in traceback)  # no line passes for a record
    assert any("ValueError: /movies/A" in line for line in traceback)
    _assert_clean(text)


def test_a_traceback_cached_unescaped_by_another_formatter_is_escaped() -> None:
    record = _record("failed", exc=_raised(HOSTILE))
    logging.Formatter().format(record)  # caches record.exc_text as is

    _assert_clean(make_formatter("text").format(record))


def test_json_lines_escape_by_construction() -> None:
    record = _record("scanning %s", HOSTILE, exc=_raised(HOSTILE))
    line = make_formatter("json").format(record)
    make_formatter("text")  # the module default for the other tests

    assert "\n" not in line
    _assert_clean(line)
    body = json.loads(line)
    assert body["message"] == f"scanning {HOSTILE}"
    assert body["exception"].endswith(f"ValueError: {HOSTILE}")


def test_escape_control_leaves_printable_text_and_backslashes_alone() -> None:
    assert escape_control("D:\\Movies\\Été 日本\t1") == "D:\\Movies\\Été 日本\\t1"


def test_the_stack_logged_with_stack_info_is_indented() -> None:
    record = _record("here")
    record.stack_info = "Stack (most recent call last):\n  File x\n[fake] line"
    text = make_formatter("text").format(record)

    assert text.split("\n")[1:] == [
        "    Stack (most recent call last):",
        "      File x",
        "    [fake] line",
    ]


def test_json_access_log_values_stay_inside_their_string() -> None:
    from orchestrator.web.gunicorn_conf import _json_string

    path = '/x"}, "status": 200, "forged": "\n\x1b[31m'
    line = '{"path": "%s", "status": 404}' % _json_string(path)  # noqa: UP031 - gunicorn's form

    assert "\n" not in line and "\x1b" not in line
    assert json.loads(line) == {"path": path, "status": 404}


def test_a_fork_waits_for_the_log_line_another_thread_writes() -> None:
    class SlowStream:
        """A stream that holds its own lock while it writes, as a buffered file does."""

        def __init__(self) -> None:
            self.lock = threading.Lock()

        def write(self, text: str) -> None:
            with self.lock:
                time.sleep(0.02)

        def flush(self) -> None:
            pass

    logger = logging.getLogger("tests.fork")
    handler = logging.StreamHandler(SlowStream())  # type: ignore[arg-type]
    logger.addHandler(handler)
    logger.propagate = False
    writing = threading.Event()
    stop = threading.Event()

    def chatter() -> None:
        while not stop.is_set():
            logger.warning("a line")
            writing.set()

    thread = threading.Thread(target=chatter, daemon=True)
    thread.start()
    try:
        writing.wait(5)
        for _ in range(5):
            pid = os.fork()
            if pid == 0:  # the child: its first line must not wait for the parent's thread
                logger.warning("the child's line")
                os._exit(0)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.01)
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung on its first log line")
            assert os.waitstatus_to_exitcode(status) == 0
    finally:
        stop.set()
        thread.join(5)
        logger.removeHandler(handler)


def test_celerys_lines_about_routine_maintenance_are_dropped_unless_debug() -> None:
    from orchestrator import app
    from orchestrator.jobs.registry import load_job_modules
    from orchestrator.observability.logs import RoutineLines, is_routine

    load_job_modules()
    assert is_routine("reaper") and is_routine("orchestrator.redispatch")
    assert is_routine("retention") and not is_routine("webhook")
    # Flower's task list: no events from the platform's maintenance, every other task's.
    assert app.tasks["reaper"].send_events is False
    assert app.tasks["orchestrator.redispatch"].send_events is False
    assert app.tasks["webhook"].send_events is True

    def record(message: str, args: object, level: int = logging.INFO) -> logging.LogRecord:
        made = logging.LogRecord("celery.app.trace", level, __file__, 1, message, None, None)
        made.args = args  # type: ignore[assignment]
        return made

    lines = RoutineLines()
    received = "Task %(name)s[%(id)s] received"
    assert not lines.filter(record(received, {"name": "reaper", "id": "1"}))
    assert not lines.filter(record("Scheduler: Sending due task %s (%s)", ("reaper", "reaper")))
    assert lines.filter(record(received, {"name": "webhook", "id": "2"}))
    assert lines.filter(record(received, {"name": "reaper", "id": "3"}, logging.WARNING))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        assert lines.filter(record(received, {"name": "reaper", "id": "4"}))
    finally:
        root.setLevel(level)
