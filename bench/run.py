"""Run the benchmarks and rewrite ``docs/benchmarks.md`` and its plots in ``docs/bench/``.

    python -m bench.run [--quick] [--only NAME[,NAME]]      (or: make bench ARGS=...)

Each benchmark runs as ``python -m bench.<name>`` in a session of its own and writes its
results as JSON; a benchmark that overruns its time limit is stopped (SIGTERM, which
unwinds its stack and stops its processes, then SIGKILL of its process group). The
results of every benchmark are kept in a comment at the end of ``docs/benchmarks.md``,
so that ``--only`` re-runs one and keeps the latest figures of the others.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import REPO_ROOT, load_average, log
from bench.history import before_after_section

BENCHMARKS = ("intake", "engine", "priority", "scan", "memory", "verify", "watch")
TIME_LIMITS = {
    "intake": 600, "engine": 900, "priority": 600, "scan": 900, "memory": 900, "verify": 600,
    "watch": 600,
}  # fmt: skip
DOC = REPO_ROOT / "docs" / "benchmarks.md"
PLOTS = REPO_ROOT / "docs" / "bench"
RESULTS_MARK = "bench-results"


def databases(engine: dict[str, Any]) -> list[str]:
    """The engine's databases, SQLite (the default) first."""
    return sorted(engine["platform"], key=lambda db: (db != "sqlite", db))


# --- running -------------------------------------------------------------------------------


def run_one(name: str, quick: bool) -> dict[str, Any] | None:
    """Run ``bench.<name>`` in its own process group; its results, or None if it failed."""
    with tempfile.TemporaryDirectory(prefix="orch-bench-run-") as tmp:
        out = Path(tmp) / f"{name}.json"
        command = [sys.executable, "-m", f"bench.{name}", "--out", str(out)]
        command += ["--quick"] if quick else []
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        log(f"=== {name} {'(quick)' if quick else ''}")
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)
        try:
            code = process.wait(TIME_LIMITS[name])
        except subprocess.TimeoutExpired:
            log(f"{name} overran {TIME_LIMITS[name]} s: stopping it")
            _stop(process)
            return None
        except KeyboardInterrupt:
            _stop(process)
            raise
        if code != 0 or not out.exists():
            log(f"{name} failed (exit code {code})")
            return None
        results: dict[str, Any] = json.loads(out.read_text())
    results["ran_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    log(f"=== {name} done in {results['wall_seconds']:.0f} s")
    return results


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the benchmark (it stops what it started), then kill its process group."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(60)
    # Whatever is left in the benchmark's own process group (it was started in a new session).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(10)


# --- machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        nproc = str(len(os.sched_getaffinity(0)))
    return {
        "cpu": cpu,
        "nproc": nproc,
        "memory": memory,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


# --- results kept in the document ----------------------------------------------------------


def previous_results() -> dict[str, Any]:
    """The results stored at the end of the current ``docs/benchmarks.md``, if any."""
    try:
        text = DOC.read_text()
    except OSError:
        return {}
    match = re.search(rf"<!-- {RESULTS_MARK}\n(.*?)\n-->", text, re.S)
    if not match:
        return {}
    with contextlib.suppress(ValueError):
        stored: dict[str, Any] = json.loads(match.group(1))
        return stored
    return {}


# --- formatting ----------------------------------------------------------------------------


def num(value: Any, digits: int = 0) -> str:
    """A number for a table cell ("—" for nothing)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, int | float) and digits == 0 and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def verdict(target: dict[str, Any] | None) -> str:
    if not target:
        return ""
    return "**met**" if target["met"] else "**missed**"


def mode(result: dict[str, Any]) -> str:
    return "quick" if result.get("quick") else "full"


INTAKE_LABELS = {
    "bare": "bare Flask + LPUSH",
    "send_task": "Flask + Celery send_task",
    "flower": "Flower async-apply",
    "platform": "orchestrator API",
}
ENGINE_PEER_LABELS = {
    "bare": "bare Celery, results ignored",
    "redis_backend": "Celery + Redis result backend",
    "sql_backend": "Celery + SQL result backend (PostgreSQL)",
}


def intake_servers(intake: dict[str, Any]) -> list[str]:
    """The intake's servers in a fixed order, peers first (older results: bare and platform)."""
    return [name for name in INTAKE_LABELS if name in intake["levels"]]


def intake_summary_rows(intake: dict[str, Any]) -> list[list[str]]:
    """Intake rows: the platform at 16 connections against each peer (docs/design.md §7.4)."""
    levels, t = intake["levels"], intake["targets"]
    plat = levels["platform"]["16"]
    labels = intake.get("servers", INTAKE_LABELS)

    def rps_row(name: str) -> list[str]:
        """The platform's req/s at 16 connections against the peer ``name``'s (a target)."""
        peer = levels[name]["16"]
        return [
            f"Intake: webhook req/s, 16 connections, vs {labels[name]}",
            num(plat["rps"]),
            f"{num(peer['rps'])} ({labels[name]})",
            ratio(plat["rps"] / peer["rps"]),
            "≥ 1.0×",
            verdict(t.get(f"ratio_16_{name}")),
        ]

    rows: list[list[str]] = []
    if "send_task" in levels:
        peer = levels["send_task"]["16"]
        rows += [
            rps_row("send_task"),
            [
                f"Intake: p99 latency, 16 connections, vs {labels['send_task']}",
                f"{num(plat['p99_ms'], 1)} ms",
                f"{num(peer['p99_ms'], 1)} ms",
                ratio(plat["p99_ms"] / peer["p99_ms"]),
                "no worse (≤ 1.0×)",
                verdict(t.get("p99_16_send_task")),
            ],
        ]
    if "flower" in levels:
        rows.append(rps_row("flower"))
    bare = levels["bare"]["16"]
    rows.append(
        [
            "Intake: webhook req/s and p99, 16 connections, vs bare Flask + LPUSH (reference)",
            f"{num(plat['rps'])} req/s, p99 {num(plat['p99_ms'], 1)} ms",
            f"{num(bare['rps'])} req/s, p99 {num(bare['p99_ms'], 1)} ms",
            ratio(intake["ratio_rps"]["16"]),
            "—",
            "",
        ]
    )
    return rows


def engine_summary_rows(engine: dict[str, Any]) -> list[list[str]]:
    """Engine rows: drain alone against the peers (the targets), then the reference figures."""
    rows: list[list[str]] = []
    base = engine["baseline"]
    peers = engine.get("peer_drain_per_s", {})
    labels = engine.get("peer_labels", ENGINE_PEER_LABELS)
    targets = engine["targets"]
    for db in databases(engine):
        split = engine["platform"][db].get("split")
        if not split:
            continue
        # The targeted peer first, then bare Celery as a reference (no target).
        order = sorted(peers, key=lambda p: (f"drain_{db}_vs_{p}" not in targets, p != "bare"))
        for peer in order:
            target = targets.get(f"drain_{db}_vs_{peer}")
            if target is None and peer != "bare":
                continue
            rows.append(
                [
                    f"Engine ({db}): no-op jobs drained by one worker of concurrency "
                    f"{engine['concurrency']}, vs {labels[peer]}",
                    f"{num(split['drain_per_s'])} jobs/s",
                    f"{num(peers[peer])} jobs/s",
                    ratio(split["drain_per_s"] / peers[peer]),
                    f"≥ {target['target']:.1f}×" if target else "—",
                    verdict(target),
                ]
            )
    for db in databases(engine):
        run = engine["platform"][db]
        if scale := run.get("scale_out"):
            rows.append(
                [
                    f"Engine ({db}): no-op jobs drained by {scale['workers']} workers × "
                    f"concurrency {engine['concurrency']}",
                    f"{num(scale['drain_per_s'])} jobs/s",
                    f"{num(run['split']['drain_per_s'])} (1 worker)",
                    ratio(scale["drain_per_s"] / run["split"]["drain_per_s"]),
                    "—",
                    "",
                ]
            )
    for db in databases(engine):
        run = engine["platform"][db]
        rows += [
            [
                f"Engine ({db}): no-op jobs/s while submitting, concurrency 2",
                num(run["noop"]["jobs_per_s"]),
                f"{num(base['noop_jobs_per_s'])} (bare Celery)",
                ratio(engine["ratios"][db]["noop"]),
                "—",
                "",
            ],
            [
                f"Engine ({db}): 3-step chains/s",
                num(run["chain"]["per_s"], 1),
                f"{num(base['chain_per_s'], 1)} (bare Celery)",
                ratio(engine["ratios"][db]["chain"]),
                "—",
                "",
            ],
        ]
    return rows


def summary_rows(results: dict[str, Any]) -> list[list[str]]:
    """Rows of the summary table: figure, measured, baseline, ratio, target, verdict."""
    rows: list[list[str]] = []
    if intake := results.get("intake"):
        rows += intake_summary_rows(intake)
    if engine := results.get("engine"):
        rows += engine_summary_rows(engine)
    if prio := results.get("priority"):
        rows.append(
            [
                f"Priority: critical start latency p50 / p95 behind {prio['backlog']:,} low",
                f"{num(prio['p50_ms'])} / {num(prio['p95_ms'])} ms",
                "",
                "",
                "p95 ≤ 500 ms",
                verdict(prio["targets"]["p95_ms"])
                + ("" if prio["valid"] else " (backlog ran out: invalid)"),
            ]
        )
    if scan := results.get("scan"):
        walk = scan["bare_walk_s"]
        for key, label, phase in (
            ("index_s", "index", scan["index"]),
            ("rescan_s", "unchanged rescan", scan["rescan"]),
        ):
            target = scan["targets"][key]
            scaled = f" (scaled to {scan['folders']:,})" if target["scaled"] else ""
            if phase["finished"]:
                measured = f"{num(phase['seconds'], 1)} s"
                rel = ratio(phase["seconds"] / walk)
            else:
                measured = (
                    f"not finished in {num(phase['cap_s'])} s: {phase['scans_completed']:,} of "
                    f"{scan['folders']:,} (≈ {num(phase.get('projected_seconds'))} s projected)"
                )
                rel = "—"
            rows.append(
                [
                    f"Scan: {label}, {scan['folders']:,} folders",
                    measured,
                    f"{num(walk, 2)} s (bare os.scandir walk)",
                    rel,
                    f"≤ {num(target['target'], 0)} s{scaled}",
                    verdict(target),
                ]
            )
    if memory := results.get("memory"):
        half = memory["checkpoints"][1]
        for name, label in (("api", "API"), ("worker", "worker")):
            s = memory["services"][name]
            rows.append(
                [
                    f"Memory: {label} RSS growth, jobs {half:,} → {2 * half:,}",
                    f"{s['growth_second_half_mib']:+.1f} MiB (total {s['after_mib']:.0f} MiB)",
                    f"{s['growth_first_half_mib']:+.1f} MiB (jobs 0 → {half:,})",
                    "",
                    f"flat (≤ {s['flat_limit_mib']:.1f} MiB)",
                    verdict(memory["targets"][f"{name}_flat"]),
                ]
            )
    if verify := results.get("verify"):
        on, off = verify["on"], verify["off"]
        rows.append(
            [
                "Kodi: a Radarr download's chain, median / p95, checked in a real Kodi's library",
                f"{num(on['chain_median_ms'])} / {num(on['chain_p95_ms'])} ms",
                f"{num(off['chain_median_ms'])} / {num(off['chain_p95_ms'])} ms (not checked)",
                ratio(on["chain_median_ms"] / off["chain_median_ms"]),
                "",
                "",
            ]
        )
    return rows


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def heading(title: str, r: dict[str, Any]) -> str:
    """A section's title: mode, when it ran, and how busy the machine was then."""
    load = r.get("load_average") or ["?"]
    return f"## {title} ({mode(r)}, {r['ran_at']}, 1-min load average {load[0]} at its end)\n\n"


def intake_section(r: dict[str, Any]) -> str:
    servers = intake_servers(r)
    labels = r.get("servers", INTAKE_LABELS)
    rows = []
    for connections in sorted(r["levels"]["platform"], key=int):
        for server in servers:
            x = r["levels"][server][connections]
            rows.append(
                [
                    connections,
                    labels[server],
                    num(x["rps"]),
                    num(x["p50_ms"], 1),
                    num(x["p95_ms"], 1),
                    num(x["p99_ms"], 1),
                    num(x["max_ms"], 1),
                    str(x["errors"]),
                ]
            )
    peer_ratios = r.get("ratio_rps_peers", {"bare": r["ratio_rps"]})
    ratio_lines = "".join(
        f"- over {labels[peer]}: "
        + ", ".join(f"{c} conn. {ratio(v)}" for c, v in peer_ratios[peer].items())
        + "\n"
        for peer in servers
        if peer in peer_ratios
    )
    peers = ""
    if "send_task" in servers:
        peers = (
            "The peers a user would run instead: `bench.peer_flask_send_task` (a Flask "
            "endpoint that checks `X-Api-Key`, parses the JSON body, calls Celery's "
            "`send_task` with the platform's broker settings and answers 202 with the task "
            "id; no SQL) under the same gunicorn command, and Flower's `POST "
            "/api/task/async-apply/bench.webhook` with basic auth and the body "
            '`{"kwargs": <the webhook body>}` (`celery -A bench.bare_celery flower`). '
        )
    cpu = ""
    if cpu_ms := r.get("cpu_ms_per_request_16"):
        cpu_rows = [
            [
                labels[server],
                num(c["server"], 3),
                num(c["redis"], 3),
                num(c["server"] + c["redis"], 3),
            ]
            for server in servers
            if (c := cpu_ms.get(server))
        ]
        cpu = (
            "\n\nCPU time per request at 16 connections (from /proc: the server's processes,"
            " gunicorn's master with the relay included, and the shared Redis; the load"
            " generator's own is left out). On 2 cores the CPU, not waiting, bounds req/s:\n\n"
            + table(["server", "server CPU ms", "Redis CPU ms", "total ms"], cpu_rows)
        )
    queued = (
        f" {r['broker_messages_queued']:,} messages were left queued in the broker (the "
        f"peers' tasks and the platform's jobs, warm-up included)."
        if "broker_messages_queued" in r
        else ""
    )
    return (
        heading("Intake", r)
        + f"`POST /api/webhooks/radarr` with `tests/fixtures/radarr_test.json` and `X-Api-Key`, "
        f"{r['seconds_per_level']:g} s per level, load generator `{r['loadgen']}` (keep-alive), "
        f"server {r['server']} (`orchestrator.processes.stack.api_command`), fresh SQLite data"
        " dir, own "
        f"Redis. {peers}The bare app (an LPUSH of the body) runs under the same gunicorn "
        f"command and Redis, as the floor. All servers share the Redis; levels alternate "
        f"between them. No worker runs. "
        f"{r['webhook_jobs_recorded']:,} webhook jobs were recorded in SQL (warm-up "
        f"included).{queued}\n\n"
        + table(
            ["connections", "server", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"],
            rows,
        )
        + cpu
        + "\n\nRatio of the API's req/s to each other server's:\n\n"
        + ratio_lines
        + "\n![intake](bench/intake.png)\n"
    )


def engine_section(r: dict[str, Any]) -> str:
    rows = []
    for label, run in (
        ("bare Celery, before", r["bare_before"]),
        ("bare Celery, after", r["bare_after"]),
    ):
        rows.append(
            [label, num(run["noop"]["jobs_per_s"]), num(run["chain"]["per_s"], 1), "", "", ""]
        )
    for db in databases(r):
        run = r["platform"][db]
        split = run.get("split", {})
        rows.append(
            [
                f"platform, {db}",
                num(run["noop"]["jobs_per_s"]),
                num(run["chain"]["per_s"], 1),
                num(run["noop"]["submit_per_s"]),
                num(split.get("submit_per_s")),
                num(split.get("drain_per_s")),
            ]
        )
    drains = ""
    if peers := r.get("peer_drain_per_s"):
        labels = r.get("peer_labels", ENGINE_PEER_LABELS)
        dbs = [db for db in databases(r) if "split" in r["platform"][db]]
        drain_rows = []
        for peer, per_s in peers.items():
            drain_rows.append(
                [
                    labels[peer],
                    num(per_s),
                    num(r["peers_before"][peer]["drain_per_s"]),
                    num(r["peers_after"][peer]["drain_per_s"]),
                    *[ratio(r["platform"][db]["split"]["drain_per_s"] / per_s) for db in dbs],
                ]
            )
        for db in dbs:
            run = r["platform"][db]
            drain_rows.append(
                [f"**platform, {db}**", num(run["split"]["drain_per_s"]), "", "", *[""] * len(dbs)]
            )
            if scale := run.get("scale_out"):
                drain_rows.append(
                    [
                        f"platform, {db}, {scale['workers']} workers × concurrency "
                        f"{r['concurrency']}"
                        + (
                            f" (jobs per worker {' / '.join(map(str, shares))}; the last "
                            f"joined {scale['last_worker_joined_s']:.2f} s after the first job)"
                            if (shares := scale.get("jobs_per_worker"))
                            else ""
                        ),
                        num(scale["drain_per_s"]),
                        "",
                        "",
                        *[""] * len(dbs),
                    ]
                )
        targets = "; ".join(
            f"platform on {t['db']} ≥ {t['target']:.1f}× {labels[t['peer']]}: "
            f"{ratio(t['value'])}, {verdict(t)}"
            for t in r["targets"].values()
            if "peer" in t
        )
        drains = (
            f"\n\n### Drain alone, next to the peers\n\n"
            f"{r['jobs']:,} no-op tasks queued with no worker running, then drained by one "
            f"fresh worker of concurrency {r['concurrency']} (same flags; `-A "
            f"bench.bare_celery` for the peers), timed from the first task's start to the last "
            f"completion: for the platform `started_at` and `completed_at` in SQL, for the "
            f"peers the worker's `task_prerun` and `task_postrun` stamps in Redis (the latter "
            f"after the result, if any, was stored). The Redis backend is the broker's Redis; "
            f"the SQL backend is `db+postgresql+psycopg://` on a scratch database, with "
            f"`task_track_started` and `result_extended`. Each peer ran before and after the "
            f"platform; its figure is the mean. The scale-out row drains the same number of "
            f"jobs with {r.get('scale_out_workers', 2)} workers (two processes, two hostnames) "
            f"on a two-core machine. Targets (docs/design.md §7.4): {targets or 'none measured'}."
            f"\n\n"
            + table(
                [
                    "set-up",
                    "drain alone jobs/s",
                    "before",
                    "after",
                    *[f"platform {db} ÷ this" for db in dbs],
                ],
                drain_rows,
            )
        )
    return (
        heading("Engine", r)
        + f"{r['jobs']:,} no-op jobs, then {r['chains']:,} three-step chains, worker concurrency "
        f"{r['concurrency']} (prefork, `orchestrator.processes.stack.worker_command` flags;"
        " the bare app "
        f"swapped in with `-A bench.bare_celery`), one Redis. Timed from the first submit to "
        f"the last completion (platform: `completed_at` in SQL; bare: a Redis counter). "
        f"Platform jobs are submitted with `orchestrator.submit` from one thread while the "
        f"worker runs. The bare baseline ran before and after the platform: the baseline is "
        f"their mean. *Submit alone* and *drain alone* split the platform run: the same "
        f"{r['jobs']:,} jobs submitted with no worker running, then drained by a fresh worker.\n\n"
        + table(
            [
                "run",
                "no-op jobs/s",
                "chains/s",
                "submits/s (while running)",
                "submit alone /s",
                "drain alone jobs/s",
            ],
            rows,
        )
        + drains
        + (
            ""
            if r["postgres"]
            else "\n\nPostgreSQL not measured: set `ORCH_BENCH_POSTGRES_URL` to include it "
            "(and the SQL-backend peer)."
        )
        + "\n\n![engine](bench/engine.png)\n"
    )


def priority_section(r: dict[str, Any]) -> str:
    return (
        heading("Priority", r)
        + f"{r['backlog']:,} `low` no-op jobs enqueued in bulk in {r['enqueue_seconds']} s "
        f"(no worker running), then a worker of concurrency 1 works through them at "
        f"{num(r['low_jobs_per_s_during_trials'])} jobs/s; {r['trials']} `critical` jobs, "
        f"each timed from just before `submit()` to its `started_at`. "
        f"p50 {num(r['p50_ms'], 1)} ms, p95 {num(r['p95_ms'], 1)} ms, "
        f"max {num(r['max_ms'], 1)} ms; {r['backlog_left_after_trials']:,} low jobs were still "
        f"queued after the last trial{'' if r['valid'] else ' (INVALID: backlog ran out)'}.\n\n"
        "![priority](bench/priority.png)\n"
    )


def scan_section(r: dict[str, Any]) -> str:
    def phase_text(label: str, p: dict[str, Any]) -> str:
        if p["finished"]:
            notes = f"{p['seconds']:.1f} s"
            if p.get("notifications_done_s"):
                notes += (
                    f" (its {p.get('notify_jobs', 0)} `notify-players` job(s) done at "
                    f"{p['notifications_done_s']:.1f} s)"
                )
        else:
            notes = (
                f"**not finished** when cut off at {p['cap_s']:.0f} s: {p['scans_completed']:,} "
                f"folders written; ≈ {num(p.get('projected_seconds'))} s projected from the "
                f"steady rate ({num(p.get('steady_scans_per_s'), 1)} folders/s)"
            )
        if job := p.get("job_result"):
            notes += (
                f"; {job['changed']:,} folders scanned, {job['unchanged']:,} unchanged, "
                f"{job['failed']:,} failed"
            )
        if p.get("first_scan_s") is not None:
            notes += f"; first batch written at {p['first_scan_s']:.1f} s"
        return (
            f"- {label}: {notes}; the `library-scan` job itself completed at "
            f"{p['children_submitted_s']} s"
        )

    completion = r.get("index_completion")
    extra = ""
    if completion:
        extra = (
            f"- The index was completed in-process before the rescan: "
            f"{completion['folders_scanned_in_process']:,} folders scanned and written to the "
            f"catalog without jobs in {completion['in_process_seconds']:.1f} s "
            f"({num(completion['in_process_ms_per_folder'], 2)} ms per folder).\n"
        )
    signatures = ""
    if r.get("signatures_only_s") is not None:
        signatures = (
            f"- `folder_signature` of every folder in one process (an unchanged rescan's "
            f"floor): {r['signatures_only_s']:.2f} s\n"
        )
    return (
        heading("Scan", r)
        + f"{r['folders']:,} generated movie folders ({r['files']:,} files), one `library-scan` "
        f"through a worker of concurrency {r['concurrency']}, timed from its submission until "
        f"it and the `notify-players` jobs it submitted completed (it scans the new and changed "
        f"folders itself, in batches; no player groups configured). Page cache warm.\n\n"
        + phase_text("Index", r["index"])
        + "\n"
        + phase_text("Unchanged rescan", r["rescan"])
        + "\n"
        + extra
        + f"- Bare `os.scandir` walk with a `stat` per file: {r['bare_walk_s']:.3f} s\n"
        + signatures
        + f"- `scan_movie_folder` of every folder in one process (no jobs, no SQL): "
        f"{r['scanner_only_s']:.2f} s\n\n![scan](bench/scan.png)\n"
    )


def memory_section(r: dict[str, Any]) -> str:
    rows = []
    for name, label in (
        ("api", "API (gunicorn master + 2 workers)"),
        ("worker", "worker (main + 2 pool processes)"),
    ):
        s = r["services"][name]
        rows.append(
            [
                label,
                f"{s['idle_mib']:.1f}",
                f"{s['before_mib']:.1f}",
                f"{s['middle_mib']:.1f}",
                f"{s['after_mib']:.1f}",
                f"{s['growth_second_half_mib']:+.2f}",
                num(s["second_half_bytes_per_job"]),
            ]
        )
    half = r["checkpoints"][1]
    return (
        heading("Memory", r)
        + f"Webhook jobs posted through the API and run by a worker of concurrency 2 "
        f"({num(r['jobs_per_s'])} jobs/s end to end); RSS (`VmRSS`) summed over each "
        f"service's processes, in MiB. *Before* is after a 200-job warm-up.\n\n"
        + table(
            [
                "service",
                "idle",
                "before",
                f"after {half:,}",
                f"after {2 * half:,}",
                "growth 2nd half",
                "bytes/job 2nd half",
            ],
            rows,
        )
        + "\n\n![memory](bench/memory.png)\n"
    )


def verify_section(r: dict[str, Any]) -> str:
    rows = [
        [
            label,
            str(r[key]["trials"]),
            f"{num(r[key]['chain_median_ms'])} / {num(r[key]['chain_p95_ms'])}",
            f"{num(r[key]['notify_median_ms'])} / {num(r[key]['notify_p95_ms'])}",
            str(r[key]["verified"]),
        ]
        for key, label in (("on", "checked (`ORCH_PLAYER_VERIFY_TIMEOUT=20`)"),
                           ("off", "not checked (`ORCH_PLAYER_VERIFY_TIMEOUT=0`)"))
    ]  # fmt: skip
    return (
        heading("Kodi verification", r)
        + "A new movie folder and its Radarr Download webhook, through webhook, scan-movie and "
        "notify-players, told to a real Kodi 20 (Debian's package, headless, seeing the library "
        "through a symbolic link as through an SMB share) by a worker of concurrency 2; "
        f"{r['rounds']} rounds of {r['per_round']} chains with the check, then "
        f"{r['per_round']} without, each round on a worker of its own; `ORCH_SCAN_DELAY=0`, so "
        "each chain also holds notify-players' wait for the second of the folder's last change "
        "to be over (up to 1 s: Kodi remembers a folder by its modification time to the second; "
        "with the default 2 s scan delay that second is long over). "
        "Chain: from the webhook's 202 to notify-players completed. "
        f"Checking Kodi's library added {num(r['added_chain_median_ms'])} ms to the median "
        f"chain and {num(r['added_chain_p95_ms'])} ms to its p95; Kodi's library held "
        f"{r['movies_in_kodi']} of the {r['movies_sent']} movies at the end.\n\n"
        + table(
            [
                "mode",
                "chains",
                "chain median / p95 (ms)",
                "notify-players median / p95 (ms)",
                "verified",
            ],
            rows,
        )  # fmt: skip
        + "\n"
    )


def watch_section(r: dict[str, Any]) -> str:
    big = r["big"]
    rows = [
        [f"{run['quiet_s']:g} s", str(run["trials"]), f"{run['median_s']:.2f}",
         f"{run['max_s']:.2f}"]
        for run in r["latency"]
    ]  # fmt: skip
    return (
        heading("Watched folders", r)
        + f"A tree of {big['folders']:,} folders (500 shows of 20 seasons, and its root) watched "
        f"recursively took {big['watches']:,} inotify watches (one per folder; this machine's "
        f"`fs.inotify.max_user_watches` is {big['max_user_watches']:,}), "
        f"{big['seconds_to_watch']:.2f} s to set up and {big['rss_added_mib']:.1f} MiB of "
        "memory. From a file's last byte written (in 4 pieces 0.25 s apart, into a new folder "
        "of a watched library) to the `manual-scan` job naming its folder, with "
        "`orchestrator watch` as a process: about twice `ORCH_WATCH_QUIET`, since a folder "
        "must be quiet that long and its files' sizes unchanged over a second such spell.\n\n"
        + table(["ORCH_WATCH_QUIET", "trials", "median (s)", "worst (s)"], rows)
        + "\n"
    )


SECTIONS = {
    "intake": intake_section,
    "engine": engine_section,
    "priority": priority_section,
    "scan": scan_section,
    "memory": memory_section,
    "verify": verify_section,
    "watch": watch_section,
}


def write_doc(results: dict[str, Any], info: dict[str, Any]) -> None:
    modes = sorted({mode(r) for name, r in results.items() if name in BENCHMARKS})
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand. "
        f"These figures come from **{' and '.join(modes)}** mode runs "
        f"({'`--quick`: smaller sizes and shorter runs' if 'quick' in modes else 'full size'}), "
        "dated per section below.",
        "",
        "The machine is shared (other test runs were going on) and has few cores, so absolute "
        "numbers are noisy: each figure that has a baseline is set against that baseline, "
        "measured in the same run on the same machine.",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, `nproc` = {info['nproc']}",
        f"- Memory: {info['memory']}",
        f"- Python {info['python']}, Linux {info['kernel']}",
        f"- Written {info['date']}"
        + (
            f"; load average at start {info['load_start']}, at end {info['load_end']}"
            if info.get("load_start")
            else ""
        ),
        "",
        "## Summary",
        "",
        table(
            ["figure", "measured", "baseline (same run)", "ratio", "target", ""],
            summary_rows(results),
        ),
        "",
        before_after_section(results),
    ]
    for name in BENCHMARKS:
        if name in results:
            lines += [SECTIONS[name](results[name]), ""]
    lines += [f"<!-- {RESULTS_MARK}", json.dumps(results, sort_keys=True, default=str), "-->", ""]
    DOC.write_text("\n".join(lines))


# --- plots ---------------------------------------------------------------------------------


def plot_priority(ax: Any, r: dict[str, Any]) -> None:
    """The critical jobs' start latencies, their p50 and p95, and the target."""
    values = sorted(r["start_ms"])
    ax.hist(values, bins=min(20, max(5, len(values))), color="tab:blue", alpha=0.8)
    for value, label, colour in (
        (r["p50_ms"], "p50", "tab:green"),
        (r["p95_ms"], "p95", "tab:orange"),
    ):
        ax.axvline(value, color=colour, ls="--", label=f"{label} {value:.0f} ms")
    ax.axvline(500, color="tab:red", lw=0.8, label="target p95 500 ms")
    ax.set_xlabel("critical job start latency (ms)")
    ax.set_ylabel("trials")
    ax.set_title(f"Critical start latency behind {r['backlog']:,} low jobs")


def plot_scan(ax: Any, r: dict[str, Any]) -> None:
    """The folders written over time by the index and by the unchanged rescan."""
    for key, label in (("index", "index"), ("rescan", "unchanged rescan")):
        if phase := r.get(key):
            points = phase["timeline"]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label)
    ax.axhline(r["folders"], color="gray", lw=0.8, ls=":")
    ax.set_xlabel("seconds since library-scan was submitted")
    ax.set_ylabel("folders written by library-scan")
    ax.set_title(f"Library scan of {r['folders']:,} folders (concurrency {r['concurrency']})")


def plot_memory(ax: Any, r: dict[str, Any]) -> None:
    """The API's and the worker's resident memory as the jobs go by."""
    samples = r["samples"]
    for key, label in (("api_kib", "API"), ("worker_kib", "worker")):
        ax.plot(
            [s["jobs"] for s in samples],
            [s[key] / 1024 for s in samples],
            "o-",
            label=label,
            markersize=3,
        )
    ax.set_xlabel("jobs after warm-up")
    ax.set_ylabel("RSS, all processes (MiB)")
    ax.set_title("Resident memory while running jobs")


# The plots of one panel (8 x 4.2 inches, with a legend): what draws each benchmark's.
ONE_PANEL_PLOTS = {"priority": plot_priority, "scan": plot_scan, "memory": plot_memory}


def plot(results: dict[str, Any]) -> list[Path]:
    """PNG plots of whichever benchmarks have results; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    for name in BENCHMARKS:
        if name not in results:  # failed or never run: no stale plot
            (PLOTS / f"{name}.png").unlink(missing_ok=True)
    written = []

    def save(fig: Any, name: str) -> None:
        path = PLOTS / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if r := results.get("intake"):
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        colours = {
            "bare": "tab:gray",
            "send_task": "tab:orange",
            "flower": "tab:green",
            "platform": "tab:blue",
        }
        labels = r.get("servers", INTAKE_LABELS)
        for server in intake_servers(r):
            label, colour = labels[server], colours[server]
            levels = r["levels"][server]
            keys = sorted(levels, key=int)
            conns = [int(c) for c in keys]
            left.plot(conns, [levels[c]["rps"] for c in keys], "o-", label=label, color=colour)
            for pct, style in (("p50", "o-"), ("p99", "^:")):
                right.plot(
                    conns,
                    [levels[c][f"{pct}_ms"] for c in keys],
                    style,
                    color=colour,
                    label=f"{label} {pct}",
                )
        for ax in (left, right):
            ax.set_xscale("log", base=2)
            ax.set_xticks([1, 16, 64], ["1", "16", "64"])
            ax.set_xlabel("concurrent connections")
        left.set_ylabel("requests/s")
        right.set_ylabel("latency (ms)")
        right.set_yscale("log")
        left.legend(fontsize=8)
        right.legend(fontsize=7, ncol=2)
        left.set_title("Webhook intake throughput")
        right.set_title("Webhook latency percentiles")
        save(fig, "intake")

    if r := results.get("engine"):
        dbs = databases(r)
        peers = r.get("peer_drain_per_s", {})
        peer_labels = r.get("peer_labels", ENGINE_PEER_LABELS)
        labels = [textwrap.fill(peer_labels[peer], 18) for peer in peers]
        drain = list(peers.values())
        running = [
            r["baseline"]["noop_jobs_per_s"] if peer == "bare" else math.nan for peer in peers
        ]
        if not peers:  # older results: the bare baseline while submitting only
            labels, drain, running = ["bare Celery"], [math.nan], [r["baseline"]["noop_jobs_per_s"]]
        for db in dbs:
            run = r["platform"][db]
            labels.append(f"platform\n({db})")
            drain.append(run.get("split", {}).get("drain_per_s", math.nan))
            running.append(run["noop"]["jobs_per_s"])
            if scale := run.get("scale_out"):
                labels.append(f"platform\n({db},\n{scale['workers']} workers)")
                drain.append(scale["drain_per_s"])
                running.append(math.nan)
        fig, ax = plt.subplots(figsize=(10, 4.6))
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], drain, 0.4, label="drain alone (queued first)")
        ax.bar([x + 0.2 for x in xs], running, 0.4, label="while submitting")
        ax.set_xticks(list(xs), labels, fontsize=7)
        ax.set_ylabel(f"no-op jobs/s (concurrency {r['concurrency']} per worker)")
        ax.set_title("Engine throughput next to the Celery set-ups a user would pick")
        ax.legend(fontsize=8)
        save(fig, "engine")

    for name, draw in ONE_PANEL_PLOTS.items():
        if r := results.get(name):
            fig, ax = plt.subplots(figsize=(8, 4.2))
            draw(ax, r)
            ax.legend(fontsize=8)
            save(fig, name)
    return written


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these ({', '.join(BENCHMARKS)}); repeat or comma-separate",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="run nothing: rewrite docs/benchmarks.md and the plots from the stored results",
    )
    args = parser.parse_args(argv)
    only = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}: choose from {', '.join(BENCHMARKS)}")
    names = [] if args.report else [name for name in BENCHMARKS if not only or name in only]

    results = {k: v for k, v in previous_results().items() if k in BENCHMARKS}
    load_start = None if args.report else load_average()
    failed = []
    for name in names:
        result = run_one(name, args.quick)
        if result is None:
            failed.append(name)
            results.pop(name, None)
        else:
            results[name] = result
    info = {
        **machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_start,
        "load_end": None if args.report else load_average(),
    }
    write_doc(results, info)
    written = plot(results)
    log(f"wrote {DOC.relative_to(REPO_ROOT)} and {len(written)} plots in docs/bench/")
    if failed:
        log(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
