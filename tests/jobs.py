"""Job types used by the tests (loaded through ORCH_JOB_MODULES=tests.jobs)."""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from pydantic import BaseModel

from orchestrator import JobContext, PermanentError, RetryableError, job


@job("test-echo", priority="normal")
def echo(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Return the payload and the attempt number."""
    return {"echo": payload, "attempt": ctx.attempt}


@job("test-flaky", max_retries=3, retry_base=0.2)
def flaky(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Fail (retryable, again after ``delay`` seconds if given) on the first ``fail_times``
    attempts, then succeed."""
    if ctx.attempt <= payload.get("fail_times", 0):
        raise RetryableError(f"attempt {ctx.attempt} failed on purpose", payload.get("delay"))
    return {"succeeded_on_attempt": ctx.attempt}


@job("test-always-fail", max_retries=2, retry_base=0.1)
def always_fail(payload: dict[str, Any], ctx: JobContext) -> None:
    """Raise an unexpected error every time (counts as retryable)."""
    raise RuntimeError(f"boom on attempt {ctx.attempt}")


@job("test-permanent", max_retries=5)
def permanent(payload: dict[str, Any], ctx: JobContext) -> None:
    """Fail permanently at once."""
    raise PermanentError("this can never work: " + str(payload.get("why", "no reason")))


@job("test-chain", priority="high")
def chain(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Submit the next step until ``steps`` steps ran; step ``fail_at`` fails for good."""
    step, steps = payload.get("step", 1), payload.get("steps", 3)
    if step == payload.get("fail_at"):
        raise PermanentError(f"step {step} failed on purpose")
    if step < steps:
        fail_at = {"fail_at": payload["fail_at"]} if "fail_at" in payload else {}
        ctx.submit("test-chain", {"step": step + 1, "steps": steps, **fail_at})
    return {"step": step}


@job("test-progress")
def progress(payload: dict[str, Any], ctx: JobContext) -> str:
    """Report progress in a few steps."""
    for percent in (25, 50, 75):
        ctx.progress(percent, f"step {percent}")
        time.sleep(payload.get("pause", 0.05))
    return "done"


@job("test-sleep", priority="low")
def sleep(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Sleep ``seconds``, then return when it started and ended (monotonic clock)."""
    started = time.time()
    time.sleep(payload.get("seconds", 0))
    return {"started": started, "ended": time.time(), "label": payload.get("label")}


@job("test-checkpoint", max_retries=2, retry_base=0.1)
def checkpointed(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Record a step, fail once, then report what the retry found."""
    if ctx.attempt == 1:
        ctx.save_checkpoint({"done": ["first step"]})
        raise RetryableError("second step failed")
    return {"found": ctx.checkpoint}


@job("test-hang-once", max_retries=2)
def hang_once(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Hang on the first attempt (long enough to be killed), finish on the next."""
    if ctx.attempt == 1:
        time.sleep(payload.get("seconds", 60))
    return {"attempt": ctx.attempt}


@job("test-poison", max_retries=2)
def poison(payload: dict[str, Any], ctx: JobContext) -> None:
    """Kill the process running it, every time."""
    os.kill(os.getpid(), signal.SIGKILL)


class Greeting(BaseModel):
    """Payload of test-typed."""

    name: str
    times: int = 1


@job("test-typed", payload_model=Greeting)
def typed(payload: Greeting, ctx: JobContext) -> str:
    """A job with a validated payload."""
    return " ".join(f"hello {payload.name}" for _ in range(payload.times))


@job("test.dotted-name")
def dotted(payload: dict[str, Any], ctx: JobContext) -> str:
    """A job type whose name has a dot, as Celery task names often do."""
    return "dotted"


@job("test-time-limited", max_retries=1, retry_base=0.1, time_limit=1)
def time_limited(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Sleep ``seconds`` on the first attempt, within a 1 s time limit; with ``stubborn``,
    go on sleeping past the soft limit."""
    from celery.exceptions import SoftTimeLimitExceeded

    if ctx.attempt > 1:
        return {"attempt": ctx.attempt}
    try:
        time.sleep(payload.get("seconds", 0))
    except SoftTimeLimitExceeded:
        if not payload.get("stubborn"):
            raise
        time.sleep(payload["seconds"])
    return {"attempt": ctx.attempt}


@job("test-attempts", max_retries=3, retry_base=0.1)
def attempts(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Attempt N reports progress and a checkpoint, sleeps ``seconds[N - 1]``, reports
    again, then returns its number (or fails, when ``fail`` lists N)."""
    ctx.progress(10, f"attempt {ctx.attempt} started")
    ctx.save_checkpoint({"attempt": ctx.attempt})
    time.sleep(payload["seconds"][ctx.attempt - 1])
    ctx.progress(90, f"attempt {ctx.attempt} ending")
    if ctx.attempt in payload.get("fail", []):
        raise RetryableError(f"attempt {ctx.attempt} failed on purpose")
    return {"attempt": ctx.attempt}


@job("test-run-log", priority="normal", max_retries=5, retry_base=0.1)
def run_log(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Note in ``payload["log"]`` (a file every host sees) when this attempt starts and
    ends on this host (``ORCH_TEST_HOST``), sleeping ``seconds`` in between (or
    ``seconds[N - 1]`` for attempt N); return the attempt and the host: what a record
    must match."""
    host = os.environ.get("ORCH_TEST_HOST", "")
    seconds = payload.get("seconds", 0)
    if isinstance(seconds, list):
        seconds = seconds[min(ctx.attempt, len(seconds)) - 1]

    def note(moment: str) -> None:
        line = {"job": ctx.job_id, "attempt": ctx.attempt, "host": host, moment: time.time()}
        with open(payload["log"], "a") as log:  # one short append: whole, whoever writes
            log.write(json.dumps(line) + "\n")

    note("start")
    time.sleep(seconds)
    note("end")
    return {"attempt": ctx.attempt, "host": host}


@job("test-unstorable-result", max_retries=1, retry_base=0.1)
def unstorable_result(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Return text no database can store: half of a UTF-16 surrogate pair (as decoding
    bytes with ``errors="surrogateescape"`` makes)."""
    return {"name": b"caf\xe9".decode("utf-8", "surrogateescape")}


@job("test-critical-default", priority="critical")
def critical_default(payload: dict[str, Any], ctx: JobContext) -> None:
    """A type whose own priority is critical (as the webhook's is)."""
