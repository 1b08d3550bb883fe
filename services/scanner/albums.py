"""Scanning album folders of a music library: the audio files an album folder holds,
its disc folders ("CD 1", "Disc 2") included."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from services.scanner.folders import FolderScan, Leaves, MediaFile

AUDIO_EXTS = frozenset({
    "aac", "aif", "aiff", "alac", "ape", "dsf", "flac", "m4a", "mka", "mp3", "mpc", "ogg",
    "opus", "wav", "wma", "wv",
})  # fmt: skip
# Folders deeper than this under an album folder are not read (an album has disc folders).
MAX_DEPTH = 3


@dataclass
class AlbumScan(FolderScan):
    """What an album folder holds."""

    tracks: list[MediaFile] = field(default_factory=list)

    @property
    def files(self) -> list[MediaFile]:
        """Every classified file: the audio tracks."""
        return self.tracks


def is_audio(name: str) -> bool:
    """Whether ``name`` is an audio file, by its extension."""
    return name.rpartition(".")[2].lower() in AUDIO_EXTS and "." in name


def scan_album_folder(folder: str, *, leaves: Leaves | None = None) -> AlbumScan:
    """The audio files under ``folder``, its disc folders included; links that ``leaves``
    refuses are skipped (None: every link is followed)."""
    path = os.path.abspath(folder)
    if not os.path.isdir(path):
        return AlbumScan(path, exists=False)
    scan = AlbumScan(path, exists=True)
    pending = [(path, 0)]
    while pending:
        current, depth = pending.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError:
            continue  # an unreadable disc folder loses its own tracks, not the album
        for entry in entries:
            if leaves and entry.is_symlink() and leaves(entry.path):
                scan.skipped_links.append(entry.path)
            elif entry.is_dir():
                if depth + 1 < MAX_DEPTH:
                    pending.append((entry.path, depth + 1))
            elif entry.is_file() and is_audio(entry.name):
                stat = entry.stat()
                scan.tracks.append(MediaFile(entry.path, "audio", stat.st_size, stat.st_mtime))
    scan.tracks.sort(key=lambda track: track.path)
    return scan


def audio_under(folder: str) -> frozenset[str]:
    """The audio files under ``folder``, relative to it and ``/``-separated."""
    return frozenset(
        os.path.relpath(track.path, folder).replace(os.sep, "/")
        for track in scan_album_folder(folder).tracks
    )
