"""One-pass scan of a movie or season folder: main video, NFO, artwork, subtitles, trailers.

The rules follow Radarr's disk scan and Kodi's naming. Only
BDMV/, VIDEO_TS/ and Subs/ sub-folders are ever listed, so extras, sample, junk and
dot-folders are skipped by construction and a folder costs one scandir (plus one per
such sub-folder).

A scan given ``leaves`` (a check that a path's links lead out of its library) skips each
symlinked file or sub-folder the check refuses, reading nothing behind it, and lists it
in ``skipped_links``; only symlinks are checked, since a plain entry of a folder lies
where its folder does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from services.scanner.nfo import NfoInfo, parse_folder_name, parse_nfo

VIDEO_EXTS = frozenset({
    "mkv", "mp4", "m4v", "avi", "mov", "wmv", "mpg", "mpeg", "ts", "m2ts", "mts", "webm", "flv",
    "ogv", "vob", "iso", "img", "strm", "divx", "xvid", "3gp", "mk3d",
})  # fmt: skip
SUBTITLE_EXTS = frozenset({
    "aqt", "ass", "idx", "jss", "psb", "rt", "smi", "srt", "ssa", "sub", "sup", "txt", "utf",
    "utf8", "utf-8", "vtt",
})  # fmt: skip
IMAGE_EXTS = frozenset({"jpg", "jpeg", "png"})
SUBTITLE_FLAGS = frozenset({"forced", "sdh", "cc", "hi"})
JUNK_FILES = frozenset({".ds_store", "thumbs.db"})

# Folder scan
_ART = (
    r"(?P<type>poster|banner|fanart|clearart|discart|keyart|landscape|logo|backdrop|clearlogo"
    r"|thumb)"
)
_FOLDER_ART_RE = re.compile(rf"^{_ART}\.(?:png|jpe?g)$")
_FILE_ART_RE = re.compile(rf"^(?P<base>.+)-{_ART}\.(?:png|jpe?g)$")
_FOLDER_JPG_RE = re.compile(r"^folder\.(?:png|jpe?g)$")
_SAMPLE_RE = re.compile(r"(?:^|[-._ ])sample[-._ ]")
_EXTRA_SUFFIX_RE = re.compile(
    r"-(?:other|behindthescenes|deleted|featurette|interview|scene|short)\.[^.]+$"
)
_STACK_RE = re.compile(
    r"^(?P<title>.*)[ _.-]+(?:cd|dvd|part|pt|disc|disk)[ _.-]*(?P<part>\d+)(?P<rest>.*)$"
)
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,4})?$", re.I)
_SXXEYY_RE = re.compile(r"(?<![a-z0-9])s(\d{1,4})[ ._-]?e(\d{1,4})((?:[ ._-]?-?e\d{1,4})*)", re.I)
_NXNN_RE = re.compile(r"(?<![a-z0-9])(\d{1,2})x(\d{2,3})((?:[x-]\d{2,3})*)(?!\d)", re.I)
_SEASON_DIR_RE = re.compile(r"\b(?:season|series|s)[ ._-]*(\d{1,4})\b", re.I)


# A skipped link with one of these names (or a movie video's) was the folder's video.
_DISC_NAMES = frozenset({"bdmv", "video_ts", "index.bdmv", "video_ts.ifo"})

# (disc kind, folder holding it, index file, its NFO), names lower-cased
_DISC_LAYOUTS = (
    ("bdmv", "bdmv", "index.bdmv", "index.nfo"),
    ("video_ts", "video_ts", "video_ts.ifo", "video_ts.nfo"),
)


@dataclass(frozen=True)
class MediaFile:
    """A file of a movie or season folder, classified."""

    path: str
    kind: str  # "video" | "nfo" | "artwork" | "subtitle" | "trailer"
    size: int
    mtime: float
    art_type: str | None = None
    language: str | None = None  # as written in the name: "en", "eng", "pt-BR"
    flags: tuple[str, ...] = ()  # subtitle flags: "forced", "sdh", "cc", "hi"
    part: int | None = None  # stacked part number, None when not stacked


@dataclass
class FolderScan:
    """What a scan of one folder found; ``exists`` is False (and all else empty) when the
    folder is missing."""

    folder: str
    exists: bool
    skipped_links: list[str] = field(default_factory=list)  # links out of the library

    @property
    def skipped_videos(self) -> list[str]:
        """The skipped links that may be videos (or a disc folder)."""
        return _videos_among(self.skipped_links)

    @property
    def files(self) -> list[MediaFile]:
        """Every classified file (each kind of folder says which)."""
        return []


@dataclass
class MovieScan(FolderScan):
    """What a movie folder holds."""

    videos: list[MediaFile] = field(default_factory=list)
    disc: str | None = None  # "bdmv" | "video_ts" | None
    nfo: MediaFile | None = None
    info: NfoInfo = field(default_factory=NfoInfo)
    artwork: list[MediaFile] = field(default_factory=list)
    subtitles: list[MediaFile] = field(default_factory=list)
    trailers: list[MediaFile] = field(default_factory=list)

    @property
    def files(self) -> list[MediaFile]:
        """Every classified file: videos, NFO, artwork, subtitles, trailers."""
        nfo = [self.nfo] if self.nfo else []
        return [*self.videos, *nfo, *self.artwork, *self.subtitles, *self.trailers]


@dataclass(frozen=True)
class EpisodeFile:
    """An episode video with the season and episode numbers read from its name."""

    file: MediaFile
    season: int | None
    episodes: tuple[int, ...]  # S01E01E02 -> (1, 2)


@dataclass
class SeasonScan(FolderScan):
    """What a season folder holds."""

    episodes: list[EpisodeFile] = field(default_factory=list)
    subtitles: list[MediaFile] = field(default_factory=list)
    nfos: list[MediaFile] = field(default_factory=list)

    @property
    def files(self) -> list[MediaFile]:
        """Every classified file: episode videos, subtitles, NFOs."""
        return [*(episode.file for episode in self.episodes), *self.subtitles, *self.nfos]


Entry = os.DirEntry[str]
Leaves = Callable[[str], bool]


def _videos_among(paths: list[str]) -> list[str]:
    names = [(path, os.path.basename(path).lower()) for path in paths]
    return [path for path, name in names if name in _DISC_NAMES or _is_movie_video(name)]


@dataclass
class _Lister:
    """Lists folders for one scan, skipping (and remembering) links that ``leaves`` refuses."""

    leaves: Leaves | None
    skipped: list[str] = field(default_factory=list)

    def read(self, path: str) -> tuple[list[Entry], dict[str, str]]:
        """Files (junk left out) and {lower-cased name: path} of sub-folders, in one scandir
        pass."""
        files, dirs = [], {}
        with os.scandir(path) as entries:
            for entry in entries:
                is_dir = entry.is_dir()
                if not is_dir and not (entry.is_file() and not _is_junk_file(entry.name.lower())):
                    continue  # junk, a broken link, a socket ...
                if self.leaves and entry.is_symlink() and self.leaves(entry.path):
                    self.skipped.append(entry.path)
                elif is_dir:
                    dirs[entry.name.lower()] = entry.path
                else:
                    files.append(entry)
        return files, dirs

    def read_quietly(self, path: str | None) -> list[Entry]:
        """The files of a sub-folder; ``[]`` when there is none or it cannot be read."""
        # A sub-folder we cannot read only loses its own files, never the whole scan.
        if path is None:
            return []
        try:
            return self.read(path)[0]
        except OSError:
            return []


def scan_movie_folder(
    folder: str | os.PathLike[str],
    progress: Callable[[float, str], None] | None = None,
    *,
    leaves: Leaves | None = None,
) -> MovieScan:
    """Classify the files of one movie folder (see the module docstring for the rules);
    links that ``leaves`` refuses are skipped (None: every link is followed)."""
    report = progress or (lambda percent, message: None)
    lister = _Lister(leaves)
    path = os.path.abspath(os.fspath(folder))
    name = os.path.basename(path)
    if name.lower() in ("bdmv", "video_ts"):
        name = os.path.basename(os.path.dirname(path))
    title, year = parse_folder_name(name)
    name_info = NfoInfo(title=title, year=year)
    try:
        files, dirs = lister.read(path)
    except (FileNotFoundError, NotADirectoryError):
        report(100, "folder missing")
        return MovieScan(folder=path, exists=False, info=name_info)
    report(30, "files listed")

    disc, videos, nfo = _find_disc(lister, files, dirs)
    if disc is None:
        videos = _main_videos(entry for entry in files if _is_movie_video(entry.name))
    bases = _video_bases(videos)
    nfo = _find_nfo(files, bases) or nfo
    info = parse_nfo(nfo.path) if nfo else NfoInfo()
    report(70, "nfo parsed")

    artwork, subtitles, trailers = [], [], []
    for entry in files:
        lower = entry.name.lower()
        stem, ext = _split_ext(lower)
        if ext in VIDEO_EXTS and stem.endswith("-trailer"):
            trailers.append(_media(entry, "trailer"))
        elif ext in IMAGE_EXTS and (art_type := _art_type(lower, bases)):
            artwork.append(_media(entry, "artwork", art_type=art_type))
        elif ext in SUBTITLE_EXTS and (sub := _subtitle(entry, bases, require_base=True)):
            subtitles.append(sub)
    for entry in lister.read_quietly(dirs.get("subs")):
        if _split_ext(entry.name.lower())[1] in SUBTITLE_EXTS:
            sub = _subtitle(entry, bases, require_base=False)
            subtitles.extend([sub] if sub else [])
    report(100, "done")
    return MovieScan(
        folder=path,
        exists=True,
        videos=videos,
        disc=disc,
        nfo=nfo,
        info=NfoInfo(
            title=info.title or name_info.title,
            year=info.year or name_info.year,
            tmdb_id=info.tmdb_id,
            imdb_id=info.imdb_id,
        ),
        artwork=_by_path(artwork),
        subtitles=_by_path(subtitles),
        trailers=_by_path(trailers),
        skipped_links=sorted(set(lister.skipped)),
    )


def scan_season_folder(
    folder: str | os.PathLike[str], *, leaves: Leaves | None = None
) -> SeasonScan:
    """List the episode videos (with their numbers), subtitles and NFOs of a season folder;
    links that ``leaves`` refuses are skipped (None: every link is followed)."""
    path = os.path.abspath(os.fspath(folder))
    lister = _Lister(leaves)
    try:
        files, dirs = lister.read(path)
    except (FileNotFoundError, NotADirectoryError):
        return SeasonScan(folder=path, exists=False)
    folder_season = _season_of_folder(os.path.basename(path))
    videos = [entry for entry in files if _is_movie_video(entry.name)]
    bases = [_split_ext(entry.name.lower())[0] for entry in videos]
    episodes, subtitles = [], []
    for entry in videos:
        season, numbers = _episode_numbers(entry.name)
        season = folder_season if season is None else season
        episodes.append(EpisodeFile(_media(entry, "video"), season, numbers))
    for entry in [*files, *lister.read_quietly(dirs.get("subs"))]:
        ext = _split_ext(entry.name.lower())[1]
        if ext in SUBTITLE_EXTS and (sub := _subtitle(entry, bases, require_base=False)):
            subtitles.append(sub)
    nfos = [_media(entry, "nfo") for entry in files if entry.name.lower().endswith(".nfo")]
    episodes.sort(key=lambda e: (e.season or 0, e.episodes, e.file.path))
    return SeasonScan(
        folder=path,
        exists=True,
        episodes=episodes,
        subtitles=_by_path(subtitles),
        nfos=_by_path(nfos),
        skipped_links=sorted(set(lister.skipped)),
    )


def _is_junk_file(lower: str) -> bool:
    return lower in JUNK_FILES or lower.startswith(("._", ".unmanic"))


def _split_ext(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    return stem, ext[1:]


def _is_movie_video(name: str) -> bool:
    """A video that may be the movie (or an episode): not a sample, trailer or other extra."""
    lower = name.lower()
    stem, ext = _split_ext(lower)
    return (
        ext in VIDEO_EXTS
        and not stem.endswith("-trailer")
        and not _EXTRA_SUFFIX_RE.search(lower)
        and not _SAMPLE_RE.search(lower)
    )


def _media(
    entry: Entry,
    kind: str,
    art_type: str | None = None,
    language: str | None = None,
    flags: tuple[str, ...] = (),
) -> MediaFile:
    stat = entry.stat()  # cached on the DirEntry
    return MediaFile(entry.path, kind, stat.st_size, stat.st_mtime, art_type, language, flags)


def _by_path(files: list[MediaFile]) -> list[MediaFile]:
    return sorted(files, key=lambda f: f.path)


def _find_disc(
    lister: _Lister, files: list[Entry], dirs: dict[str, str]
) -> tuple[str | None, list[MediaFile], MediaFile | None]:
    """Disc kind, index file and disc NFO, for BDMV/VIDEO_TS either below or at the folder."""
    for kind, dir_name, index_name, nfo_name in _DISC_LAYOUTS:
        for candidates in (lister.read_quietly(dirs.get(dir_name)), files):
            by_name = {entry.name.lower(): entry for entry in candidates}
            if index_name in by_name:
                nfo = by_name.get(nfo_name)
                disc_nfo = _media(nfo, "nfo") if nfo else None
                return kind, [_media(by_name[index_name], "video")], disc_nfo
    return None, [], None


def _main_videos(candidates: Iterable[Entry]) -> list[MediaFile]:
    """The largest candidate, or all parts of its stack (ordered) when it is stacked."""
    videos = [_media(entry, "video") for entry in candidates]
    if not videos:
        return []
    largest = max(videos, key=lambda v: v.size)
    largest_key = _stack_key(largest.path)
    if largest_key is None:
        return [largest]
    parts = []
    for video in videos:
        key = _stack_key(video.path)
        if key is not None and key[0] == largest_key[0]:
            parts.append(replace(video, part=key[1]))
    return sorted(parts, key=lambda v: v.part or 0) if len(parts) > 1 else [largest]


def _stack_key(path: str) -> tuple[tuple[str, str, str], int] | None:
    """((title, rest, ext), part) for a Kodi stack name such as "Movie-cd1.avi"."""
    stem, ext = _split_ext(os.path.basename(path).lower())
    match = _STACK_RE.match(stem)
    return ((match["title"], match["rest"], ext), int(match["part"])) if match else None


def _video_bases(videos: list[MediaFile]) -> list[str]:
    """Lower-cased names other files may be named after: each video's, plus the stack title."""
    bases = [_split_ext(os.path.basename(v.path).lower())[0] for v in videos]
    stacked = [v for v in videos if v.part is not None]
    if stacked and (key := _stack_key(stacked[0].path)):
        bases.append(key[0][0].rstrip(" _.-"))
    return sorted(bases, key=len, reverse=True)


def _find_nfo(files: list[Entry], bases: list[str]) -> MediaFile | None:
    # movie.nfo wins over <video>.nfo: in a folder-per-movie layout Kodi reads movie.nfo first.
    nfos = {_split_ext(e.name.lower())[0]: e for e in files if e.name.lower().endswith(".nfo")}
    for stem in ["movie", *bases]:
        if stem in nfos:
            return _media(nfos[stem], "nfo")
    return None


def _art_type(lower_name: str, bases: list[str]) -> str | None:
    if match := _FOLDER_ART_RE.match(lower_name):
        return match["type"]
    if _FOLDER_JPG_RE.match(lower_name):
        return "poster"
    match = _FILE_ART_RE.match(lower_name)
    return match["type"] if match and match["base"] in bases else None


def _subtitle(entry: Entry, bases: list[str], require_base: bool) -> MediaFile | None:
    """A subtitle named <video base>[.<lang>][.<flag>...].<ext>, else None.

    With ``require_base`` False (Subs/ folders, season folders) a name that matches no
    video is still a subtitle, only without language and flags; ``.txt`` always needs the base.
    """
    stem, ext = _split_ext(entry.name)
    lower = stem.lower()
    base = next((b for b in bases if lower == b or lower.startswith(b + ".")), None)
    if base is None:
        return None if require_base or ext.lower() == "txt" else _media(entry, "subtitle")
    language, flags = None, []
    for token in stem[len(base) + 1 :].split(".") if len(stem) > len(base) else []:
        if token.lower() in SUBTITLE_FLAGS:
            flags.append(token.lower())
        elif language is None and _LANGUAGE_RE.match(token):
            language = token
    return _media(entry, "subtitle", language=language, flags=tuple(flags))


def _episode_numbers(name: str) -> tuple[int | None, tuple[int, ...]]:
    """(season, episodes) from "S02E02E03", "s02e02" or "2x04"; (None, ()) when absent."""
    match = _SXXEYY_RE.search(name) or _NXNN_RE.search(name)
    if not match:
        return None, ()
    extra = re.findall(r"\d+", match.group(3))
    return int(match.group(1)), tuple(int(n) for n in [match.group(2), *extra])


def _season_of_folder(name: str) -> int | None:
    if name.lower() == "specials":
        return 0
    match = _SEASON_DIR_RE.search(name)
    return int(match.group(1)) if match else None


def videos_under(folder: str | os.PathLike[str]) -> frozenset[str]:
    """The movie and episode videos (no samples, trailers or extras; a disc's index file)
    under ``folder`` and its subfolders, relative to it with ``/`` separators: what a
    player's library should hold from it. Empty when the folder is gone."""
    root = os.path.abspath(os.fspath(folder))
    found: set[str] = set()
    # A stack, not os.walk: before Python 3.12 it recurses, and a folder nested a
    # thousand deep raised RecursionError.
    pending = [root]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue  # gone or unreadable, as os.walk skips it
        # As os.walk does: a link to a folder is neither a file nor entered.
        pending.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        files = [e.path for e in entries if not e.is_dir()]
        for path in _videos_among(files):
            found.add(os.path.relpath(path, root).replace(os.sep, "/"))
    return frozenset(found)
