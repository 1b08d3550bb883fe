"""Watched folders' parts: which folder a change is scanned as, the debouncer that waits for
a copy to end, and the inotify budget, read from a real inotify instance."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

from services import folder_watch
from services.folder_watch import Debouncer, scan_unit, watch_budget, watches_in_use


@pytest.mark.parametrize(
    ("kind", "path", "is_directory", "unit"),
    [
        ("movies", "/lib/Heat (1995)/Heat (1995).mkv", False, "/lib/Heat (1995)"),
        ("movies", "/lib/Heat (1995)/Extras/Making of.mkv", False, "/lib/Heat (1995)"),
        ("movies", "/lib/Heat (1995)", True, "/lib/Heat (1995)"),  # a folder made or gone
        ("movies", "/lib/birthday.mp4", False, "/lib"),  # at the top: the whole library
        ("tv", "/lib/Severance/Season 02/S02E01.mkv", False, "/lib/Severance/Season 02"),
        ("tv", "/lib/Severance/tvshow.nfo", False, "/lib/Severance"),
        ("tv", "/lib/Severance", True, "/lib/Severance"),
        ("movies", "/elsewhere/x.mkv", False, None),
        ("movies", "/library2/x.mkv", False, None),
    ],
)
def test_a_change_is_scanned_as_its_movie_or_season_folder(
    kind: str, path: str, is_directory: bool, unit: str | None
) -> None:
    assert scan_unit("/lib", kind, path, is_directory) == unit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_folder_is_released_once_quiet_with_its_sizes_unchanged() -> None:
    clock, sizes = Clock(), {"/lib/A": {"a.mkv": 10}}
    debouncer = Debouncer(quiet=5, clock=clock, measure=lambda folder: dict(sizes[folder]))

    debouncer.changed("/lib/A")
    clock.now = 4.9
    assert debouncer.ready() == []  # not quiet yet
    clock.now = 5.0
    assert debouncer.ready() == []  # first look at the sizes
    sizes["/lib/A"]["a.mkv"] = 20  # the copy goes on without an event (a slow share)
    clock.now = 10.0
    assert debouncer.ready() == []  # grew since: another quiet spell
    clock.now = 15.0
    assert debouncer.ready() == ["/lib/A"]
    assert debouncer.waiting() == 0


def test_a_new_change_restarts_the_wait() -> None:
    clock = Clock()
    debouncer = Debouncer(quiet=5, clock=clock, measure=lambda folder: {})

    debouncer.changed("/lib/A")
    clock.now = 5.0
    assert debouncer.ready() == []
    clock.now = 9.0
    debouncer.changed("/lib/A")
    clock.now = 13.0
    assert debouncer.ready() == []
    clock.now = 14.0
    assert debouncer.ready() == ["/lib/A"]


def test_sizes_are_read_from_the_disk(tmp_path: Path) -> None:
    (tmp_path / "Season 01").mkdir()
    (tmp_path / "Season 01" / "e1.mkv").write_bytes(b"x" * 3)

    assert folder_watch.sizes_under(str(tmp_path)) == {str(tmp_path / "Season 01" / "e1.mkv"): 3}


def _tree(root: Path, folders: int) -> None:
    for index in range(folders):
        (root / f"f{index // 10}" / f"g{index}").mkdir(parents=True, exist_ok=True)


def test_a_library_beyond_the_watches_left_is_refused_saying_how_to_raise_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = tmp_path / "library"
    _tree(library, 200)
    limit = tmp_path / "max_user_watches"
    monkeypatch.setattr(folder_watch, "MAX_USER_WATCHES", limit)

    limit.write_text(f"{folder_watch.WATCH_HEADROOM + 1000}\n")
    roomy = watch_budget([str(library)], in_use=0)
    limit.write_text(f"{folder_watch.WATCH_HEADROOM + 100}\n")
    tight = watch_budget([str(library)], in_use=0)

    assert roomy.fits and roomy.needed == 1 + 20 + 200  # the library, 20 f*, 200 g*
    assert not tight.fits and tight.needed > 100
    assert "sysctl -w fs.inotify.max_user_watches=" in tight.reason
    assert "/etc/sysctl.d/" in tight.reason


def test_watches_in_use_are_those_inotify_holds_one_per_folder(tmp_path: Path) -> None:
    if not os.path.exists("/proc/self/fdinfo"):
        pytest.skip("no /proc here")
    _tree(tmp_path, 100)
    before = watches_in_use()
    observer = Observer()
    observer.schedule(FileSystemEventHandler(), str(tmp_path), recursive=True)
    observer.start()
    try:
        during = watches_in_use()
    finally:
        observer.stop()
        observer.join()

    assert during - before == 1 + 10 + 100


def test_folders_a_failed_submit_held_are_submitted_once_it_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tasks import watcher as watcher_module
    from tasks.watcher import FolderWatcher, Watched

    library = Watched(1, "Home", str(tmp_path), "movies")
    folder = tmp_path / "Clip (2026)"
    folder.mkdir()
    watcher = FolderWatcher(quiet=0.5)
    watcher.watched[1] = (library, None)
    clock = Clock()
    watcher.debouncer = Debouncer(quiet=0.5, clock=clock)
    submitted: list[dict[str, object]] = []

    def submit(job_type: str, payload: dict[str, object]) -> object:
        if not submitted and not getattr(submit, "failed", False):
            submit.failed = True  # type: ignore[attr-defined]
            raise ConnectionError("the database is away")
        submitted.append(payload)
        return type("Submitted", (), {"job": type("Job", (), {"id": "j1"})})()

    monkeypatch.setattr(watcher_module, "submit", submit)
    watcher.debouncer.changed(str(folder))
    for now in (1.0, 2.0):  # quiet, then its sizes unchanged: ready, and the submit fails
        clock.now = now
        watcher.submit_ready()
    assert submitted == [] and watcher.debouncer.waiting() == 1
    for now in (3.0, 4.0):
        clock.now = now
        watcher.submit_ready()

    assert submitted == [{"dirs": [str(folder)], "trigger": "watch"}]
