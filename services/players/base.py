"""What every player client shares: settings, the error tree, the type registry and one HTTP
call."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from orchestrator.errors import ExternalServiceError


class PlayerError(ExternalServiceError):
    """A player refused or failed a request; permanent unless a subclass says otherwise."""


class PlayerAuthError(PlayerError):
    """The player rejected our credentials or token: permanent for that player.

    ``challenge`` is the answer's ``WWW-Authenticate`` header: it tells a Kodi (realm XBMC)
    refusing our password from any other server asking for one.
    """

    def __init__(self, message: str, challenge: str = "") -> None:
        super().__init__(message)
        self.challenge = challenge


class NotThisPlayer(PlayerError):
    """Something answered at the URL, but not a player of the configured type."""


class PlayerUnavailable(PlayerError):
    """The player cannot be reached or answered nonsense: retry later."""


class PlayerNoAnswer(PlayerUnavailable):
    """Nothing answered: the connection was refused or timed out (or the name is unknown)."""


class PlayerNotUpdated(PlayerError):
    """The player accepted the request but its library does not show the change: names
    what it did not pick up and the likely cause. Permanent: the set-up needs a fix."""


class PlayerBusy(PlayerUnavailable):
    """The player is busy (Kodi is scanning): retry after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float = 30.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfiguredPlayer(Protocol):
    """A player as the configuration keeps it (the catalog's ``Player`` row is one)."""

    @property
    def type(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def username(self) -> str | None: ...
    @property
    def password(self) -> str | None: ...
    @property
    def token(self) -> str | None: ...
    @property
    def command(self) -> str | None: ...
    @property
    def time_limit(self) -> int | None: ...
    @property
    def header_name(self) -> str | None: ...
    @property
    def header_value(self) -> str | None: ...


@dataclass(frozen=True)
class PlayerSettings:
    """How to reach one player; ``type`` is a registered player type (``PLAYER_TYPES``).

    ``command`` and ``time_limit`` (seconds; None: the command client's default) are the
    ``command`` type's; ``header_name`` and ``header_value`` the ``webhook`` type's.
    """

    type: str
    url: str
    username: str | None = None
    # Secrets stay out of the settings' repr (a traceback's locals, a log line).
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout: float = 5.0
    command: str | None = None
    time_limit: int | None = None
    header_name: str | None = None
    header_value: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """``type at scheme://host:port/path`` with no credentials, for messages."""
        scheme, separator, rest = self.url.partition("://")
        if not separator:
            return f"{self.type} at an invalid URL"
        # Up to the last "@": a password may hold "/", "?" or "#" (a row from before URLs
        # with credentials were refused).
        rest = re.split(r"[?#]", rest.rpartition("@")[2])[0]
        return f"{self.type} at {scheme}://{rest}"

    def redact(self, text: str) -> str:
        """``text`` with every secret of these settings replaced by ``***``."""
        for secret in (self.password, self.token, self.header_value):
            if secret:
                text = text.replace(secret, "***")
        return text


# What a player that reports no outcome (Jellyfin, Emby, Plex) says of a change it was told
# about (the README's "What completed means for a player").
UNVERIFIED = "not checked: the server queues the request and reports no outcome"


@dataclass(frozen=True)
class ScanTarget:
    """One folder to tell a player about, in the player's namespace, and what it holds now.

    ``files`` are the folder's media files on our disk (paths relative to the folder,
    ``/``-separated): after the player's scan its library should hold them, and nothing
    else under the folder. Empty means the folder's media are gone; None means not known
    (a whole library), so nothing is checked item by item. ``every_file``: each file must
    be in the library (episodes); otherwise at least one (a movie folder's video, with any
    extras the player skips).
    """

    directory: str
    update_type: str = "Modified"
    content: str = "movies"  # the library's content: "movies", "tvshows" or "music"
    show_directory: str | None = None  # tvshows: the show folder holding ``directory``
    library_directory: str | None = None  # the library's own folder
    files: frozenset[str] | None = None
    every_file: bool = False
    verify_within: float = 20.0  # seconds to wait for the change to show; 0: do not check

    @property
    def gone(self) -> bool:
        """Whether the folder's media are gone: a deletion, or no media file left."""
        return self.update_type == "Deleted" or (self.files is not None and not self.files)

    library: str = ""  # the library's name (ours), for the command and webhook types


class PlayerClient(Protocol):
    """What a job handler may ask of any player.

    A client class also declares ``TYPES``, the player types it serves: {type name as
    configured: the name people know}, e.g. ``{"jellyfin": "Jellyfin", "emby": "Emby"}``.
    """

    def ping(self) -> dict[str, Any]:
        """Tell a player of this type from anything else, then check the credentials.

        Returns ``{"version": ...}`` only. Raises ``PlayerNoAnswer`` when nothing answers,
        ``NotThisPlayer`` when what answers is not such a player (whatever it said), and
        ``PlayerAuthError`` only when such a player refuses the credentials.
        """
        ...

    def is_scanning(self) -> bool:
        """Whether the player is scanning its library now."""
        ...

    def sources(self, media: str = "video") -> list[str] | None:
        """The folders the player's libraries of ``media`` ("video" or "music") are made of
        (as it writes them), or None when it cannot tell."""
        ...

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """Tell the player that ``target`` changed; return details.

        The details hold ``verified`` (whether the player was seen to hold the change) and
        ``verification`` (how, or why not, in words). A change the player was asked to
        take but did not raises ``PlayerNotUpdated``.
        """
        ...


class NoLibrary:
    """What a target with no library of its own answers (a dry run, a webhook, a command):
    it never scans, and lists no folders."""

    def is_scanning(self) -> bool:
        """Never: it has no library."""
        return False

    def sources(self, media: str = "video") -> list[str] | None:
        """Unknown: it has no library folders."""
        return None


@dataclass(frozen=True)
class PlayerKind:
    """One registered player type: its name in configuration, its name for people, its client."""

    name: str
    label: str
    client: Callable[[PlayerSettings], PlayerClient]


# A version as players report it: 13.5.0, 10.10.3, 4.8.10.0, 1.41.3.9314-a0bfb8370.
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]{0,39}")


def version_text(value: Any) -> str | None:
    """``value`` if it looks like a version number (at most 40 characters), else None."""
    return value if isinstance(value, str) and _VERSION.fullmatch(value) else None


def require_directory(directory: str) -> None:
    """Refuse an empty directory: players read it as "scan the whole library"."""
    if not directory.strip():
        raise ValueError("a directory to scan is required")


def with_separator(path: str) -> str:
    """``path`` with exactly one trailing separator of its own style (``\\`` for a path
    with backslashes and no ``/``, else ``/``)."""
    separator = "\\" if "\\" in path and "/" not in path else "/"
    return path.rstrip("/\\") + separator


def contains(folder: str, path: str) -> bool:
    """Whether ``path`` is ``folder`` or inside it (``/a/b2`` is not in ``/a/b``)."""
    return with_separator(path).startswith(with_separator(folder))


def with_article(name: str) -> str:
    """``name`` after its indefinite article: "a Kodi", "an Emby"."""
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"


def identify(
    settings: PlayerSettings,
    label: str,
    probe: Callable[[], Any],
    realm: re.Pattern[str] | None = None,
) -> str:
    """The version of the player at ``settings.url`` if it is one of its type.

    ``probe`` asks what only such a player answers and returns the version it read from
    the answer (None if the answer is not such a player's). Nothing answering raises
    ``PlayerNoAnswer``; credentials refused in the player's ``realm`` (a
    ``WWW-Authenticate`` of its own), ``PlayerAuthError``; any other failure, or no
    version that looks like one, ``NotThisPlayer`` naming the type (``label``: "Kodi").
    """
    try:
        version = version_text(probe())
    except PlayerNoAnswer:
        raise
    except PlayerAuthError as exc:
        if realm is not None and realm.search(exc.challenge):
            raise
        version = None
    except PlayerError:
        version = None
    if version is None:
        # Whatever answered, none of it is kept: the test of a player is no probe.
        raise NotThisPlayer(f"{settings.describe()}: not {with_article(label)} server at this URL")
    return version


def request(
    settings: PlayerSettings,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    auth: tuple[str, str] | None = None,
    unavailable: Collection[int] = (),
) -> httpx.Response:
    """Send one request and map failures onto the player error tree.

    ``settings.timeout`` is a deadline for the whole call: connecting, sending and reading
    the whole answer. Missing it or failing to connect raise ``PlayerNoAnswer``; other
    transport errors and 5xx (plus any status in ``unavailable``) ``PlayerUnavailable``;
    401/403 ``PlayerAuthError``; any other non-2xx ``PlayerError``. Not for use inside a
    running event loop (it runs its own).
    """
    where = settings.describe()
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL:
        raise PlayerError(f"{where}: the URL is invalid; correct the player's url") from None
    if target.userinfo:
        # A URL saved before credentials in URLs were refused: send them as Basic auth (as
        # httpx would), but out of the URL, which httpx's request log shows.
        auth = auth or (target.username, target.password)
        target = target.copy_with(userinfo=b"")
    try:
        response = _run(
            _send(settings.timeout, method, target, headers=headers, json=json, auth=auth)
        )
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise PlayerNoAnswer(f"{where}: no answer within {settings.timeout:g} s") from exc
    except httpx.HTTPError as exc:
        detail = settings.redact(f"{type(exc).__name__}: {exc}")
        error = PlayerNoAnswer if isinstance(exc, httpx.ConnectError) else PlayerUnavailable
        raise error(f"{where}: cannot reach it ({detail})") from exc
    status = response.status_code
    if status in (401, 403):
        challenge = response.headers.get("www-authenticate", "")
        raise PlayerAuthError(f"{where}: credentials refused (HTTP {status})", challenge)
    if status >= 500 or status in unavailable:
        raise PlayerUnavailable(f"{where}: HTTP {status} {response.reason_phrase}")
    if not 200 <= status < 300:
        raise PlayerError(f"{where}: HTTP {status} {response.reason_phrase}")
    return response


async def _send(timeout: float, method: str, url: httpx.URL, **options: Any) -> httpx.Response:
    """One request, cancelled (and its connection closed) once ``timeout`` has passed."""
    # httpx's own timeout bounds each socket operation, not the call: a player sending one
    # byte every few seconds never trips it. Cancelling the task bounds the whole call,
    # headers and body included; httpcore closes the connection it was using.
    async with asyncio.timeout(timeout):
        # Players live on the LAN: a host-wide proxy or .netrc must not get involved.
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            return await client.request(method, url, **options)


def _run(call: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
    """``asyncio.run(call)``, but without waiting for the threads of the loop's executor."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(call)
    try:
        return loop.run_until_complete(task)
    finally:
        # Interrupted (a signal, the job's time limit), the call is cancelled all the same:
        # that closes its connection.
        task.cancel()
        loop.run_until_complete(asyncio.wait([task]))
        loop.run_until_complete(loop.shutdown_asyncgens())
        # asyncio.run would wait here for a name lookup still running in a thread after the
        # deadline; that lookup holds no connection to the player and ends on its own.
        loop.close()


def json_body(settings: PlayerSettings, response: httpx.Response) -> Any:
    """The decoded JSON of ``response``; anything else means a confused player (retry)."""
    try:
        return response.json()
    except ValueError as exc:
        raise PlayerUnavailable(f"{settings.describe()}: answer is not JSON") from exc
