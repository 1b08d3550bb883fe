"""``scan-season``: scan one TV season folder, record its episodes and its series,
notify the players."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from orchestrator import JobContext, RetryableError, job
from orchestrator.db import write_session
from services.catalog.models import MAX_TMDB_ID
from services.catalog.queries import MAX_TITLE_LENGTH, MAX_YEAR, ManagerSeries, apply_season_scan
from services.folder_signature import folder_signature
from services.scanner import scan_season_folder
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


class SeasonScanRequest(ScanRequest):
    """Payload of ``scan-season``: with the manager's ids, title and year of the series
    (from a Sonarr webhook), which its row keeps."""

    tvdb_id: int | None = Field(None, ge=1, le=MAX_TMDB_ID)
    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE_LENGTH)
    year: int | None = Field(None, ge=1, le=MAX_YEAR)


@job(
    "scan-season",
    priority="high",
    max_retries=3,
    retry_base=5.0,
    payload_model=SeasonScanRequest,
    summarize=scan_summary,
)
def scan_season(request: SeasonScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Scan the season folder, update its episode files and its series, and submit
    ``notify-players``."""
    library = library_holding(request)
    leaves = leaves_library(library)
    signature = folder_signature(request.path, leaves)
    scan = scan_season_folder(request.path, leaves=leaves)
    refuse_lost_videos(library, scan)
    if not scan.exists and request.update_type != "Deleted":
        raise RetryableError(f"season folder {request.path} does not exist (yet)")
    ctx.progress(60, f"{len(scan.episodes)} episode files found")
    manager = ManagerSeries(
        request.title, request.year, request.tvdb_id, request.tmdb_id, request.imdb_id
    )
    with write_session() as session:
        row = library_in(session, library.id)
        deleted = request.update_type == "Deleted"
        counts = apply_season_scan(session, row, scan, manager, deleted=deleted)
        remember_signature(session, library.id, scan.folder, signature if scan.exists else None)
    update_type = "Deleted" if not scan.exists else request.update_type
    notify_id = ctx.submit(
        "notify-players",
        {"library_id": library.id, "path": request.path, "update_type": update_type},
        dedupe_key=f"notify-players:{request.path}",
    )
    return {
        **counts,
        "path": request.path,
        **links_skipped(scan.skipped_links),
        "notify_job_id": notify_id,
    }
