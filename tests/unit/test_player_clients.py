"""The player clients against the fake players, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from services.players import (
    PLAYER_TYPES,
    JellyfinClient,
    KodiClient,
    PlayerAuthError,
    PlayerError,
    PlayerSettings,
    PlayerUnavailable,
    PlexClient,
    ScanTarget,
    client_for,
)
from tests.fakes.players import FakeJellyfin, FakeKodi, FakePlex, TricklingFake

TIMEOUT = 2.0
MOVIE = "/data/movies/Fast & Furious (2001)"
TARGET = ScanTarget(MOVIE)


@pytest.fixture
def kodi() -> Iterator[FakeKodi]:
    with FakeKodi() as fake:
        yield fake


def kodi_client(fake: FakeKodi, **changes: Any) -> KodiClient:
    return KodiClient(
        replace(PlayerSettings(type="kodi", url=fake.url, timeout=TIMEOUT), **changes)
    )


# --- Kodi ------------------------------------------------------------------------------


def test_kodi_ping_returns_the_api_version(kodi: FakeKodi) -> None:
    assert kodi_client(kodi).ping() == {"version": "13.5.0"}
    assert kodi.methods() == ["JSONRPC.Ping", "JSONRPC.Version"]
    assert all(body["jsonrpc"] == "2.0" for body in kodi.requests)


def test_kodi_url_may_already_end_with_jsonrpc(kodi: FakeKodi) -> None:
    assert kodi_client(kodi, url=f"{kodi.url}/jsonrpc/").ping()["version"] == "13.5.0"


def test_kodi_basic_auth() -> None:
    with FakeKodi(username="kodi", password="s3cret-pw") as fake:
        assert kodi_client(fake, username="kodi", password="s3cret-pw").ping()
        with pytest.raises(PlayerAuthError) as caught:
            kodi_client(fake, username="kodi", password="wrong-pw").notify(TARGET)
        with pytest.raises(PlayerAuthError):
            kodi_client(fake).ping()
        assert "wrong-pw" not in str(caught.value)
        assert fake.scans() == []
        assert fake.rejected == 2


def test_kodi_stopped_server_is_unavailable() -> None:
    fake = FakeKodi()
    fake.stop()
    fake.stop()  # idempotent
    with pytest.raises(PlayerUnavailable):
        kodi_client(fake).ping()


@pytest.mark.parametrize("mode", ["garbage", "error500"])
def test_kodi_garbage_and_server_errors_are_unavailable(kodi: FakeKodi, mode: str) -> None:
    kodi.mode = mode
    with pytest.raises(PlayerUnavailable):
        kodi_client(kodi).notify(TARGET)


def test_kodi_rpc_error_is_permanent(kodi: FakeKodi) -> None:
    kodi.mode = "rpc-error"
    with pytest.raises(PlayerError) as caught:
        kodi_client(kodi).notify(TARGET)
    assert not isinstance(caught.value, PlayerUnavailable)
    assert "-32602" in str(caught.value)
    assert "Invalid params" in str(caught.value)


def test_kodi_slow_answer_times_out_as_unavailable(kodi: FakeKodi) -> None:
    kodi.mode, kodi.delay = "slow", 1.0
    with pytest.raises(PlayerUnavailable, match="no answer"):
        kodi_client(kodi, timeout=0.2).ping()


# --- Jellyfin and Emby -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavor", "header", "value"),
    [
        ("jellyfin", "authorization", 'MediaBrowser Token="tok-123"'),
        ("emby", "x-emby-token", "tok-123"),
    ],
)
def test_jellyfin_and_emby_auth_and_updates_body(flavor: str, header: str, value: str) -> None:
    with FakeJellyfin(token="tok-123", flavor=flavor) as fake:
        client = JellyfinClient(
            PlayerSettings(type=flavor, url=fake.url + "/", token="tok-123", timeout=TIMEOUT)
        )
        assert client.ping() == {"version": "4.8.10.0" if flavor == "emby" else "10.10.3"}
        assert not client.is_scanning()
        details = client.scan(MOVIE + "/", "Created")

        assert fake.updates() == [{"Path": MOVIE, "UpdateType": "Created"}]
        assert details == {"path": MOVIE, "update_type": "Created", "status": 204}
        posted = fake.requests[-1]
        assert (posted["method"], posted["path"]) == ("POST", "/Library/Media/Updated")
        assert posted["headers"][header] == value
        assert posted["headers"]["content-type"] == "application/json"
        assert "tok-123" not in str(details)


@pytest.mark.parametrize("flavor", ["jellyfin", "emby"])
def test_jellyfin_wrong_token_is_an_auth_error(flavor: str) -> None:
    with FakeJellyfin(token="right-token", flavor=flavor) as fake:
        client = JellyfinClient(
            PlayerSettings(type=flavor, url=fake.url, token="wrong-token", timeout=TIMEOUT)
        )
        with pytest.raises(PlayerAuthError) as caught:
            client.scan(MOVIE)
        assert "wrong-token" not in str(caught.value)
        assert fake.updates() == []


def test_jellyfin_status_mapping() -> None:
    with FakeJellyfin() as fake:
        client = JellyfinClient(
            PlayerSettings(type="jellyfin", url=fake.url, token="jf-token", timeout=TIMEOUT)
        )
        fake.status = 503
        with pytest.raises(PlayerUnavailable):
            client.scan(MOVIE)
        fake.status = 400
        with pytest.raises(PlayerError) as caught:
            client.scan(MOVIE)
        assert not isinstance(caught.value, PlayerUnavailable)
        fake.status = 200
        assert client.scan(MOVIE, "Deleted")["status"] == 200


def test_jellyfin_rejects_an_unknown_update_type() -> None:
    with FakeJellyfin() as fake:
        client = JellyfinClient(PlayerSettings(type="jellyfin", url=fake.url, token="jf-token"))
        with pytest.raises(ValueError, match="Created"):
            client.scan(MOVIE, "Renamed")
        assert fake.requests == []


# --- Plex ------------------------------------------------------------------------------

SECTIONS = [
    {"key": "1", "title": "Movies", "type": "movie", "locations": ["/data/movies"]},
    {"key": "2", "title": "Everything", "type": "movie", "locations": ["/srv", "/data/"]},
    {"key": "3", "title": "More movies", "type": "movie", "locations": ["/data/movies2"]},
]


def plex_client(fake: FakePlex, token: str = "plex-token") -> PlexClient:
    return PlexClient(PlayerSettings(type="plex", url=fake.url, token=token, timeout=TIMEOUT))


def test_plex_ping_sends_token_and_accept_json() -> None:
    with FakePlex() as fake:
        assert plex_client(fake).ping() == {"version": "1.41.3.9314"}
        headers = fake.requests[-1]["headers"]
        assert headers["x-plex-token"] == "plex-token"
        assert headers["accept"] == "application/json"


def test_plex_refreshes_every_section_holding_the_folder() -> None:
    with FakePlex(sections=SECTIONS) as fake:
        assert plex_client(fake).scan(MOVIE) == {"sections": ["1", "2"]}

        assert fake.refreshes() == [("1", MOVIE), ("2", MOVIE)]
        target = fake.requests[-1]["target"]
        assert target.endswith("?path=%2Fdata%2Fmovies%2FFast%20%26%20Furious%20%282001%29")
        assert all(r["method"] == "GET" for r in fake.requests)


def test_plex_sibling_folder_with_a_common_prefix_does_not_match() -> None:
    with FakePlex(sections=SECTIONS) as fake:
        assert plex_client(fake).scan("/data/movies2/Heat (1995)/") == {"sections": ["2", "3"]}


def test_plex_folder_in_no_section_is_a_permanent_error() -> None:
    with FakePlex(sections=SECTIONS) as fake:
        with pytest.raises(PlayerError) as caught:
            plex_client(fake).scan("/music/Album")
        assert not isinstance(caught.value, PlayerUnavailable)
        assert "/music/Album" in str(caught.value)
        assert "/data/movies2" in str(caught.value)
        assert fake.refreshes() == []


def test_plex_wrong_token_is_an_auth_error() -> None:
    with FakePlex() as fake:
        for call in (
            plex_client(fake, "bad-token").ping,
            lambda: plex_client(fake, "bad-token").scan(MOVIE),
        ):
            with pytest.raises(PlayerAuthError) as caught:
                call()
            assert "bad-token" not in str(caught.value)


@pytest.mark.parametrize("status", [404, 500, 503])
def test_plex_refresh_failures_are_unavailable(status: int) -> None:
    with FakePlex() as fake:
        fake.status = status
        with pytest.raises(PlayerUnavailable):
            plex_client(fake).scan(MOVIE)


# --- registry and secrets --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("kodi", KodiClient),
        ("jellyfin", JellyfinClient),
        ("emby", JellyfinClient),
        ("plex", PlexClient),
    ],
)
def test_client_for_picks_the_client_by_type(kind: str, cls: type) -> None:
    assert isinstance(client_for(PlayerSettings(type=kind, url="http://127.0.0.1:1")), cls)


def test_client_for_unknown_type_names_the_known_types() -> None:
    assert PLAYER_TYPES == ("kodi", "jellyfin", "emby", "plex", "webhook", "command", "log")
    with pytest.raises(ValueError) as caught:
        client_for(PlayerSettings(type="vlc", url="http://127.0.0.1:1"))
    assert all(kind in str(caught.value) for kind in PLAYER_TYPES)


def test_secrets_in_the_url_never_reach_messages() -> None:
    fake = FakeKodi()
    fake.stop()
    url = fake.url.replace("127.0.0.1", "kodi:url-s3cret@127.0.0.1")
    settings = PlayerSettings(type="kodi", url=url, password="pw-s3cret", token="tok-s3cret")
    for kind in ("kodi", "jellyfin", "plex"):
        client = client_for(replace(settings, type=kind))
        with pytest.raises(PlayerUnavailable) as caught:
            client.notify(TARGET)
        assert "s3cret" not in str(caught.value)


# --- a deadline for the whole call ----------------------------------------------------

DEADLINE = 1.0
# Between bytes: well under the timeout, so that no wait for one read ever times out.
TRICKLE = 0.3
TRICKLING: dict[str, tuple[type[TricklingFake], dict[str, str]]] = {
    "kodi": (FakeKodi, {}),
    "jellyfin": (FakeJellyfin, {"token": "jf-token"}),
    "plex": (FakePlex, {"token": "plex-token"}),
}


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
@pytest.mark.parametrize("kind", list(TRICKLING))
def test_a_trickling_answer_fails_as_a_timeout_at_the_deadline(kind: str, headers: bool) -> None:
    fake_type, secrets = TRICKLING[kind]
    with fake_type() as fake:
        client = client_for(PlayerSettings(type=kind, url=fake.url, timeout=DEADLINE, **secrets))
        fake.trickle, fake.trickle_headers = TRICKLE, headers

        started = time.monotonic()
        with pytest.raises(PlayerUnavailable, match="no answer within 1 s"):
            client.ping()  # in full, the first answer alone would take 10 s or more
        seconds = time.monotonic() - started
        assert DEADLINE * 0.9 < seconds < DEADLINE * 2

        # A slow answer that is complete before the deadline is still fine.
        fake.trickle, fake.trickle_headers = 0.001, False
        assert client.ping()


def test_a_name_lookup_that_hangs_also_ends_at_the_deadline(
    kodi: FakeKodi, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookup = socket.getaddrinfo

    def slow_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in ("kodi.test", b"kodi.test"):
            time.sleep(3 * DEADLINE)  # a resolver that does not answer; bounded all the same
            host = "127.0.0.1"
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    client = kodi_client(kodi, url=kodi.url.replace("127.0.0.1", "kodi.test"), timeout=DEADLINE)

    started = time.monotonic()
    with pytest.raises(PlayerUnavailable, match="no answer within 1 s"):
        client.ping()
    assert time.monotonic() - started < DEADLINE * 2
