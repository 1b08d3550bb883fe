"""Clients that ask media players (Kodi, Jellyfin, Emby, Plex) to rescan a folder, or tell
a webhook or a command of the household's (Tdarr, FileFlows, a script) about it."""

from __future__ import annotations

from services.players.base import (
    ConfiguredPlayer,
    NotThisPlayer,
    PlayerAuthError,
    PlayerBusy,
    PlayerClient,
    PlayerError,
    PlayerKind,
    PlayerNoAnswer,
    PlayerNotUpdated,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
    with_article,
)
from services.players.command import MAX_TIME_LIMIT, CommandClient, executable_problem
from services.players.dry_run import LogClient
from services.players.jellyfin import JellyfinClient
from services.players.kodi import KodiClient
from services.players.plex import PlexClient
from services.players.webhook import WebhookClient

# Every player client, in the order their types are offered (the page preselects the first).
# The configuration's validation, the CLI, the API's list of types (and so the page) and
# the OpenAPI document all read the registry below: a new player type is a client module
# declaring its TYPES, named here.
CLIENTS = (KodiClient, JellyfinClient, PlexClient, WebhookClient, CommandClient, LogClient)

# The registry: each player type, by its name in configuration.
PLAYER_KINDS: dict[str, PlayerKind] = {
    name: PlayerKind(name, label, client)
    for client in CLIENTS
    for name, label in client.TYPES.items()
}

PLAYER_TYPES: tuple[str, ...] = tuple(PLAYER_KINDS)


def client_for(settings: PlayerSettings) -> PlayerClient:
    """The client for ``settings.type``; an unknown type raises ``ValueError``."""
    try:
        kind = PLAYER_KINDS[settings.type]
    except KeyError:
        raise ValueError(
            f"unknown player type {settings.type!r}; known types: {', '.join(PLAYER_TYPES)}"
        ) from None
    return kind.client(settings)


def label_of(player_type: str) -> str:
    """The name people know a player type by ("Emby"); an unknown type is its own name."""
    kind = PLAYER_KINDS.get(player_type)
    return kind.label if kind else player_type


def settings_of(player: ConfiguredPlayer) -> PlayerSettings:
    """The connection settings of a configured player."""
    return PlayerSettings(
        type=player.type,
        url=player.url,
        username=player.username,
        password=player.password,
        token=player.token,
        command=player.command,
        time_limit=player.time_limit,
        header_name=player.header_name,
        header_value=player.header_value,
    )


__all__ = [
    "CLIENTS",
    "MAX_TIME_LIMIT",
    "CommandClient",
    "PLAYER_KINDS",
    "PLAYER_TYPES",
    "JellyfinClient",
    "KodiClient",
    "LogClient",
    "NotThisPlayer",
    "PlayerAuthError",
    "PlayerBusy",
    "PlayerClient",
    "PlayerError",
    "PlayerKind",
    "PlayerNoAnswer",
    "PlayerNotUpdated",
    "PlayerSettings",
    "PlayerUnavailable",
    "PlexClient",
    "ScanTarget",
    "WebhookClient",
    "client_for",
    "executable_problem",
    "label_of",
    "settings_of",
    "with_article",
]
