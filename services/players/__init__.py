"""Clients that ask media players (Kodi, Jellyfin, Emby, Plex) to rescan a folder."""

from __future__ import annotations

from collections.abc import Callable

from services.catalog.models import Player
from services.players.base import (
    NotThisPlayer,
    PlayerAuthError,
    PlayerBusy,
    PlayerClient,
    PlayerError,
    PlayerNoAnswer,
    PlayerSettings,
    PlayerUnavailable,
)
from services.players.jellyfin import JellyfinClient
from services.players.kodi import KodiClient
from services.players.plex import PlexClient

_CLIENTS: dict[str, Callable[[PlayerSettings], PlayerClient]] = {
    "kodi": KodiClient,
    "jellyfin": JellyfinClient,
    "emby": JellyfinClient,
    "plex": PlexClient,
}

PLAYER_TYPES: tuple[str, ...] = tuple(_CLIENTS)


def client_for(settings: PlayerSettings) -> PlayerClient:
    """The client for ``settings.type``; an unknown type raises ``ValueError``."""
    try:
        factory = _CLIENTS[settings.type]
    except KeyError:
        raise ValueError(
            f"unknown player type {settings.type!r}; known types: {', '.join(PLAYER_TYPES)}"
        ) from None
    return factory(settings)


def settings_of(player: Player) -> PlayerSettings:
    """The connection settings of a configured player."""
    return PlayerSettings(
        type=player.type,
        url=player.url,
        username=player.username,
        password=player.password,
        token=player.token,
    )


__all__ = [
    "PLAYER_TYPES",
    "JellyfinClient",
    "KodiClient",
    "NotThisPlayer",
    "PlayerAuthError",
    "PlayerBusy",
    "PlayerClient",
    "PlayerError",
    "PlayerNoAnswer",
    "PlayerSettings",
    "PlayerUnavailable",
    "PlexClient",
    "client_for",
    "settings_of",
]
