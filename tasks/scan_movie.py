"""``scan-movie``: scan one movie folder, update the catalog, then notify the players."""

from __future__ import annotations

from typing import Any

from orchestrator import JobContext, RetryableError, job
from orchestrator.db import write_session
from services.catalog.queries import ManagerIds, apply_movie_scan
from services.folder_signature import folder_signature
from services.scanner import scan_movie_folder
from tasks.scanning import (
    ScanRequest,
    leaves_library,
    library_holding,
    library_in,
    links_skipped,
    refuse_lost_videos,
    remember_signature,
)
from tasks.summaries import scan_summary


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
    leaves = leaves_library(library)
    signature = folder_signature(request.path, leaves)  # before the scan: a later change rescans
    scan = scan_movie_folder(
        request.path, progress=lambda p, m: ctx.progress(p * 0.9, m), leaves=leaves
    )
    refuse_lost_videos(library, scan)
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
        **links_skipped(scan.skipped_links),
        "notify_job_id": notify_id,
    }
