"""Server-Sent Events over real HTTP: order, end, chain, replay, keep-alive."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from orchestrator import submit
from tests.conftest import API_KEY, ApiServer, WorkerProcess, wait_for_job

HEADERS = {"X-Api-Key": API_KEY}


def read_events(
    url: str, headers: dict[str, str] | None = None, timeout: float = 30
) -> list[dict[str, Any]]:
    """Read an SSE stream to its end; each event as {id, event, data}."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with httpx.stream("GET", url, headers={**HEADERS, **(headers or {})}, timeout=timeout) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line:
                if "event" in current:
                    events.append(current)
                current = {}
            elif line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
    return events


def test_job_stream_yields_lifecycle_in_order_and_ends(
    worker: WorkerProcess, api_server: ApiServer
) -> None:
    job = submit("test-progress", {"pause": 0.2}).job

    events = read_events(f"{api_server.url}/api/v1/jobs/{job.id}/stream")

    assert [e["event"] for e in events] == [
        "job.created",
        "job.started",
        "job.progress",
        "job.progress",
        "job.progress",
        "job.completed",
    ]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["data"]["data"].get("percent") for e in events[2:5]] == [25, 50, 75]
    assert all(e["data"]["job_id"] == job.id for e in events)
    assert "wait_s" in events[1]["data"]["data"]
    assert "duration_s" in events[-1]["data"]["data"]


def test_last_event_id_replays_only_later_events(
    worker: WorkerProcess, api_server: ApiServer
) -> None:
    job = submit("test-echo").job
    wait_for_job(job.id)
    url = f"{api_server.url}/api/v1/jobs/{job.id}/stream"
    first = read_events(url)

    rest = read_events(url, {"Last-Event-ID": str(first[0]["id"])})

    assert [e["event"] for e in first] == ["job.created", "job.started", "job.completed"]
    assert rest == first[1:]


def test_chain_stream_follows_every_job_of_the_chain(
    worker: WorkerProcess, api_server: ApiServer
) -> None:
    root = submit("test-chain", {"step": 1, "steps": 3}).job

    events = read_events(f"{api_server.url}/api/v1/jobs/{root.id}/stream?chain=1")

    completed = [e for e in events if e["event"] == "job.completed"]
    assert len(completed) == 3
    assert len({e["data"]["job_id"] for e in events}) == 3
    assert {e["data"]["root_id"] for e in events} == {root.id}
    assert events[-1]["event"] == "job.completed"
    assert [e["data"]["data"].get("children") for e in completed] == [1, 1, 0]


def test_all_events_stream_sends_keepalives_and_filters(
    worker: WorkerProcess, api_server: ApiServer
) -> None:
    lines: list[str] = []
    url = f"{api_server.url}/api/v1/events?type=test-echo&status=completed"
    job_id = None
    with httpx.stream("GET", url, headers=HEADERS, timeout=10) as response:
        started = time.monotonic()
        for line in response.iter_lines():
            lines.append(line)
            if job_id is None and time.monotonic() - started > 0.2:
                job_id = submit("test-echo", {"live": True}).job.id
                submit("test-flaky", {"fail_times": 0})
            if job_id and any(job_id in seen for seen in lines) and ": keep-alive" in lines:
                break
            assert time.monotonic() - started < 8, lines
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert ": keep-alive" in lines
    assert data and all(d["type"] == "test-echo" and d["status"] == "completed" for d in data)
    assert job_id in {d["job_id"] for d in data}


def test_all_events_stream_starts_now_unless_asked_to_replay(
    worker: WorkerProcess, api_server: ApiServer
) -> None:
    old = wait_for_job(submit("test-echo", {"old": True}).job.id)
    seen: list[str] = []
    with httpx.stream("GET", f"{api_server.url}/api/v1/events", headers=HEADERS, timeout=10) as r:
        new_id = submit("test-echo", {"new": True}).job.id
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:])["job_id"])
                if seen[-1] == new_id:
                    break
    assert old.id not in seen

    replay = read_events(f"{api_server.url}/api/v1/jobs/{old.id}/stream")
    with httpx.stream(
        "GET", f"{api_server.url}/api/v1/events",
        headers={**HEADERS, "Last-Event-ID": str(replay[0]["id"] - 1)}, timeout=10,
    ) as r:  # fmt: skip
        for line in r.iter_lines():
            if line.startswith("data: "):
                assert json.loads(line[6:])["job_id"] == old.id
                break
