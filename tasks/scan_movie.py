"""``scan-movie``: scan one movie folder, update the catalog, then notify the players."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from orchestrator import JobContext, PermanentError, RetryableError, job
from orchestrator.db import read_session, write_session
from services.catalog.anchors import missing_anchors, missing_anchors_message
from services.catalog.models import IMDB_ID, MAX_TMDB_ID, Library
from services.catalog.queries import ManagerIds, apply_movie_scan
from services.catalog.signatures import forget_folder_signatures, store_folder_signatures
from services.folder_signature import folder_signature
from services.pathmap import is_within
from services.scanner import scan_movie_folder
from tasks.summaries import scan_summary


class ScanRequest(BaseModel):
    """Payload of ``scan-movie`` and ``scan-season``."""

    library_id: int
    path: str
    update_type: Literal["Created", "Modified", "Deleted"] = "Modified"
    # The manager's ids of the media (from the webhook): they come before the NFO's.
    tmdb_id: int | None = Field(None, ge=1, le=MAX_TMDB_ID)
    imdb_id: str | None = Field(None, pattern=IMDB_ID)


def library_in(session: Session, library_id: int) -> Library:
    """The library in this session; it may have been deleted since the job was queued."""
    library = session.get(Library, library_id)
    if library is None:
        raise PermanentError(f"library {library_id} no longer exists")
    return library


def require_anchors(library: Library) -> None:
    """Fail for good, before the catalog changes, while an anchor file of the library is
    missing: its share may have dropped. A retry would find the same until someone mounts
    it, so the user retries the job then."""
    missing = missing_anchors(library)
    if missing:
        raise PermanentError(missing_anchors_message(library, missing))


def library_holding(request: ScanRequest) -> Library:
    """The request's library, checking that the folder lies inside it and that the
    library's anchor files are there."""
    with read_session() as session:
        library = session.get(Library, request.library_id)
    if library is None:
        raise PermanentError(f"library {request.library_id} no longer exists")
    if not is_within(request.path, library.path):
        raise PermanentError(
            f"{request.path} is not inside library {library.name} ({library.path})"
        )
    require_anchors(library)
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


@job(
    "scan-movie",
    priority="high",
    max_retries=3,
    retry_base=5.0,
    payload_model=ScanRequest,
    summarize=scan_summary,
)
def scan_movie(request: ScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Scan the folder, upsert the movie (or mark it removed) and submit ``notify-players``."""
    library = library_holding(request)
    signature = folder_signature(request.path)  # before the scan: a later change rescans
    scan = scan_movie_folder(request.path, progress=lambda p, m: ctx.progress(p * 0.9, m))
    if not scan.exists and request.update_type != "Deleted":
        # Radarr calls right after the import; a network share may lag behind it.
        raise RetryableError(
            f"movie folder {request.path} does not exist (yet); if it never appears, check"
            " the manager path mapping"
        )
    with write_session() as session:
        known = ManagerIds(request.tmdb_id, request.imdb_id)
        change = apply_movie_scan(session, library_in(session, library.id), scan, known)
        remember_signature(session, library.id, scan.folder, signature if scan.exists else None)
    update_type = request.update_type
    if change.removed or not scan.exists:
        update_type = "Deleted"
    elif change.is_new:
        update_type = "Created"
    notify_id = ctx.submit(
        "notify-players",
        {"library_id": library.id, "path": request.path, "update_type": update_type},
        dedupe_key=f"notify-players:{request.path}",
    )
    return {
        **change.to_dict(),
        "path": request.path,
        "title": scan.info.title,
        "tmdb_id": request.tmdb_id or scan.info.tmdb_id,
        "videos": [video.path for video in scan.videos],
        "notify_job_id": notify_id,
    }
