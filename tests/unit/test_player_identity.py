"""A player's ``ping`` tells a player of its type from anything else and keeps nothing else.

Against the fake players and a plain web server, over real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from services.players import (
    NotThisPlayer,
    PlayerAuthError,
    PlayerError,
    PlayerNoAnswer,
    PlayerSettings,
    client_for,
)
from services.players.base import version_text
from tests.fakes import FakeServer
from tests.fakes.players import FakeJellyfin, FakeKodi, FakePlex, FakeWebServer

TIMEOUT = 2.0
KINDS = ["kodi", "jellyfin", "emby", "plex"]
SECRETS: dict[str, dict[str, str]] = {
    "kodi": {"username": "kodi", "password": "kodi-pw"},
    "jellyfin": {"token": "jf-token"},
    "emby": {"token": "jf-token"},
    "plex": {"token": "plex-token"},
}
VERSIONS = {"kodi": "13.5.0", "jellyfin": "10.10.3", "emby": "4.8.10.0", "plex": "1.41.3.9314"}
MARKER = "internal-secret-marker"


def fake_of(kind: str) -> FakeServer:
    """A fake player of ``kind`` expecting the credentials of ``SECRETS``."""
    if kind == "kodi":
        return FakeKodi(username="kodi", password="kodi-pw")
    if kind == "plex":
        return FakePlex(token="plex-token")
    return FakeJellyfin(token="jf-token", flavor=kind)


def ping(kind: str, url: str, **changes: str) -> dict[str, Any]:
    settings = PlayerSettings(type=kind, url=url, timeout=TIMEOUT, **{**SECRETS[kind], **changes})
    return client_for(settings).ping()


def refused(kind: str, url: str, error: type[PlayerError], **changes: str) -> PlayerError:
    """The error ``ping`` raises; it carries nothing of what answered, not even chained."""
    with pytest.raises(error) as caught:
        ping(kind, url, **changes)
    if error is not PlayerNoAnswer:  # (there, only the socket's error is chained)
        assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert MARKER not in str(caught.value)
    return caught.value


@pytest.mark.parametrize("kind", KINDS)
def test_a_player_of_its_type_gives_its_version_only(kind: str) -> None:
    with fake_of(kind) as fake:
        assert ping(kind, fake.url) == {"version": VERSIONS[kind]}


@pytest.mark.parametrize("kind", KINDS)
def test_a_player_of_its_type_refusing_the_credentials_says_so(kind: str) -> None:
    wrong = {"password": "wrong-pw"} if kind == "kodi" else {"token": "wrong-token"}
    with fake_of(kind) as fake, pytest.raises(PlayerAuthError, match="credentials refused"):
        ping(kind, fake.url, **wrong)


# Jellyfin and Emby share their API (one client serves both): they are one family here.
OTHERS = [(k, o) for k in KINDS for o in KINDS if k != o and {k, o} != {"jellyfin", "emby"}]


@pytest.mark.parametrize(("kind", "other"), OTHERS)
def test_a_player_of_another_type_is_not_this_player(kind: str, other: str) -> None:
    with fake_of(other) as fake:
        error = refused(kind, fake.url, NotThisPlayer)
    assert "not a" in str(error) and "server at this URL" in str(error)


BODIES = [
    f"<html>{MARKER}</html>",
    f'{{"jsonrpc": "2.0", "id": 1, "result": "{MARKER}"}}',
    f'{{"Id": "{MARKER}", "Version": "1.0 <b>{MARKER}</b>", "ServerName": "{MARKER}"}}',
    f'{{"Version": "10.10.3", "ServerName": "{MARKER}"}}',
    f'{{"MediaContainer": {{"machineIdentifier": "{MARKER}", "version": "{"9" * 41}"}}}}',
    f'{{"MediaContainer": {{"version": "1.0", "friendlyName": "{MARKER}"}}}}',
]


ANSWERS = [(200, body) for body in BODIES] + [
    (status, BODIES[0]) for status in (401, 403, 404, 500)
]


@pytest.mark.parametrize(("status", "body"), ANSWERS, ids=range(len(ANSWERS)))
@pytest.mark.parametrize("kind", KINDS)
def test_any_other_web_server_is_not_this_player(kind: str, status: int, body: str) -> None:
    challenge = f'Basic realm="{MARKER}"'
    with FakeWebServer(status, body.encode(), challenge=challenge) as web:
        refused(kind, web.url, NotThisPlayer)
        assert web.requests  # it did answer: this is not "no answer"


def test_only_kodis_realm_makes_a_401_a_kodi_refusing_the_credentials() -> None:
    with FakeWebServer(401, challenge='Basic realm="XBMC"') as web:
        refused("kodi", web.url, PlayerAuthError)


@pytest.mark.parametrize("kind", KINDS)
def test_a_closed_port_is_no_answer(kind: str) -> None:
    fake = fake_of(kind)
    fake.stop()
    refused(kind, fake.url, PlayerNoAnswer)


def test_credentials_in_an_old_url_work_but_stay_out_of_the_request_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeKodi(username="kodi", password="url-s3cret") as kodi:
        url = kodi.url.replace("http://", "http://kodi:url-s3cret@")
        settings = PlayerSettings(type="kodi", url=url, timeout=TIMEOUT)
        assert client_for(settings).ping() == {"version": "13.5.0"}
        assert kodi.rejected == 0
    assert "HTTP Request" in caplog.text  # httpx logs each request with its URL
    assert "url-s3cret" not in caplog.text
    assert "s3cret" not in settings.describe()


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("13.5.0", True),
        ("1.41.3.9314-a0bfb8370", True),
        ("4.8.10.0", True),
        ("9" * 40, True),
        ("9" * 41, False),
        ("1.0 <b>", False),
        ("v1", False),
        ("", False),
        (13, False),
        (None, False),
    ],
)
def test_a_version_is_kept_only_when_it_looks_like_one(value: Any, kept: bool) -> None:
    assert version_text(value) == (value if kept else None)
