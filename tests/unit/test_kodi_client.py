"""The Kodi client's notify against the fake Kodi, whose library behaves as a real Kodi 20's
(the contract suite holds the fake to it): what it sends, what it waits for, and what it
says when Kodi did not take the change."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.players import (
    KodiClient,
    PlayerBusy,
    PlayerNotUpdated,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
)
from services.players.kodi import kodi_directory, parent_directory
from services.scanner import videos_under
from tests.conftest import wait_until
from tests.fakes.players import FakeKodi
from tests.pipeline import make_episode, make_movie, make_show

VERIFY = 1.0  # seconds the client waits for a change to show


@pytest.fixture
def kodi(tmp_path: Path) -> Iterator[FakeKodi]:
    with FakeKodi() as fake:
        fake.add_source(tmp_path / "movies", "movies")
        fake.add_source(tmp_path / "tv", "tvshows")
        (tmp_path / "movies").mkdir()
        (tmp_path / "tv").mkdir()
        yield fake


def client(fake: FakeKodi, **changes: Any) -> KodiClient:
    return KodiClient(replace(PlayerSettings(type="kodi", url=fake.url, timeout=2.0), **changes))


def movie_target(folder: Path, update_type: str = "Created", **changes: Any) -> ScanTarget:
    target = ScanTarget(
        str(folder), update_type, "movies", files=videos_under(folder), verify_within=VERIFY
    )
    return replace(target, **changes)


def season_target(season: Path, update_type: str = "Created") -> ScanTarget:
    return ScanTarget(
        str(season),
        update_type,
        "tvshows",
        show_directory=str(season.parent),
        library_directory=str(season.parent.parent),
        files=videos_under(season),
        every_file=True,
        verify_within=VERIFY,
    )


@pytest.mark.parametrize(
    ("given", "folder", "parent"),
    [
        ("/data/movies/The Matrix (1999)", "/data/movies/The Matrix (1999)/", "/data/movies/"),
        ("/data/movies/The Matrix (1999)//", "/data/movies/The Matrix (1999)/", "/data/movies/"),
        ("smb://nas/Movies/Alien (1979)", "smb://nas/Movies/Alien (1979)/", "smb://nas/Movies/"),
        ("nfs://nas/export/tv/Show/", "nfs://nas/export/tv/Show/", "nfs://nas/export/tv/"),
        ("D:\\Movies\\Alien (1979)", "D:\\Movies\\Alien (1979)\\", "D:\\Movies\\"),
    ],
)
def test_folders_keep_their_form_with_one_trailing_separator(
    given: str, folder: str, parent: str
) -> None:
    assert kodi_directory(given) == folder
    assert parent_directory(given) == parent


def test_a_new_movie_is_scanned_after_its_parent_is_listed_and_seen_in_the_library(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    kodi.library.scan("")  # Kodi's full scan, before the folder existed
    folder = make_movie(tmp_path / "movies", "The Matrix (1999)", 603)

    details = client(kodi).notify(movie_target(folder))

    assert kodi.methods() == [
        "JSONRPC.Ping", "JSONRPC.Version", "XBMC.GetInfoBooleans", "Files.GetDirectory",
        "VideoLibrary.Scan", *["VideoLibrary.GetMovies"] * (len(kodi.methods()) - 5),
    ]  # fmt: skip
    assert kodi.requests[3]["params"]["directory"] == f"{tmp_path}/movies/"
    assert kodi.scans() == [{"directory": f"{folder}/", "showdialogs": False}]
    assert details["verified"] is True
    assert kodi.movie_files() == [f"{folder}/The Matrix (1999).mkv"]


def test_a_deleted_movie_is_cleaned_with_the_movies_content_and_seen_gone(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    folder = make_movie(tmp_path / "movies", "The Matrix (1999)", 603)
    client(kodi).notify(movie_target(folder))
    shutil.rmtree(folder)

    details = client(kodi).notify(movie_target(folder, "Deleted"))

    assert kodi.cleans() == [{"directory": f"{folder}/", "content": "movies", "showdialogs": False}]
    assert len(kodi.scans()) == 1  # the import's: a folder that is gone is not scanned
    assert (details["verified"], kodi.movie_files()) == (True, [])


def test_an_upgrade_cleans_the_old_file_before_scanning_the_new_one(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    folder = make_movie(tmp_path / "movies", "Heat (1995)", 949)
    client(kodi).notify(movie_target(folder))
    (folder / "Heat (1995).mkv").rename(folder / "Heat (1995) Bluray-2160p.mkv")
    (folder / "Heat (1995).nfo").rename(folder / "Heat (1995) Bluray-2160p.nfo")

    details = client(kodi).notify(movie_target(folder, "Modified"))

    assert details["verified"] is True
    assert kodi.movie_files() == [f"{folder}/Heat (1995) Bluray-2160p.mkv"]
    assert kodi.methods().index("VideoLibrary.Clean") < len(kodi.methods()) - 1
    assert details["sent"] == [f"VideoLibrary.Clean {folder}/", f"VideoLibrary.Scan {folder}/"]


def test_a_change_that_lost_nothing_sends_no_clean(kodi: FakeKodi, tmp_path: Path) -> None:
    show = make_show(tmp_path / "tv", "Severance", "Severance")
    make_episode(show / "Season 01", "Severance", 1, 1)
    client(kodi).notify(season_target(show / "Season 01"))
    (show / "Season 01" / "poster.jpg").write_bytes(b"jpg")  # artwork changed, no episode lost

    details = client(kodi).notify(season_target(show / "Season 01", "Modified"))

    assert kodi.cleans() == []  # for TV a clean is of the whole source: only when needed
    assert details["verified"] is True


def test_a_new_show_and_a_new_season_are_scanned_from_the_show_folder(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    show = make_show(tmp_path / "tv", "Severance", "Severance")
    make_episode(show / "Season 01", "Severance", 1, 1)

    first = client(kodi).notify(season_target(show / "Season 01"))
    make_episode(show / "Season 01", "Severance", 1, 2)
    next_episode = client(kodi).notify(season_target(show / "Season 01"))
    make_episode(show / "Season 02", "Severance", 2, 1)
    new_season = client(kodi).notify(season_target(show / "Season 02"))

    assert [d["sent"] for d in (first, next_episode, new_season)] == [
        [f"VideoLibrary.Scan {show}/"],
        [f"VideoLibrary.Scan {show}/Season 01/"],
        [f"VideoLibrary.Scan {show}/"],
    ]
    assert all(d["verified"] for d in (first, next_episode, new_season))
    assert len(kodi.episode_files()) == 3


def test_a_deleted_episode_is_cleaned_from_the_tv_source(kodi: FakeKodi, tmp_path: Path) -> None:
    show = make_show(tmp_path / "tv", "Severance", "Severance")
    make_episode(show / "Season 01", "Severance", 1, 1)
    gone = make_episode(show / "Season 01", "Severance", 1, 2)
    client(kodi).notify(season_target(show / "Season 01"))
    gone.unlink()

    details = client(kodi).notify(season_target(show / "Season 01", "Modified"))

    assert kodi.cleans()[-1] == {
        "directory": f"{tmp_path}/tv/",
        "content": "tvshows",
        "showdialogs": False,
    }
    assert details["verified"] is True
    assert [Path(f).name for f in kodi.episode_files()] == ["Severance - S01E01 - Episode 1.mkv"]


def test_a_deleted_show_is_cleaned_and_removed(kodi: FakeKodi, tmp_path: Path) -> None:
    show = make_show(tmp_path / "tv", "Severance", "Severance")
    make_episode(show / "Season 01", "Severance", 1, 1)
    client(kodi).notify(season_target(show / "Season 01"))
    shutil.rmtree(show)
    target = replace(season_target(show / "Season 01"), directory=str(show), update_type="Deleted")

    details = client(kodi).notify(target)

    assert details["verified"] is True
    assert details["sent"][-1].startswith("VideoLibrary.RemoveTVShow")
    assert (kodi.episode_files(), kodi.library.shows) == ([], {})


def test_a_folder_outside_every_source_fails_saying_so(kodi: FakeKodi, tmp_path: Path) -> None:
    folder = make_movie(tmp_path / "elsewhere", "Alien (1979)", 348)

    with pytest.raises(PlayerNotUpdated) as caught:
        client(kodi).notify(movie_target(folder))

    message = str(caught.value)
    assert f"Kodi did not add the movie in {folder}/" in message
    assert "outside every Kodi video source" in message
    assert f"{tmp_path}/movies/" in message  # the sources Kodi has
    assert "path mapping" in message
    # The fallback, the parent folder, was scanned too.
    assert [s["directory"] for s in kodi.scans()] == [f"{folder}/", f"{tmp_path}/elsewhere/"]


def test_a_movie_without_its_nfo_fails_naming_the_scraper_and_content(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    folder = make_movie(tmp_path / "movies", "Alien (1979)", None)

    with pytest.raises(PlayerNotUpdated, match="content set to Movies with a scraper"):
        client(kodi).notify(movie_target(folder))


def test_a_folder_kodi_cannot_read_blames_the_mapping(kodi: FakeKodi, tmp_path: Path) -> None:
    folder = make_movie(tmp_path / "movies", "Alien (1979)", 348)
    target = movie_target(folder, directory=f"{tmp_path}/movies/Alien 1979")  # mapped wrong

    with pytest.raises(PlayerNotUpdated, match="Kodi cannot read .*path mapping is likely wrong"):
        client(kodi).notify(target)


def test_an_older_kodi_gets_a_scan_for_a_deletion_and_is_not_checked(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    kodi.version = (9, 0, 0)  # Kodi 18: Clean takes no directory
    folder = tmp_path / "movies" / "Gone (2000)"

    details = client(kodi).notify(movie_target(folder, "Deleted"))

    assert kodi.cleans() == []
    assert kodi.scans() == [{"directory": f"{folder}/", "showdialogs": False}]
    assert details["verified"] is False
    assert "before 19" in details["verification"]


def test_a_busy_kodi_is_neither_cleaned_nor_scanned(kodi: FakeKodi, tmp_path: Path) -> None:
    kodi.scanning_checks = 1
    folder = make_movie(tmp_path / "movies", "Heat (1995)", 949)

    with pytest.raises(PlayerBusy) as caught:
        client(kodi).notify(movie_target(folder, "Modified"))

    assert isinstance(caught.value, PlayerUnavailable) and caught.value.retry_after > 0
    assert (kodi.scans(), kodi.cleans()) == ([], [])
    assert client(kodi).notify(movie_target(folder))["verified"] is True  # it is done now


def test_verification_off_or_a_whole_library_is_reported_unchecked(
    kodi: FakeKodi, tmp_path: Path
) -> None:
    folder = make_movie(tmp_path / "movies", "Heat (1995)", 949)

    off = client(kodi).notify(movie_target(folder, verify_within=0))
    # Its scan runs after the answer, as Kodi's does; a second change meanwhile is busy.
    wait_until(kodi.idle, timeout=5)
    whole = client(kodi).notify(ScanTarget(str(tmp_path / "movies"), "Modified", "movies"))

    assert (off["verified"], off["verification"]) == (False, "verification is off")
    assert whole["verified"] is False and "whole library" in whole["verification"]


def test_an_empty_directory_is_refused_before_any_request(kodi: FakeKodi) -> None:
    with pytest.raises(ValueError):
        client(kodi).notify(ScanTarget("  "))
    assert kodi.requests == []
