"""No-op job types for the benchmarks (loaded through ``ORCH_JOB_MODULES=bench.noop_jobs``)."""

from __future__ import annotations

from typing import Any

from orchestrator import JobContext, job

CHAIN_STEPS = 3


@job("bench-noop", priority="normal", max_retries=0)
def noop(payload: dict[str, Any], ctx: JobContext) -> None:
    """Do nothing: what is left is the platform's own cost per job."""
    return None


@job("bench-chain", priority="normal", max_retries=0)
def chain(payload: dict[str, Any], ctx: JobContext) -> None:
    """Submit the next step until ``CHAIN_STEPS`` steps ran (a root and two children)."""
    step = int(payload.get("step", 1))
    if step < CHAIN_STEPS:
        ctx.submit("bench-chain", {"step": step + 1})
    return None
