"""The ``command`` player: runs an executable of the household's for each change.

For Tdarr, FileFlows or a script of one's own: ``<executable> <folder> <event> <library>``,
where the folder is as the player group sees it and the event is Created, Modified or
Deleted. No shell is involved. The same values are in the environment as ``ORCH_FOLDER``,
``ORCH_EVENT``, ``ORCH_LIBRARY`` and ``ORCH_CONTENT`` (movies or tvshows); nothing else of
the worker's environment is passed on but ``PATH``, ``HOME``, the locale and ``TZ`` (the
worker's own holds the database URL and the API key).

Exit 0: taken. Exit 75 (``EX_TEMPFAIL``): try again later. Any other exit: failed for
good. Past its time limit the whole process group is killed and the change is retried.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from typing import IO, Any

from services.players.base import (
    NoLibrary,
    PlayerError,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
    require_directory,
)

# Seconds a command may run when its player sets no limit, and the most it may set.
DEFAULT_TIME_LIMIT = 60
MAX_TIME_LIMIT = 3600
# EX_TEMPFAIL (sysexits.h): "try again later".
EXIT_TRY_AGAIN = 75
# The end of each output kept on the job (a script may print a lot; its end says most).
OUTPUT_TAIL_BYTES = 4000
# Once the command has exited, how long its output may still be read: a process it left
# in the background may hold the pipes open for good.
OUTPUT_GRACE_SECONDS = 1.0
# The worker's variables a script may need to run programs at all; nothing else is passed.
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

UNVERIFIED = "not checked: a command reports no library"


def executable_problem(path: str) -> str | None:
    """What is wrong with ``path`` as a command to run (None: nothing): it must be the
    absolute path of an executable file."""
    if not os.path.isabs(path):
        return "must be an absolute path, e.g. /config/scripts/notify.sh"
    if not os.path.exists(path):
        return f"{path} does not exist here, as the orchestrator sees it"
    if not os.path.isfile(path):
        return f"{path} is not a file"
    if not os.access(path, os.X_OK):
        return f"{path} is not executable: chmod +x it"
    return None


def command_environment(target: ScanTarget) -> dict[str, str]:
    """The environment of the command run for ``target``."""
    passed = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
    passed.setdefault("PATH", DEFAULT_PATH)
    return {
        **passed,
        "ORCH_FOLDER": target.directory,
        "ORCH_EVENT": target.update_type,
        "ORCH_LIBRARY": target.library,
        "ORCH_CONTENT": target.content,
    }


class CommandClient(NoLibrary):
    """Runs the configured executable once per change."""

    TYPES = {"command": "Command"}

    def __init__(self, settings: PlayerSettings) -> None:
        self.settings = settings
        self.path = settings.command or ""
        self.time_limit = settings.time_limit or DEFAULT_TIME_LIMIT

    def ping(self) -> dict[str, Any]:
        """Check that the executable is there and may be run; nothing is run."""
        problem = executable_problem(self.path) if self.path else "no command is set"
        if problem:
            raise PlayerError(f"command: {problem}")
        return {"version": "executable"}

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """Run the command for ``target``; its exit status says whether it took the change.

        Returns the exit code and the end of its output. Raises ``PlayerUnavailable`` for
        exit 75 or when its time limit passed (its process group is killed), ``PlayerError``
        for any other failure.
        """
        require_directory(target.directory)
        argv = [self.path, target.directory, target.update_type, target.library]
        code, stdout, stderr = self._run(argv, command_environment(target))
        last_line = _last_line(stderr)
        said = f": {last_line}" if last_line else ""
        if code == EXIT_TRY_AGAIN:
            raise PlayerUnavailable(f"{self.path}: exit {code} (try again later){said}")
        if code < 0:
            name = _signal_name(-code)
            raise PlayerError(f"{self.path}: killed by {name}{said}")
        if code != 0:
            raise PlayerError(f"{self.path}: exit {code}{said}")
        return {
            "command": self.path,
            "exit_code": code,
            "stdout": stdout,
            "stderr": stderr,
            "verified": False,
            "verification": UNVERIFIED,
        }

    def _run(self, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        """Run ``argv`` in a process group of its own within the time limit; returns its
        exit code (negative: the signal that ended it) and the ends of its outputs."""
        try:
            # No shell: the folder and library names reach the command as they are.
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=os.path.dirname(self.path),
                # Its own group: on expiry the children it started go with it.
                start_new_session=True,
            )
        except OSError as exc:
            raise PlayerError(f"{self.path}: cannot run it ({exc.strerror})") from exc
        assert process.stdout is not None and process.stderr is not None
        stdout, stderr = bytearray(), bytearray()
        outputs = [(process.stdout, stdout), (process.stderr, stderr)]
        try:
            _read_until_done(process, outputs, time.monotonic() + self.time_limit)
            if process.poll() is None:
                raise PlayerUnavailable(
                    f"{self.path}: still running after its time limit of {self.time_limit} s:"
                    " killed (with what it started)"
                )
        finally:
            # Expired, or interrupted (the job's own time limit): nothing is left running.
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            for stream, _ in outputs:
                stream.close()
        return process.returncode, _text(stdout), _text(stderr)


def _read_until_done(
    process: subprocess.Popen[bytes],
    outputs: list[tuple[IO[bytes], bytearray]],
    deadline: float,
) -> None:
    """Keep the end of each output in its tail until all are closed, the deadline passes,
    or ``OUTPUT_GRACE_SECONDS`` after the process exited."""
    end = deadline
    with selectors.DefaultSelector() as selector:
        for stream, tail in outputs:
            selector.register(stream, selectors.EVENT_READ, data=tail)
        while selector.get_map():
            if end == deadline and process.poll() is not None:
                end = min(deadline, time.monotonic() + OUTPUT_GRACE_SECONDS)
            left = end - time.monotonic()
            if left <= 0:
                return
            # Woken at least every 0.1 s to notice the process exit.
            for key, _ in selector.select(timeout=min(left, 0.1)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                del key.data[:-OUTPUT_TAIL_BYTES]
    # Both outputs closed: the process has exited or is about to.
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=max(0.0, deadline - time.monotonic()))


def _text(tail: bytearray) -> str:
    return tail.decode("utf-8", errors="replace")


def _last_line(text: str) -> str:
    """The last non-blank line of ``text``, cut to 300 characters."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
