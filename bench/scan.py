"""Scan: index a generated movie library through a real worker, rescan it unchanged, and
walk it with bare ``os.scandir`` as the floor.

The library (10,000 folders; ``--quick`` 1,000) lives in a temp dir; each folder holds a
video of a few bytes, a ``movie.nfo`` with a tmdb id, ``poster.jpg``, ``fanart.jpg`` and an
``.en.srt``. A ``library-scan`` job is submitted to a worker of concurrency 2 and timed from
its submission until it completed and so did the ``notify-players`` jobs it submitted
(``library-scan`` scans new and changed folders in its own process, in batches, and
notifies the library root once when more than ten changed; no player group is configured,
so that notification finds nothing to do). The second ``library-scan`` finds every folder
unchanged by its signature. Then three floors in this process: ``os.scandir`` of every
folder with a ``stat`` of every file, ``folder_signature`` of every folder (what an
unchanged rescan cannot avoid), and ``scan_movie_folder`` of every folder (the scanner
without jobs or SQL).

To keep the benchmark short, the index is cut off at its target (120 s) and the rescan at
45 s (``BENCH_SCAN_CAP`` sets both, in seconds). A phase cut off is reported as not
finished, with how many folders were written and the total time projected from the steady
rate since the first batch was written (a projection, not a measurement). An index cut
off is completed before the rescan: the worker is stopped, the jobs still waiting are
cancelled and the broker flushed, and the remaining folders are scanned and written to the
catalog with their signatures in this process (the job's own steps without the job), so
that the rescan finds every folder unchanged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench import (
    Stack,
    finish,
    log,
    parse_args,
    stop_process,
)

CONCURRENCY = 2
TARGET_INDEX_S = 120.0
TARGET_RESCAN_S = 10.0
RESCAN_CAP_S = 45.0
FULL_SIZE = 10_000
POLL = 0.2


def generate_library(root: Path, folders: int) -> float:
    """Write ``folders`` movie folders under ``root``; returns the seconds it took."""
    started = time.monotonic()
    root.mkdir(parents=True)
    for n in range(folders):
        name = f"Bench Movie {n:05d} ({1950 + n % 70})"
        folder = root / name
        folder.mkdir()
        (folder / f"{name}.mkv").write_bytes(b"\x1a\x45\xdf\xa3bench")
        (folder / "movie.nfo").write_text(
            f"<movie><title>Bench Movie {n:05d}</title><year>{1950 + n % 70}</year>"
            f'<uniqueid type="tmdb" default="true">{100_000 + n}</uniqueid></movie>\n'
        )
        (folder / "poster.jpg").write_bytes(b"\xff\xd8\xff\xe0poster")
        (folder / "fanart.jpg").write_bytes(b"\xff\xd8\xff\xe0fanart")
        (folder / f"{name}.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nHello\n")
    return time.monotonic() - started


def _progress(job_id: str, library_id: int, since: Any) -> dict[str, Any]:
    """The job, its children by type and status, and how many folders it has written."""
    from sqlalchemy import func, select

    from orchestrator.jobs.models import Job
    from orchestrator.storage.db import read_session
    from services.catalog.models import ScannedFolder

    with read_session() as session:
        job = session.get(Job, job_id)
        assert job is not None
        rows = session.execute(
            select(Job.type, Job.status, func.count(), func.max(Job.completed_at))
            .where(Job.parent_id == job_id)
            .group_by(Job.type, Job.status)
        ).all()
        written = session.scalar(
            select(func.count())
            .select_from(ScannedFolder)
            .where(ScannedFolder.library_id == library_id, ScannedFolder.scanned_at >= since)
        )
    children: dict[str, int] = {}
    last_child = None
    for _type, status, count, completed in rows:
        children[status] = children.get(status, 0) + int(count)
        if completed is not None and (last_child is None or completed > last_child):
            last_child = completed
    return {"job": job, "children": children, "last_child": last_child, "written": written}


def scan_library(library_id: int, folders: int, cap: float, label: str) -> dict[str, Any]:
    """Submit a ``library-scan`` and wait until it and its notifications completed."""
    from orchestrator import submit
    from orchestrator.jobs.models import utcnow

    started = utcnow()
    t0 = time.monotonic()
    job = submit("library-scan", {"library_id": library_id}).job
    timeline: list[tuple[float, int]] = []
    state: dict[str, Any] = {}
    finished = False
    next_report = 10.0
    while (elapsed := time.monotonic() - t0) < cap:
        state = _progress(job.id, library_id, started)
        timeline.append((round(elapsed, 2), state["written"]))
        status = state["job"].status
        if status in ("failed", "cancelled"):
            raise RuntimeError(f"library-scan {job.id} is {status}: {state['job'].error}")
        children = state["children"]
        if status == "completed" and children.get("completed", 0) == sum(children.values()):
            finished = True
            break
        if elapsed >= next_report:
            log(f"scan {label}: {state['written']}/{folders} folders written at {elapsed:.0f}s")
            next_report += 10
        time.sleep(POLL)

    def since_start(moment: Any) -> float | None:
        return None if moment is None else round((moment - started).total_seconds(), 3)

    parent = state["job"]
    job_done_s = since_start(parent.completed_at)
    notified_s = since_start(state["last_child"])
    result = {
        "finished": finished,
        "seconds": max(job_done_s or 0, notified_s or 0) if finished else None,
        "cap_s": cap,
        # Kept under its old name for bench.run: when library-scan itself completed.
        "children_submitted_s": job_done_s,
        "notifications_done_s": notified_s,
        "notify_jobs": sum(state["children"].values()),
        "scans_completed": parent.result["changed"] if finished else state["written"],
        "job_result": parent.result,
        "elapsed_s": round(time.monotonic() - t0, 3),
        "timeline": timeline,
    }
    moving = [(t, n) for t, n in timeline if n > 0]
    result["first_scan_s"] = moving[0][0] if moving else None
    done = state["written"]
    if not finished and done:
        # Where the steady rate since the first written batch would end: a projection.
        (t_first, n_first), (t_last, n_last) = moving[0], moving[-1]
        if t_last > t_first and n_last > n_first:
            rate = (n_last - n_first) / (t_last - t_first)
            result["projected_seconds"] = round(t_last + (folders - n_last) / rate, 1)
            result["steady_scans_per_s"] = round(rate, 1)
        else:
            result["projected_seconds"] = round(result["elapsed_s"] * folders / done, 1)
    log(
        f"scan {label}: "
        + (f"{result['seconds']:.1f} s" if finished else f"NOT finished after {cap:.0f} s")
        + f" ({result['scans_completed']}/{folders} folders scanned)"
    )
    return result


def finish_index(library_id: int, root: Path, broker: str) -> dict[str, Any]:
    """Complete an index that was cut off (see the module docstring); with no worker running."""
    import redis
    from sqlalchemy import update

    from orchestrator.jobs.models import Job, utcnow
    from orchestrator.storage.db import read_session, write_session
    from services.catalog.queries import apply_movie_scan
    from services.catalog.signatures import folder_signatures, store_folder_signatures
    from services.folder_signature import folder_signature
    from services.library_walk import list_library_folders
    from services.scanner import scan_movie_folder
    from tasks.library_scan import BATCH_SIZE
    from tasks.scanning import library_in

    with write_session() as session:
        cancelled = session.execute(
            update(Job)
            .where(Job.status.in_(["pending", "retrying", "processing"]))
            .values(status="cancelled", completed_at=utcnow(), updated_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
    redis.Redis.from_url(broker).flushdb()
    with read_session() as session:
        stored = folder_signatures(session, library_id)
    missing = [f for f in list_library_folders(str(root), "movies") if f not in stored]
    started = time.perf_counter()
    for start in range(0, len(missing), BATCH_SIZE):
        batch = [
            (f, folder_signature(f), scan_movie_folder(f))
            for f in missing[start : start + BATCH_SIZE]
        ]
        with write_session() as session:
            library = library_in(session, library_id)
            for _, _, scan in batch:
                apply_movie_scan(session, library, scan)
            signatures = {scan.folder: sig for _, sig, scan in batch if sig is not None}
            store_folder_signatures(session, library_id, signatures)
    seconds = time.perf_counter() - started
    log(f"scan: index completed in-process: {len(missing)} folders in {seconds:.1f} s")
    return {
        "jobs_cancelled": cancelled,
        "folders_scanned_in_process": len(missing),
        "in_process_seconds": round(seconds, 3),
        "in_process_ms_per_folder": 1000 * seconds / len(missing) if missing else None,
    }


def bare_walk(root: Path) -> tuple[float, int]:
    """``os.scandir`` of every folder and ``stat`` of every file; (seconds, files)."""
    started = time.perf_counter()
    files = 0
    with os.scandir(root) as folders:
        for folder in folders:
            if folder.is_dir():
                with os.scandir(folder.path) as entries:
                    for entry in entries:
                        entry.stat()
                        files += 1
    return time.perf_counter() - started, files


def signatures_only(root: Path) -> float:
    """``folder_signature`` of every folder, in this process: an unchanged rescan's floor."""
    from services.folder_signature import folder_signature
    from services.library_walk import list_library_folders

    started = time.perf_counter()
    for folder in list_library_folders(str(root), "movies"):
        folder_signature(folder)
    return time.perf_counter() - started


def scanner_only(root: Path) -> float:
    """``scan_movie_folder`` of every folder, in this process: no jobs, no SQL."""
    from services.library_walk import list_library_folders
    from services.scanner import scan_movie_folder

    started = time.perf_counter()
    for folder in list_library_folders(str(root), "movies"):
        scan_movie_folder(folder)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(__doc__ or "", argv)
    folders = 1000 if args.quick else FULL_SIZE
    override = os.environ.get("BENCH_SCAN_CAP")
    index_cap = float(override or TARGET_INDEX_S)
    rescan_cap = float(override or RESCAN_CAP_S)
    with Stack("scan") as stack:
        broker, env = stack.platform()
        from orchestrator.storage.db import write_session
        from orchestrator.storage.migrate import upgrade
        from services.catalog.models import Library

        upgrade()
        library_root = stack.root / "movies"
        log(f"scan: generating {folders} movie folders")
        generate_seconds = generate_library(library_root, folders)
        with write_session() as session:
            library = Library(name="Bench movies", path=str(library_root), kind="movies")
            session.add(library)
            session.flush()
            library_id = library.id
        worker = stack.worker("scan", env, CONCURRENCY)
        index = scan_library(library_id, folders, index_cap, "index")
        completion = None
        if not index["finished"]:
            stop_process(worker)
            completion = finish_index(library_id, library_root, broker)
            stack.worker("rescan", env, CONCURRENCY)
        rescan = scan_library(library_id, folders, rescan_cap, "unchanged rescan")
        walk_seconds, files = bare_walk(library_root)
        signature_seconds = signatures_only(library_root)
        scanner_seconds = scanner_only(library_root)
        log(
            f"scan: bare scandir walk {walk_seconds:.2f} s, signatures only"
            f" {signature_seconds:.2f} s, scanner only {scanner_seconds:.2f} s"
        )

    scale = folders / FULL_SIZE
    targets = {}
    for name, phase, target in (("index_s", index, TARGET_INDEX_S),
                                ("rescan_s", rescan, TARGET_RESCAN_S)):  # fmt: skip
        value = phase["seconds"] if phase["finished"] else None
        targets[name] = {
            "value": value,
            "target": target * scale,
            "scaled": scale != 1,
            "met": value is not None and value <= target * scale,
        }
    results = {
        "quick": args.quick,
        "folders": folders,
        "files": files,
        "concurrency": CONCURRENCY,
        "cap_s": {"index": index_cap, "rescan": rescan_cap},
        "index_completion": completion,
        "generate_seconds": round(generate_seconds, 2),
        "index": index,
        "rescan": rescan,
        "bare_walk_s": walk_seconds,
        "signatures_only_s": signature_seconds,
        "scanner_only_s": scanner_seconds,
        "ratio_index_vs_walk": index["seconds"] / walk_seconds if index["finished"] else None,
        "ratio_rescan_vs_walk": rescan["seconds"] / walk_seconds if rescan["finished"] else None,
        "targets": targets,
    }
    return finish(results, args.out)


if __name__ == "__main__":
    main()
