"""The ``notify-players`` handler alone: which groups it tells, at which path, through
which player, and when it comes back. The catalog is a SQLite file of its own; the player
clients and the group lock are replaced by fakes (tests/unit/test_player_clients.py and
the worker tests cover the real ones)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import tasks.notify_players as notify
from orchestrator import PermanentError, RetryableError
from orchestrator.storage.db import write_session
from services.catalog.models import GroupPathMapping, Library, Player, PlayerGroup
from services.players import (
    PlayerAuthError,
    PlayerBusy,
    PlayerSettings,
    PlayerUnavailable,
    ScanTarget,
)
from tasks.settings import media_settings
from tests.catalog_db import catalog_database
from tests.fakes.job_context import FakeJobContext

MOVIES = "/data/movies"
FOLDER = f"{MOVIES}/Heat (1995)"


@dataclass
class Players:
    """What each fake player (by URL) answers, and the scans they were asked for."""

    errors: dict[str, Exception] = field(default_factory=dict)
    scans: list[tuple[str, str, str]] = field(default_factory=list)  # url, folder, type
    locked: bool = True  # False: another worker holds every group's lock
    verified: bool = True  # what every player says of its verification
    targets: list[ScanTarget] = field(default_factory=list)
    lock_spans: list[float] = field(default_factory=list)  # each lock's longest_call

    def client(self, settings: PlayerSettings) -> Any:
        players = self

        class Client:
            def notify(self, target: ScanTarget) -> dict[str, Any]:
                if error := players.errors.get(settings.url):
                    raise error
                players.scans.append((settings.url, target.directory, target.update_type))
                players.targets.append(target)
                return {"scanned": target.directory, "verified": players.verified}

        return Client()


@pytest.fixture
def players(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Players]:
    fake = Players()

    @contextlib.contextmanager
    def group_lock(group_id: int, longest_call: float = 0.0) -> Iterator[bool]:
        fake.lock_spans.append(longest_call)
        yield fake.locked

    monkeypatch.setattr(notify, "client_for", fake.client)
    monkeypatch.setattr(notify, "group_lock", group_lock)
    with catalog_database(tmp_path):
        yield fake


def add_library(path: str = MOVIES) -> Library:
    with write_session() as session:
        library = Library(name=path, path=path, kind="movies")
        session.add(library)
        session.flush()
        session.expunge(library)
        return library


def add_group(
    name: str,
    libraries: list[Library],
    players: list[tuple[str, int, bool]],  # url, position, enabled
    mappings: tuple[tuple[str, str], ...] = (),
) -> None:
    with write_session() as session:
        group = PlayerGroup(name=name, libraries=[session.merge(lib) for lib in libraries])
        group.players = [
            Player(name=url, type="kodi", url=url, position=position, enabled=enabled)
            for url, position, enabled in players
        ]
        group.path_mappings = [GroupPathMapping(from_path=a, to_path=b) for a, b in mappings]
        session.add(group)


def notify_players(library: Library, ctx: FakeJobContext, update_type: str = "Created") -> Any:
    request = notify.NotifyRequest(library_id=library.id, path=FOLDER, update_type=update_type)
    return notify.notify_players(request, ctx)


def test_each_group_of_the_library_is_told_once_at_its_own_path(players: Players) -> None:
    movies, other = add_library(), add_library("/data/other")
    add_group(
        "living room",
        [movies],
        [("http://second", 2, True), ("http://off", 0, False), ("http://first", 1, True)],
        ((MOVIES, "smb://nas/movies"), ("/data", "smb://nas/data")),
    )
    add_group("bedroom", [movies], [("http://bedroom", 0, True)])
    add_group("elsewhere", [other], [("http://elsewhere", 0, True)])

    result = notify_players(movies, FakeJobContext("notify-players"))

    # The enabled player first in position order; the longest mapping; no mapping: our path.
    assert players.scans == [
        ("http://first", "smb://nas/movies/Heat (1995)", "Created"),
        ("http://bedroom", FOLDER, "Created"),
    ]
    assert [(g["group"], g["status"], g["player"]) for g in result["groups"]] == [
        ("living room", "notified", "http://first"),
        ("bedroom", "notified", "http://bedroom"),
    ]


def test_the_group_lock_outlives_its_slowest_command(players: Players) -> None:
    movies = add_library()
    add_group("scripts", [movies], [("http://first", 0, True)])
    with write_session() as session:
        group = session.scalars(select(PlayerGroup).where(PlayerGroup.name == "scripts")).one()
        group.players += [
            Player(name="tdarr", type="command", url="", command="/bin/true", time_limit=600,
                   position=1),
            Player(name="quick", type="command", url="", command="/bin/true", position=2),
        ]  # fmt: skip

    notify_players(movies, FakeJobContext("notify-players"))

    assert players.lock_spans == [600.0]


def test_an_unreachable_player_gives_way_to_the_next_of_its_group(players: Players) -> None:
    movies = add_library()
    add_group("living room", [movies], [("http://first", 0, True), ("http://second", 1, True)])
    players.errors["http://first"] = PlayerUnavailable("connection refused")

    result = notify_players(movies, FakeJobContext("notify-players"), "Deleted")

    assert players.scans == [("http://second", FOLDER, "Deleted")]
    [group] = result["groups"]
    assert group["fallbacks"] == [
        {"player": "http://first", "error": "connection refused", "retryable": True,
         "verified": False}
    ]  # fmt: skip


def test_a_busy_group_is_asked_again_later_and_a_retry_skips_the_groups_told(
    players: Players, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCH_PLAYER_BUSY_RETRY", "7")
    media_settings.cache_clear()
    movies = add_library()
    add_group("told", [movies], [("http://told", 0, True)])
    add_group("busy", [movies], [("http://busy", 0, True), ("http://idle", 1, True)])
    players.errors["http://busy"] = PlayerBusy("a library scan is running")
    first = FakeJobContext("notify-players")

    try:
        with pytest.raises(RetryableError, match="group busy: http://busy") as later:
            notify_players(movies, first)
    finally:
        media_settings.cache_clear()

    assert later.value.delay == 7.0
    # A busy player's library is its group's: the group's other players are not asked.
    assert players.scans == [("http://told", FOLDER, "Created")]
    del players.errors["http://busy"]
    result = notify_players(movies, first.retry())
    assert players.scans[1:] == [("http://busy", FOLDER, "Created")]
    assert [(g["group"], g["status"]) for g in result["groups"]] == [
        ("told", "already-notified"),
        ("busy", "notified"),
    ]


def test_a_group_locked_by_another_worker_is_busy(players: Players) -> None:
    movies = add_library()
    add_group("living room", [movies], [("http://first", 0, True)])
    players.locked = False

    with pytest.raises(RetryableError, match="another worker is notifying this group"):
        notify_players(movies, FakeJobContext("notify-players"))
    assert players.scans == []


def test_players_that_refuse_for_good_fail_the_job_and_a_group_without_players_is_noted(
    players: Players,
) -> None:
    movies = add_library()
    add_group("refusing", [movies], [("http://first", 0, True)])
    add_group("empty", [movies], [("http://off", 0, False)])
    players.errors["http://first"] = PlayerAuthError("401: check the password")

    with pytest.raises(PermanentError, match="group refusing: http://first: 401"):
        notify_players(movies, FakeJobContext("notify-players"))

    players.errors.clear()  # the password fixed, a new job
    add_group("fine", [movies], [("http://fine", 0, True)])
    result = notify_players(movies, FakeJobContext("notify-players"))
    assert [(g["group"], g["status"]) for g in result["groups"]] == [
        ("refusing", "notified"),
        ("empty", "no-players"),
        ("fine", "notified"),
    ]


def test_players_get_the_folder_its_show_and_its_videos_in_their_namespace(
    players: Players, tmp_path: Path
) -> None:
    library_path = tmp_path / "tv"
    season = library_path / "Severance" / "Season 02"
    season.mkdir(parents=True)
    for name in ("Severance - S02E01.mkv", "Severance - S02E02.mkv", "sample-S02E01.mkv"):
        (season / name).write_bytes(b"\0")
    with write_session() as session:
        tv = Library(name="TV", path=str(library_path), kind="tv")
        session.add(tv)
        session.flush()
        session.expunge(tv)
    add_group("living room", [tv], [("http://kodi", 0, True)], ((str(library_path), "/media/tv"),))
    request = notify.NotifyRequest(library_id=tv.id, path=str(season), update_type="Created")

    result = notify.notify_players(request, FakeJobContext("notify-players"))

    [target] = players.targets
    assert (target.directory, target.show_directory) == (
        "/media/tv/Severance/Season 02",
        "/media/tv/Severance",
    )
    assert (target.content, target.every_file) == ("tvshows", True)
    assert target.files == {"Severance - S02E01.mkv", "Severance - S02E02.mkv"}
    assert result["groups"][0]["verified"] is True

    # The library's own folder: its show is none, and its files are not listed one by one.
    players.verified = False
    whole = notify.NotifyRequest(library_id=tv.id, path=str(library_path))
    result = notify.notify_players(whole, FakeJobContext("notify-players"))
    assert (players.targets[1].show_directory, players.targets[1].files) == (None, None)
    assert result["groups"][0]["verified"] is False


def test_players_are_told_only_once_the_second_of_the_folders_last_change_is_over(
    tmp_path: Path,
) -> None:
    """Kodi remembers a folder by its modification time to the second: a later change in
    the second it was scanned would go unseen."""
    season = tmp_path / "Show" / "Season 01"
    season.mkdir(parents=True)
    (season / "S01E01.mkv").write_bytes(b"\0")
    changed = max(p.stat().st_mtime for p in (season, season.parent))

    notify.let_the_second_pass(str(season))

    assert int(time.time()) > int(changed)
    started = time.monotonic()
    notify.let_the_second_pass(str(season))  # that second is over already: no wait
    assert time.monotonic() - started < 0.1
