"""``scan-movie``: scan one movie folder, update the catalog, then notify the players."""

from __future__ import annotations

from typing import Any

from orchestrator import JobContext, job
from services.catalog.queries import ManagerIds, apply_movie_scan
from services.scanner import scan_movie_folder
from tasks.scanning import ScanRequest, links_skipped, recording_scan, scan_checked, submit_notify
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
    library, scan, signature = scan_checked(
        request,
        lambda leaves: scan_movie_folder(
            request.path, progress=lambda p, m: ctx.progress(p * 0.9, m), leaves=leaves
        ),
        # Radarr calls right after the import; a network share may lag behind it.
        f"movie folder {request.path} does not exist (yet); if it never appears, check"
        " the manager path mapping",
    )
    known = ManagerIds(request.tmdb_id, request.imdb_id)
    with recording_scan(library, scan.folder, signature) as (session, row):
        change = apply_movie_scan(session, row, scan, known)
    update_type = request.update_type
    if change.removed or not scan.exists:
        update_type = "Deleted"
    elif change.is_new:
        update_type = "Created"
    notify_id = submit_notify(ctx, library.id, request.path, update_type)
    return {
        **change.to_dict(),
        "path": request.path,
        "title": scan.info.title,
        "tmdb_id": request.tmdb_id or scan.info.tmdb_id,
        "videos": [video.path for video in scan.videos],
        **links_skipped(scan.skipped_links),
        "notify_job_id": notify_id,
    }
