"""Replays from an old ``Last-Event-ID`` are bounded in events and paced in bytes.

A client resuming from far back gets the newest ``STREAM_REPLAY_LIMIT`` events, after a
``stream.skipped`` event saying which it missed; what one client's streams send, and what
all streams of the process send, goes no faster than their byte budgets. The budgets are
set small here so that the bounds show in a few seconds. Clients connect from 127.0.0.1
and 127.0.0.2 (both loopback), which the API tells apart as two clients.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, update

from orchestrator import submit
from orchestrator.jobs.models import Job, JobEvent, utcnow
from orchestrator.storage.db import write_session
from tests.conftest import API_KEY, ApiServer

LIMIT = 100
RATE = 64 * 1024  # bytes a second for each client's streams
STORED = 2_000  # about 250 bytes a frame: ~500 kB, eight seconds of one client's budget


@pytest.fixture(scope="module")
def history(database: str) -> dict[str, Any]:
    """A finished job with ``STORED`` events; their ids, oldest first."""
    job = submit("test-echo", {"replay": True}).job
    with write_session() as session:
        session.execute(update(Job).where(Job.id == job.id).values(status="completed"))
        rows = [
            {
                "job_id": job.id,
                "root_id": job.id,
                "job_type": job.type,
                "name": "job.progress",
                "status": "processing",
                "attempt": 1,
                "data": {"percent": n % 100, "message": f"step {n}"},
                "created_at": utcnow(),
            }  # fmt: skip
            for n in range(STORED - 1)
        ]
        rows.append({**rows[-1], "name": "job.completed", "status": "completed", "data": {}})
        session.execute(insert(JobEvent), rows)
    with write_session() as session:
        ids = [row.id for row in session.query(JobEvent.id).filter_by(job_id=job.id)]
    return {"job_id": job.id, "ids": sorted(ids)}


@pytest.fixture(scope="module")
def paced_api(database: str) -> Iterator[ApiServer]:
    config = {
        "STREAM_REPLAY_LIMIT": LIMIT,
        "STREAM_CLIENT_RATE": RATE,
        "STREAM_PROCESS_RATE": 3 * RATE,
    }
    server = ApiServer(config)
    yield server
    server.stop()


def _client(source: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(transport=transport, headers={"X-Api-Key": API_KEY}, timeout=10)


def _frames(text: str) -> list[dict[str, str]]:
    frames = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            frames.append(fields)
    return frames


def test_a_stream_from_far_back_gets_the_newest_events_and_is_told(
    paced_api: ApiServer, history: dict[str, Any]
) -> None:
    ids = history["ids"]
    url = f"{paced_api.url}/api/v1/jobs/{history['job_id']}/stream"
    with _client("127.0.0.1") as client:
        frames = _frames(client.get(url, headers={"Last-Event-ID": str(ids[0])}).text)

    skipped, events = frames[0], frames[1:]
    assert skipped["event"] == "stream.skipped"
    assert int(skipped["id"]) == ids[-LIMIT - 1]
    assert f'"after":{ids[0]}' in skipped["data"]
    assert [int(f["id"]) for f in events] == ids[-LIMIT:]
    assert events[-1]["event"] == "job.completed"

    # Within the bound, nothing is skipped.
    with _client("127.0.0.1") as client:
        near = _frames(client.get(url, headers={"Last-Event-ID": str(ids[-LIMIT])}).text)
    assert [int(f["id"]) for f in near] == ids[-LIMIT + 1 :]


def _read_for(client: httpx.Client, url: str, seconds: float, into: list[int]) -> None:
    """Read ``url``'s stream for ``seconds``, adding the bytes received to ``into``."""
    ends = time.monotonic() + seconds
    with client.stream("GET", url, headers={"Last-Event-ID": "0"}) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            into.append(len(chunk))
            if time.monotonic() >= ends:
                return


def test_one_clients_streams_share_its_budget_and_another_client_has_its_own(
    paced_api: ApiServer, history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every stored event, however far back: the bound on events is not what is tested.
    url = f"{paced_api.url}/api/v1/events?type=test-echo"
    monkeypatch.setitem(paced_api.app.config, "STREAM_REPLAY_LIMIT", STORED)
    seconds = 3.0
    greedy: list[int] = []
    other: list[int] = []
    with _client("127.0.0.1") as a, _client("127.0.0.2") as b:
        readers = [
            threading.Thread(target=_read_for, args=(a, url, seconds, greedy)) for _ in range(4)
        ]
        for reader in readers:
            reader.start()
        time.sleep(0.5)  # the greedy client has spent its budget
        _read_for(b, url, seconds - 0.5, other)
        for reader in readers:
            reader.join(15)

    # A bucket starts with two seconds' worth; the last chunk read may be a whole batch.
    allowed = 2 * RATE + RATE * (seconds + 0.5) + 4 * 100 * 300
    print(f"\nfour streams of one client: {sum(greedy)} bytes; the other client: {sum(other)}")
    assert sum(greedy) <= allowed
    assert sum(greedy) >= RATE  # paced, not stopped
    # The other client was not held back by the first one's budget.
    assert sum(other) >= 2 * RATE
