"""Webhook in, a real Kodi 20's library out: after each Radarr, Sonarr and Lidarr event,
what Kodi itself lists (``VideoLibrary.GetMovies`` / ``GetEpisodes``,
``AudioLibrary.GetSongs``) is what the folder holds, and the chain says so (docs/design.md
§4.6). Skipped, saying why, where Kodi cannot run.

Kodi sees our libraries under other paths (symbolic links standing in for an SMB share),
through the player group's path mapping, and starts each case from a full scan of its
sources: every folder of a case is made after Kodi last listed its parent.
"""

from __future__ import annotations

import copy
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_client import Api
from tests.conftest import ApiServer, WorkerProcess, sqlite_only
from tests.kodi_under_test import PASSWORD, USERNAME, KodiUnderTest, kodi_under_test
from tests.pipeline import clear_catalog, fixture, make_album, make_show

# Kodi shows a folder's change about 0.1 s after the call; a failure waits this long twice.
VERIFY_SECONDS = "3"
SEVERANCE = "Severance"
S02E01 = "Severance - S02E01 - Hello, Ms. Cobel WEBDL-2160p.mkv"
S02E02 = "Severance - S02E02 - Goodbye, Mrs. Selvig WEBDL-2160p.mkv"
S01E09 = "Severance - S01E09 - The We We Are WEBDL-2160p.mkv"


@pytest.fixture(scope="module")
def real_kodi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KodiUnderTest]:
    with kodi_under_test("real", tmp_path_factory.mktemp("kodi")) as kodi:
        yield kodi


@pytest.fixture(scope="module")
def worker(database: str, real_kodi: KodiUnderTest) -> Iterator[WorkerProcess]:
    """The module's worker, waiting ``VERIFY_SECONDS`` for Kodi to show a change."""
    env = {"ORCH_PLAYER_VERIFY_TIMEOUT": VERIFY_SECONDS}
    process = WorkerProcess.for_module(concurrency=2, env=env)
    yield process
    process.stop()


@pytest.fixture
def kodi(database: str, real_kodi: KodiUnderTest) -> KodiUnderTest:
    sqlite_only(database, "what Kodi shows does not depend on our database")
    clear_catalog()
    real_kodi.reset()
    return real_kodi


@pytest.fixture
def api(kodi: KodiUnderTest, worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API with both libraries, their managers' mappings and one Kodi that sees
    them under its own paths."""
    api = Api(api_server)
    movies = api.create(
        "/api/v1/libraries", {"name": "Movies", "path": str(kodi.share_movies), "kind": "movies"}
    )
    tv = api.create("/api/v1/libraries", {"name": "TV", "path": str(kodi.share_tv), "kind": "tv"})
    # Kodi's music source is our music folder itself: no group mapping for it.
    music = api.create(
        "/api/v1/libraries", {"name": "Music", "path": str(kodi.music), "kind": "music"}
    )
    managers = (("radarr", "/movies", movies), ("sonarr", "/tv", tv), ("lidarr", "/music", music))
    for source, root, library in managers:
        api.create("/api/v1/path-mappings", {"source": source, "from": root, "to": library["path"]})
    group = api.create(
        "/api/v1/player-groups",
        {"name": "living room", "library_ids": [movies["id"], tv["id"], music["id"]],
         "path_mappings": [{"from": str(kodi.share_movies), "to": str(kodi.kodi_movies)},
                           {"from": str(kodi.share_tv), "to": str(kodi.kodi_tv)}]},
    )  # fmt: skip
    api.create(
        "/api/v1/players",
        {"name": "kodi", "type": "kodi", "url": kodi.url, "group_id": group["id"],
         "username": USERNAME, "password": PASSWORD},
    )  # fmt: skip
    return api


def write_video(folder: Path, name: str, nfo: str) -> Path:
    """A video (no real content: Kodi needs none) and its NFO, as the manager leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    video = folder / name
    video.write_bytes(b"\0" * 4096)
    video.with_suffix(".nfo").write_text(nfo)
    return video


def radarr_movie(kodi: KodiUnderTest, name: str) -> Path:
    movie = (
        "<movie><title>The Matrix</title><year>1999</year>"
        '<uniqueid type="tmdb" default="true">603</uniqueid></movie>'
    )
    return write_video(kodi.share_movies / "The Matrix (1999)", name, movie)


def sonarr_episode(kodi: KodiUnderTest, season_folder: str, name: str) -> Path:
    numbers = re.search(r"S(\d+)E(\d+)", name)
    assert numbers is not None
    season, episode = int(numbers[1]), int(numbers[2])
    details = (
        f"<episodedetails><title>{name}</title><season>{season}</season>"
        f"<episode>{episode}</episode></episodedetails>"
    )
    show = make_show(kodi.share_tv, SEVERANCE, SEVERANCE)
    return write_video(show / season_folder, name, details)


def movies_in_kodi(kodi: KodiUnderTest) -> list[str]:
    """Kodi's movie files, relative to its view of the movies library."""
    return [f.removeprefix(f"{kodi.kodi_movies}/") for f in kodi.movie_files()]


def episodes_in_kodi(kodi: KodiUnderTest) -> list[str]:
    """Kodi's episode files, relative to its view of the TV library."""
    return [f.removeprefix(f"{kodi.kodi_tv}/") for f in kodi.episode_files()]


def run(api: Api, source: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Send the webhook; the chain once every job of it is final, each verified by Kodi."""
    jobs = api.chain(api.webhook(source, body))
    assert [j["status"] for j in jobs] == ["completed"] * len(jobs), jobs[-1].get("error")
    for notify in (j for j in jobs if j["type"] == "notify-players"):
        [group] = notify["result"]["groups"]
        assert (group["status"], group["player"], group["verified"]) == ("notified", "kodi", True)
    return jobs


def download(episode_files: list[str]) -> dict[str, Any]:
    """Sonarr's Download ("Import Complete" for several files) of these Severance files."""
    body = fixture("sonarr_import_complete")
    files = [f for f in body["episodeFiles"] if f["path"].rsplit("/", 1)[1] in episode_files]
    assert len(files) == len(episode_files)
    body["episodeFiles"] = copy.deepcopy(files)
    return body


# --- Radarr -------------------------------------------------------------------------------


def test_a_new_movie_is_in_kodi_after_its_download(api: Api, kodi: KodiUnderTest) -> None:
    radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")

    jobs = run(api, "radarr", fixture("radarr_download"))

    assert [j["type"] for j in jobs] == ["webhook", "scan-movie", "notify-players"]
    assert movies_in_kodi(kodi) == ["The Matrix (1999)/The Matrix (1999) Bluray-1080p.mkv"]
    sent = jobs[-1]["result"]["groups"][0]["details"]["sent"]
    assert sent == [f"VideoLibrary.Scan {kodi.kodi_movies}/The Matrix (1999)/"]


def test_an_upgrade_leaves_only_the_new_file(api: Api, kodi: KodiUnderTest) -> None:
    old = radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")
    run(api, "radarr", fixture("radarr_download"))
    old.unlink()
    old.with_suffix(".nfo").unlink()
    radarr_movie(kodi, "The Matrix (1999) Remux-2160p.mkv")
    body = fixture("radarr_download")
    body["isUpgrade"] = True
    body["movieFile"]["path"] = "/movies/The Matrix (1999)/The Matrix (1999) Remux-2160p.mkv"

    run(api, "radarr", fixture("radarr_movie_file_delete"))  # deleteReason: upgrade
    run(api, "radarr", body)

    assert movies_in_kodi(kodi) == ["The Matrix (1999)/The Matrix (1999) Remux-2160p.mkv"]


def test_a_rename_leaves_only_the_new_name(api: Api, kodi: KodiUnderTest) -> None:
    old = radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")
    run(api, "radarr", fixture("radarr_download"))
    new = old.with_name("The Matrix (1999) {tmdb-603} [Bluray-1080p].mkv")
    old.rename(new)
    old.with_suffix(".nfo").rename(new.with_suffix(".nfo"))

    run(api, "radarr", fixture("radarr_rename"))

    assert movies_in_kodi(kodi) == [f"The Matrix (1999)/{new.name}"]


def test_a_deleted_movie_is_gone_from_kodi(api: Api, kodi: KodiUnderTest) -> None:
    radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")
    run(api, "radarr", fixture("radarr_download"))
    shutil.rmtree(kodi.share_movies / "The Matrix (1999)")

    jobs = run(api, "radarr", fixture("radarr_movie_delete"))

    assert movies_in_kodi(kodi) == []
    sent = jobs[-1]["result"]["groups"][0]["details"]["sent"]
    assert sent == [f"VideoLibrary.Clean {kodi.kodi_movies}/The Matrix (1999)/"]


def test_a_deleted_movie_file_is_gone_from_kodi(api: Api, kodi: KodiUnderTest) -> None:
    video = radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")
    run(api, "radarr", fixture("radarr_download"))
    video.unlink()  # the folder stays, with its NFO
    body = fixture("radarr_movie_file_delete")
    body["deleteReason"] = "manual"

    run(api, "radarr", body)

    assert movies_in_kodi(kodi) == []


# --- Sonarr -------------------------------------------------------------------------------


def test_a_new_show_is_in_kodi_after_its_first_download(api: Api, kodi: KodiUnderTest) -> None:
    sonarr_episode(kodi, "Season 02", S02E01)

    jobs = run(api, "sonarr", fixture("sonarr_download"))

    assert [j["type"] for j in jobs] == ["webhook", "scan-season", "notify-players"]
    assert episodes_in_kodi(kodi) == [f"Severance/Season 02/{S02E01}"]
    assert kodi.show_folders() == [f"{kodi.kodi_tv}/Severance/"]


def test_an_import_of_several_files_puts_each_in_kodi(api: Api, kodi: KodiUnderTest) -> None:
    for season, name in (("Season 01", S01E09), ("Season 02", S02E01), ("Season 02", S02E02)):
        sonarr_episode(kodi, season, name)

    run(api, "sonarr", fixture("sonarr_import_complete"))

    assert episodes_in_kodi(kodi) == [
        f"Severance/Season 01/{S01E09}",
        f"Severance/Season 02/{S02E01}",
        f"Severance/Season 02/{S02E02}",
    ]


def test_a_new_season_and_the_next_episode_reach_kodi(api: Api, kodi: KodiUnderTest) -> None:
    sonarr_episode(kodi, "Season 01", S01E09)
    run(api, "sonarr", download([S01E09]))
    sonarr_episode(kodi, "Season 02", S02E01)

    run(api, "sonarr", download([S02E01]))  # a season Kodi holds nothing of
    sonarr_episode(kodi, "Season 02", S02E02)
    run(api, "sonarr", download([S02E02]))  # the next episode of a season it has

    assert episodes_in_kodi(kodi) == [
        f"Severance/Season 01/{S01E09}",
        f"Severance/Season 02/{S02E01}",
        f"Severance/Season 02/{S02E02}",
    ]


def test_a_renamed_season_leaves_only_the_new_names(api: Api, kodi: KodiUnderTest) -> None:
    old = [
        sonarr_episode(kodi, "Season 2", "Severance.S02E01.2160p.WEB-DL.mkv"),
        sonarr_episode(kodi, "Season 2", "Severance.S02E02.2160p.WEB-DL.mkv"),
    ]
    body = fixture("sonarr_download")
    body["episodeFile"]["path"] = f"/tv/Severance/Season 2/{old[0].name}"
    run(api, "sonarr", body)
    assert len(episodes_in_kodi(kodi)) == 2
    for video, name in zip(old, (S02E01, S02E02), strict=True):
        sonarr_episode(kodi, "Season 02", name)
        video.unlink()
        video.with_suffix(".nfo").unlink()
    old[0].parent.rmdir()

    run(api, "sonarr", fixture("sonarr_rename"))

    assert episodes_in_kodi(kodi) == [
        f"Severance/Season 02/{S02E01}",
        f"Severance/Season 02/{S02E02}",
    ]


def test_a_deleted_episode_file_is_gone_from_kodi(api: Api, kodi: KodiUnderTest) -> None:
    deleted = sonarr_episode(kodi, "Season 02", S02E01)
    sonarr_episode(kodi, "Season 02", S02E02)
    run(api, "sonarr", download([S02E01, S02E02]))
    deleted.unlink()

    run(api, "sonarr", fixture("sonarr_episode_file_delete"))

    assert episodes_in_kodi(kodi) == [f"Severance/Season 02/{S02E02}"]


def test_a_deleted_series_is_gone_from_kodi(api: Api, kodi: KodiUnderTest) -> None:
    sonarr_episode(kodi, "Season 02", S02E01)
    run(api, "sonarr", fixture("sonarr_download"))
    shutil.rmtree(kodi.share_tv / SEVERANCE)

    run(api, "sonarr", fixture("sonarr_series_delete"))

    assert episodes_in_kodi(kodi) == []
    assert kodi.show_folders() == []


# --- a Kodi set up wrong --------------------------------------------------------------------


def test_a_folder_outside_kodis_sources_fails_the_notify_saying_what_to_fix(
    api: Api, kodi: KodiUnderTest
) -> None:
    [group] = api.get("/api/v1/player-groups")["items"]
    wrong = [{"from": str(kodi.share_movies), "to": str(kodi.outside)}]
    api.patch(f"/api/v1/player-groups/{group['id']}", {"path_mappings": wrong})
    [player] = api.get("/api/v1/players")["items"]
    test = api.post(f"/api/v1/players/{player['id']}/test", {}).json()
    radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

    notify = jobs[-1]
    assert (notify["type"], notify["status"], notify["retry_count"]) == (
        "notify-players", "failed", 0
    )  # fmt: skip
    message = notify["error"]["message"]
    assert f"Kodi did not add the movie in {kodi.outside}/The Matrix (1999)/" in message
    assert "outside every Kodi video source" in message and "path mapping" in message
    assert movies_in_kodi(kodi) == []
    # The player test said so before the import.
    [library_check] = [c for c in test["libraries"] if c["library"] == "Movies"]
    assert library_check["in_source"] is False
    assert str(kodi.outside) in library_check["message"]


def test_a_source_without_content_fails_the_notify_saying_what_to_fix(
    api: Api, kodi: KodiUnderTest
) -> None:
    [group] = api.get("/api/v1/player-groups")["items"]
    plain = [{"from": str(kodi.share_movies), "to": str(kodi.plain)}]
    api.patch(f"/api/v1/player-groups/{group['id']}", {"path_mappings": plain})
    radarr_movie(kodi, "The Matrix (1999) Bluray-1080p.mkv")
    # Kodi's "plain" source holds the same files as our library.
    shutil.rmtree(kodi.plain)
    kodi.plain.symlink_to(kodi.share_movies, target_is_directory=True)

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

    assert (jobs[-1]["status"], jobs[-1]["retry_count"]) == ("failed", 0)
    message = jobs[-1]["error"]["message"]
    assert "content set to Movies with a scraper" in message
    assert movies_in_kodi(kodi) == []


# --- Lidarr --------------------------------------------------------------------------------


def lidarr_import(kodi: KodiUnderTest, album: str, tracks: int) -> dict[str, Any]:
    """An album of tagged FLAC files in the music library and Lidarr's Download of it."""
    folder = make_album(kodi.music / "Radiohead", album, tracks)
    body = fixture("lidarr_download")
    body["trackFiles"] = [
        {**body["trackFiles"][0], "path": f"/music/Radiohead/{album}/{track.name}",
         "size": track.stat().st_size}
        for track in sorted(folder.iterdir())
    ]  # fmt: skip
    body["album"]["title"] = album
    return body


def songs_in_kodi(kodi: KodiUnderTest) -> list[str]:
    """Kodi's song files, relative to the music library."""
    return [f.removeprefix(f"{kodi.music}/") for f in kodi.song_files()]


def test_a_new_album_is_in_kodis_music_after_its_import(api: Api, kodi: KodiUnderTest) -> None:
    jobs = run(api, "lidarr", lidarr_import(kodi, "OK Computer (1997)", 2))

    assert [j["type"] for j in jobs] == ["webhook", "scan-album", "notify-players"]
    assert songs_in_kodi(kodi) == [
        "Radiohead/OK Computer (1997)/01 Track 1.flac",
        "Radiohead/OK Computer (1997)/02 Track 2.flac",
    ]
    sent = jobs[-1]["result"]["groups"][0]["details"]["sent"]
    assert sent == [f"AudioLibrary.Scan {kodi.music}/Radiohead/OK Computer (1997)/"]


def test_an_album_then_its_artist_deleted_are_gone_from_kodis_music(
    api: Api, kodi: KodiUnderTest
) -> None:
    run(api, "lidarr", lidarr_import(kodi, "Kid A (2000)", 1))
    run(api, "lidarr", lidarr_import(kodi, "Amnesiac (2001)", 1))
    shutil.rmtree(kodi.music / "Radiohead" / "Amnesiac (2001)")

    # Lidarr names no album folder: the artist's is scanned, which keeps a gone album's
    # songs in Kodi; only the whole music clean drops them.
    deleted = run(api, "lidarr", fixture("lidarr_album_delete"))
    assert songs_in_kodi(kodi) == ["Radiohead/Kid A (2000)/01 Track 1.flac"]
    assert deleted[-1]["result"]["groups"][0]["details"]["sent"] == [
        f"AudioLibrary.Scan {kodi.music}/Radiohead/",
        "AudioLibrary.Clean",
    ]

    shutil.rmtree(kodi.music / "Radiohead")
    run(api, "lidarr", fixture("lidarr_artist_delete"))
    assert songs_in_kodi(kodi) == []
