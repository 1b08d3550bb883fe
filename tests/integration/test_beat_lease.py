"""One beat in the whole deployment: the schedule's lease lives in the shared database,
so a beat on another host (another data dir) stands by, and takes the schedule over
once the first one dies (orchestrator/delivery/beatlock.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.delivery.beatlock import release_lease, take_lease
from orchestrator.runtime import current
from tests.conftest import REPO_ROOT, sqlite_only, wait_until

SENT = "Sending due task reaper"


def test_the_lease_is_held_by_one_holder_until_it_expires(database: str) -> None:
    name = f"test-{time.monotonic_ns()}"
    assert take_lease(name, "host-a pid 1", 0.5)[0] == "host-a pid 1"
    assert take_lease(name, "host-b pid 2", 0.5)[0] == "host-a pid 1"  # held: refused
    assert take_lease(name, "host-a pid 1", 0.5)[0] == "host-a pid 1"  # renewed
    time.sleep(0.6)
    assert take_lease(name, "host-b pid 2", 30)[0] == "host-b pid 2"  # expired: passes on
    release_lease(name, "host-a pid 1")  # not the holder: nothing happens
    assert take_lease(name, "host-a pid 1", 30)[0] == "host-b pid 2"
    release_lease(name, "host-b pid 2")
    assert take_lease(name, "host-a pid 1", 30)[0] == "host-a pid 1"


class Beat:
    """``orchestrator beat`` on a data dir of its own (a host of its own), sharing the
    suite's database and broker, sending the reaper every second."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.log_path = folder / "beat.log"
        env = {
            **os.environ,
            "ORCH_DATA_DIR": str(folder),
            "ORCH_BROKER_URL": current().settings.effective_broker_url,
            "ORCH_REAPER_INTERVAL": "1",
            "ORCH_BEAT_LEASE": "3",
            "PYTHONPATH": str(REPO_ROOT),
        }
        env.pop("ORCH_BEAT_HOLDER", None)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                # DEBUG: its sends of the reaper are routine lines, which the test reads.
                [sys.executable, "-m", "orchestrator", "beat", "--loglevel", "DEBUG"],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def beats(database: str, tmp_path: Path) -> Iterator[list[Beat]]:
    started: list[Beat] = []
    yield started
    for beat in started:
        beat.stop()


def test_a_second_beat_stands_by_and_takes_over_when_the_first_dies(
    database: str, beats: list[Beat], tmp_path: Path
) -> None:
    # The lease itself is tested on both databases above; the beats are the same on both.
    sqlite_only(database, "two beats")
    first = Beat(tmp_path / "host-a")
    beats.append(first)
    wait_until(lambda: SENT in first.log(), timeout=20)

    second = Beat(tmp_path / "host-b")  # started by hand: orchestrator beat refuses it
    beats.append(second)
    second.process.wait(20)
    assert second.process.returncode == 1
    assert "beat already runs in this deployment" in second.log()

    # One started behind the CLI's back (celery beat itself) only stands by.
    bare = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "orchestrator", "beat", "--schedule",
         str(tmp_path / "bare-schedule"), "--loglevel", "DEBUG"],
        cwd=REPO_ROOT,
        env={**os.environ, "ORCH_BROKER_URL": current().settings.effective_broker_url,
             "ORCH_REAPER_INTERVAL": "1", "ORCH_BEAT_LEASE": "3",
             "PYTHONPATH": str(REPO_ROOT)},
        stdout=open(tmp_path / "bare.log", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        bare_log = tmp_path / "bare.log"
        wait_until(lambda: "standing by" in bare_log.read_text(), timeout=20)
        time.sleep(3)  # three reaper periods: the first beat sends, this one does not
        assert SENT not in bare_log.read_text()
        assert first.log().count(SENT) >= 3

        first.process.send_signal(signal.SIGKILL)  # no goodbye: the lease must expire
        wait_until(lambda: SENT in bare_log.read_text(), timeout=20)
        assert "this beat runs the deployment's schedule" in bare_log.read_text()
    finally:
        bare.terminate()
        bare.wait(10)
