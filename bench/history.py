"""Before and after: earlier figures next to this run's.

Three rounds, newest first. The unit of work and the composition root: paired runs of
2026-12-07, before and after, measured once and kept as they are. The cost of durability:
the platform against the peers a user would pick instead, *before* being the run of
2026-11-27 (16:50 to 17:02 UTC) of the same harness on the code before that round's
changes. Closing the gaps: the full run of 2026-11-25 (03:07 to 03:24 UTC) that first
measured every target. *Before* figures are history and stay as they are; the *after*
column is read from the results being written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Getter = Callable[[dict[str, Any]], str | None]
Reader = Callable[..., str | None]


def _reads(benchmark: str) -> Callable[[Reader], Callable[..., Getter]]:
    """Turns ``read(figures, *args)``, which formats a figure from one benchmark's results,
    into ``read(*args)``, the getter of a table row: None where ``benchmark`` has no results."""

    def rows_of(read: Reader) -> Callable[..., Getter]:
        def getter(*args: Any) -> Getter:
            def get(results: dict[str, Any]) -> str | None:
                figures = results.get(benchmark)
                return read(figures, *args) if figures else None

            return get

        return getter

    return rows_of


@_reads("intake")
def _intake(intake: dict[str, Any], level: str, key: str, digits: int = 0) -> str | None:
    value = intake["levels"]["platform"][level][key]
    ratio = intake["ratio_rps"][level]
    if key == "rps":
        return f"{value:,.0f} req/s ({ratio:.2f}× bare)"
    return f"{value:,.{digits}f} ms"


@_reads("engine")
def _engine(engine: dict[str, Any], db: str) -> str | None:
    if db not in engine["platform"]:
        return None
    jobs = engine["platform"][db]["noop"]["jobs_per_s"]
    return f"{jobs:,.0f} jobs/s ({engine['ratios'][db]['noop']:.2f}× bare)"


@_reads("engine")
def _drain(engine: dict[str, Any], db: str, peer: str) -> str | None:
    if db not in engine.get("drain_ratios", {}):
        return None
    jobs = engine["platform"][db]["split"]["drain_per_s"]
    ratio = engine["drain_ratios"][db][peer]
    return f"{jobs:,.0f} jobs/s ({ratio:.2f}× {engine['peer_drain_per_s'][peer]:,.0f})"


@_reads("intake")
def _intake_vs(intake: dict[str, Any], peer: str, key: str = "rps") -> str | None:
    levels = intake.get("levels", {})
    if peer not in levels:
        return None
    ours, theirs = levels["platform"]["16"][key], levels[peer]["16"][key]
    if key == "rps":
        return f"{ours:,.0f} req/s ({ours / theirs:.2f}× {theirs:,.0f})"
    return f"{ours:,.1f} ms ({theirs:,.1f} ms)"


@_reads("scan")
def _scan(scan: dict[str, Any], phase: str) -> str | None:
    run = scan[phase]
    if run["finished"]:
        return f"{run['seconds']:.1f} s"
    return f"not finished in {run['cap_s']:.0f} s"


DURABILITY_ROWS: list[tuple[str, str, Getter]] = [
    ("Engine drain, PostgreSQL, vs Celery + SQL result backend",
     "182 jobs/s (0.94× 194)", _drain("postgresql", "sql_backend")),
    ("Engine drain, SQLite, vs bare Celery", "207 jobs/s (0.44× 469)",
     _drain("sqlite", "bare")),
    ("Intake, 16 connections, vs Flask + send_task", "477 req/s (0.35× 1,345)",
     _intake_vs("send_task")),
    ("Intake p99, 16 connections (Flask + send_task's)", "73.6 ms (29.4 ms)",
     _intake_vs("send_task", "p99_ms")),
    ("Intake, 16 connections, vs Flower async-apply", "477 req/s (0.75× 634)",
     _intake_vs("flower")),
]  # fmt: skip

DURABILITY_CHANGES = """What changed, in the order the profiles (py-spy on the worker and
the API, cProfile in-process) pointed at it:

- **The claim is one statement.** It read the row, then updated it; now the conditional
  `UPDATE ... RETURNING` comes first and the row is read only when the job was not
  waiting (a message from beat, a redelivery, a duplicate).
- **A transition's statement is built once.** Building the `UPDATE` (and its ORM
  bookkeeping) cost more than running it on SQLite; it is now a Core statement cached
  per shape, its values bound.
- **Metric counts leave the transaction.** Each event's counter upsert was one more
  statement per transition; counts are now summed per process after commit and written
  every 0.2 s (a scrape writes its own process's first).
- **Results are not stored twice.** The Redis result backend cost a third of a job's time
  in the worker; results are read from the job table by a read-only result backend, so
  `celery result` and `AsyncResult` still work, on either broker.
- **Pooled connections are pinged only after a second idle**, not before every
  transaction (a round trip each, a fifth of a job's time on PostgreSQL).
- **Group commit.** Webhooks that arrive together share one transaction; their rows and
  events are written in one statement each; every caller still returns after its own
  commit, and waits on its own event (waking all waiters on every commit cost a quarter
  of the API's time).
- **A relay publishes for the API.** Request threads commit the row and ring the relay,
  a thread of gunicorn's master, with the job's id; it publishes the batch most urgent
  first and stamps it in one statement. Publishing left the request path (it was as
  costly as the write).
- **The relay's batch leaves in one round trip.** Each publish was a Redis round trip,
  half the relay's time; kombu's publish batch sends the batch as one pipeline (the
  relay's CPU per job fell from about 0.6 to 0.4 ms, Redis's by half).

### Why the intake stays below Flask + `send_task`

The intake is CPU-bound: on 2 cores, with wrk on the same machine, req/s follow the CPU
time each request costs (the table in the Intake section, measured from /proc in the
same run: the platform about 2.0 ms per webhook, Flask + `send_task` about 1.3 ms, Flower
about 1.6 ms; their req/s ratio, 0.61, is the inverse ratio of those, 0.66, less wrk's
share). py-spy on the API under 16 connections says where the platform's time goes:

- the API workers (1.5 to 1.6 ms per request): the HTTP and Flask work the peer does too
  (gunicorn, its access log line, about a tenth, Flask, the key check, the JSON body),
  and the **record**: the job's row and its `job.created` event inserted and committed,
  about a third of the workers' time even with group commit;
- the relay (0.4 ms per job): Celery building and publishing the message, which the
  peer does in its request, plus reading the committed rows back and stamping them.

So the platform does the peer's work plus the durable record: an insert and a commit
per webhook (shared by the requests that arrive together) and the outbox's read and
stamp. That record is what makes its 202 mean "kept": the peer's 202 is lost with
Redis, the platform's is not (`docs/reliability.md`). Short of dropping it, what is
left is small change: Celery's message building in the relay (about a third of it is
the per-message queue declaration and copying), and the ORM's reading of the rows.
The p99 follows from the same CPU: under 16 connections a request waits for the CPU
the others take.
"""

ROWS: list[tuple[str, str, Getter]] = [
    ("Intake, 1 connection", "189 req/s (0.10× bare)", _intake("1", "rps")),
    ("Intake, 16 connections", "126 req/s (0.06× bare)", _intake("16", "rps")),
    ("Intake p99, 16 connections", "2,562.6 ms", _intake("16", "p99_ms", 1)),
    ("Intake, 64 connections", "175 req/s (0.06× bare)", _intake("64", "rps")),
    ("Engine no-op jobs, SQLite", "71 jobs/s (0.15× bare)", _engine("sqlite")),
    ("Engine no-op jobs, PostgreSQL", "76 jobs/s (0.16× bare)", _engine("postgresql")),
    ("Scan index, 10,000 folders", "≈ 381 s (cut off at 120 s)", _scan("index")),
    ("Unchanged rescan, 10,000 folders", "≈ 467 s (cut off at 45 s)", _scan("rescan")),
]

CHANGES = """What changed, in the order the profiles (cProfile in-process, py-spy on the worker)
pointed at it:

- **`library-scan` does the work itself.** It was one `scan-movie` job per folder, each
  followed by a `notify-players` job: 20,000 jobs for 10,000 folders, about 36 ms per
  folder against 0.2 ms for the scanner. It now compares each folder's signature (sorted
  names, sizes and mtimes, sub-folders included) with the one stored at its last scan,
  scans only new and changed folders, writes them 200 per transaction, and notifies the
  players once (per folder up to 10, else the library root).
- **Metric counters: one statement per event.** Each event fed up to 4 separate ORM
  upserts (7 per job), about 0.5 ms each. Now one prepared Core upsert per event, and no
  `_count` rows (Prometheus derives the count from the `+Inf` bucket).
- **Core statements for events and new rows; `UPDATE ... RETURNING` for transitions**, so
  a status change is no longer an UPDATE followed by a SELECT.
- **One write transaction per submit.** `dispatched_at` was stamped in a second
  transaction after the publish; a thread of each process now writes the stamps of the
  last 0.2 s in one UPDATE. A stamp lost with its process only makes the sweep publish
  the job again (the claim skips the duplicate).
- **SQLite writers queue on a lock that hands over at once.** Under load, 89% of the API
  threads' time was spent in `BEGIN IMMEDIATE`: SQLite's busy handler sleeps up to 100 ms
  between tries. Writers now wait on a thread lock and an `flock` of a file beside the
  database. In a quick run with nothing else changed, p99 at 16 connections went from
  1,055 ms to 73 ms.
- **Fewer broker writes per job.** No `task-sent` events and no `STARTED` results (both
  Celery defaults; the database records both), and the result backend no longer reads a
  task's state before storing it (the SQL claim already runs a job once).
- **The event doorbell rings from a thread**, once per 10 ms at most, instead of a Redis
  round trip inside every commit.
- **Smaller costs of a webhook**: the payload's repr for Flower is the builtin `repr`, cut
  at 1,024 characters, not Celery's `saferepr`; the body is walked for NUL characters only
  when it holds a `\\u0000` escape.
"""


HOUSE_SECTION = """\
## Before and after the unit of work and the composition root

*Before*: the code before them (commit `5cb1e93`); *after*: the code with them. Both were
run on this machine on 2026-12-07 between 20:32 and 20:53 UTC by `bench/run.py --only
engine,intake`, in turn, before, after, before, after, with PostgreSQL; each figure is the
platform's rate over the rate of a peer measured in the same run, so that the machine's
noise cancels within a run, and the pairs compare runs next to each other.

| ratio to the same run's peer | before, 1 | after, 1 | before, 2 | after, 2 | pair 1 | pair 2 |
|---|---|---|---|---|---|---|
| Engine no-op jobs, SQLite, vs bare Celery | 0.48 | 0.49 | 0.47 | 0.46 | 1.02 | 0.98 |
| Engine 3-job chains, SQLite, vs bare Celery | 0.49 | 0.53 | 0.51 | 0.50 | 1.09 | 0.98 |
| Drain alone, SQLite, vs bare Celery | 0.47 | 0.55 | 0.54 | 0.56 | 1.16 | 1.05 |
| Drain alone, SQLite, vs Celery + Redis results | 0.59 | 0.59 | 0.56 | 0.62 | 1.00 | 1.10 |
| Drain alone, SQLite, vs Celery + SQL results | 1.44 | 1.54 | 1.45 | 1.60 | 1.07 | 1.10 |
| Engine no-op jobs, PostgreSQL, vs bare Celery | 0.34 | 0.38 | 0.37 | 0.37 | 1.10 | 0.99 |
| Engine 3-job chains, PostgreSQL, vs bare Celery | 0.35 | 0.39 | 0.38 | 0.39 | 1.12 | 1.02 |
| Drain alone, PostgreSQL, vs bare Celery | 0.35 | 0.42 | 0.42 | 0.41 | 1.22 | 0.98 |
| Drain alone, PostgreSQL, vs Celery + Redis results | 0.43 | 0.45 | 0.44 | 0.46 | 1.05 | 1.04 |
| Drain alone, PostgreSQL, vs Celery + SQL results | 1.06 | 1.18 | 1.14 | 1.18 | 1.12 | 1.03 |
| Intake, 1 connection, vs bare Flask + LPUSH | 0.34 | 0.37 | 0.42 | 0.43 | 1.09 | 1.03 |
| Intake, 1 connection, vs Flask + send_task | 0.62 | 0.68 | 0.72 | 0.74 | 1.11 | 1.03 |
| Intake, 1 connection, vs Flower async-apply | 0.53 | 0.67 | 0.72 | 0.71 | 1.27 | 1.00 |
| Intake, 16 connections, vs bare Flask + LPUSH | 0.37 | 0.37 | 0.43 | 0.37 | 1.00 | 0.86 |
| Intake, 16 connections, vs Flask + send_task | 0.58 | 0.69 | 0.74 | 0.73 | 1.18 | 0.99 |
| Intake, 16 connections, vs Flower async-apply | 0.84 | 1.13 | 1.11 | 1.17 | 1.35 | 1.06 |
| Intake, 64 connections, vs bare Flask + LPUSH | 0.30 | 0.38 | 0.42 | 0.37 | 1.24 | 0.89 |
| Intake, 64 connections, vs Flask + send_task | 0.70 | 0.82 | 0.75 | 0.82 | 1.17 | 1.09 |
| Intake, 64 connections, vs Flower async-apply | 1.34 | 1.40 | 1.35 | 1.46 | 1.05 | 1.08 |

Of the 38 paired ratios, 36 are 0.95 or better and their geometric mean is 1.07. The two
below, intake at 16 and 64 connections against bare Flask in the second pair (0.86, 0.89),
come from the peer's run: bare Flask made 2,953 and 3,383 req/s there against 2,286 to 2,547
and 2,733 to 3,505 in the other runs, while the platform's own rates in that run were the
highest of the four (565, 1,092 and 1,257 req/s at 1, 16 and 64 connections; 458 to 546,
837 to 997 and 1,066 to 1,148 in the others), and against the other two peers of the same
run the ratios are 0.99 to 1.09.
"""


def before_after_section(results: dict[str, Any]) -> str:
    """The before/after tables and the lists of changes, as Markdown."""
    lines = [
        "## Before and after: the cost of durability",
        "",
        "*Before*: the run of 2026-11-27, 16:50 to 17:02 UTC, of this page's harness on the "
        "code before the changes below, on this machine. *After*: the runs of this page. "
        "Each ratio is to the peer's figure measured in the same run, shown after it.",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    for label, before, get in DURABILITY_ROWS:
        lines.append(f"| {label} | {before} | {get(results) or '—'} |")
    lines += [
        "",
        DURABILITY_CHANGES,
        HOUSE_SECTION,
        "## Before and after closing the gaps",
        "",
        "*Before*: the full run of 2026-11-25, 03:07 to 03:24 UTC, on this machine, before "
        "the changes below. *After*: the runs of this page.",
        "",
        "| figure | before | after |",
        "|---|---|---|",
    ]
    for label, before, get in ROWS:
        lines.append(f"| {label} | {before} | {get(results) or '—'} |")
    return "\n".join(lines) + "\n\n" + CHANGES
