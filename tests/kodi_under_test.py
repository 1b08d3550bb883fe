"""A Kodi for the tests that need one: the fake (tests/fakes/players.py) or a real Kodi 20
(tests/real_kodi.py), with the same sources over the same folders, driven the same way.

Sources, as Kodi sees them (``KodiUnderTest`` has each as an attribute):
- ``movies`` (content movies) and ``tv`` (tvshows): Kodi sees these folders as we do;
- ``kodi_movies`` and ``kodi_tv``: symbolic links to ``share_movies`` and ``share_tv``,
  standing in for an SMB share that Kodi sees under another path (a group mapping);
- ``plain``: a source with no content set. ``outside`` is in no source;
- ``music``: a music source (albums of tagged audio files).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.players import FakeKodi
from tests.real_kodi import KodiSource, RealKodi, kodi_missing

USERNAME, PASSWORD = "kodi", "kodi-pass"
KINDS = ("fake", "real")


@dataclass
class KodiUnderTest:
    """One Kodi and its folders; ``call`` speaks JSON-RPC to it with its credentials."""

    kind: str  # "fake" or "real"
    url: str
    root: Path

    movies: Path = field(init=False)
    tv: Path = field(init=False)
    plain: Path = field(init=False)
    outside: Path = field(init=False)
    music: Path = field(init=False)
    share_movies: Path = field(init=False)
    share_tv: Path = field(init=False)
    kodi_movies: Path = field(init=False)
    kodi_tv: Path = field(init=False)

    def __post_init__(self) -> None:
        for name in ("movies", "tv", "plain", "outside", "music"):
            setattr(self, name, self.root / name)
        for kind in ("movies", "tv"):
            setattr(self, f"share_{kind}", self.root / "share" / kind)
            setattr(self, f"kodi_{kind}", self.root / "kodi-view" / kind)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One JSON-RPC call; its result, or RuntimeError naming the error."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            body["params"] = params
        response = httpx.post(
            f"{self.url}/jsonrpc", json=body, auth=(USERNAME, PASSWORD), timeout=30
        )
        response.raise_for_status()
        answer = response.json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def scanning(self) -> bool:
        """Whether Kodi says a library scan runs."""
        answer = self.call("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanning"]})
        return bool(answer["Library.IsScanning"])

    def full_scan(self) -> None:
        """Scan every source and wait until it is over (a short one may never be seen)."""
        self.call("VideoLibrary.Scan", {"showdialogs": False})
        deadline, seen = time.monotonic() + 60, False
        while time.monotonic() < deadline:
            scanning = self.scanning()
            seen = seen or scanning
            if not scanning and (seen or time.monotonic() > deadline - 59.5):
                return
            time.sleep(0.05)
        raise AssertionError("Kodi's full scan did not end within 60 s")

    def movie_files(self) -> list[str]:
        """The files of Kodi's movies, sorted."""
        movies = self.call("VideoLibrary.GetMovies", {"properties": ["file"]}).get("movies")
        return sorted(m["file"] for m in movies or [])

    def episode_files(self) -> list[str]:
        """The files of Kodi's episodes, sorted."""
        episodes = self.call("VideoLibrary.GetEpisodes", {"properties": ["file"]}).get("episodes")
        return sorted(e["file"] for e in episodes or [])

    def song_files(self) -> list[str]:
        """The files of Kodi's songs, sorted."""
        songs = self.call("AudioLibrary.GetSongs", {"properties": ["file"]}).get("songs")
        return sorted(s["file"] for s in songs or [])

    def show_folders(self) -> list[str]:
        """The folders of Kodi's TV shows, sorted."""
        shows = self.call("VideoLibrary.GetTVShows", {"properties": ["file"]}).get("tvshows")
        return sorted(s["file"] for s in shows or [])

    def wait_for(self, read: Any, expected: Any, seconds: float = 10.0) -> Any:
        """Call ``read`` until it returns ``expected`` (or ``seconds`` pass); its last value."""
        deadline = time.monotonic() + seconds
        while True:
            value = read()
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.05)

    def settle(self, seconds: float = 1.0) -> None:
        """Give Kodi time to run what it queued (for changes that must *not* happen)."""
        time.sleep(seconds)

    def reset(self) -> None:
        """Empty every source folder and Kodi's library, then let Kodi list the (empty)
        sources: each test starts from a Kodi that has done its full scan."""
        for folder in (self.movies, self.tv, self.plain, self.outside, self.music, *self._shares()):
            if folder.is_symlink():  # a case pointed a source elsewhere
                folder.unlink()
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        for content, read in (("movies", self.movie_files), ("tvshows", self.episode_files)):
            # One clean at a time: Kodi refuses a clean while another runs.
            for _ in range(20):
                if not read():
                    break
                self.call("VideoLibrary.Clean", {"content": content, "showdialogs": False})
                self.wait_for(read, [], seconds=2)
        for show in self.call("VideoLibrary.GetTVShows").get("tvshows") or []:
            self.call("VideoLibrary.RemoveTVShow", {"tvshowid": show["tvshowid"]})
        if self.song_files():
            self.call("AudioLibrary.Clean", {"showdialogs": False})
        assert self.wait_for(self.movie_files, []) == []
        assert self.wait_for(self.episode_files, []) == []
        assert self.wait_for(self.song_files, []) == []
        self.full_scan()

    def _shares(self) -> tuple[Path, Path]:
        return self.share_movies, self.share_tv

    def sources(self) -> list[tuple[Path, str | None]]:
        """Every source (Kodi's path) with its content ("music": the music source)."""
        return [
            (self.movies, "movies"),
            (self.tv, "tvshows"),
            (self.kodi_movies, "movies"),
            (self.kodi_tv, "tvshows"),
            (self.plain, None),
            (self.music, "music"),
        ]


def _make_folders(root: Path) -> KodiUnderTest:
    view = KodiUnderTest("", "", root)
    for folder in (view.movies, view.tv, view.plain, view.outside, view.music, *view._shares()):
        folder.mkdir(parents=True, exist_ok=True)
    view.kodi_movies.parent.mkdir(parents=True, exist_ok=True)
    view.kodi_movies.symlink_to(view.share_movies, target_is_directory=True)
    view.kodi_tv.symlink_to(view.share_tv, target_is_directory=True)
    return view


@contextmanager
def kodi_under_test(kind: str, root: Path) -> Iterator[KodiUnderTest]:
    """A running Kodi of ``kind`` with the sources above under ``root``; the real one
    skips the test where it cannot run (saying why)."""
    view = _make_folders(root)
    if kind == "fake":
        with FakeKodi(username=USERNAME, password=PASSWORD) as fake:
            for path, content in view.sources():
                fake.add_source(path, content)
            view.kind, view.url = kind, fake.url
            yield view
        return
    reason = kodi_missing()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"a real Kodi cannot run here: {reason}; CI must install it (make kodi)")
    if reason:
        pytest.skip(f"a real Kodi cannot run here: {reason} (make kodi installs it)")
    sources = [KodiSource(str(path), content) for path, content in view.sources()]
    with RealKodi(root / "home", sources, USERNAME, PASSWORD) as real:
        view.kind, view.url = kind, real.url
        try:
            yield view
        except BaseException:
            print(real.log()[-6000:])  # the end of Kodi's own log, beside the failure
            raise
