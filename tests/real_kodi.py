"""A real Kodi (Debian's ``kodi.bin``) for the tests, headless under Xvfb, on loopback only.

``RealKodi`` starts Kodi with a private home, its web server (JSON-RPC over HTTP) on a free
port with Basic auth, and the video sources given; a source with a content type gets its
row in the video database's ``path`` table (content and scraper live there, not in
sources.xml), with the bundled "Local information only" scraper, which reads NFO files and
needs no internet. ``kodi_missing()`` says why a real Kodi cannot run here, for a skip::

    pytestmark = pytest.mark.skipif(bool(kodi_missing()), reason=kodi_missing() or "")

    with RealKodi(tmp_path / "kodi", [KodiSource(str(movies), "movies")]) as kodi:
        kodi.call("VideoLibrary.Scan", {"directory": f"{folder}/", "showdialogs": False})

Kodi 20's web server binds the wildcard address whatever its settings say, so kodi.bin runs
with a tiny ``LD_PRELOAD`` object (C, built with gcc once per process) that turns wildcard
``bind()`` calls into loopback ones. Every ``RealKodi`` still running when the interpreter
exits is stopped then, so no Kodi or Xvfb outlives the test run.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

# Debian installs it under the multiarch directory (/usr/lib/<triplet>/kodi/kodi.bin).
KODI_BIN: str = next(iter(sorted(glob.glob("/usr/lib/*/kodi/kodi.bin"))), "")

START_TIMEOUT = 60.0  # seconds until JSON-RPC must answer Ping
DATABASE_TIMEOUT = 30.0  # seconds until Kodi has created its video database
SCAN_TIMEOUT = 120.0  # seconds a full scan may take
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL

# The scanner settings Kodi itself stores for a "movies" / "tvshows" source: movies are
# searched in every sub-folder (INT32_MAX) and named by their folder, which is what makes
# metadata.local read ``movie.nfo``; a TV source's sub-folders are the shows themselves.
_SCAN_RECURSIVE = {"movies": 2147483647, "tvshows": 0}
_USE_FOLDER_NAMES = {"movies": 1, "tvshows": 0}

# The LD_PRELOAD shim: wildcard binds become loopback binds, every other bind is untouched.
_SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    static bind_fn real_bind;
    if (!real_bind)
        real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in in4 = *(const struct sockaddr_in *)addr;
        if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
            in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            return real_bind(fd, (const struct sockaddr *)&in4, sizeof in4);
        }
    } else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6 = *(const struct sockaddr_in6 *)addr;
        if (IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
            in6.sin6_addr = in6addr_loopback;
            return real_bind(fd, (const struct sockaddr *)&in6, sizeof in6);
        }
    }
    return real_bind(fd, addr, len);
}
"""

_shim_lock = threading.Lock()
_shim_path: Path | None = None


def kodi_missing() -> str | None:
    """None when a real Kodi can run here, else the reason."""
    if not KODI_BIN:
        return "no kodi.bin (Debian package kodi) under /usr/lib/*/kodi/"
    if not shutil.which("Xvfb"):
        return "no Xvfb (package xvfb) for Kodi's display"
    if not shutil.which("gcc"):
        return "no gcc to build the loopback bind() shim"
    return None


def _loopback_shim() -> Path:
    """The shim's shared object, built once per process into a temp dir named by its hash.

    Another process (pytest-xdist) may build the same file at the same moment: each one
    compiles to a name of its own and renames it into place, which is atomic.
    """
    global _shim_path
    with _shim_lock:
        if _shim_path is not None:
            return _shim_path
        digest = hashlib.sha256(_SHIM_SOURCE.encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"real-kodi-shim-{digest}"
        folder.mkdir(exist_ok=True)
        target = folder / "loopback-bind.so"
        source = folder / f"loopback-bind.{os.getpid()}.c"
        built = folder / f"loopback-bind.{os.getpid()}.so"
        source.write_text(_SHIM_SOURCE)
        try:
            subprocess.run(
                ["gcc", "-shared", "-fPIC", "-O2", "-o", str(built), str(source), "-ldl"],
                check=True,
                capture_output=True,
                text=True,
            )
        except subprocess.CalledProcessError as error:
            raise RuntimeError(f"gcc could not build the bind() shim:\n{error.stderr}") from error
        finally:
            source.unlink(missing_ok=True)
        os.replace(built, target)
        _shim_path = target
        return target


def _free_port() -> int:
    """A port free on 127.0.0.1 for both TCP and UDP (the event server is UDP)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(type=socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


def _write_xml(path: Path, root: ET.Element) -> None:
    """Write ``root`` to ``path`` (ElementTree escapes the values, e.g. the password)."""
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


@dataclass(frozen=True)
class KodiSource:
    """A video source of the real Kodi."""

    path: str  # absolute folder, Kodi's view; trailing "/" added by the harness
    # "movies", "tvshows", None (a video source with no content type set), or "music" (a
    # music source: Kodi's music library reads the files' tags, no content type to set)
    content: str | None


# Every RealKodi started and not yet stopped (strong references: one a test dropped without
# stop() must still be found), stopped at interpreter exit.
_running: set[RealKodi] = set()


@atexit.register
def _stop_all() -> None:
    for kodi in list(_running):
        kodi.stop()


class RealKodi:
    """Kodi under its own Xvfb, serving JSON-RPC on ``url`` (+ ``/jsonrpc``) with Basic auth."""

    def __init__(
        self,
        home: Path,
        sources: list[KodiSource],
        username: str = "kodi",
        password: str = "kodi-pass",
    ) -> None:
        self.home = Path(home).resolve()
        self.sources = [
            KodiSource(source.path.rstrip("/") + "/", source.content) for source in sources
        ]
        for source in self.sources:
            if not source.path.startswith("/"):
                raise ValueError(f"a source path must be absolute: {source.path!r}")
            if source.content not in (None, "movies", "tvshows", "music"):
                raise ValueError(f"unknown content type {source.content!r}")
        self.username = username
        self.password = password
        # Three ports of its own, so two instances (or a Kodi of the machine) never collide.
        self.port = _free_port()  # the web server
        self.tcp_port = _free_port()  # raw JSON-RPC (notifications), default 9090
        self.event_port = _free_port()  # the UDP event server, default 9777
        self.url = f"http://127.0.0.1:{self.port}"
        self.userdata = self.home / ".kodi" / "userdata"
        self.log_path = self.home / ".kodi" / "temp" / "kodi.log"
        self.startup_seconds: float | None = None  # from launching kodi.bin to Ping's answer
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._kodi: subprocess.Popen[bytes] | None = None
        self._request_id = 0

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start Xvfb and kodi.bin, wait until JSON-RPC answers, then set the content types."""
        if self._kodi is not None:
            raise RuntimeError("this Kodi is already running")
        reason = kodi_missing()
        if reason:
            raise RuntimeError(f"a real Kodi cannot run here: {reason}")
        shim = _loopback_shim()
        self._write_home()
        _running.add(self)
        try:
            display = self._start_xvfb()
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "HOME": str(self.home),
                "DISPLAY": display,
                "LIBGL_ALWAYS_SOFTWARE": "1",  # no GPU: Mesa's software renderer
                "LD_PRELOAD": str(shim),
            }
            started = time.monotonic()
            with open(self.home / "kodi.out", "ab") as out:
                self._kodi = subprocess.Popen(
                    [KODI_BIN, "--windowing=x11"],
                    env=env,
                    cwd=self.home,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, for stop()
                )
            self._wait_for_ping(started)
            self.startup_seconds = time.monotonic() - started
            self._set_content_types()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill Kodi, then Xvfb (whole process groups); safe to call more than once."""
        for process in (self._kodi, self._xvfb):
            if process is not None:
                _stop_group(process)
        self._kodi = self._xvfb = None
        _running.discard(self)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- talking to it ------------------------------------------------------------------

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """One JSON-RPC call; returns its result, raises RuntimeError on an error answer.

        An "OK" from Kodi's library methods only means the job was queued.
        """
        self._request_id += 1
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": self._request_id, "method": method}
        if params is not None:
            body["params"] = params
        response = httpx.post(
            f"{self.url}/jsonrpc",
            json=body,
            auth=(self.username, self.password),
            timeout=timeout,
        )
        if response.status_code != 200:  # e.g. 401 (no JSON body) on wrong credentials
            raise RuntimeError(f"{method}: HTTP {response.status_code} {response.text[:500]}")
        answer = response.json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result")

    def log(self) -> str:
        """Kodi's own log (``kodi.log``) so far, or "" before Kodi has written one."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def full_scan(self) -> None:
        """Scan every video source and return once the scan has finished.

        A scan of a few folders can be over before the first poll: when ``IsScanning`` has
        not been seen true within ~2 s, the scan is taken as done.
        """
        self.call("VideoLibrary.Scan", {"showdialogs": False})
        started = time.monotonic()
        seen = False
        while True:
            scanning = self._is_scanning()
            seen = seen or scanning
            elapsed = time.monotonic() - started
            if not scanning and (seen or elapsed > 2.0):
                return
            if elapsed > SCAN_TIMEOUT:
                raise RuntimeError(f"the full scan did not finish in {SCAN_TIMEOUT} s")
            time.sleep(0.05)

    def _is_scanning(self) -> bool:
        answer = self.call("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanning"]})
        return bool(answer["Library.IsScanning"])

    # --- set-up ---------------------------------------------------------------------------

    def _write_home(self) -> None:
        """The private home: a silent ALSA device and Kodi's settings and sources."""
        self.userdata.mkdir(parents=True, exist_ok=True)
        # No sound card: without a null default device Kodi retries its audio output every
        # 500 ms and starts ~6 s slower.
        (self.home / ".asoundrc").write_text("pcm.!default { type null }\n")

        settings = {
            "services.webserver": "true",
            "services.webserverport": str(self.port),
            "services.webserverauthentication": "true",
            "services.webserverusername": self.username,
            "services.webserverpassword": self.password,
            "services.webserverssl": "false",
            # Nothing announced or opened beyond what the tests use (wsdiscovery opens UDP
            # 3702, the others multicast); the event server only moves off 9777.
            "services.zeroconf": "false",
            "services.upnp": "false",
            "services.airplay": "false",
            "services.wsdiscovery": "false",
            "services.esport": str(self.event_port),
            # The null ALSA device has no clock: an open audio output spins a CPU core.
            "audiooutput.streamsilence": "0",
            "audiooutput.guisoundmode": "0",
            # Only the scans the tests ask for; no add-on update checks (no internet).
            "videolibrary.updateonstartup": "false",
            "videolibrary.backgroundupdate": "true",
            "musiclibrary.updateonstartup": "false",
            "musiclibrary.backgroundupdate": "true",
            "general.addonupdates": "2",
            "general.addonnotifications": "false",
            "screensaver.mode": "",
        }
        root = ET.Element("settings", version="2")
        for setting_id, value in settings.items():
            ET.SubElement(root, "setting", id=setting_id).text = value
        _write_xml(self.userdata / "guisettings.xml", root)

        advanced = ET.Element("advancedsettings", version="1.0")
        ET.SubElement(ET.SubElement(advanced, "jsonrpc"), "tcpport").text = str(self.tcp_port)
        _write_xml(self.userdata / "advancedsettings.xml", advanced)

        sources = ET.Element("sources")
        sections = {media: ET.SubElement(sources, media) for media in ("video", "music")}
        for section in sections.values():
            ET.SubElement(section, "default", pathversion="1")
        for number, source in enumerate(self.sources, 1):
            entry = ET.SubElement(sections["music" if source.content == "music" else "video"],
                                  "source")  # fmt: skip
            # Names must be unique; Kodi shows them, the tests go by path.
            ET.SubElement(entry, "name").text = f"{number} {Path(source.path).name}"
            ET.SubElement(entry, "path", pathversion="1").text = source.path
            ET.SubElement(entry, "allowsharing").text = "true"
        _write_xml(self.userdata / "sources.xml", sources)

    def _start_xvfb(self) -> str:
        """Start Xvfb on a display number it finds free itself; returns ":N"."""
        read_end, write_end = os.pipe()
        try:
            with open(self.home / "xvfb.out", "ab") as out:
                self._xvfb = subprocess.Popen(
                    # -displayfd: Xvfb takes the first free display and writes its number
                    # to the pipe once it accepts clients (no race with another Xvfb).
                    ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1280x720x24"]
                    + ["-nolisten", "tcp"],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_end,),
                    start_new_session=True,
                )
            os.close(write_end)
            write_end = -1
            number = b""
            deadline = time.monotonic() + 30
            while not number.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([read_end], [], [], left)[0]:
                    raise RuntimeError("Xvfb did not report its display within 30 s")
                chunk = os.read(read_end, 16)
                if not chunk:
                    output = (self.home / "xvfb.out").read_text(errors="replace")
                    raise RuntimeError(f"Xvfb exited before it was ready:\n{output[-2000:]}")
                number += chunk
            return f":{int(number)}"
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)

    def _wait_for_ping(self, started: float) -> None:
        """Wait until JSON-RPC answers Ping (connection refused until the web server is up)."""
        assert self._kodi is not None
        while True:
            if self._kodi.poll() is not None:
                raise RuntimeError(
                    f"kodi.bin exited with {self._kodi.returncode}:\n{self._log_tail()}"
                )
            left = START_TIMEOUT - (time.monotonic() - started)
            try:
                # Each try is short, so that a hanging answer cannot stretch the bound.
                if self.call("JSONRPC.Ping", timeout=min(5.0, max(left, 0.5))) == "pong":
                    return
            except (httpx.HTTPError, RuntimeError):
                pass
            if time.monotonic() - started > START_TIMEOUT:
                raise RuntimeError(
                    f"Kodi did not answer JSON-RPC within {START_TIMEOUT} s:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _set_content_types(self) -> None:
        """Give each source with a content type its row in the video database's path table.

        That is what "Set content" in Kodi's GUI stores; Kodi reads the row at each scan, so
        writing it while Kodi runs needs no restart. Kodi creates the database (its schema
        version is in the name, MyVideos121.db for Kodi 20) at first start.
        """
        typed = [source for source in self.sources if source.content not in (None, "music")]
        if not typed:
            return
        database = self._video_database()
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        with sqlite3.connect(database, timeout=10) as connection:
            for source in typed:
                assert source.content is not None
                values = {
                    "strContent": source.content,
                    "strScraper": "metadata.local",
                    "scanRecursive": _SCAN_RECURSIVE[source.content],
                    "useFolderNames": _USE_FOLDER_NAMES[source.content],
                    "strSettings": "",
                    "noUpdate": 0,
                    "exclude": 0,
                    "allAudio": 0,
                    "dateAdded": now,
                    "idParentPath": None,
                }
                # A restart on the same home finds its row already there.
                row = connection.execute(
                    "SELECT idPath FROM path WHERE strPath = ?", (source.path,)
                ).fetchone()
                if row:
                    assignments = ", ".join(f"{column} = ?" for column in values)
                    connection.execute(
                        f"UPDATE path SET {assignments} WHERE idPath = ?",
                        (*values.values(), row[0]),
                    )
                else:
                    columns = ", ".join(["strPath", *values])
                    marks = ", ".join("?" * (len(values) + 1))
                    connection.execute(
                        f"INSERT INTO path ({columns}) VALUES ({marks})",
                        (source.path, *values.values()),
                    )
        connection.close()

    def _video_database(self) -> Path:
        """The newest ``MyVideos*.db``, waiting until Kodi has created it."""
        folder = self.userdata / "Database"
        deadline = time.monotonic() + DATABASE_TIMEOUT
        while True:
            versions = {
                int(path.stem[len("MyVideos") :]): path
                for path in folder.glob("MyVideos*.db")
                if path.stem[len("MyVideos") :].isdigit()
            }
            if versions:
                return versions[max(versions)]
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"no video database after {DATABASE_TIMEOUT} s:\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after STOP_GRACE, and reap the leader."""
    group = process.pid  # start_new_session: the group id is the leader's pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(STOP_GRACE)
    # Also after a clean exit of the leader: anything it left in its group goes too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait()
