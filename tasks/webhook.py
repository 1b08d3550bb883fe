"""``webhook``: turn a Radarr/Sonarr event into scans of the right local folders."""

from __future__ import annotations

import os
import posixpath
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from orchestrator import JobContext, PermanentError, RetryableError, job
from orchestrator.storage.db import read_session
from services.catalog.anchors import require_anchors
from services.catalog.manager_ids import well_formed
from services.catalog.models import Library
from services.catalog.queries import libraries, manager_mappings
from services.imported_files import what_is_missing
from services.pathmap import PathEscape, best_root, map_path, normalise
from services.webhooks import WebhookError, WebhookEvent, parse_webhook
from tasks.settings import media_settings
from tasks.summaries import manual_summary, webhook_summary

SCAN_JOB_FOR_KIND = {"movie": "scan-movie", "tv": "scan-season", "music": "scan-album"}


_Roots = dict[str, tuple[int, str]]  # normalised library folder -> (library id, kind)


def _mappings_and_roots(source: str) -> tuple[list[tuple[str, str]], _Roots]:
    """The path mappings of ``source`` and every library's folder."""
    with read_session() as session:
        mappings = manager_mappings(session, source)
        roots = {normalise(lib.path): (lib.id, lib.kind) for lib in libraries(session)}
    return mappings, roots


def _place(
    path: str, source: str, mappings: list[tuple[str, str]], roots: _Roots
) -> tuple[str, str | None]:
    """``path`` as we see it, and the folder of the library holding it (None: no library)."""
    try:
        local = map_path(path, mappings) or normalise(path)
    except PathEscape as exc:
        raise PermanentError(f"{source} path {path!r} is not allowed: {exc}") from exc
    return local, best_root(local, roots)


# The end of an ignored event's summary ("Radarr Grab: Heat (1995) (ignored)").
IGNORED = " (ignored)"


def in_no_library(paths: list[str], source: str = "manual") -> list[str]:
    """Why each of ``paths`` (as ``source`` names them) cannot be scanned: it is in no
    library, or its mapping is not allowed; empty when every one has its library."""
    mappings, roots = _mappings_and_roots(source)
    refused = []
    for path in paths:
        try:
            local, root = _place(path, source, mappings, roots)
        except PermanentError as exc:
            refused.append(str(exc))
            continue
        if root is None:
            refused.append(_in_no_library(path, local, source))
    return refused


def _in_no_library(path: str, local: str, source: str) -> str:
    return (
        f"{path} (as we see it: {local}) is in no library: add a library that contains it"
        " (orchestrator library add NAME FOLDER, or the page's Configuration, or POST"
        f" /api/v1/libraries) or a path mapping of source {source} from its folder to ours"
        f" (orchestrator mapping add {source} FROM TO, the page, or POST"
        " /api/v1/path-mappings)"
    )


def _movie_ids(event: WebhookEvent) -> dict[str, Any]:
    """The event's movie ids that are well formed (a body may hold anything)."""
    return well_formed(tmdb_id=event.tmdb_id, imdb_id=event.imdb_id)


def _series_ids(event: WebhookEvent) -> dict[str, Any]:
    """The event's series ids, title and year that are well formed, for the series row."""
    return well_formed(
        tmdb_id=event.tmdb_id,
        imdb_id=event.imdb_id,
        tvdb_id=event.tvdb_id,
        title=event.title,
        year=event.year,
    )


def _album_ids(event: WebhookEvent) -> dict[str, Any]:
    """The event's album and artist names, year and MusicBrainz ids that are well formed."""
    return well_formed(
        title=event.title,
        year=event.year,
        artist=event.artist,
        artist_mbid=event.artist_mbid,
        album_mbid=event.album_mbid,
    )


def _wait_for_imported_files(
    event: WebhookEvent, mappings: list[tuple[str, str]], roots: _Roots, ctx: JobContext
) -> None:
    """Come back later (a retry with a delay) while a file the manager imported is not
    here in full; fail once it has been missing for ``ORCH_IMPORT_WAIT`` seconds."""
    wait = media_settings().import_wait
    if wait <= 0:
        return
    missing, library_ids = [], set()
    for file in event.files:
        local, root = _place(file.path, event.source, mappings, roots)
        what = what_is_missing(local, file.size) if root is not None else None
        if root is not None and what is not None:
            missing.append(f"{local} ({what})")
            library_ids.add(roots[root][0])
    if not missing:
        return
    _refuse_unmounted(library_ids)
    now = time.time()
    since = float(ctx.checkpoint.get("waiting_since", now))
    if "waiting_since" not in ctx.checkpoint:
        ctx.save_checkpoint({"waiting_since": since})
    waited = now - since
    files = "; ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    if waited >= wait:
        raise PermanentError(
            f"{event.source.capitalize()} imported files that are still not here in full"
            f" after {waited:.0f} s: {files}. The share lags behind the import, or the path"
            f" mapping of source {event.source} is wrong (orchestrator mapping list, the"
            " page's Configuration, or GET /api/v1/path-mappings);"
            " retry this job once they are here"
        )
    # Look again soon, then less often; the cap keeps the retries within max_retries.
    delay = min(max(5.0, waited), max(60.0, wait / 12))
    message = f"waiting for the imported file {files}"
    ctx.progress(0, message)
    raise RetryableError(f"{message}; looking again in {delay:.0f} s", delay=delay)


def _refuse_unmounted(library_ids: set[int]) -> None:
    """Fail at once, rather than wait for files, when a library's anchor file is missing:
    its share is not mounted, and its scan would refuse to run anyway."""
    with read_session() as session:
        for library_id in sorted(library_ids):
            library = session.get(Library, library_id)
            if library is not None:
                require_anchors(library)


@job(
    "webhook",
    priority="critical",
    max_retries=20,
    retry_cap=60,
    summarize=webhook_summary,
)
def handle_webhook(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Map each folder of the event to ours, find its library, wait until the imported
    files are here in full, and submit each folder's scan."""
    source = payload.get("source", "")
    try:
        event = parse_webhook(source, payload.get("body"))
    except WebhookError as exc:
        raise PermanentError(str(exc)) from exc
    summary: dict[str, Any] = {"action": event.action, "event": event.to_dict()}
    if event.action == "ignored":
        # Said in its summary, which lists show: the page marks it apart from real work.
        ctx.summary = f"{ctx.summary or event.event_type}{IGNORED}"
        return summary
    mappings, roots = _mappings_and_roots(source)
    placed, unmatched = [], []
    for target in event.targets:
        local, root = _place(target.path, source, mappings, roots)
        if root is None:
            unmatched.append(_in_no_library(target.path, local, source))
        else:
            placed.append((target, local, roots[root][0]))
    if not placed:
        raise PermanentError("; ".join(unmatched))
    _wait_for_imported_files(event, mappings, roots, ctx)
    if len(placed) > MAX_FOLDER_SCANS:
        return {**summary, "scans": _library_scans(placed, ctx), "unmatched": unmatched}
    scans = []
    delay = media_settings().scan_delay
    for target, local, library_id in placed:
        kind = SCAN_JOB_FOR_KIND[target.kind]
        request = {"library_id": library_id, "path": local, "update_type": target.update_type}
        if target.kind == "movie":  # the manager's ids, which the scan prefers to the NFO's
            request.update(_movie_ids(event))
        elif target.kind == "music":  # the album's names and ids, which its row keeps
            request.update(_album_ids(event))
        else:  # the series' ids, which its row keeps
            request.update(_series_ids(event))
        job_id = ctx.submit(
            kind,
            request,
            dedupe_key=f"{kind}:{local}",
            countdown=delay or None,
        )
        scans.append({"job_id": job_id, "type": kind, "path": local, "library_id": library_id})
    return {**summary, "scans": scans, "unmatched": unmatched}


def _library_scans(placed: list[tuple[Any, str, int]], ctx: JobContext) -> list[dict[str, Any]]:
    """One ``library-scan`` of each library holding the folders: it rescans what changed
    in them, where a job per folder would be more jobs than any import makes."""
    scans = []
    for library_id in sorted({library_id for _, _, library_id in placed}):
        job_id = ctx.submit(
            "library-scan", {"library_id": library_id}, dedupe_key=f"library-scan:{library_id}"
        )
        scans.append({"job_id": job_id, "type": "library-scan", "library_id": library_id})
    return scans


# An event naming more folders than this (no import does: a series has a few dozen season
# folders) is scanned as the libraries holding them.
MAX_FOLDER_SCANS = 100
MAX_MANUAL_DIRS = 100
MAX_PATH_LENGTH = 4096


Folder = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PATH_LENGTH)
]


class ManualScanRequest(BaseModel):
    """Payload of ``manual-scan``: folders as a user names them, or as the folder watcher
    saw them change (``trigger: watch``: paths of this host, which no mapping applies to)."""

    dirs: list[Folder] = Field(min_length=1, max_length=MAX_MANUAL_DIRS)
    trigger: Literal["manual", "watch"] = "manual"


@job(
    "manual-scan",
    priority="critical",
    max_retries=3,
    payload_model=ManualScanRequest,
    summarize=manual_summary,
)
def manual_scan(request: ManualScanRequest, ctx: JobContext) -> dict[str, Any]:
    """Scan folders named by hand (``POST /api/triggers/manual``, ``orchestrator scan``).

    Each folder goes through the ``manual`` path mappings (none: taken as this host sees
    it), to its library, then to the scan of that library's kind: the movie folder holding
    it, the season folder itself, or the whole library for its root; then the players.
    """
    mappings, roots = _mappings_and_roots("manual")
    if request.trigger == "watch":
        mappings = []
    scans, unmatched = [], []
    for given in request.dirs:
        local, root = _place(given, "manual", mappings, roots)
        if root is None:
            unmatched.append(_in_no_library(given, local, "manual"))
            continue
        library_id, kind = roots[root]
        if os.path.isfile(local):  # a file named: its folder is scanned
            local = posixpath.dirname(local)
        payload: dict[str, Any]
        if local == root:
            job_type, payload = "library-scan", {"library_id": library_id}
        else:
            # The movie folder holding the path; a season folder or an album (or artist)
            # folder as named.
            parts = local[len(root) + 1 :].split("/")
            folder = f"{root}/{parts[0]}" if kind == "movies" else local
            if kind == "music":
                folder = "/".join([root, *parts[:2]])
            job_type = {"tv": "scan-season", "music": "scan-album"}.get(kind, "scan-movie")
            # The watcher saw a folder go: its media are gone (a name given by hand may
            # be a folder still on its way, which the scan waits for).
            gone = request.trigger == "watch" and not os.path.exists(folder)
            update = "Deleted" if gone else "Modified"
            payload = {"library_id": library_id, "path": folder, "update_type": update}
        dedupe = f"{job_type}:{payload.get('path', library_id)}"
        job_id = ctx.submit(job_type, payload, dedupe_key=dedupe)
        scans.append({"job_id": job_id, "type": job_type, "path": payload.get("path", root)})
    if not scans:
        raise PermanentError("; ".join(unmatched))
    return {"scans": scans, "unmatched": unmatched}
