"""The multi-host harness itself: addresses, reachability, silent cuts, heal, restarts, clean-up."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.multihost.network import Host, Network

WAIT = 0.5  # seconds a probe waits before calling a connection cut


def reaches(host: Host, address: str, port: int) -> bool:
    """True when ``host`` connects; False when the attempt times out (dropped packets).

    A refusal or any other error fails the test: a cut must be silent.
    """
    try:
        host.connect(address, port, timeout=WAIT).close()
    except TimeoutError:
        return False
    return True


def ping(sock: socket.socket) -> bytes:
    """One Redis PING on a raw connection (the whole reply fits in one segment)."""
    sock.sendall(b"PING\r\n")
    return sock.recv(64)


@contextmanager
def listener(address: str) -> Iterator[int]:
    """A TCP server of this process on ``address`` that accepts and holds connections."""
    server = socket.create_server((address, 0))
    yield int(server.getsockname()[1])
    server.close()


@contextmanager
def echo_server() -> Iterator[int]:
    """A one-connection-at-a-time echo server on 127.0.0.1 in the root namespace."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                while data := conn.recv(1024):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(2)
    server.close()


def test_hosts_have_their_addresses_and_reach_each_other(network: Network) -> None:
    first, second, third = network.hosts
    assert network.bridge_address.startswith("10.231.")
    assert [host.address for host in network.hosts] == [
        network.bridge_address.rsplit(".", 1)[0] + f".{10 + i}" for i in (1, 2, 3)
    ]
    shown = first.run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
    assert f"{first.address}/24" in shown
    route = first.run(["ip", "route", "show", "default"]).stdout
    assert f"via {network.bridge_address}" in route
    # A server in one host is reached from another host and from the root namespace.
    server = first.call(lambda: socket.create_server((first.address, 0)))
    with server:
        port = int(server.getsockname()[1])
        assert reaches(second, first.address, port)
        assert reaches(third, first.address, port)
        socket.create_connection((first.address, port), timeout=WAIT).close()


def test_a_host_reaches_redis_and_postgres_from_a_process_of_its_own(network: Network) -> None:
    script = (
        "import sys, redis, psycopg\n"
        "redis.Redis.from_url(sys.argv[1]).set('from-host', 'yes')\n"
        "with psycopg.connect(sys.argv[2]) as db:\n"
        "    db.execute('CREATE TABLE seen (host text)')\n"
        "    db.execute('INSERT INTO seen VALUES (inet_client_addr()::text)')\n"
    )
    host = network.hosts[1]
    done = host.run(
        [sys.executable, "-c", script, network.redis_url, network.postgres_url], timeout=20
    )
    assert done.returncode == 0, done.stderr
    assert redis.Redis.from_url(network.redis_url).get("from-host") == b"yes"
    with psycopg.connect(network.postgres_url) as db:
        row = db.execute("SELECT host FROM seen").fetchone()
    assert row is not None and row[0].split("/")[0] == host.address  # came from the host


def test_a_host_cannot_reach_the_root_namespaces_loopback(network: Network) -> None:
    host = network.hosts[0]
    with listener("127.0.0.1") as port:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()  # it is there
        for address in ("127.0.0.1", network.bridge_address):
            with pytest.raises(ConnectionRefusedError):
                host.connect(address, port, timeout=WAIT)


def test_a_host_only_sends_to_the_bridges_subnet(network: Network) -> None:
    """The guard: an address of the machine outside the subnet is rejected in the host."""
    shown = subprocess.run(
        ["ip", "-o", "-4", "addr", "show", "scope", "global"], capture_output=True, text=True
    ).stdout
    others = [
        line.split()[3].split("/")[0]
        for line in shown.splitlines()
        if not line.split()[3].startswith("10.231.")
    ]
    if not others:
        pytest.skip("the machine has no address outside the test subnets")
    with listener(others[0]) as port, pytest.raises(OSError) as refused:
        network.hosts[0].connect(others[0], port, timeout=WAIT)
    assert not isinstance(refused.value, TimeoutError)


def test_cut_makes_new_connections_time_out_not_fail(network: Network) -> None:
    cut, other = network.hosts[0], network.hosts[1]
    network.cut(cut)
    started = time.monotonic()
    assert not reaches(cut, network.bridge_address, network.redis_port)
    assert time.monotonic() - started >= WAIT * 0.9  # it waited: nothing said no
    assert not reaches(cut, network.bridge_address, network.postgres_port)
    assert not reaches(cut, other.address, network.redis_port)  # other hosts too
    assert reaches(other, network.bridge_address, network.redis_port)  # the others are fine
    client = redis.Redis(
        host=network.bridge_address,
        port=network.redis_port,
        socket_connect_timeout=WAIT,
        retry=Retry(NoBackoff(), 0),  # redis-py retries a timeout 3 times by default
    )
    with pytest.raises(redis.exceptions.TimeoutError):  # a real client times out as well
        cut.call(client.ping)
    network.heal(cut)
    assert reaches(cut, network.bridge_address, network.redis_port)


def test_cut_stalls_an_established_connection_and_heal_resumes_it(network: Network) -> None:
    host = network.hosts[0]
    sock = host.connect(network.bridge_address, network.redis_port, timeout=WAIT)
    with sock:
        assert ping(sock) == b"+PONG\r\n"
        network.cut(host)
        sock.sendall(b"PING\r\n")  # accepted into the send buffer: no error
        with pytest.raises(TimeoutError):
            sock.recv(64)
        network.heal(host)
        # TCP's retransmission delivers the PING and its answer on the same connection.
        sock.settimeout(10)
        assert sock.recv(64) == b"+PONG\r\n"


def test_cut_only_postgres_leaves_redis_reachable(network: Network) -> None:
    host = network.hosts[2]
    network.cut(host, only="postgres")
    assert reaches(host, network.bridge_address, network.redis_port)
    assert host.call(lambda: redis.Redis.from_url(network.redis_url, socket_timeout=2).ping())
    assert not reaches(host, network.bridge_address, network.postgres_port)
    network.heal()
    network.cut(host, only="redis")
    assert reaches(host, network.bridge_address, network.postgres_port)
    assert not reaches(host, network.bridge_address, network.redis_port)


def test_cut_from_one_host_leaves_the_others(network: Network) -> None:
    first, second, third = network.hosts
    server = second.call(lambda: socket.create_server((second.address, 0)))
    with server:
        port = int(server.getsockname()[1])
        network.cut(first, only=second)
        assert not reaches(first, second.address, port)
        assert reaches(third, second.address, port)
        assert reaches(first, network.bridge_address, network.redis_port)


def test_cut_in_one_direction(network: Network) -> None:
    """UDP shows each direction alone: "out" drops what the host sends, "in" what it gets."""
    host = network.hosts[0]
    root = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    root.bind((network.bridge_address, 0))
    inside = host.call(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    inside.bind((host.address, 0))
    with root, inside:
        root.settimeout(0.5)
        inside.settimeout(0.5)

        def sent_out() -> bool:
            try:
                inside.sendto(b"out", root.getsockname())
                return root.recv(16) == b"out"
            except PermissionError:  # a local OUTPUT drop tells a UDP sender (EPERM)
                return False
            except TimeoutError:
                return False

        def came_in() -> bool:
            root.sendto(b"in", inside.getsockname())
            try:
                return inside.recv(16) == b"in"
            except TimeoutError:
                return False

        assert sent_out() and came_in()
        network.cut(host, direction="out")
        assert not sent_out() and came_in()
        network.heal(host)
        network.cut(host, direction="in")
        assert sent_out() and not came_in()
        # Either direction alone is enough to stop TCP.
        assert not reaches(host, network.bridge_address, network.redis_port)
        network.heal()
        assert sent_out() and came_in()


def test_restart_redis_keeps_address_and_data_unless_emptied(network: Network) -> None:
    url = network.redis_url
    client = redis.Redis.from_url(url, socket_timeout=5)
    client.set("kept", "1")
    network.restart_redis()  # SIGTERM: Redis shuts down cleanly
    assert network.redis_url == url
    assert client.get("kept") == b"1"  # the append-only file was read back
    client.set("after-kill", "2")
    network.restart_redis(kill=True)  # the AOF is written before the reply: nothing lost
    assert client.get("after-kill") == b"2"
    network.restart_redis(empty=True)
    assert network.redis_url == url
    assert client.get("kept") is None
    host = network.hosts[0]
    assert host.call(lambda: redis.Redis.from_url(url, socket_timeout=2).ping())


def test_restart_postgres_keeps_address_and_data(network: Network) -> None:
    url = network.postgres_url
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE kept (x int)")
        db.execute("INSERT INTO kept VALUES (1)")
    network.restart_postgres()  # a fast shutdown writes everything out
    assert network.postgres_url == url
    with psycopg.connect(url, autocommit=True) as db:
        assert db.execute("SELECT x FROM kept").fetchall() == [(1,)]
        # synchronous_commit is off for the cluster: a session that needs its commits to
        # survive a kill turns it on.
        db.execute("SET synchronous_commit = on")
        db.execute("INSERT INTO kept VALUES (2)")
    network.restart_postgres(kill=True)  # crash recovery
    with psycopg.connect(url) as db:
        assert db.execute("SELECT x FROM kept ORDER BY x").fetchall() == [(1,), (2,)]
    assert network.hosts[0].call(lambda: psycopg.connect(url, connect_timeout=2).close()) is None


def test_forward_relays_a_root_namespace_service(network: Network) -> None:
    host = network.hosts[1]
    with echo_server() as target:
        port = network.forward(target)
        sock = host.connect(network.bridge_address, port, timeout=WAIT)
        with sock:
            sock.sendall(b"hello")
            assert sock.recv(16) == b"hello"
        network.cut(host, only=(network.bridge_address, port))
        assert not reaches(host, network.bridge_address, port)


def test_reset_ends_processes_cuts_and_data(network: Network) -> None:
    host = network.hosts[0]
    held = host.popen(["sleep", "600"])
    # setsid forks a child that leaves the process group: found through the namespace.
    host.popen(["setsid", "sleep", "601"]).wait(5)
    deadline = time.monotonic() + 5
    while len(host.pids()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    escaped = set(host.pids()) - {held.pid}
    assert escaped
    network.cut(host)
    redis.Redis.from_url(network.redis_url).set("old", "1")
    with psycopg.connect(network.postgres_url) as db:
        db.execute("CREATE TABLE old (x int)")
    network.reset()
    assert held.poll() is not None
    assert host.pids() == []
    assert reaches(host, network.bridge_address, network.redis_port)
    assert redis.Redis.from_url(network.redis_url).get("old") is None
    with psycopg.connect(network.postgres_url) as db:
        assert db.execute("SELECT to_regclass('old')").fetchone() == (None,)


def leftovers(net: Network, pids: list[int]) -> list[str]:
    """What of ``net`` is still on the machine: namespaces, links, processes, files."""
    found = []
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line for line in names.splitlines() if line.startswith(f"orch{net.subnet}-")]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [
        line.split(":")[1].strip()
        for line in links.splitlines()
        if f"orchbr{net.subnet}" in line or f"vorch{net.subnet}-" in line
    ]
    processes = subprocess.run(
        ["pgrep", "-af", f"redis-server|postgres.*{net.bridge_address}"],
        capture_output=True,
        text=True,
    ).stdout
    found += [line for line in processes.splitlines() if net.bridge_address in line]
    for pid in pids:  # the server's sessions: PostgreSQL's backends have other names
        if subprocess.run(["pgrep", "-s", str(pid)], capture_output=True).returncode == 0:
            found.append(f"processes of session {pid}")
    if net.tmp is not None and net.tmp.exists():
        found.append(str(net.tmp))
    return found


def test_close_leaves_nothing_behind(network: Network) -> None:
    """A second Network beside the fixture's: its own subnet, then nothing left of it."""
    net = Network(hosts=2)
    started = time.monotonic()
    net.start()
    try:
        assert time.monotonic() - started < 5
        assert net.subnet != network.subnet
        assert reaches(net.hosts[0], net.bridge_address, net.redis_port)
        # Another Network's subnet is outside a host's own: the guard rejects it at once.
        with pytest.raises(OSError) as rejected:
            net.hosts[0].connect(network.bridge_address, network.redis_port, timeout=WAIT)
        assert not isinstance(rejected.value, TimeoutError)
        process = net.hosts[0].popen(["sleep", "600"])
        net.hosts[1].popen(["setsid", "sleep", "600"])
        net.forward(9)
        assert net._redis is not None and net._postgres is not None
        pids = [process.pid, net._redis.pid, net._postgres.pid]
        assert leftovers(net, []) != []  # the check sees a running Network
    finally:
        net.close()
    net.close()  # idempotent
    assert process.poll() is not None
    assert leftovers(net, pids) == []


def test_close_after_a_failed_start_leaves_nothing_behind(
    multihost_ready: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Network) -> None:
        raise RuntimeError("PostgreSQL would not start")

    monkeypatch.setattr(Network, "_start_postgres", broken)
    net = Network(hosts=2)
    with pytest.raises(RuntimeError, match="would not start"):
        net.start()
    assert net.subnet and not net.running
    assert leftovers(net, []) == []
    net.close()


def test_logs_of_host_processes(network: Network, tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    network.hosts[0].popen(["sh", "-c", "echo hello; echo oops >&2"], log=log).wait(5)
    assert log.read_text().split() == ["hello", "oops"]
    default = network.hosts[0].popen(["echo", "to the default log"])
    default.wait(5)
    path = network.log_path(default)
    assert path is not None and path.read_text() == "to the default log\n"
