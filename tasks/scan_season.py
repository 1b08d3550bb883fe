"""``scan-season``: scan one TV season folder, record its episodes, notify the players."""

from __future__ import annotations

from typing import Any

from orchestrator import JobContext, RetryableError, job
from orchestrator.db import write_session
from services.catalog.queries import apply_season_scan
from services.folder_signature import folder_signature
from services.scanner import scan_season_folder
from tasks.scan_movie import ScanRequest, library_holding, library_in, remember_signature
from tasks.summaries import scan_summary


@job(
    "scan-season",
    priority="high",
    max_retries=3,
    retry_base=5.0,
    payload_model=ScanRequest,
    summarize=scan_summary,
)
def scan_season(request: ScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Scan the season folder, update its episode files and submit ``notify-players``."""
    library = library_holding(request)
    signature = folder_signature(request.path)
    scan = scan_season_folder(request.path)
    if not scan.exists and request.update_type != "Deleted":
        raise RetryableError(f"season folder {request.path} does not exist (yet)")
    ctx.progress(60, f"{len(scan.episodes)} episode files found")
    with write_session() as session:
        counts = apply_season_scan(session, library_in(session, library.id), scan)
        remember_signature(session, library.id, scan.folder, signature if scan.exists else None)
    update_type = "Deleted" if not scan.exists else request.update_type
    notify_id = ctx.submit(
        "notify-players",
        {"library_id": library.id, "path": request.path, "update_type": update_type},
        dedupe_key=f"notify-players:{request.path}",
    )
    return {**counts, "path": request.path, "notify_job_id": notify_id}
