"""Summaries of the media job types: what a person looks for in the jobs list.

Each takes the job's payload as submitted (not yet validated: anything may be in it) and
returns one short line, or None. They run on every submit, the webhook's in the API's
request, so they read a few keys and never touch the database or the disk.
"""

from __future__ import annotations

import re
from pathlib import PureWindowsPath
from typing import Any

# A season folder alone ("Season 02") says little: its series folder goes before it.
_SEASON_FOLDER = re.compile(r"(?i)(season|series|saison|staffel)\s*\d+|specials?")


def folder_label(path: Any) -> str | None:
    """The last part of a folder path, with its parent's for a season folder."""
    if not isinstance(path, str) or not path.strip():
        return None
    parts = [p for p in PureWindowsPath(path).parts if p not in ("/", "\\")]
    if not parts:
        return path
    if len(parts) > 1 and _SEASON_FOLDER.fullmatch(parts[-1]):
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, dict) else None


def _seasons(episodes: Any) -> str:
    """The seasons of a Sonarr body's episodes, " S02" or " S01-S03"; "" when none."""
    if not isinstance(episodes, list):
        return ""
    found = (_get(episode, "seasonNumber") for episode in episodes[:500])
    numbers = sorted({n for n in found if type(n) is int and n >= 0})
    if not numbers:
        return ""
    first, last = numbers[0], numbers[-1]
    return f" S{first:02d}" if first == last else f" S{first:02d}-S{last:02d}"


def webhook_summary(payload: dict[str, Any]) -> str | None:
    """For example "Radarr Download: The Matrix (1999)", "Sonarr Download: Severance S02",
    "Lidarr Download: Radiohead - OK Computer"."""
    source, body = payload.get("source"), payload.get("body")
    if not isinstance(source, str) or not isinstance(body, dict):
        return None
    event = body.get("eventType")
    head = f"{source.capitalize()} {event if isinstance(event, str) else 'webhook'}"
    if source == "lidarr":
        return _album_summary(head, body)
    media = _get(body, "movie") if source == "radarr" else _get(body, "series")
    title = _get(media, "title")
    if isinstance(title, str) and title.strip():
        year = _get(media, "year")
        if isinstance(year, int) and not isinstance(year, bool) and year > 0:
            title = f"{title} ({year})"
        if source == "sonarr":
            title += _seasons(body.get("episodes"))
        return f"{head}: {title}"
    message = body.get("message")  # Health events say what is wrong
    return f"{head}: {message}" if isinstance(message, str) and message.strip() else head


def _album_summary(head: str, body: dict[str, Any]) -> str:
    """ "Lidarr Download: Radiohead - OK Computer", or the artist alone (a delete)."""
    artist = _get(_get(body, "artist"), "name")
    album = _get(_get(body, "album"), "title")
    names = [n for n in (artist, album) if isinstance(n, str) and n.strip()]
    return f"{head}: {' - '.join(names)}" if names else head


def scan_summary(payload: dict[str, Any]) -> str | None:
    """For scan-movie, scan-season and notify-players: "The Matrix (1999) · Created"."""
    label = folder_label(payload.get("path"))
    if label is None:
        return None
    update_type = payload.get("update_type")
    return f"{label} · {update_type}" if isinstance(update_type, str) else label


def library_label(library: Any, allow_removals: Any = False) -> str:
    """For example "library Movies" (or its id), saying when removals are allowed."""
    return f"library {library}" + (", removals allowed" if allow_removals is True else "")


def library_summary(payload: dict[str, Any]) -> str | None:
    """For example "library 3": the handler names it once it has read the library."""
    library_id = payload.get("library_id")
    if library_id is None:
        return None
    return library_label(library_id, payload.get("allow_removals"))


def manual_summary(payload: dict[str, Any]) -> str | None:
    """The folders named, as given; "watched: " before them when the folder watcher saw
    them change."""
    dirs = payload.get("dirs")
    if not isinstance(dirs, list):
        return None
    named = ", ".join(d for d in dirs[:20] if isinstance(d, str))
    if named and payload.get("trigger") == "watch":
        return f"watched: {named}"
    return named or None
