"""Links out of a library: what the scanners, the folder walk and the signature skip, and
which library paths need confirming. Real folders and symlinks on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.config import LibraryCreate, LibraryPatch, system_folder
from services.catalog.models import Library
from services.folder_signature import folder_signature
from services.library_walk import list_library_folders, walk_library
from services.scanner import scan_movie_folder, scan_season_folder
from tasks.scanning import leaves_library, links_skipped


@pytest.fixture
def disk(tmp_path: Path) -> tuple[Path, Path]:
    """A library folder and a folder outside it."""
    library, outside = tmp_path / "movies", tmp_path / "elsewhere"
    library.mkdir()
    outside.mkdir()
    return library, outside


def _leaves(library: Path, follow_links: bool = False) -> Any:
    return leaves_library(Library(name="Movies", path=str(library), follow_links=follow_links))


def _movie(folder: Path, name: str = "Heat (1995)") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.mkv").write_bytes(b"\0" * 100)
    return folder


def _nfo(path: Path, tmdb_id: int) -> None:
    path.write_text(f'<movie><title>T</title><uniqueid type="tmdb">{tmdb_id}</uniqueid></movie>')


# --- the check ----------------------------------------------------------------------------


def test_a_link_out_of_the_library_leaves_it_and_one_inside_does_not(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    (library / "inside").mkdir()
    (library / "in-link").symlink_to(library / "inside")
    (library / "out-link").symlink_to(outside)
    (library / "up").symlink_to("..")
    leaves = _leaves(library)

    assert leaves(str(library / "inside")) is False
    assert leaves(str(library / "in-link")) is False
    assert leaves(str(library / "out-link")) is True
    assert leaves(str(library / "up")) is True
    assert leaves(str(library / "out-link" / "file.nfo")) is True
    assert _leaves(library, follow_links=True) is None  # the library follows every link


def test_a_library_folder_that_is_itself_a_link_keeps_what_it_points_to(
    disk: tuple[Path, Path],
) -> None:
    real, outside = disk
    link = real.parent / "movies-link"
    link.symlink_to(real)
    _movie(real / "Heat (1995)")
    (real / "Away").symlink_to(outside)
    leaves = _leaves(link)

    assert leaves(str(link / "Heat (1995)")) is False
    assert leaves(str(link / "Away")) is True


# --- scanners -----------------------------------------------------------------------------


def test_a_movie_scan_skips_a_linked_out_nfo_and_lists_it(disk: tuple[Path, Path]) -> None:
    library, outside = disk
    folder = _movie(library / "Heat (1995)")
    _nfo(outside / "secret.nfo", 949)
    (folder / "movie.nfo").symlink_to(outside / "secret.nfo")

    scan = scan_movie_folder(folder, leaves=_leaves(library))
    followed = scan_movie_folder(folder)

    assert scan.nfo is None and scan.info.tmdb_id is None  # the NFO outside was never read
    assert scan.info.title == "Heat" and [v.path for v in scan.videos] == [
        str(folder / "Heat (1995).mkv")
    ]
    assert scan.skipped_links == [str(folder / "movie.nfo")]
    assert scan.skipped_videos == []
    assert followed.info.tmdb_id == 949 and followed.skipped_links == []


def test_a_movie_scan_names_a_linked_out_video_and_its_disc_folder(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    folder = library / "Heat (1995)"
    folder.mkdir()
    _movie(outside / "store")
    (folder / "Heat (1995).mkv").symlink_to(outside / "store" / "Heat (1995).mkv")
    (outside / "BDMV").mkdir()
    (outside / "BDMV" / "index.bdmv").write_bytes(b"x")
    (folder / "BDMV").symlink_to(outside / "BDMV")
    (folder / "poster.jpg").write_bytes(b"jpg")

    scan = scan_movie_folder(folder, leaves=_leaves(library))

    assert scan.videos == [] and scan.disc is None
    assert scan.skipped_videos == [str(folder / "BDMV"), str(folder / "Heat (1995).mkv")]
    assert [a.path for a in scan.artwork] == [str(folder / "poster.jpg")]


def test_links_inside_the_library_are_scanned(disk: tuple[Path, Path]) -> None:
    library, _ = disk
    store = _movie(library / ".store", "Heat (1995)")
    _nfo(store / "Heat (1995).nfo", 949)
    folder = library / "Heat (1995)"
    folder.mkdir()
    for name in ("Heat (1995).mkv", "Heat (1995).nfo"):
        (folder / name).symlink_to(store / name)

    scan = scan_movie_folder(folder, leaves=_leaves(library))

    assert [v.path for v in scan.videos] == [str(folder / "Heat (1995).mkv")]
    assert scan.info.tmdb_id == 949 and scan.skipped_links == []


def test_a_linked_out_subs_folder_is_skipped_and_a_broken_link_is_not_listed(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    folder = _movie(library / "Heat (1995)")
    (outside / "Subs").mkdir()
    (outside / "Subs" / "Heat (1995).en.srt").write_text("1\n")
    (folder / "Subs").symlink_to(outside / "Subs")
    (folder / "gone.nfo").symlink_to(outside / "missing.nfo")

    scan = scan_movie_folder(folder, leaves=_leaves(library))

    assert scan.subtitles == []
    assert scan.skipped_links == [str(folder / "Subs")]


def test_a_season_scan_skips_linked_out_episodes(disk: tuple[Path, Path]) -> None:
    library, outside = disk
    season = library / "Show" / "Season 01"
    season.mkdir(parents=True)
    (season / "Show S01E01.mkv").write_bytes(b"\0" * 10)
    (outside / "Show S01E02.mkv").write_bytes(b"\0" * 10)
    (season / "Show S01E02.mkv").symlink_to(outside / "Show S01E02.mkv")

    scan = scan_season_folder(season, leaves=_leaves(library))

    assert [e.episodes for e in scan.episodes] == [(1,)]
    assert scan.skipped_videos == scan.skipped_links == [str(season / "Show S01E02.mkv")]
    assert len(scan_season_folder(season).episodes) == 2


# --- the walk and the signature ------------------------------------------------------------


def test_the_walk_leaves_out_linked_out_movie_folders_and_keeps_inside_links(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    _movie(library / "Heat (1995)")
    _movie(outside / "Alien (1979)")
    (library / "Alien (1979)").symlink_to(outside / "Alien (1979)")
    (library / "Heat again").symlink_to(library / "Heat (1995)")

    walk = walk_library(str(library), "movies", _leaves(library))

    assert walk.folders == [str(library / "Heat (1995)"), str(library / "Heat again")]
    assert walk.linked_out == [str(library / "Alien (1979)")]
    assert len(walk_library(str(library), "movies").folders) == 3
    assert len(list_library_folders(str(library), "movies")) == 3


def test_the_walk_never_enters_a_linked_out_series_and_names_linked_out_seasons(
    disk: tuple[Path, Path],
) -> None:
    library, outside = disk
    (outside / "Away Show" / "Season 01").mkdir(parents=True)
    (library / "Away Show").symlink_to(outside / "Away Show")
    (outside / "S02").mkdir()
    (library / "Show" / "Season 01").mkdir(parents=True)
    (library / "Show" / "Season 02").symlink_to(outside / "S02")
    (library / "Show" / "extras").symlink_to(outside)  # not a season: never looked at
    (library / "Lost" / "Season 01").parent.mkdir()
    (library / "Lost" / "Season 01").symlink_to(outside / "S02")

    walk = walk_library(str(library), "tv", _leaves(library))

    assert walk.folders == [str(library / "Show" / "Season 01")]
    assert walk.linked_out == [
        str(library / "Away Show"),
        str(library / "Lost" / "Season 01"),
        str(library / "Show" / "Season 02"),
    ]


def test_the_signature_sees_the_link_not_what_lies_outside(disk: tuple[Path, Path]) -> None:
    library, outside = disk
    folder = _movie(library / "Heat (1995)")
    (outside / "movie.nfo").write_text("<movie/>")
    (folder / "movie.nfo").symlink_to(outside / "movie.nfo")
    leaves = _leaves(library)
    before, followed = folder_signature(folder, leaves), folder_signature(folder)

    (outside / "movie.nfo").write_text("<movie><title>changed outside</title></movie>")
    os.utime(outside / "movie.nfo", (1, 1))

    assert folder_signature(folder, leaves) == before  # nothing outside was looked at
    assert folder_signature(folder) != followed
    assert before != followed  # following links changes it: the next library-scan rescans


def test_links_skipped_counts_them_all_and_names_a_few() -> None:
    paths = [f"/m/{n}" for n in range(25)]
    assert links_skipped(paths) == {"links_skipped": 25, "skipped_links": paths[:10]}
    assert links_skipped([]) == {"links_skipped": 0, "skipped_links": []}


# --- library paths in system folders -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("/", "/"),
        ("/etc", "/etc"),
        ("/usr/share/movies", "/usr"),
        ("/var/lib/media", "/var"),
        ("/root/Movies", "/root"),
        ("/proc/1", "/proc"),
        ("/mnt/movies", None),
        ("/media/usb", None),
        ("/srv/tv", None),
        ("/data/movies", None),
        ("/home/anna/Movies", None),
        ("/variety", None),
        ("/usrdata", None),
    ],
)
def test_system_folders(path: str, found: str | None) -> None:
    assert system_folder(path) == found


def _library_error(model: Any, body: dict[str, Any], **context: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body, context=context)
    [error] = caught.value.errors()
    assert error["loc"] == ("confirm_system_path",)
    return str(error["msg"])


def test_a_library_in_a_system_folder_needs_confirming_each_time(tmp_path: Path) -> None:
    # Folders that need not exist here: the system-folder check alone is under test.
    body = {"name": "Movies", "path": "/var/media", "allow_missing": True}
    message = _library_error(LibraryCreate, body)
    assert "/var/media is in the system folder /var" in message
    assert '"confirm_system_path": true' in message and "--confirm-system-path" in message
    assert "file system's root" in _library_error(LibraryCreate, {**body, "path": "/"})
    confirmed = LibraryCreate.model_validate({**body, "confirm_system_path": True})
    assert "confirm_system_path" not in confirmed.model_dump()  # never stored

    link = tmp_path / "etc-link"
    link.symlink_to("/etc")
    assert f"(that is {os.path.realpath('/etc')})" in _library_error(
        LibraryCreate, {**body, "path": str(link)}
    )
    assert LibraryCreate.model_validate({**body, "path": str(tmp_path)}).path == str(tmp_path)


def test_a_patch_needs_confirming_only_to_move_a_library_into_a_system_folder() -> None:
    row = Library(name="Movies", path="/var/media", kind="movies")
    _library_error(LibraryPatch, {"path": "/usr/media", "allow_missing": True}, row=row)
    _library_error(LibraryPatch, {"path": "/usr/media", "allow_missing": True})
    kept = LibraryPatch.model_validate({"path": "/var/media", "name": "M"}, context={"row": row})
    assert kept.model_dump(exclude_unset=True) == {"path": "/var/media", "name": "M"}
    follow = LibraryPatch.model_validate({"follow_links": True}, context={"row": row})
    assert follow.model_dump(exclude_unset=True) == {"follow_links": True}
    with pytest.raises(ValidationError):
        LibraryPatch.model_validate({"follow_links": None})


def test_a_library_does_not_follow_links_unless_it_says_so() -> None:
    assert (
        LibraryCreate(name="Movies", path="/data/movies", allow_missing=True).follow_links is False
    )
