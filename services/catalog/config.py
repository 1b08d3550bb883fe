"""The configuration resources: validation, create, update and JSON forms (docs/design.md §4.3).

Each resource is a :class:`Resource`: its model, its create and patch schemas
(pydantic, so errors name the field), how a row is written from validated data
and how it is shown. Secrets (player password, token and header value) are write-only.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import Conflict, InvalidInput
from orchestrator.jobs.models import INT32_MAX
from services.catalog import shapes
from services.catalog.models import (
    HEADER_VALUE_CHARS,
    PATH_CHARS,
    GroupPathMapping,
    Library,
    ManagerPathMapping,
    Player,
    PlayerGroup,
)
from services.catalog.system_folders import confirmed_system_path, system_folder
from services.players import MAX_TIME_LIMIT, PLAYER_TYPES, executable_problem

if TYPE_CHECKING:
    PlayerType = str
else:
    # The registered player types (services/players): pydantic refuses any other, naming
    # them all, and the OpenAPI document lists them (typing.get_args).
    PlayerType = Literal[PLAYER_TYPES]
# What a library holds: it picks the scan of a folder and what the players are told.
LibraryKind = Literal["movies", "tv", "music"]
LIBRARY_KINDS: tuple[str, ...] = get_args(LibraryKind)
# Row ids are 32-bit integer columns on PostgreSQL; JSON true is not id 1.
RowId = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]


class UnknownReference(InvalidInput):
    """A field names a row that does not exist (e.g. an unknown library id)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field)
        self.field: str = field


class OverlappingLibrary(Conflict):
    """A library folder that is, holds or lies in another library's (409)."""


def _prefix(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


# How an absolute path starts on Windows: a drive (C:\, C:/) or a share (two backslashes).
_WINDOWS_START = re.compile(r"^([a-zA-Z]:[\\/]|\\\\)")
_URL_START = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def _manager_path(value: str) -> str:
    """A folder as its sender sees it: absolute, on Linux or Windows, or a URL (a share as
    another host names it, for the manual trigger)."""
    value = _prefix(value)
    if not (value.startswith("/") or _WINDOWS_START.match(value) or _URL_START.match(value)):
        raise ValueError(
            "must be an absolute path as Radarr or Sonarr sees it, e.g. /movies or C:\\Movies"
            " (or a share's URL, e.g. smb://nas/movies)"
        )
    return value


def _local_path(value: str) -> str:
    value = value.strip()
    if not value.startswith("/"):
        raise ValueError("must be an absolute path as the orchestrator sees it, e.g. /data/movies")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..'")
    # One spelling per folder: "//movies", "/./movies" and "/movies/" are "/movies"
    # (normpath alone keeps two leading slashes).
    return posixpath.normpath("/" + value.lstrip("/"))


# A library names at most this many anchor files, each at most this long.
MAX_ANCHORS = 10
MAX_ANCHOR_CHARS = 500


def _anchor(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank: name a file in the library folder, e.g. .anchor")
    if value.startswith("/"):
        raise ValueError(
            "must be relative to the library folder, e.g. .anchor or Movies/.mounted,"
            " not an absolute path"
        )
    if any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..': an anchor lies inside its library folder")
    value = posixpath.normpath(value)
    if value == ".":  # the library folder itself: an empty mount point has it too
        raise ValueError("must name a file in the library folder, e.g. .anchor")
    return value


Anchor = Annotated[str, Field(min_length=1, max_length=MAX_ANCHOR_CHARS), AfterValidator(_anchor)]


def _new_path(info: ValidationInfo) -> str | None:
    """The library path being set, or None: no valid path, or a patch that keeps it."""
    path = info.data.get("path")
    row = (info.context or {}).get("row")
    return None if path is None or (row is not None and row.path == path) else path


def _confirmed(confirm: bool, info: ValidationInfo) -> bool:
    """Refuse a library path in a system folder (or a link to one) unless confirmed."""
    path = _new_path(info)
    if confirm or path is None:
        return confirm
    real = os.path.realpath(path)
    found = system_folder(path) or system_folder(real)
    if found:
        where = path if real == path else f"{path} (that is {real})"
        place = "the file system's root" if found == "/" else f"in the system folder {found}"
        raise ValueError(
            f"{where} is {place}: a library there would scan the system's own files. If"
            ' that is really meant, send "confirm_system_path": true with the path (CLI:'
            " --confirm-system-path)"
        )
    return confirm


# Asked for each time a path in a system folder is set; never stored.
ConfirmSystemPath = Annotated[
    bool, Field(default=False, exclude=True, validate_default=True), AfterValidator(_confirmed)
]


def _present(allow_missing: bool, info: ValidationInfo) -> bool:
    """Refuse a library folder that is not there unless allowed (a share not mounted yet):
    its scans would find nothing, and a typo would pass unseen."""
    path = _new_path(info)
    if allow_missing or path is None:
        return allow_missing
    if not os.path.isdir(path):
        what = "is not a folder" if os.path.exists(path) else "does not exist"
        raise ValueError(
            f"{path} {what} here, as the orchestrator sees it: give the folder where this host"
            ' mounts the library, or, for a share not mounted yet, send "allow_missing": true'
            " with the path (CLI: --allow-missing)"
        )
    return allow_missing


# Asked for each time a library's path is set; never stored.
AllowMissing = Annotated[
    bool, Field(default=False, exclude=True, validate_default=True), AfterValidator(_present)
]


class Strict(BaseModel):
    """Unknown fields are errors: a typo should not be silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Patch(Strict):
    """A partial update: absent fields stay as they are; ``null`` only clears optional ones."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("must not be null (leave the field out to keep its value)")
        return value


class LibraryCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    path: str = Field(min_length=1, max_length=1000)
    kind: LibraryKind = "movies"
    anchors: list[Anchor] = Field(default_factory=list, max_length=MAX_ANCHORS)
    # Scan folders and files reached through a link that leaves the library folder.
    follow_links: bool = False
    # Scan what changes under the folder as it changes (for folders no manager feeds).
    watch: bool = False
    confirm_system_path: ConfirmSystemPath
    allow_missing: AllowMissing

    _path = field_validator("path")(_local_path)


class LibraryPatch(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    path: str | None = Field(default=None, min_length=1, max_length=1000)
    kind: LibraryKind | None = None
    anchors: list[Anchor] | None = Field(default=None, max_length=MAX_ANCHORS)
    follow_links: bool | None = None
    watch: bool | None = None
    confirm_system_path: ConfirmSystemPath
    allow_missing: AllowMissing

    _path = field_validator("path")(lambda v: None if v is None else _local_path(v))


# Who sends the paths a mapping translates (services.catalog.models.MAPPING_SOURCES).
MappingSource = Literal["radarr", "sonarr", "lidarr", "manual"]


class MappingCreate(Strict):
    source: MappingSource
    from_path: str = Field(alias="from", min_length=1, max_length=1000)
    to_path: str = Field(alias="to", min_length=1, max_length=1000)

    _from = field_validator("from_path")(_manager_path)
    _to = field_validator("to_path")(_local_path)


class MappingPatch(Patch):
    source: MappingSource | None = None
    from_path: str | None = Field(default=None, alias="from", min_length=1, max_length=1000)
    to_path: str | None = Field(default=None, alias="to", min_length=1, max_length=1000)

    _from = field_validator("from_path")(lambda v: None if v is None else _manager_path(v))
    _to = field_validator("to_path")(lambda v: None if v is None else _local_path(v))


class GroupMappingIn(Strict):
    from_path: str = Field(alias="from", min_length=1, max_length=1000)
    to_path: str = Field(alias="to", min_length=1, max_length=1000)

    _paths = field_validator("from_path", "to_path")(_prefix)


class GroupCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    library_ids: list[RowId] = Field(default_factory=list, max_length=1000)
    path_mappings: list[GroupMappingIn] = Field(default_factory=list, max_length=100)


class GroupPatch(Patch):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    library_ids: list[RowId] | None = Field(default=None, max_length=1000)
    path_mappings: list[GroupMappingIn] | None = Field(default=None, max_length=100)


def _url(value: str | None) -> str | None:
    """A player's base URL: http(s), a host, a port in 1–65535 and no credentials."""
    if value is None:
        return None
    value = value.strip()
    example = "e.g. http://kodi.local:8080"
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # e.g. "http://[" is not a URL at all
        raise ValueError(f"must be an http:// or https:// URL, {example}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"must start with http:// or https://, {example}")
    # A URL is shown by the API and the page, and logged; the secret fields are not. Any "@"
    # at all: a password holding "/" ends the host part early. The message never echoes it.
    if "@" in value:
        raise ValueError(
            "must not hold a user name or password (user:password@host): send them in the"
            " write-only username and password fields (or token) instead"
        )
    if not parts.hostname or re.search(r"\s", parts.netloc):
        raise ValueError(f"must name a host after http:// or https://, no spaces, {example}")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"must have a port from 1 to 65535 (or none), {example}")
    return value.rstrip("/")


# The player types that send nothing over HTTP: their URL is not needed.
NO_URL_TYPES = frozenset({"log", "command"})
URL_REQUIRED = "required: the player's base URL, e.g. http://kodi.local:8080"
COMMAND_REQUIRED = (
    "required for a command player: the absolute path of an executable file, e.g."
    " /config/scripts/notify.sh"
)


def _url_unless_sending_none(value: str | None, info: ValidationInfo) -> str | None:
    """A player's URL, required but for the types that send nothing over HTTP (``log``,
    a dry run, and ``command``)."""
    if value is None:
        if info.data.get("type") in NO_URL_TYPES:
            return ""
        raise ValueError(URL_REQUIRED)
    return _url(value)


def _executable(value: str | None) -> str | None:
    """A command player's executable: the absolute path of an executable file here."""
    if value is None:
        return None
    value = value.strip()
    problem = executable_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _command_unless_other_type(value: str | None, info: ValidationInfo) -> str | None:
    """The executable, required for a command player."""
    if value is None and info.data.get("type") == "command":
        raise ValueError(COMMAND_REQUIRED)
    return _executable(value)


# A header's name as HTTP allows it (RFC 9110 token characters).
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
# Headers the webhook's request sets itself, or whose change would break it.
_OWN_HEADERS = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", "connection"}
)


def _header_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not _HEADER_NAME.match(value):
        raise ValueError(
            "must be a header name: letters, digits and - (no spaces or colon), e.g. Authorization"
        )
    if value.lower() in _OWN_HEADERS:
        raise ValueError(f"{value} is set by the orchestrator itself: choose another header")
    return value


def _header_value(value: str | None) -> str | None:
    # Never echoed: it is a secret (a bearer token).
    if value is not None and not all(" " <= c <= "~" for c in value):
        raise ValueError("must be printable ASCII text on one line (no control characters)")
    return value


HEADER_PAIR = "header_name and header_value go together: send both, or neither"


def _header_value_with_name(value: str | None, info: ValidationInfo) -> str | None:
    """A new player's header value, given exactly when a header name is."""
    value = _header_value(value)
    if "header_name" not in info.data:  # the name was refused: that error says enough
        return value
    if (value is None) != (info.data["header_name"] is None):
        raise ValueError(HEADER_PAIR)
    return value


# A command's time limit in seconds.
TimeLimit = Annotated[int, Field(ge=1, le=MAX_TIME_LIMIT)]


class PlayerCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    type: PlayerType
    url: str | None = Field(default=None, min_length=1, max_length=1000, validate_default=True)
    group_id: RowId
    enabled: bool = True
    position: int = Field(default=0, ge=0, le=10_000)
    username: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=500)
    token: str | None = Field(default=None, max_length=500)
    command: str | None = Field(
        default=None, min_length=1, max_length=PATH_CHARS, validate_default=True
    )
    time_limit: TimeLimit | None = None
    header_name: str | None = Field(default=None, min_length=1, max_length=200)
    header_value: str | None = Field(
        default=None, max_length=HEADER_VALUE_CHARS, validate_default=True
    )

    _url = field_validator("url")(_url_unless_sending_none)
    _command = field_validator("command")(_command_unless_other_type)
    _header_name = field_validator("header_name")(_header_name)
    _header_value = field_validator("header_value")(_header_value_with_name)


class PlayerPatch(Patch):
    NULLABLE = frozenset(
        {"username", "password", "token", "time_limit", "header_name", "header_value"}
    )

    name: str | None = Field(default=None, min_length=1, max_length=200)
    type: PlayerType | None = None
    url: str | None = Field(default=None, min_length=1, max_length=1000)
    group_id: RowId | None = None
    enabled: bool | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
    username: str | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, max_length=500)
    token: str | None = Field(default=None, max_length=500)
    command: str | None = Field(default=None, min_length=1, max_length=PATH_CHARS)
    time_limit: TimeLimit | None = None
    header_name: str | None = Field(default=None, min_length=1, max_length=200)
    header_value: str | None = Field(default=None, max_length=HEADER_VALUE_CHARS)

    _url = field_validator("url")(_url)
    _command = field_validator("command")(_executable)
    _header_name = field_validator("header_name")(_header_name)
    _header_value = field_validator("header_value")(_header_value)


def _libraries(session: Session, ids: list[int]) -> list[Library]:
    found = list(session.scalars(select(Library).where(Library.id.in_(ids))))
    missing = sorted(set(ids) - {library.id for library in found})
    if missing:
        raise UnknownReference("library_ids", f"no library with id {', '.join(map(str, missing))}")
    return found


def _write_group(session: Session, group: PlayerGroup, data: dict[str, Any]) -> None:
    if "name" in data:
        group.name = data["name"]
    if "library_ids" in data:
        group.libraries = _libraries(session, data["library_ids"])
    if "path_mappings" in data:
        group.path_mappings = [
            GroupPathMapping(from_path=m["from_path"], to_path=m["to_path"])
            for m in data["path_mappings"]
        ]


def _write_player(session: Session, player: Player, data: dict[str, Any]) -> None:
    if "group_id" in data and session.get(PlayerGroup, data["group_id"]) is None:
        raise UnknownReference("group_id", f"no player group with id {data['group_id']}")
    for name, value in data.items():
        setattr(player, name, value)
    _refuse_incomplete(player)


def _refuse_incomplete(player: Player) -> None:
    """Refuse a player lacking what its type needs, as a change may leave it (a patch to
    another type, a cleared field): the create schema checks a new one field by field."""
    if player.type == "command" and not player.command:
        raise InvalidInput(f"command: {COMMAND_REQUIRED}", "command")
    if player.type not in NO_URL_TYPES and not player.url:
        raise InvalidInput(f"url: {URL_REQUIRED}", "url")
    if (player.header_name is None) != (player.header_value is None):
        raise InvalidInput(HEADER_PAIR, "header_value")


def _write_library(session: Session, library: Library, data: dict[str, Any]) -> None:
    if "path" in data and data["path"] != library.path:
        _refuse_overlap(session, library, data["path"])
        # Validation asked for a confirmation if this is a system folder: keep what it was for.
        library.system_path = confirmed_system_path(data["path"])
    _write_plain(session, library, data)


def _refuse_overlap(session: Session, library: Library, path: str) -> None:
    """Refuse a library folder that is, holds or lies in another library's: scanning one
    would take over the other's catalog rows, and deleting it delete them."""
    others = select(Library)
    if library.id is not None:  # a patch: the library's own folder is no other's
        others = others.where(Library.id != library.id)
    for other in session.scalars(others):
        if other.path == path:
            how = "is the folder of"
        elif _inside(path, other.path):
            how = "lies inside the folder of"
        elif _inside(other.path, path):
            how = "holds the folder of"
        else:
            continue
        raise OverlappingLibrary(
            f"{path} {how} library {other.name!r} ({other.path}): a folder belongs to one"
            " library; point this one elsewhere, or change that one"
        )


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip("/") + "/")


def _write_plain(session: Session, row: Any, data: dict[str, Any]) -> None:
    for name, value in data.items():
        setattr(row, name, value)


@dataclass(frozen=True)
class Resource:
    """How one configuration resource is validated, written and shown."""

    name: str
    model: type[Any]
    create_schema: type[Strict]
    patch_schema: type[Strict]
    write: Callable[[Session, Any, dict[str, Any]], None]
    to_dict: Callable[[Any], dict[str, Any]]

    def create(self, session: Session, body: dict[str, Any]) -> Any:
        """Validate ``body`` and add a new row."""
        data = self.create_schema.model_validate(body).model_dump()
        row = self.model()
        self.write(session, row, data)
        session.add(row)
        session.flush()
        return row

    def update(self, session: Session, row: Any, body: dict[str, Any]) -> Any:
        """Validate ``body`` and change only the fields it names."""
        # The row goes along: a check may tell a changed field from one sent as it is.
        context = {"row": row}
        data = self.patch_schema.model_validate(body, context=context).model_dump(
            exclude_unset=True
        )
        self.write(session, row, data)
        session.flush()
        return row


RESOURCES: dict[str, Resource] = {
    "libraries": Resource(
        "libraries", Library, LibraryCreate, LibraryPatch, _write_library,
        shapes.Library.dump_of,
    ),
    "path-mappings": Resource(
        "path-mappings", ManagerPathMapping, MappingCreate, MappingPatch, _write_plain,
        shapes.PathMapping.dump_of,
    ),
    "player-groups": Resource(
        "player-groups", PlayerGroup, GroupCreate, GroupPatch, _write_group,
        shapes.PlayerGroup.dump_of,
    ),
    "players": Resource(
        "players", Player, PlayerCreate, PlayerPatch, _write_player, shapes.Player.dump_of
    ),
}  # fmt: skip
