"""What the scans share: their payload, the steps before and after a folder's scan (the
library checks, the signature, the catalog write and the players' notification), and what
a scan's result says. Every job module scanning folders imports it; it registers no job
type, so that no job module imports another (``tests/unit/test_task_imports.py``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from orchestrator import JobContext, PermanentError, RetryableError
from orchestrator.storage.db import read_session, write_session
from services.catalog.anchors import require_anchors
from services.catalog.manager_ids import ImdbId, ManagerId
from services.catalog.models import PATH_CHARS, Library
from services.catalog.signatures import forget_folder_signatures, store_folder_signatures
from services.catalog.system_folders import refuse_system_folder
from services.folder_signature import folder_signature
from services.pathmap import is_within
from services.scanner.folders import FolderScan, Leaves

ScanT = TypeVar("ScanT", bound=FolderScan)

# A job's result names at most this many skipped links (and counts them all).
LINKS_KEPT = 10


class ScanRequest(BaseModel):
    """Payload of ``scan-movie`` and ``scan-season``."""

    library_id: int
    path: str
    update_type: Literal["Created", "Modified", "Deleted"] = "Modified"
    # The manager's ids of the media (from the webhook): they come before the NFO's.
    tmdb_id: ManagerId | None = None
    imdb_id: ImdbId | None = None


def library_in(session: Session, library_id: int) -> Library:
    """The library in this session; it may have been deleted since the job was queued."""
    library = session.get(Library, library_id)
    if library is None:
        raise PermanentError(f"library {library_id} no longer exists")
    return library


def leaves_library(library: Library) -> Leaves | None:
    """The check the scanners skip links with: True for a path whose real location (every
    link resolved) is outside the library's; None when the library follows links."""
    if library.follow_links:
        return None
    # The root resolved too: a library folder that is itself a link keeps what it holds.
    root = os.path.realpath(library.path)
    return lambda path: not is_within(os.path.realpath(path), root)


def _follow_links_hint(library: Library) -> str:
    return (
        f"Links out of a library are not followed: if this is where its media lives, let"
        f" library {library.name} follow links (PATCH /api/v1/libraries/{library.id} with"
        ' {"follow_links": true}, or "follow links" on the configuration page) and retry'
        " the job"
    )


def refuse_linked_out(library: Library, folder: str) -> None:
    """Fail for good when the folder itself leads out of the library through a link."""
    leaves = leaves_library(library)
    # A folder that is gone (a dangling link) reads nothing: its scan marks it removed.
    if leaves and os.path.exists(folder) and leaves(folder):
        raise PermanentError(
            f"{folder} leads to {os.path.realpath(folder)}, outside library {library.name}"
            f" ({library.path}); nothing was scanned and no player was told."
            f" {_follow_links_hint(library)}"
        )


def refuse_lost_videos(library: Library, scan: FolderScan) -> None:
    """Fail for good, before the catalog changes, when a video was skipped as a link out
    of the library: without it the catalog would mark the movie or episode removed and
    the players would be told so. Skipped NFOs, artwork and subtitles only go unread."""
    if videos := scan.skipped_videos:
        raise PermanentError(
            f"{scan.folder}: {videos[0]} leads to {os.path.realpath(videos[0])}, outside"
            f" library {library.name} ({library.path})"
            + (f", and {len(videos) - 1} more videos" if len(videos) > 1 else "")
            + "; the catalog was left as it was and no player was told."
            f" {_follow_links_hint(library)}"
        )


def too_long_to_keep(scan: FolderScan) -> str | None:
    """Why the catalog cannot keep ``scan`` (a path longer than its columns), or None."""
    for path in [scan.folder, *(file.path for file in scan.files)]:
        if len(path) > PATH_CHARS:
            return (
                f"{path[:80]}… is {len(path)} characters long, more than the {PATH_CHARS} the"
                " catalog keeps: shorten its folder or file names, then retry"
            )
    return None


def links_skipped(paths: list[str]) -> dict[str, Any]:
    """The part of a job's result naming the links it skipped: how many, and a few."""
    return {"links_skipped": len(paths), "skipped_links": paths[:LINKS_KEPT]}


def library_holding(request: ScanRequest) -> Library:
    """The request's library, checking that the folder lies inside it (not through a link
    leading out of it) and that the library's anchor files are there."""
    with read_session() as session:
        library = session.get(Library, request.library_id)
    if library is None:
        raise PermanentError(f"library {request.library_id} no longer exists")
    if not is_within(request.path, library.path):
        raise PermanentError(
            f"{request.path} is not inside library {library.name} ({library.path})"
        )
    refuse_system_folder(library)
    require_anchors(library)
    refuse_linked_out(library, request.path)
    return library


def remember_signature(
    session: Session, library_id: int, folder: str, signature: str | None
) -> None:
    """Store the scanned folder's signature, so that ``library-scan`` skips it while it
    stays unchanged; a folder without one (gone) is forgotten."""
    if signature is None:
        forget_folder_signatures(session, [folder])
    else:
        store_folder_signatures(session, library_id, {folder: signature})


def scan_checked(
    request: ScanRequest, scan_folder: Callable[[Leaves | None], ScanT], missing: str
) -> tuple[Library, ScanT, str | None]:
    """Scan the request's folder with ``scan_folder(leaves)`` once its library is checked
    (``library_holding``); returns the library, the scan and the signature to store (None
    for a folder that is gone).

    The signature is taken before the scan: a change during it makes the folder differ
    next time. A video linked out of the library fails for good (``refuse_lost_videos``);
    a folder that does not exist is retried (``RetryableError(missing)``) unless the event
    was a deletion. Nothing is written yet.
    """
    library = library_holding(request)
    leaves = leaves_library(library)
    signature = folder_signature(request.path, leaves)
    scan = scan_folder(leaves)
    if reason := too_long_to_keep(scan):
        raise PermanentError(f"{reason}; nothing was scanned and no player was told")
    refuse_lost_videos(library, scan)
    if not scan.exists and request.update_type != "Deleted":
        raise RetryableError(missing)
    return library, scan, signature if scan.exists else None


@contextmanager
def recording_scan(
    library: Library, folder: str, signature: str | None
) -> Iterator[tuple[Session, Library]]:
    """One write transaction for a folder's scan: yields the session and the library's row
    in it (``library_in``) to write the scan with, then stores the folder's signature
    (``remember_signature``) in the same transaction."""
    with write_session() as session:
        yield session, library_in(session, library.id)
        remember_signature(session, library.id, folder, signature)


def submit_notify(ctx: JobContext, library_id: int, path: str, update_type: str) -> str:
    """Submit ``notify-players`` for a folder of the library, keyed by the folder: one
    still pending for it is reused (its id returned) rather than doubled."""
    return ctx.submit(
        "notify-players",
        {"library_id": library_id, "path": path, "update_type": update_type},
        dedupe_key=f"notify-players:{path}",
    )
