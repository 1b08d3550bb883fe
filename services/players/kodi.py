"""Kodi over HTTP JSON-RPC 2.0 (``POST <url>/jsonrpc``).

What a real Kodi 20 does with each call decides what is sent (docs/design.md §4.6): "OK"
means only "queued"; a scan never removes anything, only ``VideoLibrary.Clean`` does, and
only given the source's content (``movies`` or ``tvshows``, never ``video``); a new show or
season is matched only when the show folder is scanned; a folder created after Kodi last
listed its parent is skipped until the parent is listed again. So the client cleans,
refreshes the parent, scans what Kodi can match, then reads Kodi's library until the
change is there.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable
from typing import Any

from services.players.base import (
    PlayerBusy,
    PlayerError,
    PlayerNotUpdated,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
    contains,
    identify,
    json_body,
    request,
    require_directory,
    with_separator,
)

# Kodi's web server asks for Basic auth in the realm "XBMC" (quoted or not).
_KODI_REALM = re.compile(r'realm="?(xbmc|kodi)\b', re.IGNORECASE)

# JSON-RPC API version from which VideoLibrary.Clean takes a directory (Kodi 19).
CLEAN_BY_DIRECTORY = 12

# How often the library is read while waiting for a change to show (a folder's scan takes
# Kodi 15-45 ms and its item shows about 0.1 s after the call).
# Where Kodi lists each content's items: the method and the key of its answer.
ITEMS_OF_CONTENT = {
    "movies": ("VideoLibrary.GetMovies", "movies"),
    "tvshows": ("VideoLibrary.GetEpisodes", "episodes"),
    "music": ("AudioLibrary.GetSongs", "songs"),
}
POLL_INTERVAL = 0.05
# Waiting for a clean to end before scanning, even with verification off: a scan sent while
# Kodi cleans is dropped (a clean of a few folders takes 15-40 ms, of 2,000 movies 0.4 s).
MIN_WAIT = 5.0


def kodi_directory(directory: str) -> str:
    """``directory`` with exactly one trailing separator of its own style (``/`` or ``\\``).

    Kodi wants a folder with a trailing separator (without it a movie folder is scanned but
    its ``movie.nfo`` is not read); the path form (smb://, nfs://, a local or a Windows
    path) is the player's and is otherwise kept as given.
    """
    require_directory(directory)
    return with_separator(directory)


def parent_directory(directory: str) -> str:
    """The folder holding ``directory``, with its trailing separator."""
    folder = kodi_directory(directory)
    separator = folder[-1]
    head = folder[:-1].rpartition(separator)[0]
    return head + separator if head and not head.endswith(":/") else folder


def _files_of(item: dict[str, Any]) -> list[str]:
    """The file paths of a library item; a stacked movie (``stack://a , b``) has several."""
    file = item.get("file")
    if not isinstance(file, str):
        return []
    if file.startswith("stack://"):
        return file.removeprefix("stack://").split(" , ")
    return [file]


class KodiClient:
    """A Kodi instance; Basic auth only when a username is set."""

    TYPES = {"kodi": "Kodi"}

    def __init__(self, settings: PlayerSettings) -> None:
        self.settings = settings
        base = settings.url.rstrip("/")
        self.endpoint = base if base.endswith("/jsonrpc") else f"{base}/jsonrpc"
        self._ids = itertools.count(1)

    @property
    def where(self) -> str:
        """This Kodi, for messages (no credentials)."""
        return self.settings.describe()

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Run one JSON-RPC method and return its ``result``."""
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            body["params"] = params
        auth = None
        if self.settings.username:
            auth = (self.settings.username, self.settings.password or "")
        response = request(self.settings, "POST", self.endpoint, json=body, auth=auth)
        answer = json_body(self.settings, response)
        if not isinstance(answer, dict):
            raise PlayerUnavailable(f"{self.where}: {method} answer is not a JSON-RPC object")
        error = answer.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else error
            raise PlayerError(
                self.settings.redact(f"{self.where}: {method} error {code}: {message}")
            )
        if "result" not in answer:
            raise PlayerUnavailable(f"{self.where}: {method} answer has no result")
        return answer["result"]

    def _ping(self) -> None:
        pong = self.call("JSONRPC.Ping")
        if pong != "pong":
            raise PlayerUnavailable(f"{self.where}: Ping answered {pong!r}")

    def ping(self) -> dict[str, Any]:
        """``JSONRPC.Ping`` then ``JSONRPC.Version``; returns ``{"version": "13.5.0"}``.

        Only a ``pong`` and a well-formed version make it a Kodi; a 401 is Kodi refusing the
        credentials only in Kodi's realm. Anything else is ``NotThisPlayer``.
        """
        version = identify(self.settings, self.TYPES["kodi"], self._pong_version, _KODI_REALM)
        return {"version": version}

    def _pong_version(self) -> str:
        """``JSONRPC.Ping``, then the version ``JSONRPC.Version`` gives."""
        self._ping()
        return "{}.{}.{}".format(*self._version())

    def _version(self) -> tuple[int, int, int]:
        version = self.call("JSONRPC.Version")
        try:
            number = version["version"]
            return int(number["major"]), int(number["minor"]), int(number["patch"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PlayerUnavailable(f"{self.where}: unexpected JSONRPC.Version answer") from exc

    def is_scanning(self) -> bool:
        """Whether a library scan runs now (``Library.IsScanning``)."""
        result = self.call("XBMC.GetInfoBooleans", {"booleans": ["Library.IsScanning"]})
        value = result.get("Library.IsScanning") if isinstance(result, dict) else None
        if not isinstance(value, bool):
            raise PlayerUnavailable(f"{self.where}: unexpected IsScanning answer")
        return value

    # --- reading what Kodi has ------------------------------------------------------------

    def sources(self, media: str = "video") -> list[str] | None:
        """The folders of Kodi's video (or ``media`` "music") sources (``Files.GetSources``),
        as Kodi writes them."""
        result = self.call("Files.GetSources", {"media": media})
        sources = result.get("sources") if isinstance(result, dict) else None
        return [s["file"] for s in sources or [] if isinstance(s, dict) and "file" in s]

    def library_files(self, directory: str, content: str) -> list[str]:
        """The files of Kodi's movies (``content`` "movies"), episodes ("tvshows") or songs
        ("music") under ``directory``."""
        method, key = ITEMS_OF_CONTENT.get(content, ("VideoLibrary.GetEpisodes", "episodes"))
        folder = kodi_directory(directory)
        result = self.call(
            method,
            {
                "properties": ["file"],
                "filter": {"field": "path", "operator": "startswith", "value": folder},
            },
        )
        items = result.get(key) if isinstance(result, dict) else None
        files = [file for item in items or [] if isinstance(item, dict) for file in _files_of(item)]
        return [file for file in files if contains(folder, file)]

    def _readable(self, directory: str) -> bool:
        """Whether Kodi can list ``directory`` (``Files.GetDirectory``, which also refreshes
        Kodi's cached listing of it)."""
        try:
            self.call("Files.GetDirectory", {"directory": directory, "media": "files"})
        except PlayerUnavailable:
            raise
        except PlayerError:
            return False
        return True

    # --- asking Kodi to change --------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any]) -> None:
        result = self.call(method, params)
        if result != "OK":
            raise PlayerError(f"{self.where}: {method} answered {result!r}")

    def clean(self, directory: str, content: str) -> str:
        """Remove from Kodi's library the items under ``directory`` whose files are gone.

        Kodi cleans only given the content of the folder's source (with "video" it does
        nothing, silently) and without dialogs (with them the call hangs on a modal one).
        """
        folder = kodi_directory(directory)
        self._send(
            "VideoLibrary.Clean", {"directory": folder, "content": content, "showdialogs": False}
        )
        return folder

    def scan_folder(self, directory: str, library: str = "VideoLibrary") -> str:
        """List the parent of ``directory`` (so that Kodi sees a folder created since it last
        did), then scan ``directory`` into ``library`` (``VideoLibrary`` or
        ``AudioLibrary``); returns the folder scanned."""
        folder = kodi_directory(directory)
        parent = parent_directory(folder)
        if parent != folder:
            # Refreshes Kodi's directory cache. A parent Kodi cannot read shows in the
            # scan's outcome, not as a failure of its own.
            self._readable(parent)
        self._send(f"{library}.Scan", {"directory": folder, "showdialogs": False})
        return folder

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """Bring Kodi's library up to date with ``target``, then check that it is.

        A deleted or changed folder whose lost files Kodi still lists is cleaned first, and
        the clean waited for: a scan sent while Kodi cleans is dropped. A folder still there is
        then scanned: its show folder instead when Kodi holds no episode of a TV folder yet
        (a new show or season is matched only from its show folder). If the change does
        not show within ``target.verify_within``, the fallback folder (the show folder, or
        the parent) is scanned and checked once more; then ``PlayerNotUpdated`` names what
        Kodi did not pick up and the likely cause.
        """
        folder = kodi_directory(target.directory)
        self._ping()
        if target.content == "music":
            return self._notify_music(target, folder)
        can_clean = self._version()[0] >= CLEAN_BY_DIRECTORY
        # A second scan or clean does not queue: it cancels the running one, or is refused.
        if self.is_scanning():
            raise PlayerBusy(f"{self.where}: a library scan is already running")
        gone = target.gone
        sent: list[str] = []
        # Only what Kodi lists and the disk lost needs a clean (for TV it cleans the whole
        # source, which on a share takes a while); a whole library is cleaned when changed.
        changed = target.update_type != "Created"
        if can_clean and changed and (target.files is None or self._stale(target)):
            cleaned = self.clean(self._clean_directory(target), target.content)
            sent.append(f"VideoLibrary.Clean {cleaned}")
            self._wait_until(max(target.verify_within, MIN_WAIT), lambda: self._cleaning(target))
            if gone and target.show_directory and contains(folder, target.show_directory):
                sent.extend(self._remove_show(target.show_directory))
        if not (gone and can_clean):
            scan = self.scan_folder(self._scan_folder_for(target))
            sent.append(f"VideoLibrary.Scan {scan}")
        details: dict[str, Any] = {"directory": folder, "sent": sent}
        unchecked = self._unchecked(target, unseen_deletion=gone and not can_clean)
        if unchecked:
            return {**details, "verified": False, "verification": unchecked}
        problem = self._wait_until(target.verify_within, lambda: self._difference(target))
        fallback = None if gone else self._fallback_for(target)
        if problem is not None and fallback is not None:
            fallback = self.scan_folder(fallback)
            sent.append(f"VideoLibrary.Scan {fallback}")
            problem = self._wait_until(target.verify_within, lambda: self._difference(target))
        if problem is not None:
            raise PlayerNotUpdated(f"{self.where}: {problem}; {self._likely_cause(target, gone)}")
        what = "no longer lists" if gone else "lists"
        return {**details, "verified": True, "verification": f"Kodi {what} the folder's media"}

    def _notify_music(self, target: ScanTarget, folder: str) -> dict[str, Any]:
        """Bring Kodi's music library up to date with ``target``, then check that it is.

        As a real Kodi 20 does it: a scan of a folder still there adds its songs and drops
        those of its own files that are gone, but keeps the songs of a sub-folder that is
        gone (an album deleted under its artist's folder), and a clean of music is only
        ever whole. So the folder is scanned first, waited for; then, only while Kodi still
        lists songs whose files are gone, the whole music library is cleaned.
        """
        if self.is_scanning():
            raise PlayerBusy(f"{self.where}: a library scan is already running")
        gone = target.gone
        sent = []
        wait = max(target.verify_within, MIN_WAIT)
        if not gone:
            sent.append(f"AudioLibrary.Scan {self.scan_folder(folder, 'AudioLibrary')}")
            self._wait_until(wait, lambda: self._still_scanning() or self._missing(target))
        whole_changed = target.files is None and target.update_type != "Created"
        if whole_changed or self._stale(target):
            self._send("AudioLibrary.Clean", {"showdialogs": False})
            sent.append("AudioLibrary.Clean")
            self._wait_until(wait, lambda: self._cleaning(target))
        details: dict[str, Any] = {"directory": folder, "sent": sent}
        unchecked = self._unchecked(target, unseen_deletion=False)
        if unchecked:
            return {**details, "verified": False, "verification": unchecked}
        problem = self._wait_until(target.verify_within, lambda: self._difference(target))
        if problem is not None:
            raise PlayerNotUpdated(f"{self.where}: {problem}; {self._likely_cause(target, gone)}")
        what = "no longer lists" if gone else "lists"
        return {**details, "verified": True, "verification": f"Kodi {what} the folder's songs"}

    def _still_scanning(self) -> str | None:
        """Kodi's library is busy (a scan or a clean), in words; None when it is not."""
        return "Kodi is still scanning" if self.is_scanning() else None

    def _missing(self, target: ScanTarget) -> str | None:
        """The files of ``target`` Kodi's library does not hold yet, in words."""
        missing = sorted((target.files or frozenset()) - self._held(target))
        return f"Kodi did not add {', '.join(missing[:5])}" if missing else None

    @staticmethod
    def _unchecked(target: ScanTarget, unseen_deletion: bool) -> str | None:
        """Why the outcome of ``target`` is not checked, or None when it is
        (``unseen_deletion``: a deletion this Kodi cannot clean)."""
        if target.verify_within <= 0:
            return "verification is off"
        if target.files is None:
            return "a whole library is not checked item by item"
        if unseen_deletion:
            return "Kodi before 19 cannot clean one folder: deleted items stay until a full clean"
        return None

    @staticmethod
    def _clean_directory(target: ScanTarget) -> str:
        """Where Kodi can clean ``target``: a movie folder itself, but for TV only the
        source (Kodi cleans "tvshows" only where that content is set, the library's
        folder; elsewhere it does nothing, silently)."""
        if target.content == "tvshows" and target.library_directory:
            return target.library_directory
        return target.directory

    def _remove_show(self, show_directory: str) -> list[str]:
        """Remove the show of a deleted show folder: a clean drops its episodes, not it."""
        result = self.call("VideoLibrary.GetTVShows", {"properties": ["file"]})
        shows = result.get("tvshows") if isinstance(result, dict) else None
        folder = kodi_directory(show_directory)
        sent = []
        for show in shows or []:
            if isinstance(show, dict) and show.get("file") == folder:
                self.call("VideoLibrary.RemoveTVShow", {"tvshowid": show["tvshowid"]})
                sent.append(f"VideoLibrary.RemoveTVShow {show['tvshowid']}")
        return sent

    def _scan_folder_for(self, target: ScanTarget) -> str:
        """The folder to scan: ``target``'s, or its show's when Kodi knows neither yet."""
        show = target.show_directory
        if target.content != "tvshows" or show is None or contains(target.directory, show):
            return target.directory
        known = self.library_files(target.directory, target.content)
        return target.directory if known else show

    def _fallback_for(self, target: ScanTarget) -> str | None:
        """The folder to scan when the first scan did not show: the show folder, else the
        parent."""
        show = target.show_directory
        if target.content == "tvshows" and show and not contains(target.directory, show):
            return show
        parent = parent_directory(target.directory)
        return parent if parent != kodi_directory(target.directory) else None

    @staticmethod
    def _wait_until(seconds: float, problem: Callable[[], str | None]) -> str | None:
        """Call ``problem`` until it finds none (None), or ``seconds`` have passed; returns
        the last problem found."""
        deadline = time.monotonic() + seconds
        while True:
            found = problem()
            if found is None or time.monotonic() >= deadline:
                return found
            time.sleep(POLL_INTERVAL)

    def _held(self, target: ScanTarget) -> set[str]:
        """The files Kodi's library holds under the folder, relative to it."""
        folder = kodi_directory(target.directory)
        files = self.library_files(folder, target.content)
        return {file[len(folder) :].replace("\\", "/") for file in files}

    def _cleaning(self, target: ScanTarget) -> str | None:
        """Whether the clean is still going, in words: Kodi says it scans while it cleans,
        and a folder's lost files may still be listed."""
        if self.is_scanning():
            return "Kodi is still cleaning its library"
        return self._stale(target)

    def _stale(self, target: ScanTarget, held: set[str] | None = None) -> str | None:
        """The items Kodi still lists under the folder whose files are gone, in words."""
        if target.files is None:
            return None
        stale = sorted((self._held(target) if held is None else held) - target.files)
        if not stale:
            return None
        return f"Kodi still lists {_kind(target)} whose files are gone: {', '.join(stale[:5])}"

    def _difference(self, target: ScanTarget) -> str | None:
        """What Kodi's library under the folder lacks or holds beyond ``target.files``."""
        held = self._held(target)
        expected = target.files or frozenset()
        missing = sorted(expected - held)
        folder = kodi_directory(target.directory)
        if stale := self._stale(target, held):
            return stale
        if target.every_file and missing:
            return f"Kodi did not add {', '.join(missing[:5])} from {folder}"
        if expected and not held:
            return f"Kodi did not add the {_kind(target)[:-1]} in {folder}"
        return None

    def _likely_cause(self, target: ScanTarget, gone: bool) -> str:
        """Why Kodi may not have picked the change up, from what Kodi itself says."""
        folder = kodi_directory(target.directory)
        media = "music" if target.content == "music" else "video"
        sources = self.sources(media) or []
        if not any(contains(source, folder) for source in sources):
            listed = ", ".join(sources) or "none"
            return (
                f"the folder is outside every Kodi {media} source (Kodi's sources: {listed}):"
                f" add the library's folder as a {media} source in Kodi, or correct the player"
                " group's path mapping"
            )
        if not gone and not self._readable(folder):
            return (
                f"Kodi cannot read {folder}: the player group's path mapping is likely"
                " wrong, or the share is not reachable from Kodi"
            )
        if target.content == "music":
            return "check that its files are audio files Kodi can read, tagged with their album"
        kind = "Movies" if target.content == "movies" else "TV shows"
        return (
            f"check in Kodi that the source holding it has its content set to {kind} with a"
            " scraper, and, with the 'Local information only' scraper, that the folder has"
            " its NFO files"
        )


def _kind(target: ScanTarget) -> str:
    """What the target's library holds, in words: "movies", "episodes" or "songs"."""
    return {"movies": "movies", "music": "songs"}.get(target.content, "episodes")
