"""The folder signature changes with any file under the folder, and only then."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.folder_signature import folder_signature
from tests.fakes.unreadable import refusing


@pytest.fixture
def movie(tmp_path: Path) -> Path:
    folder = tmp_path / "Heat (1995)"
    (folder / "extras").mkdir(parents=True)
    (folder / "Heat (1995).mkv").write_bytes(b"\0" * 100)
    (folder / "movie.nfo").write_text("<movie><title>Heat</title></movie>")
    (folder / "extras" / "making-of.mkv").write_bytes(b"\0" * 10)
    return folder


def _touch(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_it_is_stable_while_nothing_changes(movie: Path) -> None:
    first = folder_signature(movie)

    assert first is not None
    assert len(first) <= 64
    assert folder_signature(movie) == first
    assert folder_signature(str(movie)) == first


def test_it_changes_when_a_file_is_added(movie: Path) -> None:
    before = folder_signature(movie)
    (movie / "poster.jpg").write_bytes(b"jpg")

    assert folder_signature(movie) != before


def test_it_changes_when_a_file_is_removed(movie: Path) -> None:
    before = folder_signature(movie)
    (movie / "movie.nfo").unlink()

    assert folder_signature(movie) != before


def test_it_changes_when_a_file_is_resized_with_the_same_mtime(movie: Path) -> None:
    video = movie / "Heat (1995).mkv"
    mtime_ns = video.stat().st_mtime_ns
    before = folder_signature(movie)
    video.write_bytes(b"\0" * 101)
    _touch(video, mtime_ns)

    assert folder_signature(movie) != before


def test_it_changes_when_a_file_is_touched(movie: Path) -> None:
    nfo = movie / "movie.nfo"
    before = folder_signature(movie)
    _touch(nfo, nfo.stat().st_mtime_ns + 1_000_000_000)

    assert folder_signature(movie) != before


def test_it_changes_when_a_file_is_renamed(movie: Path) -> None:
    before = folder_signature(movie)
    (movie / "movie.nfo").rename(movie / "Heat (1995).nfo")

    assert folder_signature(movie) != before


def test_it_sees_changes_in_sub_folders(movie: Path) -> None:
    before = folder_signature(movie)
    extra = movie / "extras" / "making-of.mkv"
    _touch(extra, extra.stat().st_mtime_ns + 1_000_000_000)
    touched = folder_signature(movie)
    (movie / "extras" / "deep").mkdir()
    (movie / "extras" / "deep" / "clip.mkv").write_bytes(b"clip")

    assert len({before, touched, folder_signature(movie)}) == 3


def test_two_folders_with_the_same_files_have_the_same_signature(
    movie: Path, tmp_path: Path
) -> None:
    twin = tmp_path / "twin"
    (twin / "extras").mkdir(parents=True)
    for relative in ("Heat (1995).mkv", "movie.nfo", "extras/making-of.mkv"):
        (twin / relative).write_bytes((movie / relative).read_bytes())
        mtime_ns = (movie / relative).stat().st_mtime_ns
        _touch(twin / relative, mtime_ns)

    assert folder_signature(twin) == folder_signature(movie)


def test_a_missing_folder_or_a_file_has_no_signature(movie: Path, tmp_path: Path) -> None:
    assert folder_signature(tmp_path / "nope") is None
    assert folder_signature(movie / "movie.nfo") is None


def test_an_empty_folder_has_a_signature(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()

    assert folder_signature(tmp_path / "empty") is not None


def test_a_symlink_loop_ends(movie: Path) -> None:
    (movie / "extras" / "loop").symlink_to(movie)
    (movie / "broken").symlink_to(movie / "nowhere")

    assert folder_signature(movie) is not None


def test_an_unreadable_folder_raises_but_an_unreadable_sub_folder_does_not(
    movie: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = folder_signature(movie)
    # Mode 0, and refused by os.scandir too: root lists any folder whatever its mode.
    locked: list[str] = []
    monkeypatch.setattr(os, "scandir", refusing(os.scandir, lambda: locked))

    def lock(folder: Path) -> None:
        folder.chmod(0)
        locked.append(str(folder))

    try:
        lock(movie / "extras")
        assert folder_signature(movie) not in (None, before)
        lock(movie)
        with pytest.raises(PermissionError):
            folder_signature(movie)
    finally:
        locked.clear()
        movie.chmod(0o755)
        (movie / "extras").chmod(0o755)
    assert folder_signature(movie) == before
