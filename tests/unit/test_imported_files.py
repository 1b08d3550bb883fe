"""Is an imported file here in full: what the webhook waits for."""

from __future__ import annotations

from pathlib import Path

from services.imported_files import what_is_missing


def test_a_file_not_there_yet(tmp_path: Path) -> None:
    assert what_is_missing(str(tmp_path / "a.mkv"), 100) == "not there yet"


def test_a_file_still_being_copied_says_how_much_is_there(tmp_path: Path) -> None:
    video = tmp_path / "a.mkv"
    with video.open("wb") as file:
        file.truncate(3 * 1024**3)

    assert what_is_missing(str(video), 12 * 1024**3) == "3.0 GiB of 12.0 GiB there"
    assert what_is_missing(str(tmp_path / "a.mkv"), 3 * 1024**3) is None


def test_small_sizes_are_counted_in_bytes(tmp_path: Path) -> None:
    video = tmp_path / "a.srt"
    video.write_bytes(b"x" * 1500)

    assert what_is_missing(str(video), 2000) == "1,500 bytes of 2,000 bytes there"
    assert what_is_missing(str(video), None) is None
    assert what_is_missing(str(video), 1000) is None  # grown since: here all the same


def test_a_folder_that_cannot_be_entered_is_not_readable(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")

    assert what_is_missing(str(not_a_folder / "a.mkv"), None) == "not readable: Not a directory"
