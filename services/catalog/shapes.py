"""The JSON forms of the catalog's rows, as the API and the CLI show them.

Each is read from its row (``Shape.dump_of(row)``) and published as is in the OpenAPI
document. The password, token and header value of a player are write-only: only whether
they are set shows, and a URL saved with credentials before they were refused shows them
masked.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, computed_field

from orchestrator.jobs.shapes import IsoTime, RowId, Shape


def shown_url(url: str) -> str:
    """``url`` with any user name and password as ``***`` (rows from before they were refused).

    Up to the last ``@``: a password may hold ``/``, ``?`` or ``#``.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def _ids(rows: Any) -> list[int]:
    return sorted(row.id for row in rows)


IsSet = Annotated[bool, BeforeValidator(bool)]
Ids = Annotated[list[RowId], BeforeValidator(_ids)]


class Library(Shape):
    """A library: a folder of movies or of TV series."""

    id: RowId
    name: str
    path: str
    kind: Literal["movies", "tv", "music"]
    anchors: Annotated[list[str], BeforeValidator(lambda v: list(v or []))] = Field(
        description="Files (relative to path) that must exist for a scan to change the "
        "catalog or notify the players"
    )
    follow_links: IsSet = Field(
        description="Scan folders and files reached through a link that leads out of path "
        "(false: skipped)"
    )
    watch: IsSet = Field(
        description="Scan what changes under path as it changes (the folder watcher)"
    )


class PathMapping(Shape):
    """How a manager's path maps to this host's."""

    id: RowId
    source: str
    from_: str = Field(alias="from", validation_alias="from_path")
    to: str = Field(validation_alias="to_path")


class GroupPathMapping(Shape):
    """How this host's path maps to the path a group's players see."""

    from_: str = Field(alias="from", validation_alias="from_path")
    to: str = Field(validation_alias="to_path")


class PlayerGroup(Shape):
    """Players that see the same libraries through the same path mappings."""

    id: RowId
    name: str
    library_ids: Ids = Field(validation_alias="libraries")
    path_mappings: list[GroupPathMapping]
    player_ids: Annotated[list[RowId], BeforeValidator(lambda rows: [r.id for r in rows])] = Field(
        validation_alias="players"
    )


class Player(Shape):
    """A media player, a webhook or a command. The password, token and header value are
    write-only: only whether they are set shows."""

    id: RowId
    name: str
    type: str
    url: Annotated[str, BeforeValidator(shown_url)]
    group_id: RowId
    enabled: bool
    position: int
    username: str | None
    has_password: IsSet = Field(validation_alias="password")
    has_token: IsSet = Field(validation_alias="token")
    # Defaulted: a player read from anything but a row (an older form) may lack them.
    command: str | None = Field(None, description="A command player's executable (absolute path)")
    time_limit: int | None = Field(
        None,
        description="Seconds a command player's run may take (null: 60); past it, it is "
        "killed and the change retried",
    )
    header_name: str | None = Field(
        None, description="A webhook player's header, e.g. Authorization"
    )
    has_header_value: IsSet = Field(False, validation_alias="header_value")


class Movie(Shape):
    """A movie folder of the catalog."""

    id: RowId
    library_id: RowId
    path: str
    title: str | None
    year: int | None
    tmdb_id: int | None
    imdb_id: str | None
    state: str
    disc: str | None
    created_at: IsoTime
    updated_at: IsoTime
    scanned_at: IsoTime | None


class MediaFile(Shape):
    """A file of a movie folder: a video or an asset (artwork, subtitles, NFO)."""

    path: str
    kind: str
    art_type: str | None
    language: str | None
    flags: list[str]
    part: int | None
    size: int
    mtime: float


class MovieDetail(Movie):
    """A movie with its files: the main video(s) and the assets."""

    all_files: list[MediaFile] = Field(validation_alias="files", exclude=True)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def files(self) -> list[MediaFile]:
        """The main video(s)."""
        return [f for f in self.all_files if f.kind == "video"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def assets(self) -> list[MediaFile]:
        """Every other file."""
        return [f for f in self.all_files if f.kind != "video"]


class Series(Shape):
    """A series folder of a TV library, with the ids Sonarr gave it."""

    id: RowId
    library_id: RowId
    path: str
    title: str | None
    year: int | None
    tvdb_id: int | None
    tmdb_id: int | None
    imdb_id: str | None
    state: Literal["present", "removed"]
    created_at: IsoTime
    updated_at: IsoTime
