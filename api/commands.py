"""Command-line twins of the configuration API: ``orchestrator library|mapping|group|player``.

The platform's CLI finds these through the ``orchestrator.commands`` entry point.
"""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from orchestrator.db import read_session, write_session
from orchestrator.dispatch import submit
from orchestrator.errors import InvalidPayload
from services.catalog.config import RESOURCES, UnknownReference
from services.catalog.models import Library, Player
from services.players import PlayerError, client_for, settings_of


def _create(resource_name: str, body: dict[str, Any]) -> dict[str, Any]:
    resource = RESOURCES[resource_name]
    try:
        with write_session() as session:
            return resource.to_dict(resource.create(session, body))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise click.ClickException(problems) from exc
    except UnknownReference as exc:
        raise click.ClickException(f"{exc.field}: {exc}") from exc
    except IntegrityError as exc:
        raise click.ClickException("one with the same name or path already exists") from exc


def _list(resource_name: str) -> None:
    resource = RESOURCES[resource_name]
    with read_session() as session:
        rows = session.scalars(select(resource.model).order_by(resource.model.id))
        for row in rows:
            click.echo(json.dumps(resource.to_dict(row)))


@click.group()
def library() -> None:
    """Libraries: folders of movies or TV shows as the orchestrator sees them."""


@library.command("add")
@click.argument("name")
@click.argument("path")
@click.option("--kind", type=click.Choice(["movies", "tv"]), default="movies", show_default=True)
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    help="A file, relative to PATH, that must exist for a scan to run (repeat), e.g. .anchor.",
)
@click.option(
    "--follow-links",
    is_flag=True,
    help="Scan folders and files reached through links that lead out of PATH.",
)
@click.option(
    "--confirm-system-path",
    is_flag=True,
    help="Confirm a PATH that is / or in a system folder such as /etc, /usr or /var.",
)
def library_add(
    name: str,
    path: str,
    kind: str,
    anchors: tuple[str, ...],
    follow_links: bool,
    confirm_system_path: bool,
) -> None:
    """Add library NAME at PATH."""
    body = {
        "name": name, "path": path, "kind": kind, "anchors": list(anchors),
        "follow_links": follow_links, "confirm_system_path": confirm_system_path,
    }  # fmt: skip
    click.echo(json.dumps(_create("libraries", body)))


@library.command("list")
def library_list() -> None:
    """Every library, one JSON object per line."""
    _list("libraries")


@library.command("scan")
@click.argument("library_id", type=int)
def library_scan(library_id: int) -> None:
    """Queue a scan of every folder of a library."""
    with read_session() as session:
        if session.get(Library, library_id) is None:
            raise click.ClickException(f"no library with id {library_id}")
    click.echo(
        f"queued library-scan job {submit('library-scan', {'library_id': library_id}).job.id}"
    )


@click.group()
def mapping() -> None:
    """Manager path mappings: a folder as Radarr/Sonarr sees it → as we see it."""


@mapping.command("add")
@click.argument("source")
@click.argument("from_path", metavar="FROM")
@click.argument("to_path", metavar="TO")
def mapping_add(source: str, from_path: str, to_path: str) -> None:
    """Map SOURCE's (radarr, sonarr) prefix FROM to our prefix TO."""
    click.echo(
        json.dumps(_create("path-mappings", {"source": source, "from": from_path, "to": to_path}))
    )


@mapping.command("list")
def mapping_list() -> None:
    """Every manager path mapping."""
    _list("path-mappings")


@click.group()
def group() -> None:
    """Player groups: players sharing one library database."""


@group.command("add")
@click.argument("name")
@click.option("--library", "library_ids", type=int, multiple=True, help="Library id (repeat).")
@click.option("--map", "maps", multiple=True, help="OURS=THEIRS path prefix (repeat).")
def group_add(name: str, library_ids: tuple[int, ...], maps: tuple[str, ...]) -> None:
    """Add player group NAME serving the given libraries."""
    mappings = []
    for item in maps:
        ours, sep, theirs = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use OURS=THEIRS", param_hint="--map")
        mappings.append({"from": ours, "to": theirs})
    body = {"name": name, "library_ids": list(library_ids), "path_mappings": mappings}
    click.echo(json.dumps(_create("player-groups", body)))


@group.command("list")
def group_list() -> None:
    """Every player group."""
    _list("player-groups")


@click.group()
def player() -> None:
    """Players: Kodi, Jellyfin, Emby and Plex."""


@player.command("add")
@click.argument("name")
@click.option(
    "--type", "player_type", required=True, type=click.Choice(["kodi", "jellyfin", "emby", "plex"])
)
@click.option("--url", required=True, help="e.g. http://kodi.local:8080")
@click.option("--group", "group_id", type=int, required=True)
@click.option("--position", type=int, default=0, show_default=True, help="Lower is tried first.")
@click.option("--username", default=None)
@click.option("--password", default=None)
@click.option("--token", default=None)
@click.option("--disabled", is_flag=True)
def player_add(
    name: str, player_type: str, url: str, group_id: int, position: int,
    username: str | None, password: str | None, token: str | None, disabled: bool,
) -> None:  # fmt: skip
    """Add player NAME to a group."""
    body = {
        "name": name, "type": player_type, "url": url, "group_id": group_id,
        "position": position, "username": username, "password": password, "token": token,
        "enabled": not disabled,
    }  # fmt: skip
    click.echo(json.dumps(_create("players", body)))


@player.command("list")
def player_list() -> None:
    """Every player (secrets are never shown)."""
    _list("players")


@player.command("test")
@click.argument("player_id", type=int)
def player_test(player_id: int) -> None:
    """Check that a player answers and accepts its credentials."""
    with read_session() as session:
        row = session.get(Player, player_id)
    if row is None:
        raise click.ClickException(f"no player with id {player_id}")
    try:
        details = client_for(settings_of(row)).ping()
    except PlayerError as exc:
        raise click.ClickException(f"{row.name}: {exc}") from exc
    click.echo(f"{row.name}: reachable {json.dumps(details)}")


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
def scan(paths: tuple[str, ...]) -> None:
    """Scan folders copied by hand: each goes through the ``manual`` path mappings to its
    library, is scanned and the players are told (as ``POST /api/triggers/manual``)."""
    try:
        job = submit("manual-scan", {"dirs": [path.strip() for path in paths]}).job
    except InvalidPayload as exc:  # empty, too long or too many paths
        raise click.ClickException(str(exc)) from exc
    click.echo(f"queued manual-scan job {job.id}")


COMMANDS = [library, mapping, group, player, scan]
