"""``scan-album``: scan an album folder of a music library (or every album of an artist's
folder, as a library scan lists them), record the albums with Lidarr's names and
MusicBrainz ids, then notify the players."""

from __future__ import annotations

import os
from typing import Any

from orchestrator import JobContext, PermanentError, RetryableError, job
from orchestrator.storage.db import write_session
from services.catalog.manager_ids import MusicBrainzId, Title, Year
from services.catalog.queries import ManagerAlbum, apply_album_scan, mark_albums_removed
from services.folder_signature import folder_signature
from services.library_walk import LibraryFolders, album_folders
from services.scanner import AlbumScan, scan_album_folder
from tasks.scanning import (
    ScanRequest,
    leaves_library,
    library_holding,
    library_in,
    links_skipped,
    remember_signature,
    submit_notify,
    too_long_to_keep,
)
from tasks.summaries import scan_summary


class AlbumScanRequest(ScanRequest):
    """Payload of ``scan-album``: with what Lidarr said of the album, which its row keeps."""

    title: Title | None = None
    year: Year | None = None
    artist: Title | None = None
    artist_mbid: MusicBrainzId | None = None
    album_mbid: MusicBrainzId | None = None


@job(
    "scan-album",
    priority="high",
    max_retries=3,
    retry_base=5.0,
    payload_model=AlbumScanRequest,
    summarize=scan_summary,
)
def scan_album(request: AlbumScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Scan the album folder(s), update the catalog's albums and submit ``notify-players``."""
    library = library_holding(request)
    leaves = leaves_library(library)
    gone = not os.path.exists(request.path)
    if gone and request.update_type != "Deleted":
        # Lidarr calls right after the import; a network share may lag behind it.
        raise RetryableError(
            f"album folder {request.path} does not exist (yet); if it never appears, check"
            " the lidarr path mapping"
        )
    # Lidarr names no album folder when it deletes one: its artist's is scanned, album by album.
    artist_level = os.sep not in os.path.relpath(request.path, library.path)
    walk = LibraryFolders([request.path], [])
    if artist_level and os.path.isdir(request.path):
        walk = album_folders(request.path, leaves)
    scans: list[tuple[str | None, AlbumScan]] = []
    for folder in walk.folders:
        signature = folder_signature(folder, leaves)
        scan = scan_album_folder(folder, leaves=leaves)
        if reason := too_long_to_keep(scan):
            raise PermanentError(f"{reason}; nothing was scanned and no player was told")
        scans.append((signature if scan.exists else None, scan))
    ctx.progress(60, f"{sum(len(scan.tracks) for _, scan in scans)} tracks found")
    # Lidarr's names belong to the album it named, not to every album of an artist.
    manager = ManagerAlbum() if artist_level else ManagerAlbum(
        request.title, request.year, request.artist, request.artist_mbid, request.album_mbid
    )  # fmt: skip
    with write_session() as session:
        row = library_in(session, library.id)
        changes = [
            apply_album_scan(session, row, scan.folder, len(scan.tracks), manager)
            for _, scan in scans
        ]
        for signature, scan in scans:
            remember_signature(session, library.id, scan.folder, signature)
        present = {scan.folder for _, scan in scans if scan.tracks}
        removed = set(mark_albums_removed(session, library.id, present, under=request.path))
    removed |= {scan.folder for (_, scan), change in zip(scans, changes, strict=True)
                if change.removed}  # fmt: skip
    update_type = request.update_type
    if gone or not present:
        update_type = "Deleted"
    elif not artist_level and changes[0].is_new:
        update_type = "Created"
    notify_id = submit_notify(ctx, library.id, request.path, update_type)
    return {
        "path": request.path,
        "albums": [
            {"path": scan.folder, "tracks": len(scan.tracks)} for _, scan in scans if scan.exists
        ],
        "new": sum(change.is_new for change in changes),
        "removed": sorted(removed),
        **links_skipped([*walk.linked_out, *(link for _, s in scans for link in s.skipped_links)]),
        "notify_job_id": notify_id,
    }
