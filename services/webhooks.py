"""Radarr/Sonarr/Lidarr webhook bodies read into the library folders a media server should
rescan.

Every path stays in the manager's namespace (Windows or POSIX style as sent); mapping it to
the media server's view is the caller's job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

from orchestrator.errors import UnsupportedInput
from services.catalog.models import MANAGERS

SOURCES = MANAGERS

_KIND = {"radarr": "movie", "sonarr": "tv", "lidarr": "music"}
_NO_SCAN = {"Test", "Grab", "Health", "HealthRestored", "ApplicationUpdate"}
_IGNORED = {
    "radarr": _NO_SCAN | {"ManualInteractionRequired", "MovieAdded"},
    "sonarr": _NO_SCAN | {"ManualInteractionRequired", "SeriesAdd"},
    "lidarr": _NO_SCAN | {"ArtistAdd", "DownloadFailure", "ImportFailure"},
}
# Every event type each manager sends (anything else is accepted and ignored as unknown).
KNOWN_EVENTS = {
    "radarr": frozenset(
        _IGNORED["radarr"] | {"Download", "Rename", "MovieFileDelete", "MovieDelete"}
    ),
    "sonarr": frozenset(
        _IGNORED["sonarr"] | {"Download", "Rename", "EpisodeFileDelete", "SeriesDelete"}
    ),
    "lidarr": frozenset(
        _IGNORED["lidarr"] | {"Download", "Rename", "Retag", "AlbumDelete", "ArtistDelete"}
    ),
}

# (folder or None when the body lacks it, update type)
_Found = list[tuple[str | None, str]]


class WebhookError(UnsupportedInput):
    """The body is not a webhook we can read (no eventType, not an object)."""


@dataclass(frozen=True)
class ScanTarget:
    """A folder, in the manager's namespace, whose media changed."""

    path: str
    update_type: str  # "Created" | "Modified" | "Deleted"
    kind: str  # "movie" | "tv" | "music"


@dataclass(frozen=True)
class ImportedFile:
    """A file the manager says it imported, in its namespace, with its size if sent."""

    path: str
    size: int | None


@dataclass(frozen=True)
class WebhookEvent:
    """What a webhook asks of us: scan some folders, or nothing (with the reason)."""

    source: str
    event_type: str
    action: str  # "scan" | "ignored"
    targets: tuple[ScanTarget, ...]
    title: str | None = None
    year: int | None = None
    tmdb_id: int | None = None
    imdb_id: str | None = None
    tvdb_id: int | None = None
    # Lidarr: the artist (``title`` is the album's) and MusicBrainz's ids of both.
    artist: str | None = None
    artist_mbid: str | None = None
    album_mbid: str | None = None
    is_upgrade: bool = False
    instance: str | None = None
    reason: str | None = None
    # Imports only: the files the players should find once the scan runs.
    files: tuple[ImportedFile, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy, for job payloads and results."""
        data = asdict(self)
        data["targets"] = [asdict(target) for target in self.targets]
        data["files"] = [asdict(file) for file in self.files]
        return data


def parse_webhook(source: str, body: Any) -> WebhookEvent:
    """Read a webhook body; raise WebhookError only when it is not a webhook at all."""
    if source not in SOURCES:
        raise WebhookError(f"unknown webhook source {source!r}: expected one of {SOURCES}")
    if not isinstance(body, dict):
        raise WebhookError(
            f"the body is a {type(body).__name__}, not a JSON object: "
            "is this a Radarr/Sonarr webhook?"
        )
    event_type = body.get("eventType")
    if not isinstance(event_type, str) or not event_type.strip():
        raise WebhookError("the body has no eventType: is this a Radarr/Sonarr webhook?")
    for other in SOURCES:
        if other != source and _sent_by(other, body) and not _sent_by(source, body):
            # An easy mistake when setting up the connection; ignoring the body would look
            # like success while nothing is ever scanned.
            raise WebhookError(
                f"this is a {other.capitalize()} webhook ({_SIGNS[other]}), sent to the"
                f" {source.capitalize()} URL: point {other.capitalize()} at"
                f" /api/webhooks/{other}"
            )

    fields = _lidarr_fields(body) if source == "lidarr" else _video_fields(source, body)
    fields["is_upgrade"] = body.get("isUpgrade") is True
    fields["instance"] = _text(body.get("instanceName"))

    def ignored(reason: str) -> WebhookEvent:
        return WebhookEvent(source, event_type, "ignored", (), reason=reason, **fields)

    if event_type in _IGNORED[source]:
        return ignored(f"{event_type} events need no scan")
    finder = _FINDERS[source].get(event_type)
    if finder is None:
        return ignored(f"unknown event type {event_type!r}")
    targets = _targets(finder(body), _KIND[source])
    if not targets:
        return ignored(f"{event_type} without any path")
    files = _imported_files(source, body) if event_type == "Download" else ()
    return WebhookEvent(source, event_type, "scan", targets, files=files, **fields)


def _video_fields(source: str, body: dict[str, Any]) -> dict[str, Any]:
    """What a Radarr or Sonarr body says of its movie or series."""
    media = _dict(body, "movie" if source == "radarr" else "series")
    if not media and source == "radarr":
        media = _dict(body, "remoteMovie")
    return {
        "title": _text(media.get("title")),
        "year": _positive(media.get("year")),
        "tmdb_id": _positive(media.get("tmdbId")),
        "imdb_id": _text(media.get("imdbId")),
        "tvdb_id": _positive(media.get("tvdbId")),
    }


def _lidarr_fields(body: dict[str, Any]) -> dict[str, Any]:
    """What a Lidarr body says of its album and artist (an album in ``album``, or the first
    of ``albums``: a Grab or a Test)."""
    artist = _dict(body, "artist")
    album = _dict(body, "album") or next(iter(_dicts(body, "albums")), {})
    released = _text(album.get("releaseDate"))
    year = int(released[:4]) if released and released[:4].isdigit() else None
    return {
        "title": _text(album.get("title")),
        "year": year if year and year > 0 else None,
        "artist": _text(artist.get("name")),
        "artist_mbid": _text(artist.get("mbId")),
        "album_mbid": _text(album.get("mbId")),
    }


_SIGNS = {
    "radarr": "its body has a movie",
    "sonarr": "its body has a series",
    "lidarr": "its body has an artist",
}


def _sent_by(source: str, body: dict[str, Any]) -> bool:
    """True if ``body`` holds what only ``source`` sends (a movie, a series, an artist)."""
    if source == "radarr":
        return bool(_dict(body, "movie") or _dict(body, "remoteMovie"))
    if source == "lidarr":
        return bool(_dict(body, "artist"))
    return bool(_dict(body, "series"))


def _targets(found: _Found, kind: str) -> tuple[ScanTarget, ...]:
    # The first mention of a folder wins: finders list surviving folders before removed ones.
    seen: dict[str, ScanTarget] = {}
    for path, update_type in found:
        if path and path not in seen:
            seen[path] = ScanTarget(path, update_type, kind)
    return tuple(seen.values())


# --- Radarr -------------------------------------------------------------------------------


def _radarr_download(body: dict[str, Any]) -> _Found:
    folder = _dict(body, "movie").get("folderPath")
    update = "Modified" if body.get("isUpgrade") is True else "Created"
    return [(_file_folder(folder, _dict(body, "movieFile")) or _clean(folder), update)]


def _radarr_rename(body: dict[str, Any]) -> _Found:
    folder = _clean(_dict(body, "movie").get("folderPath"))
    files = _dicts(body, "renamedMovieFiles")
    new: list[str | None] = [folder] if folder else [_parent(f.get("path")) for f in files]
    return _renamed(new, [_parent(f.get("previousPath")) for f in files])


def _radarr_file_delete(body: dict[str, Any]) -> _Found:
    folder = _dict(body, "movie").get("folderPath")
    # A movie folder holds one movie: unless a better file replaced it, its media is gone.
    update = "Modified" if _is_upgrade_delete(body) else "Deleted"
    return [(_file_folder(folder, _dict(body, "movieFile")) or _clean(folder), update)]


def _radarr_movie_delete(body: dict[str, Any]) -> _Found:
    return [(_clean(_dict(body, "movie").get("folderPath")), "Deleted")]


# --- Sonarr -------------------------------------------------------------------------------


def _sonarr_download(body: dict[str, Any]) -> _Found:
    series_path = _dict(body, "series").get("path")
    update = "Modified" if body.get("isUpgrade") is True else "Created"
    episode_file = _dict(body, "episodeFile")
    if episode_file:
        folders = [_file_folder(series_path, episode_file)]
    else:  # "Import Complete": several files, possibly in several seasons
        folders = [_file_folder(series_path, f) for f in _dicts(body, "episodeFiles")]
        # destinationPath is the longest common folder of the imported files
        folders = folders if any(folders) else [_clean(body.get("destinationPath"))]
    if not any(folders):
        folders = [_clean(series_path)]
    return [(folder, update) for folder in folders]


def _sonarr_rename(body: dict[str, Any]) -> _Found:
    series_path = _dict(body, "series").get("path")
    files = _dicts(body, "renamedEpisodeFiles")
    new = [_file_folder(series_path, f) for f in files]
    if not any(new):
        new = [_clean(series_path)]
    old = [
        _parent(f.get("previousPath")) or _parent(_join(series_path, f.get("previousRelativePath")))
        for f in files
    ]
    return _renamed(new, old)


def _sonarr_file_delete(body: dict[str, Any]) -> _Found:
    series_path = _dict(body, "series").get("path")
    # The season folder usually keeps other episodes, so it is modified, not deleted.
    folder = _file_folder(series_path, _dict(body, "episodeFile")) or _clean(series_path)
    return [(folder, "Modified")]


def _sonarr_series_delete(body: dict[str, Any]) -> _Found:
    return [(_clean(_dict(body, "series").get("path")), "Deleted")]


# --- Lidarr -------------------------------------------------------------------------------
# Lidarr names no album folder (only the artist's ``path``): an album's folder is the one
# holding its track files, above a disc folder ("CD 01", "Disc 2") of a multi-disc album.

_DISC_FOLDER = re.compile(r"(?i)(cd|dis[ck])[ ._-]*\d{1,2}")


def _album_folder(track_path: Any) -> str | None:
    folder = _parent(track_path)
    if folder and _DISC_FOLDER.fullmatch(_pure(folder).name):
        return _parent(folder)
    return folder


def _lidarr_download(body: dict[str, Any]) -> _Found:
    update = "Modified" if body.get("isUpgrade") is True else "Created"
    folders = [_album_folder(f.get("path")) for f in _dicts(body, "trackFiles")]
    if not any(folders):
        folders = [_clean(_dict(body, "artist").get("path"))]
    return [(folder, update) for folder in folders]


def _lidarr_rename(body: dict[str, Any]) -> _Found:
    files = _dicts(body, "renamedTrackFiles")
    new = [_album_folder(f.get("path")) for f in files]
    if not any(new):
        new = [_clean(_dict(body, "artist").get("path"))]
    return _renamed(new, [_album_folder(f.get("previousPath")) for f in files])


def _lidarr_retag(body: dict[str, Any]) -> _Found:
    folder = _album_folder(_dict(body, "trackFile").get("path"))
    return [(folder or _clean(_dict(body, "artist").get("path")), "Modified")]


def _lidarr_album_delete(body: dict[str, Any]) -> _Found:
    # The album's folder is not sent: its artist's folder is scanned, where it was.
    return [(_clean(_dict(body, "artist").get("path")), "Modified")]


def _lidarr_artist_delete(body: dict[str, Any]) -> _Found:
    return [(_clean(_dict(body, "artist").get("path")), "Deleted")]


def _renamed(new: list[str | None], old: list[str | None]) -> _Found:
    return [(folder, "Modified") for folder in new] + [
        (folder, "Deleted") for folder in old if folder not in new
    ]


def _is_upgrade_delete(body: dict[str, Any]) -> bool:
    reason = body.get("deleteReason")
    return isinstance(reason, str) and reason.lower() == "upgrade"


_FINDERS: dict[str, dict[str, Callable[[dict[str, Any]], _Found]]] = {
    "radarr": {
        "Download": _radarr_download,
        "Rename": _radarr_rename,
        "MovieFileDelete": _radarr_file_delete,
        "MovieDelete": _radarr_movie_delete,
    },
    "sonarr": {
        "Download": _sonarr_download,
        "Rename": _sonarr_rename,
        "EpisodeFileDelete": _sonarr_file_delete,
        "SeriesDelete": _sonarr_series_delete,
    },
    "lidarr": {
        "Download": _lidarr_download,
        "Rename": _lidarr_rename,
        "Retag": _lidarr_retag,
        "AlbumDelete": _lidarr_album_delete,
        "ArtistDelete": _lidarr_artist_delete,
    },
}


def _imported_files(source: str, body: dict[str, Any]) -> tuple[ImportedFile, ...]:
    """The files a Download event imported: Radarr's ``movieFile``, Sonarr's
    ``episodeFile`` or, for "Import Complete", its ``episodeFiles``, Lidarr's
    ``trackFiles``."""
    if source == "radarr":
        folder, media_files = _dict(body, "movie").get("folderPath"), [_dict(body, "movieFile")]
    elif source == "lidarr":
        folder, media_files = _dict(body, "artist").get("path"), _dicts(body, "trackFiles")
    else:
        folder = _dict(body, "series").get("path")
        media_files = [_dict(body, "episodeFile")] + _dicts(body, "episodeFiles")
    files = {}
    for media_file in media_files:
        path = _clean(media_file.get("path")) or _join(folder, media_file.get("relativePath"))
        if path:
            files[path] = ImportedFile(path, _positive(media_file.get("size")))
    return tuple(files.values())


# --- Values and paths ---------------------------------------------------------------------


def _dict(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _dicts(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = body.get(key)
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _positive(value: Any) -> int | None:
    # Test bodies and unmatched items carry 0 for unknown years and ids.
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _pure(path: str) -> PurePath:
    # A POSIX path starts with "/" even if a name holds a backslash; Windows ones never do.
    drive = len(path) >= 2 and path[1] == ":" and path[0].isalpha()
    windows = drive or ("\\" in path and not path.startswith("/"))
    return PureWindowsPath(path) if windows else PurePosixPath(path)


def _clean(path: Any) -> str | None:
    """The path in its own style, without trailing separators; None if not a usable path."""
    if not isinstance(path, str) or not path.strip() or "\0" in path:
        return None
    cleaned = str(_pure(path))
    return None if cleaned == "." else cleaned


def _parent(path: Any) -> str | None:
    cleaned = _clean(path)
    if cleaned is None:
        return None
    pure = _pure(cleaned)
    return None if pure.parent == pure else _clean(str(pure.parent))


def _join(folder: Any, relative: Any) -> str | None:
    folder, relative = _clean(folder), _text(relative)
    if folder is None or relative is None:
        return None
    return str(_pure(folder) / relative.lstrip("/\\"))


def _file_folder(folder: Any, media_file: dict[str, Any]) -> str | None:
    """The folder holding a movie/episode file: from its path, else folder + relativePath."""
    return _parent(media_file.get("path")) or _parent(_join(folder, media_file.get("relativePath")))
