"""Watched folders (``python -m bench.watch``): the inotify watches and the time a library of
10,000 folders takes to watch, and the time from a file's last write to its scan's job.

Watches: a tree of 500 show folders holding 20 season folders each (10,000 folders, with
the root 10,501), watched recursively by watchdog's inotify observer in this process; the
watches are counted in ``/proc/self/fdinfo`` (what the kernel holds against
``fs.inotify.max_user_watches``), the resident memory read before and after.

Latency: ``orchestrator watch`` runs as a process over a watched library; each trial makes
a new folder and writes a file into it in 4 pieces 0.25 s apart (a copy in progress), then
waits for the ``manual-scan`` job naming that folder. Reported per ``ORCH_WATCH_QUIET``
(the default 5 s, and 1 s): the time from the last byte written to the job's row, median
and worst. The watcher holds a folder until it has been quiet that long and its files'
sizes did not change over a second such spell: about twice the setting.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import REPO_ROOT, Stack, finish, log, parse_args, wait_until

SHOWS, SEASONS = 500, 20


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def watches_for_a_big_library() -> dict[str, Any]:
    """Watch a tree of 10,000 season folders; what it took."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    from services.folder_watch import folders_under, watches_in_use

    with tempfile.TemporaryDirectory(prefix="bench-watch-") as root:
        for show in range(SHOWS):
            for season in range(SEASONS):
                os.makedirs(os.path.join(root, f"Show {show}", f"Season {season:02d}"))
        folders = folders_under(root, 10**6)
        before, rss_before = watches_in_use(), _rss_kib()
        started = time.monotonic()
        observer = Observer()
        observer.schedule(FileSystemEventHandler(), root, recursive=True)
        observer.start()
        seconds = time.monotonic() - started
        watches, rss_after = watches_in_use() - before, _rss_kib()
        observer.stop()
        observer.join()
    return {
        "folders": folders,
        "watches": watches,
        "seconds_to_watch": seconds,
        "rss_added_mib": (rss_after - rss_before) / 1024,
        "max_user_watches": int(Path("/proc/sys/fs/inotify/max_user_watches").read_text()),
    }


def _scan_job_of(folder: Path) -> datetime | None:
    from sqlalchemy import select

    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session

    with read_session() as session:
        query = select(Job.created_at).where(Job.summary == f"watched: {folder}")
        return session.scalars(query).first()


def latencies(
    stack: Stack, env: dict[str, str], library: Path, quiet: str, trials: int
) -> dict[str, Any]:
    """Seconds from each trial's last write to its scan's job, with ``ORCH_WATCH_QUIET``."""
    watcher = stack.spawn(
        f"watcher-{quiet}",
        [sys.executable, "-m", "orchestrator", "watch", "--reload-every", "1"],
        {**env, "ORCH_WATCH_QUIET": quiet, "PYTHONPATH": str(REPO_ROOT)},
    )
    time.sleep(3)  # its first reading of the libraries
    seconds = []
    for trial in range(trials):
        folder = library / f"Clip {quiet} {trial} (2026)"
        folder.mkdir()
        with (folder / "clip.mp4").open("wb") as handle:
            for _ in range(4):
                handle.write(b"\0" * 262144)
                handle.flush()
                time.sleep(0.25)
        written = time.time()
        made = lambda folder=folder: _scan_job_of(folder) is not None  # noqa: E731
        wait_until(made, 60, what=f"the scan of {folder}")
        created = _scan_job_of(folder)
        assert created is not None
        seconds.append(created.timestamp() - written)
    watcher.terminate()
    watcher.wait(20)
    log(f"watch: quiet {quiet} s: median {statistics.median(seconds):.2f} s")
    return {
        "quiet_s": float(quiet),
        "trials": trials,
        "median_s": statistics.median(seconds),
        "max_s": max(seconds),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    trials = 3 if args.quick else 8
    big = watches_for_a_big_library()
    log(f"watch: {big['folders']:,} folders, {big['watches']:,} watches")
    with Stack("watch") as stack:
        _broker, env = stack.platform()
        from orchestrator.storage.db import write_session
        from orchestrator.storage.migrate import upgrade
        from services.catalog.models import Library

        upgrade()
        library = stack.root / "home"
        library.mkdir()
        with write_session() as session:
            session.add(Library(name="Home", path=str(library), kind="movies", watch=True))
        runs = [latencies(stack, env, library, quiet, trials) for quiet in ("5", "1")]
    return finish({"quick": args.quick, "big": big, "latency": runs}, args.out)


if __name__ == "__main__":
    main()
