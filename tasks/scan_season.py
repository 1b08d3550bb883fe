"""``scan-season``: scan one TV season folder, record its episodes and its series,
notify the players."""

from __future__ import annotations

from typing import Any

from orchestrator import JobContext, job
from services.catalog.manager_ids import ManagerId, Title, Year
from services.catalog.queries import ManagerSeries, apply_season_scan
from services.scanner import scan_season_folder
from tasks.scanning import ScanRequest, links_skipped, recording_scan, scan_checked, submit_notify
from tasks.summaries import scan_summary


class SeasonScanRequest(ScanRequest):
    """Payload of ``scan-season``: with the manager's ids, title and year of the series
    (from a Sonarr webhook), which its row keeps."""

    tvdb_id: ManagerId | None = None
    title: Title | None = None
    year: Year | None = None


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
    library, scan, signature = scan_checked(
        request,
        lambda leaves: scan_season_folder(request.path, leaves=leaves),
        f"season folder {request.path} does not exist (yet)",
    )
    ctx.progress(60, f"{len(scan.episodes)} episode files found")
    manager = ManagerSeries(
        request.title, request.year, request.tvdb_id, request.tmdb_id, request.imdb_id
    )
    deleted = request.update_type == "Deleted"
    with recording_scan(library, scan.folder, signature) as (session, row):
        counts = apply_season_scan(session, row, scan, manager, deleted=deleted)
    update_type = "Deleted" if not scan.exists else request.update_type
    notify_id = submit_notify(ctx, library.id, request.path, update_type)
    return {
        **counts,
        "path": request.path,
        **links_skipped(scan.skipped_links),
        "notify_job_id": notify_id,
    }
