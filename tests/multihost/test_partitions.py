"""Several hosts, silent partitions, kills and broker restarts: one run at a time on healthy
workers, a record that matches the run, recovery within a minute, maintenance that never
fails (docs/reliability.md, "Several hosts").

Host 0 runs the API and beat, hosts 1 and 2 a worker each; all of them reach the Network's
PostgreSQL and Redis over the bridge. Each test prints its figures (``-s`` shows them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.multihost.deployment import (
    API_KEY,
    INF,
    Deployment,
    concurrent_duplicates,
    rabbitmq_vhost,
    record_mismatches,
    wait_for,
)
from tests.multihost.network import Network


@pytest.fixture(params=["redis"])
def deployment(
    request: pytest.FixtureRequest, network: Network, tmp_path: Path
) -> Iterator[Deployment]:
    """The API and beat on host 0, nothing else yet; on the Network's Redis, or (where a
    test asks for both brokers) on a vhost of the machine's RabbitMQ."""
    with contextlib.ExitStack() as stack:
        broker_url = None
        if request.param == "rabbitmq":
            if not os.environ.get("ORCH_TEST_AMQP_URL"):
                if os.environ.get("CI") == "true":
                    pytest.fail("ORCH_TEST_AMQP_URL must be set in CI")
                pytest.skip("ORCH_TEST_AMQP_URL is not set")
            broker_url = stack.enter_context(rabbitmq_vhost(network))
        deployment = Deployment(network, tmp_path, broker_url)
        stack.callback(deployment.close)
        deployment.start_api(network.hosts[0])
        deployment.start_beat(network.hosts[0])
        yield deployment


BOTH_BROKERS = pytest.mark.parametrize("deployment", ["redis", "rabbitmq"], indirect=True)


def _check_the_record(
    deployment: Deployment, ids: list[str], faults: dict[str, tuple[float, float]]
) -> None:
    assert concurrent_duplicates(deployment.runs(), faults) == []
    assert record_mismatches(deployment, ids) == []
    assert deployment.failed_maintenance() == []


def test_a_worker_cut_off_silently_has_its_job_run_once_elsewhere_ahead_of_the_backlog(
    network: Network, deployment: Deployment
) -> None:
    """Packets to and from the worker's host dropped while it runs a job, with a backlog
    on the other worker: the job is handed back once the worker is known gone, runs
    ahead of the backlog, once; the cut-off run's late end changes nothing."""
    cut_host, other = network.hosts[1], network.hosts[2]
    deployment.start_worker(cut_host, concurrency=1)
    [job] = deployment.submit({"seconds": [14, 1]})  # the first run outlasts the recovery
    wait_for(lambda: deployment.runs_started(job, 1), 20, "the first run")
    deployment.start_worker(other, concurrency=2)
    deployment.wait_heard([cut_host, other])
    backlog = deployment.submit({"seconds": 1}, count=32)  # 16 s of work for two slots

    network.cut(cut_host)
    cut_at = time.time()
    second = wait_for(lambda: deployment.runs_started(job, 2), 60, "the job run again")
    network.heal(cut_host)  # the first run goes on, and ends after the second started
    healed_at = time.time()
    deployment.wait_done([job, *backlog], 90)
    wait_for(lambda: deployment.runs_started(job, 1).end, 30, "the cut-off run to end")

    print(f"\ncut off with a backlog: run again on {second.host} {second.start - cut_at:.1f} s"
          " after the cut")  # fmt: skip
    assert second.host == other.name
    assert second.start - cut_at < 60
    # Ahead of the backlog: jobs queued before it was handed back had not all started.
    assert any(r.start > second.start for r in deployment.runs() if r.job in backlog)
    row = deployment.job(job)
    assert (row.attempts, row.result) == (2, {"attempt": 2, "host": other.name})
    assert [r.attempt for r in deployment.runs() if r.job == job] == [1, 2]
    # Back after the heal, the cut-off worker is healthy again: what it runs then counts.
    _check_the_record(deployment, [job, *backlog], {cut_host.name: (cut_at, healed_at)})

    def stale_writes() -> dict[str, float]:
        rows = deployment.query(
            "SELECT labels, value FROM metric_counters WHERE metric = 'stale_writes'"
        )
        return {r.labels: r.value for r in rows}

    counted = wait_for(stale_writes, 10, "the stale result counted")
    assert counted == {"type=test-run-log,write=result": 1.0}


@BOTH_BROKERS
def test_a_worker_killed_outright_has_its_job_run_once_by_a_worker_with_free_slots(
    network: Network, deployment: Deployment
) -> None:
    """SIGKILL of a whole worker; the other has two idle slots, where the handed-back job
    and the dead worker's message (restored by the reaper on Redis, given back at once by
    RabbitMQ) used to both land, and run at once."""
    doomed_host, other = network.hosts[1], network.hosts[2]
    doomed = deployment.start_worker(doomed_host, concurrency=1)
    [job] = deployment.submit({"seconds": [30, 6]})
    wait_for(lambda: deployment.runs_started(job, 1), 20, "the first run")
    deployment.start_worker(other, concurrency=2)
    deployment.wait_heard([doomed_host, other])

    doomed_host.kill(doomed, signal.SIGKILL)
    killed_at = time.time()
    second = wait_for(lambda: deployment.runs_started(job, 2), 60, "the job run again")
    time.sleep(2)  # a copy of its message, had one been put back too, would run by now

    print(f"\nkilled outright, no backlog, {deployment.broker_url.split(':')[0]}:"
          f" run again {second.start - killed_at:.1f} s later")  # fmt: skip
    assert second.host == other.name
    assert deployment.runs_started(job, 3) is None
    row = deployment.job(job)
    assert (row.status, row.attempts) == ("processing", 2)
    deployment.wait_done([job], 40)
    _check_the_record(deployment, [job], {doomed_host.name: (killed_at, INF)})


def test_an_api_host_cut_off_from_redis_keeps_answering_and_holds_no_transaction(
    network: Network, deployment: Deployment
) -> None:
    """The API's host loses Redis silently: submissions are still recorded, /readyz says
    so within 5 s, no session sits idle in a transaction, the event stream goes on;
    after the heal every job runs."""
    api_host = network.hosts[0]
    deployment.start_worker(network.hosts[1])
    network.cut(api_host, only="redis")
    try:
        ids = deployment.submit({"seconds": 0}, count=5)
        asked = time.monotonic()
        ready = httpx.get(deployment.url("/readyz"), timeout=30)
        answered_in = time.monotonic() - asked
        with httpx.stream(
            "GET", deployment.url("/api/v1/events?last_event_id=0"), headers={"X-Api-Key": API_KEY},
            timeout=10,
        ) as stream:  # fmt: skip
            created = _created_events(stream, set(ids))
        time.sleep(4)  # the relay has been trying, and timing out, meanwhile
        idle_in_transaction = deployment.query(
            "SELECT pid, now() - state_change AS held, query FROM pg_stat_activity"
            " WHERE state = 'idle in transaction' AND now() - state_change > interval '2 s'"
        )
    finally:
        network.heal(api_host)
    deployment.wait_done(ids, 40)

    print(f"\nAPI cut from Redis: /readyz answered {ready.status_code} in {answered_in:.2f} s")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"database": True, "broker": False}
    assert answered_in < 5
    assert created == set(ids)
    assert idle_in_transaction == []


def _created_events(stream: httpx.Response, ids: set[str]) -> set[str]:
    """Ids of ``ids`` whose job.created event the stream delivers (within its timeout)."""
    seen: set[str] = set()
    event = ""
    for line in stream.iter_lines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == "job.created":
            for job_id in ids:
                if job_id in line:
                    seen.add(job_id)
        if seen == ids:
            break
    return seen


def test_maintenance_goes_on_through_broker_restarts_and_one_beat_sends(
    network: Network, deployment: Deployment
) -> None:
    """Redis killed and restarted twice while beat and the workers run: no reaper run
    fails, jobs submitted after each restart complete. A second ``orchestrator beat`` on
    another host is refused; a bare ``celery beat`` there stands by the whole time."""
    deployment.start_worker(network.hosts[1])
    deployment.start_worker(network.hosts[2])
    refused = deployment.start_beat(network.hosts[1], name="refused-beat")
    assert refused.wait(30) == 1
    assert "beat already runs in this deployment" in deployment.log("refused-beat")
    deployment.start_beat(network.hosts[1], name="second-beat", bare=True)
    wait_for(lambda: "standing by" in deployment.log("second-beat"), 30, "the second beat")
    ids = []
    for _ in range(2):
        network.restart_redis(kill=True)
        time.sleep(6)  # three reaper periods on a broker that came back
        ids += deployment.submit({"seconds": 0}, count=3)
    deployment.wait_done(ids, 40)

    reaper_runs = deployment.query("SELECT status, error FROM jobs WHERE type = 'reaper'")
    print(f"\nafter 2 Redis restarts: {len(reaper_runs)} reaper rows kept, none failed")
    assert deployment.failed_maintenance() == []
    assert "Sending due task" in deployment.log("beat")
    assert "Sending due task" not in deployment.log("second-beat")


def test_a_worker_cut_off_from_postgresql_writes_its_outcome_once_healed(
    network: Network, deployment: Deployment
) -> None:
    """The worker's host loses only PostgreSQL while a job runs: the outcome waits for
    the database and is written soon after the heal; the job is not run again."""
    host = network.hosts[1]
    deployment.start_worker(host)
    [job] = deployment.submit({"seconds": 4})
    wait_for(lambda: deployment.runs_started(job, 1), 20, "the run")
    network.cut(host, only="postgres")
    time.sleep(10)  # the run ended meanwhile; its outcome cannot be written
    assert deployment.job(job).status == "processing"
    network.heal(host)
    healed_at = time.monotonic()
    deployment.wait_done([job], 30)

    print(f"\nworker cut from PostgreSQL: outcome written {time.monotonic() - healed_at:.1f} s"
          " after the heal")  # fmt: skip
    assert deployment.job(job).attempts == 1
    assert "outcome not written yet" in deployment.log(f"worker-{host.name}")
    _check_the_record(deployment, [job], {})
