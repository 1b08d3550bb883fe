"""``library-scan``: bring the catalog in line with a library's folders, in this process.

Each folder's signature (``services.folder_signature``) is compared with the one stored
when it was last scanned; only new and changed folders are scanned. They are written in
batches of ``BATCH_SIZE`` folders per transaction, together with their signatures, so a
retry resumes where an attempt stopped. A folder that cannot be read is counted as failed
and tried again next time. Unless the library follows links, a folder reached through a
link out of the library, or one whose video links out, is skipped and named in the result
(``skipped_links``), and its catalog rows are left as they were. Folders gone from disk
are marked removed, unless the disk looks like a network share that dropped (an anchor
file of the library missing, an empty root, or more than half the catalog gone at once):
then the scan fails before touching anything, saying what to do.
The players are notified once at the end: per folder when a few changed, else of the
library root.

``library-scan-all`` runs it for every library; beat submits that every
``ORCH_LIBRARY_SCAN_INTERVAL`` seconds (default daily).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from orchestrator import JobContext, PermanentError, job
from orchestrator.storage.db import read_session, write_session
from services.catalog.anchors import require_anchors
from services.catalog.models import Library
from services.catalog.queries import (
    ManagerAlbum,
    apply_album_scan,
    apply_movie_scan,
    apply_season_scan,
    libraries,
    mark_albums_removed,
    mark_movies_removed,
    mark_seasons_removed,
    present_catalog_folders,
)
from services.catalog.signatures import (
    folder_signatures,
    forget_folder_signatures,
    store_folder_signatures,
)
from services.catalog.system_folders import refuse_system_folder
from services.folder_signature import folder_signature
from services.library_walk import walk_library
from services.scanner import (
    AlbumScan,
    MovieScan,
    SeasonScan,
    scan_album_folder,
    scan_movie_folder,
    scan_season_folder,
)
from services.scanner.folders import FolderScan
from tasks.scanning import (
    leaves_library,
    library_in,
    links_skipped,
    submit_notify,
    too_long_to_keep,
)
from tasks.settings import media_settings
from tasks.summaries import library_label, library_summary

BATCH_SIZE = 200
# How each kind of library's folders are scanned.
SCANNERS: dict[str, Callable[..., FolderScan]] = {
    "movies": scan_movie_folder,
    "tv": scan_season_folder,
    "music": scan_album_folder,
}
# Up to this many changed folders are notified one by one; more, the library root once.
NOTIFY_EACH_UP_TO = 10
ERRORS_KEPT = 5


# A scan that would mark more than this share of the library removed (and more than
# MASS_REMOVAL_FLOOR folders) fails instead: a network share that dropped looks like that.
MASS_REMOVAL_SHARE = 0.5
MASS_REMOVAL_FLOOR = 5


class LibraryScanRequest(BaseModel):
    """Payload of ``library-scan``."""

    library_id: int
    # Mark removed whatever is gone, however much: for a library really emptied by hand.
    allow_removals: bool = False


@dataclass
class Changes:
    """What the scan changed so far; kept in the job's checkpoint across retries."""

    scanned: int = 0
    removed: int = 0
    notify: list[list[str]] = field(default_factory=list)  # [path, update type]

    def add(self, path: str, update_type: str, *, removed: bool = False) -> None:
        """Count a folder scanned (or found removed) and remember it for the notifications."""
        if removed:
            self.removed += 1
        else:
            self.scanned += 1
        if len(self.notify) <= NOTIFY_EACH_UP_TO:
            self.notify.append([path, update_type])

    def notifications(self, root: str) -> list[list[str]]:
        """``[path, update type]`` of each ``notify-players`` job to submit."""
        if self.scanned + self.removed > NOTIFY_EACH_UP_TO:
            return [[root, "Modified"]]
        return self.notify


@job(
    "library-scan",
    priority="low",
    max_retries=2,
    payload_model=LibraryScanRequest,
    summarize=library_summary,
)
def library_scan(request: LibraryScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Scan the new and changed folders of the library, mark vanished ones removed and
    notify the players once."""
    with read_session() as session:
        library = session.get(Library, request.library_id)
        stored = folder_signatures(session, request.library_id)
    if library is None:
        raise PermanentError(f"library {request.library_id} does not exist")
    ctx.summary = library_label(library.name, request.allow_removals)
    refuse_system_folder(library)
    require_anchors(library)  # before the folder check: a dropped share may leave no folder
    if not os.path.isdir(library.path):
        raise PermanentError(f"library folder {library.path} does not exist or is not a folder")
    leaves = leaves_library(library)
    walk = walk_library(library.path, library.kind, leaves)
    folders = [os.path.abspath(f) for f in walk.folders]
    # A skipped link is no sign that its movie is gone: what was scanned before (before
    # links were refused, or while the library followed them) stays as it was, present.
    skipped = [os.path.abspath(f) for f in walk.linked_out]
    changes = Changes(**ctx.checkpoint)
    # Folders an earlier attempt scanned look unchanged to this one.
    unchanged = -changes.scanned
    errors: list[str] = []
    present: set[str] = set(skipped)
    todo: list[tuple[str, str]] = []
    for folder in folders:
        try:
            signature = folder_signature(folder, leaves)
        except OSError as exc:
            _fail(ctx, errors, folder, exc)
            present.add(folder)  # unreadable is not gone: its movie stays present
            continue
        if signature is None:
            continue  # vanished since it was listed
        present.add(folder)
        if stored.get(folder) == signature:
            unchanged += 1
        else:
            todo.append((folder, signature))
    if not request.allow_removals:
        _refuse_mass_removal(library, len(folders) + len(skipped), present)
    ctx.progress(5, f"{len(folders)} folders, {len(todo)} new or changed")

    for start in range(0, len(todo), BATCH_SIZE):
        batch = todo[start : start + BATCH_SIZE]
        for path, update_type in _scan_batch(ctx, library, batch, errors, skipped):
            changes.add(path, update_type)
        ctx.save_checkpoint(asdict(changes))
        done = start + len(batch)
        ctx.progress(5 + 90 * done / len(todo), f"{done} of {len(todo)} folders scanned")

    with write_session() as session:
        if library.kind == "movies":
            gone = mark_movies_removed(session, library.id, keep=present)
        elif library.kind == "music":
            gone = mark_albums_removed(session, library.id, keep=present)
        else:
            gone = mark_seasons_removed(session, library.id, keep=present)
        forget_folder_signatures(session, [path for path in stored if path not in present])
    for path in gone:
        changes.add(path, "Deleted", removed=True)
    ctx.save_checkpoint(asdict(changes))

    notify_ids = [
        submit_notify(ctx, library.id, path, update_type)
        for path, update_type in changes.notifications(library.path)
    ]
    return {
        "library": library.name,
        "folders": len(folders),
        "changed": changes.scanned,
        "unchanged": max(0, unchanged),
        "removed": changes.removed,
        "failed": len(errors),
        "errors": errors[:ERRORS_KEPT],
        **links_skipped(skipped),
        "notify_job_ids": notify_ids,
    }


def _refuse_mass_removal(library: Library, listed: int, present: set[str]) -> None:
    """Fail before anything is scanned when the folders on disk look like a share that
    dropped: an empty root, or most of the catalog gone at once."""
    with read_session() as session:
        known = present_catalog_folders(session, library.id, library.kind)
    gone = len(known - present)
    override = (
        f'submit library-scan with {{"library_id": {library.id}, "allow_removals": true}}'
        " to mark them removed anyway"
    )
    if known and listed == 0:
        raise PermanentError(
            f"library folder {library.path} is empty while the catalog holds {len(known)}"
            f" folders of it: is its network share mounted? Nothing was marked removed;"
            f" if the library was really emptied, {override}"
        )
    if gone > MASS_REMOVAL_FLOOR and gone > MASS_REMOVAL_SHARE * len(known):
        raise PermanentError(
            f"{gone} of the {len(known)} folders of library {library.name} are gone from"
            f" {library.path}, more than {MASS_REMOVAL_SHARE:.0%}: is part of its network"
            f" share missing? Nothing was marked removed; if they were really deleted,"
            f" {override}"
        )


def _scan_batch(
    ctx: JobContext,
    library: Library,
    batch: list[tuple[str, str]],
    errors: list[str],
    skipped: list[str],
) -> list[tuple[str, str]]:
    """Scan the folders, then write them and their signatures in one transaction;
    returns ``(folder, update type)`` of each folder written. The links the scans
    skipped are added to ``skipped``."""
    leaves = leaves_library(library)
    scan_folder: Callable[..., FolderScan] = SCANNERS[library.kind]
    scans: list[tuple[str, FolderScan]] = []
    for folder, signature in batch:
        try:
            scan = scan_folder(folder, leaves=leaves)
        except (OSError, ValueError) as exc:
            _fail(ctx, errors, folder, exc)
            continue
        if reason := too_long_to_keep(scan):
            _fail(ctx, errors, folder, ValueError(reason))
            continue
        skipped.extend(scan.skipped_links)
        # Without its video the movie (or episode) would be marked removed: the folder
        # is left as it was, and scanned again next time (its signature is not stored).
        if not scan.skipped_videos:
            scans.append((signature, scan))
    written = []
    # Scanned before the transaction opens: on SQLite a write transaction holds the
    # database's write lock.
    with write_session() as session:
        row = library_in(session, library.id)
        for _, scan in scans:
            written.append((scan.folder, _apply(session, row, scan)))
        signatures = {scan.folder: signature for signature, scan in scans if scan.exists}
        store_folder_signatures(session, library.id, signatures)
    return written


def _apply(session: Session, library: Library, scan: FolderScan) -> str:
    """Write one folder's scan to the catalog; returns the notification's update type."""
    if isinstance(scan, AlbumScan):
        album = apply_album_scan(session, library, scan.folder, len(scan.tracks), ManagerAlbum())
        if album.removed or not scan.tracks:
            return "Deleted"
        return "Created" if album.is_new else "Modified"
    if isinstance(scan, MovieScan):
        change = apply_movie_scan(session, library, scan)
        if change.removed or not scan.exists:
            return "Deleted"
        return "Created" if change.is_new else "Modified"
    assert isinstance(scan, SeasonScan)
    counts = apply_season_scan(session, library, scan)
    if not scan.exists:
        return "Deleted"
    return "Created" if 0 < counts["added"] == counts["episodes"] else "Modified"


def _fail(ctx: JobContext, errors: list[str], folder: str, exc: Exception) -> None:
    ctx.log.warning("cannot scan %s: %s", folder, exc)
    errors.append(f"{folder}: {exc}")


@job(
    "library-scan-all",
    priority="low",
    max_retries=0,
    schedule=lambda: media_settings().library_scan_interval,
    summarize=lambda _: "every library",
)
def library_scan_all(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Submit ``library-scan`` for every library (scheduled by beat)."""
    with read_session() as session:
        ids = [library.id for library in libraries(session)]
    jobs = [ctx.submit("library-scan", {"library_id": library_id}) for library_id in ids]
    return {"libraries": len(ids), "jobs": jobs}
