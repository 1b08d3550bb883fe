"""What Kodi does with each JSON-RPC call, asserted the same way against the fake Kodi and
a real Kodi 20: the fake may never accept what Kodi ignores (tests/kodi_under_test.py).

Each case starts from an empty library whose sources Kodi has listed (a full scan).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tasks.notify_players import let_the_second_pass
from tests.kodi_under_test import KINDS, KodiUnderTest, kodi_under_test
from tests.pipeline import make_album, make_episode, make_movie, make_show


@pytest.fixture(scope="module", params=KINDS)
def running_kodi(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KodiUnderTest]:
    with kodi_under_test(request.param, tmp_path_factory.mktemp(request.param)) as kodi:
        yield kodi


@pytest.fixture
def kodi(running_kodi: KodiUnderTest) -> KodiUnderTest:
    running_kodi.reset()
    return running_kodi


# Movies of the full scan a second scan call stops: enough that it is still running when
# that call lands (with 300, a real Kodi on an idle machine sometimes finished first).
MANY = 1000


def scan(kodi: KodiUnderTest, folder: Path | str) -> None:
    # Kodi remembers a folder by its modification time to the second: as notify-players
    # does, scan only once the second of the folder's last change is over.
    let_the_second_pass(str(folder).rstrip("/"))
    kodi.call("VideoLibrary.Scan", {"directory": str(folder), "showdialogs": False})


def list_folder(kodi: KodiUnderTest, folder: Path) -> None:
    kodi.call("Files.GetDirectory", {"directory": f"{folder}/", "media": "files"})


def clean(kodi: KodiUnderTest, folder: Path | str, content: str) -> None:
    params = {"directory": f"{folder}/", "content": content, "showdialogs": False}
    kodi.call("VideoLibrary.Clean", params)


def test_a_movie_folder_is_added_when_scanned_with_its_separator(kodi: KodiUnderTest) -> None:
    folder = make_movie(kodi.movies, "The Matrix (1999)", 603)
    list_folder(kodi, kodi.movies)

    assert kodi.call("VideoLibrary.Scan", {"directory": f"{folder}/", "showdialogs": False}) == "OK"

    expected = [f"{folder}/The Matrix (1999).mkv"]
    assert kodi.wait_for(kodi.movie_files, expected) == expected
    filtered = kodi.call(
        "VideoLibrary.GetMovies",
        {"properties": ["file", "title"],
         "filter": {"field": "path", "operator": "startswith", "value": f"{folder}/"}},
    )["movies"]  # fmt: skip
    assert [m["title"] for m in filtered] == ["The Matrix"]


def test_only_the_separator_makes_kodi_read_movie_nfo(kodi: KodiUnderTest) -> None:
    folder = make_movie(kodi.movies, "Heat (1995)", 949)
    (folder / "Heat (1995).nfo").rename(folder / "movie.nfo")
    list_folder(kodi, kodi.movies)

    scan(kodi, folder)  # no trailing "/"
    kodi.settle()
    assert kodi.movie_files() == []

    scan(kodi, f"{folder}/")
    expected = [f"{folder}/Heat (1995).mkv"]
    assert kodi.wait_for(kodi.movie_files, expected) == expected


def test_a_folder_made_after_kodi_listed_its_parent_needs_the_parent_listed_again(
    kodi: KodiUnderTest,
) -> None:
    folder = make_movie(kodi.movies, "Alien (1979)", 348)  # after the full scan

    scan(kodi, f"{folder}/")
    kodi.settle()
    assert kodi.movie_files() == []  # "does not exist - skipping scan"

    list_folder(kodi, kodi.movies)
    scan(kodi, f"{folder}/")
    expected = [f"{folder}/Alien (1979).mkv"]
    assert kodi.wait_for(kodi.movie_files, expected) == expected


def test_a_new_show_is_matched_from_its_show_folder_only(kodi: KodiUnderTest) -> None:
    show = make_show(kodi.tv, "Severance", "Severance")
    episode = make_episode(show / "Season 01", "Severance", 1, 1)
    list_folder(kodi, kodi.tv)

    scan(kodi, f"{show}/Season 01/")
    kodi.settle()
    assert kodi.episode_files() == []  # "No information found"

    scan(kodi, f"{show}/")
    assert kodi.wait_for(kodi.episode_files, [str(episode)]) == [str(episode)]
    assert kodi.show_folders() == [f"{show}/"]


def test_a_new_season_needs_its_show_folder_and_a_next_episode_its_season(
    kodi: KodiUnderTest,
) -> None:
    show = make_show(kodi.tv, "Severance", "Severance")
    first = make_episode(show / "Season 01", "Severance", 1, 1)
    list_folder(kodi, kodi.tv)
    scan(kodi, f"{show}/")
    assert kodi.wait_for(kodi.episode_files, [str(first)]) == [str(first)]

    second = make_episode(show / "Season 01", "Severance", 1, 2)
    scan(kodi, f"{show}/Season 01/")
    expected = sorted([str(first), str(second)])
    assert kodi.wait_for(kodi.episode_files, expected) == expected

    new_season = make_episode(show / "Season 02", "Severance", 2, 1)
    list_folder(kodi, show)
    scan(kodi, f"{show}/Season 02/")
    kodi.settle()
    assert str(new_season) not in kodi.episode_files()  # a season Kodi holds nothing of

    scan(kodi, f"{show}/")
    expected = sorted(map(str, (first, second, new_season)))
    assert kodi.wait_for(kodi.episode_files, expected) == expected


def test_a_scan_never_removes_and_a_clean_needs_the_movies_content(kodi: KodiUnderTest) -> None:
    folder = make_movie(kodi.movies, "The Matrix (1999)", 603)
    list_folder(kodi, kodi.movies)
    scan(kodi, f"{folder}/")
    expected = [f"{folder}/The Matrix (1999).mkv"]
    assert kodi.wait_for(kodi.movie_files, expected) == expected
    (folder / "The Matrix (1999).mkv").unlink()

    scan(kodi, f"{folder}/")
    clean(kodi, folder, "video")
    kodi.settle()
    assert kodi.movie_files() == [f"{folder}/The Matrix (1999).mkv"]

    clean(kodi, folder, "movies")
    assert kodi.wait_for(kodi.movie_files, []) == []


def test_a_deleted_episode_is_cleaned_only_from_the_tv_source(kodi: KodiUnderTest) -> None:
    show = make_show(kodi.tv, "Severance", "Severance")
    first = make_episode(show / "Season 01", "Severance", 1, 1)
    second = make_episode(show / "Season 01", "Severance", 1, 2)
    list_folder(kodi, kodi.tv)
    scan(kodi, f"{show}/")
    expected = sorted([str(first), str(second)])
    assert kodi.wait_for(kodi.episode_files, expected) == expected
    second.unlink()

    clean(kodi, show / "Season 01", "tvshows")
    clean(kodi, show, "tvshows")
    kodi.settle()
    assert len(kodi.episode_files()) == 2  # "tvshows" is the source's content alone

    clean(kodi, kodi.tv, "tvshows")
    assert kodi.wait_for(kodi.episode_files, [str(first)]) == [str(first)]


def test_a_show_whose_episodes_are_cleaned_stays_until_removed(kodi: KodiUnderTest) -> None:
    show = make_show(kodi.tv, "Severance", "Severance")
    make_episode(show / "Season 01", "Severance", 1, 1)
    list_folder(kodi, kodi.tv)
    scan(kodi, f"{show}/")
    assert kodi.wait_for(lambda: len(kodi.episode_files()), 1) == 1
    for file in sorted(show.rglob("*"), reverse=True):
        file.rmdir() if file.is_dir() else file.unlink()
    show.rmdir()

    clean(kodi, kodi.tv, "tvshows")
    assert kodi.wait_for(kodi.episode_files, []) == []
    assert kodi.show_folders() == [f"{show}/"]

    [record] = kodi.call("VideoLibrary.GetTVShows")["tvshows"]
    kodi.call("VideoLibrary.RemoveTVShow", {"tvshowid": record["tvshowid"]})
    assert kodi.wait_for(kodi.show_folders, []) == []


def test_nothing_is_added_outside_the_sources_or_from_a_source_without_content(
    kodi: KodiUnderTest,
) -> None:
    outside = make_movie(kodi.outside, "The Matrix (1999)", 603)
    plain = make_movie(kodi.plain, "Heat (1995)", 949)
    list_folder(kodi, kodi.plain)

    scan(kodi, f"{outside}/")
    kodi.settle(0.5)
    scan(kodi, f"{plain}/")
    kodi.settle()

    assert kodi.movie_files() == []
    sources = kodi.call("Files.GetSources", {"media": "video"})["sources"]
    listed = {source["file"] for source in sources}
    assert f"{kodi.movies}/" in listed and f"{kodi.plain}/" in listed
    assert f"{kodi.outside}/" not in listed


def test_a_source_through_a_link_keeps_kodis_own_path(kodi: KodiUnderTest) -> None:
    make_movie(kodi.share_movies, "Heat (1995)", 949)
    list_folder(kodi, kodi.kodi_movies)

    scan(kodi, f"{kodi.share_movies}/Heat (1995)/")  # our path: no source of Kodi's
    kodi.settle()
    assert kodi.movie_files() == []

    scan(kodi, f"{kodi.kodi_movies}/Heat (1995)/")
    expected = [f"{kodi.kodi_movies}/Heat (1995)/Heat (1995).mkv"]
    assert kodi.wait_for(kodi.movie_files, expected) == expected


def test_a_folder_kodi_cannot_read_is_an_error_to_list(kodi: KodiUnderTest) -> None:
    with pytest.raises(RuntimeError, match="-32602"):
        list_folder(kodi, kodi.movies / "Nowhere (2000)")
    list_folder(kodi, kodi.movies)  # a folder it can read answers


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("VideoLibrary.Scan", {"path": "/x/"}),
        ("VideoLibrary.Clean", {"content": "episodes", "showdialogs": False}),
    ],
)
def test_unknown_parameters_are_invalid_params(
    kodi: KodiUnderTest, method: str, params: dict[str, str]
) -> None:
    with pytest.raises(RuntimeError, match="-32602"):
        kodi.call(method, params)


def test_wrong_credentials_are_a_401_with_no_json(kodi: KodiUnderTest) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "JSONRPC.Ping"}
    response = httpx.post(f"{kodi.url}/jsonrpc", json=body, auth=("kodi", "wrong"), timeout=10)

    assert response.status_code == 401
    with pytest.raises(ValueError):
        response.json()


def test_a_scan_sent_while_one_runs_stops_it_and_does_not_run(kodi: KodiUnderTest) -> None:
    for number in range(MANY):
        make_movie(kodi.movies, f"Movie {number} (2001)", 1000 + number)
    late = make_movie(kodi.tv, "Late (2002)", 999)  # no source of movies: never added anyway
    kodi.call("VideoLibrary.Scan", {"showdialogs": False})
    assert kodi.wait_for(kodi.scanning, True) is True

    scan(kodi, f"{late}/")

    assert kodi.wait_for(kodi.scanning, False) is False
    kodi.settle()
    assert len(kodi.movie_files()) < MANY  # the full scan was stopped part way
    assert not kodi.scanning()  # and the second one never ran


# --- music ---------------------------------------------------------------------------------


def scan_music(kodi: KodiUnderTest, folder: Path) -> None:
    let_the_second_pass(str(folder))
    kodi.call("AudioLibrary.Scan", {"directory": f"{folder}/", "showdialogs": False})


def test_an_album_folder_is_added_to_the_music_library_when_scanned(kodi: KodiUnderTest) -> None:
    album = make_album(kodi.music / "Radiohead", "OK Computer (1997)", 2)
    list_folder(kodi, kodi.music)
    list_folder(kodi, kodi.music / "Radiohead")

    scan_music(kodi, album)

    expected = [f"{album}/01 Track 1.flac", f"{album}/02 Track 2.flac"]
    assert kodi.wait_for(kodi.song_files, expected) == expected
    assert kodi.movie_files() == []  # nothing of it in the video library


def test_an_album_made_after_kodi_listed_its_artist_needs_the_artist_listed_again(
    kodi: KodiUnderTest,
) -> None:
    artist = kodi.music / "Radiohead"
    make_album(artist, "OK Computer (1997)", 1)
    list_folder(kodi, kodi.music)
    list_folder(kodi, artist)
    album = make_album(artist, "Kid A (2000)", 1)  # after Kodi listed the artist folder

    scan_music(kodi, album)
    kodi.settle()
    assert kodi.song_files() == []  # "does not exist - skipping scan"

    list_folder(kodi, artist)
    scan_music(kodi, album)
    expected = [f"{album}/01 Track 1.flac"]
    assert kodi.wait_for(kodi.song_files, expected) == expected


def test_a_music_scan_drops_its_folders_lost_songs_but_a_gone_album_needs_the_whole_clean(
    kodi: KodiUnderTest,
) -> None:
    artist = kodi.music / "Radiohead"
    kept, gone = make_album(artist, "Kid A (2000)", 2), make_album(artist, "Amnesiac (2001)", 1)
    list_folder(kodi, kodi.music)
    scan_music(kodi, artist)
    every = [f"{gone}/01 Track 1.flac", f"{kept}/01 Track 1.flac", f"{kept}/02 Track 2.flac"]
    assert kodi.wait_for(kodi.song_files, every) == every

    (kept / "02 Track 2.flac").unlink()  # a file gone from a folder still there
    shutil.rmtree(gone)  # an album gone from its artist's folder
    scan_music(kodi, artist)
    left = [f"{gone}/01 Track 1.flac", f"{kept}/01 Track 1.flac"]
    assert kodi.wait_for(kodi.song_files, left) == left

    with pytest.raises(RuntimeError, match="Invalid params"):  # no folder: only whole
        kodi.call("AudioLibrary.Clean", {"directory": f"{gone}/", "showdialogs": False})
    kodi.call("AudioLibrary.Clean", {"showdialogs": False})
    expected = [f"{kept}/01 Track 1.flac"]
    assert kodi.wait_for(kodi.song_files, expected) == expected
