"""``library-scan``: walk a library and submit a low-priority scan per folder.

``library-scan-all`` runs it for every library; beat submits that every
``ORCH_LIBRARY_SCAN_INTERVAL`` seconds (default daily).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel

from orchestrator import JobContext, PermanentError, job
from orchestrator.db import read_session, write_session
from services.catalog.models import Library
from services.catalog.queries import libraries, mark_movies_removed
from services.library_walk import list_library_folders

LIBRARY_SCAN_INTERVAL = float(os.environ.get("ORCH_LIBRARY_SCAN_INTERVAL", str(24 * 3600)))
SCAN_JOB_FOR_KIND = {"movies": "scan-movie", "tv": "scan-season"}


class LibraryScanRequest(BaseModel):
    """Payload of ``library-scan``."""

    library_id: int


@job("library-scan", priority="low", max_retries=2, payload_model=LibraryScanRequest)
def library_scan(request: LibraryScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Submit a scan for every folder of the library; mark movies whose folder vanished."""
    with read_session() as session:
        library = session.get(Library, request.library_id)
    if library is None:
        raise PermanentError(f"library {request.library_id} does not exist")
    if not os.path.isdir(library.path):
        raise PermanentError(f"library folder {library.path} does not exist or is not a folder")
    folders = list_library_folders(library.path, library.kind)
    ctx.progress(50, f"{len(folders)} folders found")
    kind = SCAN_JOB_FOR_KIND[library.kind]
    for folder in folders:
        ctx.submit(
            kind,
            {"library_id": library.id, "path": folder},
            priority="low",
            dedupe_key=f"{kind}:{folder}",
        )
    removed = 0
    if library.kind == "movies":
        with write_session() as session:
            removed = mark_movies_removed(session, library.id, keep=set(folders))
    return {"library": library.name, "folders": len(folders), "scans": len(folders),
            "removed": removed}  # fmt: skip


@job("library-scan-all", priority="low", max_retries=0, schedule=LIBRARY_SCAN_INTERVAL)
def library_scan_all(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Submit ``library-scan`` for every library (scheduled by beat)."""
    with read_session() as session:
        ids = [library.id for library in libraries(session)]
    jobs = [ctx.submit("library-scan", {"library_id": library_id}) for library_id in ids]
    return {"libraries": len(ids), "jobs": jobs}
