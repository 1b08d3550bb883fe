"""One registry of player types: the configuration, the CLI, the page and the fakes follow it.

A new player type is a client module declaring its ``TYPES`` (named in
``services.players.CLIENTS``), its fake in ``tests.fakes.players.FAKES`` and its test.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from typing import get_args

import click
import pytest
from pydantic import ValidationError

import services.players
from api.commands import player
from services.catalog.config import PlayerCreate, PlayerPatch, PlayerType
from services.players import CLIENTS, PLAYER_KINDS, PLAYER_TYPES, PlayerSettings, client_for
from tests.fakes.players import FAKES

ROOT = Path(__file__).resolve().parents[2]


def test_each_type_is_served_by_the_client_declaring_it() -> None:
    declared = [name for client in CLIENTS for name in client.TYPES]
    assert len(declared) == len(set(declared)), "a type is declared by two clients"
    assert tuple(declared) == PLAYER_TYPES
    for name, kind in PLAYER_KINDS.items():
        assert kind.name == name and kind.label == kind.client.TYPES[name]
        settings = PlayerSettings(type=name, url="http://player.invalid")
        assert isinstance(client_for(settings), kind.client)


def test_every_client_module_is_registered() -> None:
    """A client class declaring TYPES in services/players is in CLIENTS (else it serves none)."""
    found = set()
    for module in pkgutil.iter_modules(services.players.__path__, "services.players."):
        for _, value in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if isinstance(getattr(value, "TYPES", None), dict):
                found.add(value)
    assert found == set(CLIENTS)


def test_the_configuration_takes_exactly_the_registered_types() -> None:
    assert get_args(PlayerType) == PLAYER_TYPES
    body = {"name": "p", "url": "http://player.local", "group_id": 1}
    needs = {"command": {"command": sys.executable}}  # what else a type requires
    for name in PLAYER_TYPES:
        assert (
            PlayerCreate.model_validate({**body, "type": name, **needs.get(name, {})}).type == name
        )
        assert PlayerPatch.model_validate({"type": name}).type == name
    with pytest.raises(ValidationError) as refused:
        PlayerCreate.model_validate({**body, "type": "xbmc"})
    # The 422 names every type: "Input should be 'kodi', 'jellyfin', 'emby' or 'plex'".
    message = refused.value.errors()[0]["msg"]
    assert all(f"'{name}'" in message for name in PLAYER_TYPES), message


@pytest.mark.parametrize("command", ["add", "update"])
def test_the_cli_offers_exactly_the_registered_types(command: str) -> None:
    subcommand = player.commands[command]
    (option,) = [p for p in subcommand.params if p.name == "player_type"]
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == PLAYER_TYPES


def test_the_cli_help_names_every_type() -> None:
    help_text = player.help or ""
    assert all(kind.label in help_text for kind in PLAYER_KINDS.values()), help_text


def test_the_page_reads_the_types_from_the_api() -> None:
    page = (ROOT / "api" / "static" / "config.js").read_text()
    assert 'optionsFrom: "/api/v1/player-types"' in page
    # The page names a type only to show the fields that type alone uses, never as a choice.
    choices = " ".join(re.findall(r"options: \[[^\]]*\]", page))
    assert not [name for name in PLAYER_TYPES if f'"{name}"' in choices], "a type is listed by hand"


def test_every_registered_type_has_a_fake_its_client_recognizes() -> None:
    # Every type that talks to a server; the dry run (log) and a command talk to nothing.
    assert set(FAKES) == set(PLAYER_TYPES) - {"log", "command"}
    for name in FAKES:
        with FAKES[name]() as fake:
            # Each fake's default credentials are its client's: kodi none, the others a token.
            token = getattr(fake, "token", None)
            settings = PlayerSettings(type=name, url=fake.url, token=token, timeout=2.0)
            assert client_for(settings).ping()["version"]
