"""Kodi's video library as the fake Kodi keeps it: what a real Kodi 20 adds, keeps and
removes for each call, over real folders on disk (the contract suite,
tests/contract/test_kodi_contract.py, runs the same cases against a real Kodi).

What is modelled, as measured on Kodi 20.1 with the "Local information only" scraper:
- a scan adds only inside a video source whose content is set (movies or tvshows), and
  only items with an NFO; a movie folder scanned without its trailing "/" adds nothing;
- after a full scan Kodi keeps each folder's listing: a folder created since is skipped
  by a directory scan until its parent is listed again (``Files.GetDirectory``);
- a show is matched only from its show folder (with ``tvshow.nfo``); a season folder of
  an unknown show, or a season folder Kodi holds no episode of, adds nothing;
- a scan never removes; ``clean`` removes the items of its content whose files are gone,
  and does nothing for the content "video", nor for "tvshows" below the source's own
  folder (only the source has that content); a show whose episodes were all cleaned
  stays until removed (``VideoLibrary.RemoveTVShow``).

Its music library, as measured on Kodi 20.1: a music source has no content to set; a scan
of a folder in it adds every audio file under it as a song (with the same cached listings:
a folder made since its parent was listed is skipped) and drops the songs of the folders it
reads whose files are gone (not those of a sub-folder that is gone); the music clean, only
ever whole (a directory is "Too many parameters"), removes every song whose file is gone.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

VIDEO_EXTS = frozenset({"mkv", "mp4", "avi", "m4v", "mov", "ts", "wmv", "mpg", "iso", "strm"})
AUDIO_EXTS = frozenset({"flac", "mp3", "m4a", "ogg", "opus", "wav", "wma", "aac"})
VIDEO_CONTENTS = ("movies", "tvshows")


@dataclass(frozen=True)
class FakeSource:
    """A source: ``path`` as Kodi sees it (ending in a separator), its content ("movies",
    "tvshows", None: a video source with no content set, or "music": a music source) and
    the folder holding its files here (an smb:// share stands for a local folder)."""

    path: str
    content: str | None
    disk: str


def _with_slash(path: str) -> str:
    return path.rstrip("/") + "/"


def _videos(folder: str) -> list[str]:
    """The video files of ``folder`` (not its subfolders), sorted; no samples or trailers."""
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [
        name
        for name in names
        if name.rpartition(".")[2].lower() in VIDEO_EXTS
        and not re.search(r"(-trailer|sample)", name, re.IGNORECASE)
        and os.path.isfile(os.path.join(folder, name))
    ]


def _nfo(path: str) -> ElementTree.Element | None:
    """The root element of the NFO at ``path``, or None."""
    try:
        return ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None


def _text(element: ElementTree.Element, tag: str, default: str = "") -> str:
    child = element.find(tag)
    return (child.text or default).strip() if child is not None else default


class KodiLibrary:
    """Movies, shows and episodes by file, as a Kodi's video database holds them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sources: list[FakeSource] = []
        self.movies: dict[str, dict[str, Any]] = {}  # by file (Kodi's path)
        self.shows: dict[str, dict[str, Any]] = {}  # by show folder (Kodi's path, with "/")
        self.episodes: dict[str, dict[str, Any]] = {}  # by file
        self.songs: dict[str, dict[str, Any]] = {}  # by file
        self.listings: dict[str, set[str]] = {}  # Kodi's cached listing of a folder
        # A scan reads each folder for about this long (Kodi: 15-45 ms), and stops between
        # folders once ``stop`` is set (a second scan called while it runs).
        self.folder_seconds = 0.01
        self.stop = threading.Event()
        self._ids = iter(range(1, 1 << 30))

    def add_source(self, path: str, content: str | None, disk: str | None = None) -> None:
        """Add a video source; ``disk`` is where its files are here (default: ``path``)."""
        with self.lock:
            self.sources.append(FakeSource(_with_slash(path), content, _with_slash(disk or path)))

    # --- paths ------------------------------------------------------------------------------

    def source_of(self, path: str) -> FakeSource | None:
        """The source holding ``path`` (Kodi's form), the longest first."""
        held = [s for s in self.sources if _with_slash(path).startswith(s.path)]
        return max(held, key=lambda s: len(s.path)) if held else None

    def disk(self, path: str) -> str | None:
        """Where Kodi's ``path`` is on this machine's disk (None outside every source)."""
        source = self.source_of(path)
        if source is None:
            return None
        return source.disk + path[len(source.path) :] if path != source.path[:-1] else source.disk

    def exists(self, path: str) -> bool:
        """Whether Kodi's file or folder ``path`` is there."""
        disk = self.disk(path)
        return disk is not None and os.path.exists(disk)

    def list_folder(self, folder: str) -> list[str] | None:
        """Kodi's ``Files.GetDirectory``: the entries of ``folder``, refreshing its cached
        listing; None when Kodi cannot read it."""
        disk = self.disk(folder)
        if disk is None or not os.path.isdir(disk):
            return None
        names = sorted(os.listdir(disk))
        self._remember(_with_slash(folder), disk)
        return [_with_slash(folder) + name for name in names]

    def _listed(self, folder: str) -> bool:
        """Whether Kodi's cached listings let it see ``folder``: every folder from its
        source down to it is in its parent's listing, where Kodi has one."""
        source = self.source_of(folder)
        assert source is not None
        parts = [p for p in _with_slash(folder)[len(source.path) :].split("/") if p]
        parent = source.path
        for part in parts:
            cached = self.listings.get(parent)
            if cached is not None and part not in cached:
                return False
            parent = f"{parent}{part}/"
        return True

    # --- scans -------------------------------------------------------------------------------

    def scan(self, directory: str) -> None:
        """What ``VideoLibrary.Scan`` of ``directory`` ("" for all sources) adds."""
        self.stop.clear()
        if not directory:
            for source in list(self.sources):
                if source.content != "music":
                    self._remember_listings(source.path)
                if source.content in VIDEO_CONTENTS:
                    self._scan_in(source, source.path)
            return
        source = self.source_of(directory)
        if source is None or source.content not in VIDEO_CONTENTS or not self.exists(directory):
            return  # "does not exist - skipping scan", or no content: nothing is added
        if not self._listed(directory):
            return  # Kodi's cached listing of the parent predates the folder
        self._remember_listings(_with_slash(directory))  # a scan lists what it reads
        # Without the trailing "/" the folder is read, but its movie.nfo is not.
        self._scan_in(source, _with_slash(directory), folder_nfo=directory.endswith("/"))

    def scan_music(self, directory: str) -> None:
        """What ``AudioLibrary.Scan`` of ``directory`` does: add the songs of the folders
        it reads, and drop those of their files that are gone (a sub-folder that is gone
        is not read: its songs stay). Without a directory a headless Kodi 20 added
        nothing: the client always names one."""
        self.stop.clear()
        holding = self.source_of(directory) if directory else None
        if holding is None or holding.content != "music" or not self.exists(directory):
            return  # "does not exist - skipping scan"
        if not self._listed(directory):
            return  # Kodi's cached listing of the parent predates the folder
        folder = _with_slash(directory)
        self._remember_listings(folder)
        disk = self.disk(folder) or ""
        for current, _dirs, files in os.walk(disk):
            if self._stopped():
                return
            relative = os.path.relpath(current, disk)
            kodi = folder if relative == os.curdir else f"{folder}{relative}/"
            with self.lock:
                for file in [f for f in self.songs if f.rpartition("/")[0] + "/" == kodi]:
                    if not self._there(file):
                        del self.songs[file]
            for name in sorted(files):
                if name.rpartition(".")[2].lower() in AUDIO_EXTS:
                    self._add_song(kodi + name, current)

    def _add_song(self, file: str, disk_folder: str) -> None:
        with self.lock:
            if file not in self.songs:
                title = file.rpartition("/")[2].rpartition(".")[0]
                self.songs[file] = {
                    "songid": next(self._ids),
                    "label": title,
                    "title": title,
                    "album": os.path.basename(disk_folder),
                    "file": file,
                }

    def clean_music(self) -> None:
        """What ``AudioLibrary.Clean`` does: drop every song whose file is gone."""
        with self.lock:
            for file in [f for f in self.songs if not self._there(f)]:
                del self.songs[file]

    def _remember_listings(self, folder: str) -> None:
        """A full scan lists every folder of the source, and Kodi keeps the listings."""
        disk = self.disk(folder)
        if disk is None:
            return
        for current, _dirs, _files in os.walk(disk):
            relative = os.path.relpath(current, disk)
            self._remember(folder if relative == os.curdir else f"{folder}{relative}/", current)

    def _remember(self, folder: str, disk: str) -> None:
        """Keep Kodi's listing of ``folder`` (its subfolders now)."""
        names = {n for n in os.listdir(disk) if os.path.isdir(os.path.join(disk, n))}
        with self.lock:
            self.listings[folder] = names

    def _scan_in(self, source: FakeSource, folder: str, folder_nfo: bool = True) -> None:
        parts = [p for p in folder[len(source.path) :].split("/") if p]
        if source.content == "movies":
            self._scan_movies(folder, folder_nfo)
        elif not parts:
            for show in self._subfolders(folder):
                if self._stopped():
                    return
                self._scan_show(show)
        elif len(parts) == 1:
            self._scan_show(folder)
        else:
            show = source.path + parts[0] + "/"
            with self.lock:
                known = show in self.shows and any(f.startswith(folder) for f in self.episodes)
            if known:  # else "No information found": a new season needs its show scanned
                self._scan_season(self.shows[show], folder)

    def _stopped(self) -> bool:
        """Spend a folder's time; whether the scan was told to stop meanwhile."""
        return self.stop.wait(self.folder_seconds)

    def _subfolders(self, folder: str) -> list[str]:
        disk = self.disk(folder) or ""
        try:
            names = sorted(os.listdir(disk))
        except OSError:
            return []
        return [f"{folder}{n}/" for n in names if os.path.isdir(os.path.join(disk, n))]

    def _scan_movies(self, folder: str, folder_nfo: bool) -> None:
        """Every folder under ``folder`` with a video and its NFO is a movie (``movie.nfo``
        counts only with ``folder_nfo``, and wins over the video's own)."""
        disk = self.disk(folder)
        if disk is None:
            return
        for current, _dirs, _files in os.walk(disk):
            if self._stopped():
                return
            relative = os.path.relpath(current, disk)
            kodi = folder if relative == os.curdir else f"{folder}{relative}/"
            for video in _videos(current):
                stem = video.rpartition(".")[0]
                nfo = next(
                    (
                        root
                        for name in ("movie.nfo", f"{stem}.nfo")[0 if folder_nfo else 1 :]
                        if (root := _nfo(os.path.join(current, name))) is not None
                        and root.tag == "movie"
                    ),
                    None,
                )
                if nfo is None:
                    continue  # "Local information only" needs the NFO
                file = kodi + video
                with self.lock:
                    if file not in self.movies:
                        self.movies[file] = {
                            "movieid": next(self._ids),
                            "label": _text(nfo, "title", stem),
                            "title": _text(nfo, "title", stem),
                            "year": int(_text(nfo, "year", "0") or 0),
                            "file": file,
                        }
                break  # one movie per folder

    def _scan_show(self, show: str) -> None:
        disk = self.disk(show)
        nfo = _nfo(os.path.join(disk, "tvshow.nfo")) if disk else None
        if nfo is None or nfo.tag != "tvshow":
            return
        with self.lock:
            if show not in self.shows:
                title = _text(nfo, "title", show)
                self.shows[show] = {"tvshowid": next(self._ids), "title": title, "file": show}
        record = self.shows[show]
        self._scan_season(record, show)
        for season in self._subfolders(show):
            self._scan_season(record, season)

    def _scan_season(self, show: dict[str, Any], folder: str) -> None:
        disk = self.disk(folder)
        if disk is None:
            return
        for video in _videos(disk):
            nfo = _nfo(os.path.join(disk, video.rpartition(".")[0] + ".nfo"))
            if nfo is None or nfo.tag != "episodedetails":
                continue  # no episode guide for it
            file = folder + video
            with self.lock:
                if file not in self.episodes:
                    self.episodes[file] = {
                        "episodeid": next(self._ids),
                        "tvshowid": show["tvshowid"],
                        "showtitle": show["title"],
                        "title": _text(nfo, "title", video),
                        "label": _text(nfo, "title", video),
                        "season": int(_text(nfo, "season", "0") or 0),
                        "episode": int(_text(nfo, "episode", "0") or 0),
                        "file": file,
                    }

    def clean(self, directory: str, content: str) -> None:
        """What ``VideoLibrary.Clean`` of ``directory`` does: drop the items of ``content``
        whose files are gone (nothing at all for "video"); a show left with no episode
        goes too."""
        folder = _with_slash(directory) if directory else ""
        source = self.source_of(folder) if folder else None
        if folder and (source is None or (content == "tvshows" and folder != source.path)):
            return  # no such content set for that folder: nothing, silently
        with self.lock:
            if content == "movies":
                for file in [f for f in self.movies if f.startswith(folder)]:
                    if not self._there(file):
                        del self.movies[file]
            elif content == "tvshows":
                for file in [f for f in self.episodes if f.startswith(folder)]:
                    if not self._there(file):
                        del self.episodes[file]

    def remove_show(self, tvshowid: int) -> bool:
        """``VideoLibrary.RemoveTVShow``: the show and its episodes; False if unknown."""
        with self.lock:
            folders = [f for f, r in self.shows.items() if r["tvshowid"] == tvshowid]
            for folder in folders:
                del self.shows[folder]
            for file in [f for f, e in self.episodes.items() if e["tvshowid"] == tvshowid]:
                del self.episodes[file]
        return bool(folders)

    def _there(self, file: str) -> bool:
        disk = self.disk(file)
        return disk is not None and os.path.isfile(disk)
