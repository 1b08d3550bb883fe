"""Players misbehaving, end to end: a Radarr webhook through a real worker to fake players.

Each case starts from a real webhook (``webhook`` → ``scan-movie`` → ``notify-players``)
and makes a player fail in one of the ways real ones do: wrong credentials, HTTP 5xx, a
200 that is not JSON, a JSON-RPC error, a library scan already running, no answer within
the client's timeout, a closed port. What must follow: auth errors and protocol errors
are permanent for that player (the next one of the group is tried), anything that looks
transient is retried, a group already notified is not notified again, and one stuck player
holds back neither the other groups of the library nor the other jobs of the worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.players.base import UNVERIFIED
from tests.api_client import Api
from tests.conftest import ApiServer, WorkerProcess, sqlite_only, wait_for_job
from tests.fakes.players import FakeJellyfin, FakeKodi, FakePlex
from tests.pipeline import FINAL, clear_catalog, fixture, make_movie, unique

MOVIE = "The Matrix (1999)"
KODI_USER, KODI_PASSWORD = "kodi", "kodi-pass"
# Where the Kodi groups see the library (``movies_setup``'s default mapping), and the file
# of the fixture's movie in Kodi's library once it is added.
SHARE = "smb://nas/movies"
KODI_MOVIE = f"{SHARE}/{MOVIE}/{MOVIE}.mkv"


# --- helpers (the client is tests/api_client.py) -----------------------------------------


@pytest.fixture(autouse=True)
def empty_catalog(database: str) -> None:
    """Each test configures its own libraries, mappings and players (on SQLite: the faults
    here are the players' and the senders', not the database's)."""
    sqlite_only(database, "players or senders misbehaving")
    clear_catalog()


@pytest.fixture
def api(worker: WorkerProcess, api_server: ApiServer) -> Api:
    """The live API; a wait that runs out shows the end of the worker's log."""
    return Api(api_server, worker)


def library_folder(tmp_path: Path) -> Path:
    """The movies library folder ``library_setup`` makes."""
    return tmp_path / "data" / "movies"


def with_source(kodi: FakeKodi, tmp_path: Path) -> FakeKodi:
    """``kodi`` with the group's share as its movies source, its files in the library folder
    (a Kodi adds nothing outside its sources)."""
    kodi.add_source(SHARE, "movies", disk=library_folder(tmp_path))
    return kodi


@pytest.fixture
def kodi(tmp_path: Path) -> Iterator[FakeKodi]:
    """A Kodi that sees the library at ``SHARE``."""
    with FakeKodi(username=KODI_USER, password=KODI_PASSWORD) as server:
        yield with_source(server, tmp_path)


def library_setup(api: Api, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A movies library with a radarr mapping and the fixture's movie on disk."""
    library_path = library_folder(tmp_path)
    library_path.mkdir(parents=True)
    library = api.create(
        "/api/v1/libraries",
        {"name": unique("Movies"), "path": str(library_path), "kind": "movies"},
    )
    api.create(
        "/api/v1/path-mappings", {"source": "radarr", "from": "/movies", "to": str(library_path)}
    )
    make_movie(library_path, MOVIE, 603)
    return library_path, library


def add_group(api: Api, library_path: Path, library: dict[str, Any], to: str) -> dict[str, Any]:
    return api.create(
        "/api/v1/player-groups",
        {"name": unique("group"), "library_ids": [library["id"]],
         "path_mappings": [{"from": str(library_path), "to": to}]},
    )  # fmt: skip


def movies_setup(api: Api, tmp_path: Path, to: str = SHARE) -> dict[str, Any]:
    """One library, one group; returns the group."""
    library_path, library = library_setup(api, tmp_path)
    return add_group(api, library_path, library, to)


def add_player(
    api: Api, group: dict[str, Any], kind: str, url: str, position: int = 0, **secrets: str
) -> str:
    """Create a player; returns its (unique) name."""
    name = unique(f"{kind}-{position}")
    body = {"name": name, "type": kind, "url": url, "group_id": group["id"], "position": position}
    api.create("/api/v1/players", {**body, **secrets})
    return name


def add_kodi(
    api: Api, group: dict[str, Any], url: str, position: int = 0, password: str = KODI_PASSWORD
) -> str:
    return add_player(api, group, "kodi", url, position, username=KODI_USER, password=password)


def start(api: Api) -> tuple[str, str]:
    """Post the fixture's Radarr import; returns (root id, notify-players job id)."""
    root_id = api.webhook("radarr", fixture("radarr_download"))
    return root_id, api.notify_job(root_id)


def wait_status(job_id: str, status: str, timeout: float = 20) -> None:
    wait_for_job(job_id, (status, *FINAL), timeout=timeout)


def only_group(notify: dict[str, Any]) -> dict[str, Any]:
    groups = notify["result"]["groups"]
    assert len(groups) == 1, groups
    return dict(groups[0])


# --- Kodi ---------------------------------------------------------------------------------


def test_kodi_refusing_credentials_falls_back_to_the_next_kodi_not_retryable(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    wrong = add_kodi(api, group, kodi.url, position=0, password="stale-password")
    right = add_kodi(api, group, kodi.url, position=1)

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

    assert [(j["type"], j["status"]) for j in jobs][-1] == ("notify-players", "completed")
    notify = jobs[-1]
    assert notify["retry_count"] == 0
    outcome = only_group(notify)
    assert (outcome["status"], outcome["player"]) == ("notified", right)
    assert [(f["player"], f["retryable"]) for f in outcome["fallbacks"]] == [(wrong, False)]
    assert "credentials refused (HTTP 401)" in outcome["fallbacks"][0]["error"]
    assert kodi.rejected == 1  # the first player's single call, never repeated
    assert kodi.scans() == [{"directory": f"smb://nas/movies/{MOVIE}/", "showdialogs": False}]
    assert outcome["verified"] is True
    assert kodi.movie_files() == [KODI_MOVIE]


def test_kodi_refusing_credentials_alone_fails_at_once_naming_the_player(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    stale = "stale-kodi-password-42"
    name = add_kodi(api, group, kodi.url, password=stale)

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

    notify = jobs[-1]
    assert (notify["type"], notify["status"], notify["retry_count"]) == (
        "notify-players", "failed", 0
    )  # fmt: skip
    assert notify["attempts"] == 1
    assert notify["error"]["type"] == "PermanentError"
    assert name in notify["error"]["message"]
    assert group["name"] in notify["error"]["message"]
    assert "credentials refused" in notify["error"]["message"]
    assert stale not in json.dumps(notify)
    assert kodi.rejected == 1
    assert kodi.scans() == []
    assert kodi.movie_files() == []


def test_kodi_http_500_is_retried_then_scanned_once(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    add_kodi(api, group, kodi.url)
    kodi.mode = "error500"

    root_id, notify_id = start(api)
    wait_status(notify_id, "retrying")
    retrying = api.job(notify_id)
    assert retrying["status"] == "retrying"
    assert "HTTP 500" in retrying["error"]["message"]
    kodi.mode = "ok"
    jobs = api.chain(root_id)

    notify = jobs[-1]
    assert notify["status"] == "completed"
    assert notify["retry_count"] >= 1
    assert only_group(notify)["status"] == "notified"
    assert only_group(notify)["verified"] is True
    assert len(kodi.scans()) == 1
    assert kodi.movie_files() == [KODI_MOVIE]


def test_kodi_answering_garbage_is_retryable_then_scanned_once(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    add_kodi(api, group, kodi.url)
    kodi.mode = "garbage"

    root_id, notify_id = start(api)
    wait_status(notify_id, "retrying")
    retrying = api.job(notify_id)
    assert retrying["status"] == "retrying", retrying
    assert "not JSON" in retrying["error"]["message"]
    assert kodi.scans() == []  # the garbage answer was to the ping: no scan was sent
    kodi.mode = "ok"
    jobs = api.chain(root_id)

    notify = jobs[-1]
    assert (notify["status"], notify["retry_count"]) == ("completed", 1)
    assert only_group(notify)["status"] == "notified"
    assert only_group(notify)["verified"] is True
    assert len(kodi.scans()) == 1
    assert kodi.movie_files() == [KODI_MOVIE]


def test_kodi_json_rpc_error_is_permanent(api: Api, kodi: FakeKodi, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path)
    name = add_kodi(api, group, kodi.url)
    kodi.mode = "rpc-error"

    jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

    notify = jobs[-1]
    assert (notify["type"], notify["status"], notify["retry_count"]) == (
        "notify-players", "failed", 0
    )  # fmt: skip
    assert notify["error"]["type"] == "PermanentError"
    assert name in notify["error"]["message"]
    assert "-32602" in notify["error"]["message"]
    assert kodi.scans() == []


class RecordingKodi(FakeKodi):
    """A FakeKodi that also records what it answered to each method, in order."""

    def __init__(self, **kwargs: Any) -> None:
        self.answers: list[tuple[str, Any]] = []
        super().__init__(**kwargs)

    def _run(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = super()._run(method, params)
        with self._lock:
            self.answers.append((method, answer.get("result")))
        return answer


def test_busy_kodi_never_gets_a_second_scan(api: Api, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path)
    with RecordingKodi(username=KODI_USER, password=KODI_PASSWORD) as kodi:
        with_source(kodi, tmp_path)
        add_kodi(api, group, kodi.url)
        kodi.scanning_checks = 3

        jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

        notify = jobs[-1]
        assert (notify["status"], notify["retry_count"]) == ("completed", 3)
        assert len(kodi.scans()) == 1
        checks = [answer for method, answer in kodi.answers if method == "XBMC.GetInfoBooleans"]
        assert checks == [{"Library.IsScanning": True}] * 3 + [{"Library.IsScanning": False}]
        for index, (method, _) in enumerate(kodi.answers):
            if method != "VideoLibrary.Scan":
                continue
            before = [a for m, a in kodi.answers[:index] if m == "XBMC.GetInfoBooleans"]
            assert before and before[-1] == {"Library.IsScanning": False}, kodi.answers
        # Nothing after a "scanning" answer until the next attempt's ping.
        methods = [method for method, _ in kodi.answers]
        for index, (_, answer) in enumerate(kodi.answers):
            if answer == {"Library.IsScanning": True}:
                assert methods[index + 1] == "JSONRPC.Ping", methods
        assert only_group(notify)["verified"] is True
        assert kodi.movie_files() == [KODI_MOVIE]


def test_slow_kodi_holds_back_neither_the_other_group_nor_other_jobs(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    library_path, library = library_setup(api, tmp_path)
    group_a = add_group(api, library_path, library, SHARE)
    group_b = add_group(api, library_path, library, "/media/movies")
    kodi.mode, kodi.delay = "slow", 8.0  # more than the client's 5 s timeout
    with FakeJellyfin(token="jf-token") as jellyfin:
        add_kodi(api, group_a, kodi.url)
        add_player(api, group_b, "jellyfin", jellyfin.url, token="jf-token")

        root_id, notify_id = start(api)
        wait_status(notify_id, "processing")
        # While one worker process waits on Kodi, the other runs unrelated jobs.
        echo = api.post("/api/v1/jobs", {"type": "test-echo", "payload": {"n": 1}})
        assert echo.status_code == 202, echo.text
        echoed = wait_for_job(echo.json()["id"], timeout=4)
        assert echoed.status == "completed"
        during = api.job(notify_id)
        assert (during["status"], during["attempts"]) == ("processing", 1)

        wait_status(notify_id, "retrying", timeout=15)
        retrying = api.job(notify_id)
        assert retrying["status"] == "retrying", retrying
        # Group B was told within the first attempt, and that is kept for the retry.
        assert jellyfin.updates() == [{"Path": f"/media/movies/{MOVIE}", "UpdateType": "Created"}]
        notified = retrying["checkpoint"]["notified"]
        assert list(notified) == [str(group_b["id"])]
        assert notified[str(group_b["id"])]["status"] == "notified"
        assert group_a["name"] in retrying["error"]["message"]
        assert "no answer within 5 s" in retrying["error"]["message"]
        assert group_b["name"] not in retrying["error"]["message"]

        kodi.mode = "ok"
        notify = api.chain(root_id)[-1]

        assert (notify["status"], notify["retry_count"]) == ("completed", 1)
        outcomes = {o["group"]: o["status"] for o in notify["result"]["groups"]}
        assert outcomes == {group_a["name"]: "notified", group_b["name"]: "already-notified"}
        assert len(jellyfin.updates()) == 1
        assert len(kodi.scans()) == 1
        assert kodi.movie_files() == [KODI_MOVIE]


def test_a_manual_retry_after_fixing_a_password_skips_the_group_already_notified(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    library_path, library = library_setup(api, tmp_path)
    group_a = add_group(api, library_path, library, SHARE)
    group_b = add_group(api, library_path, library, "/media/movies")
    with FakeJellyfin(token="jf-token") as jellyfin:
        name = add_kodi(api, group_a, kodi.url, password="stale-password")
        add_player(api, group_b, "jellyfin", jellyfin.url, token="jf-token")

        root_id = api.webhook("radarr", fixture("radarr_download"))
        failed = api.chain(root_id)[-1]
        assert (failed["type"], failed["status"], failed["retry_count"]) == (
            "notify-players", "failed", 0
        )  # fmt: skip
        assert list(failed["checkpoint"]["notified"]) == [str(group_b["id"])]
        assert len(jellyfin.updates()) == 1

        player = next(p for p in api.get("/api/v1/players")["items"] if p["name"] == name)
        api.patch(f"/api/v1/players/{player['id']}", {"password": KODI_PASSWORD})
        retried = api.post(f"/api/v1/jobs/{failed['id']}/retry", {})
        assert retried.status_code == 202, retried.text
        wait_status(failed["id"], "completed")
        notify = api.job(failed["id"])

        assert notify["status"] == "completed", notify
        outcomes = {o["group"]: o["status"] for o in notify["result"]["groups"]}
        assert outcomes == {group_a["name"]: "notified", group_b["name"]: "already-notified"}
        assert len(jellyfin.updates()) == 1
        assert len(kodi.scans()) == 1
        assert kodi.movie_files() == [KODI_MOVIE]


# --- Jellyfin, Plex -----------------------------------------------------------------------


def test_jellyfin_wrong_token_is_permanent(api: Api, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path, to="/media/movies")
    with FakeJellyfin(token="jf-right") as jellyfin:
        name = add_player(api, group, "jellyfin", jellyfin.url, token="jf-wrong-token")

        jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

        notify = jobs[-1]
        assert (notify["type"], notify["status"], notify["retry_count"]) == (
            "notify-players", "failed", 0
        )  # fmt: skip
        assert name in notify["error"]["message"]
        assert "credentials refused (HTTP 401)" in notify["error"]["message"]
        assert "jf-wrong-token" not in json.dumps(notify)
        assert jellyfin.rejected == 1
        assert jellyfin.updates() == []


def test_jellyfin_503_is_retried_then_notified_once(api: Api, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path, to="/media/movies")
    with FakeJellyfin(token="jf-token") as jellyfin:
        add_player(api, group, "jellyfin", jellyfin.url, token="jf-token")
        jellyfin.status = 503

        root_id, notify_id = start(api)
        wait_status(notify_id, "retrying")
        retrying = api.job(notify_id)
        assert retrying["status"] == "retrying", retrying
        assert "HTTP 503" in retrying["error"]["message"]
        jellyfin.status = 204
        notify = api.chain(root_id)[-1]

        assert (notify["status"], notify["retry_count"]) == ("completed", 1)
        assert only_group(notify)["status"] == "notified"
        update = {"Path": f"/media/movies/{MOVIE}", "UpdateType": "Created"}
        # One refused with 503, then the one that was accepted: nothing more.
        assert jellyfin.updates() == [update, update]


PLEX_SECTIONS = [{"key": "1", "title": "Movies", "type": "movie", "locations": ["/plex/movies"]}]


def test_plex_wrong_token_is_permanent(api: Api, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path, to="/plex/movies")
    with FakePlex(token="plex-right", sections=PLEX_SECTIONS) as plex:
        name = add_player(api, group, "plex", plex.url, token="plex-wrong-token")

        jobs = api.chain(api.webhook("radarr", fixture("radarr_download")))

        notify = jobs[-1]
        assert (notify["type"], notify["status"], notify["retry_count"]) == (
            "notify-players", "failed", 0
        )  # fmt: skip
        assert name in notify["error"]["message"]
        assert "credentials refused (HTTP 401)" in notify["error"]["message"]
        assert "plex-wrong-token" not in json.dumps(notify)
        assert plex.refreshes() == []


def test_plex_refresh_500_is_retryable(api: Api, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path, to="/plex/movies")
    with FakePlex(token="plex-token", sections=PLEX_SECTIONS) as plex:
        add_player(api, group, "plex", plex.url, token="plex-token")
        plex.status = 500

        root_id, notify_id = start(api)
        wait_status(notify_id, "retrying")
        retrying = api.job(notify_id)
        assert retrying["status"] == "retrying", retrying
        assert "HTTP 500" in retrying["error"]["message"]
        plex.status = 200
        notify = api.chain(root_id)[-1]

        assert (notify["status"], notify["retry_count"]) == ("completed", 1)
        assert only_group(notify)["details"] == {
            "sections": ["1"], "verified": False, "verification": UNVERIFIED
        }  # fmt: skip
        assert plex.refreshes() == [("1", f"/plex/movies/{MOVIE}")] * 2


# --- a player that is not there ----------------------------------------------------------


def test_refused_connection_is_a_retryable_fallback(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    dead = FakeKodi()
    dead.stop()
    down = add_kodi(api, group, dead.url, position=0)
    stale = add_kodi(api, group, kodi.url, position=1, password="stale-password")
    good = add_kodi(api, group, kodi.url, position=2)

    notify = api.chain(api.webhook("radarr", fixture("radarr_download")))[-1]

    assert (notify["status"], notify["retry_count"]) == ("completed", 0)
    outcome = only_group(notify)
    assert outcome["player"] == good
    fallbacks = [(f["player"], f["retryable"]) for f in outcome["fallbacks"]]
    assert fallbacks == [(down, True), (stale, False)]
    assert "cannot reach it" in outcome["fallbacks"][0]["error"]
    assert outcome["verified"] is True
    assert len(kodi.scans()) == 1
    assert kodi.movie_files() == [KODI_MOVIE]


def test_refused_connection_alone_is_retried_until_the_player_is_back(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    dead = FakeKodi()
    dead.stop()
    name = add_kodi(api, group, dead.url)
    player = next(p for p in api.get("/api/v1/players")["items"] if p["name"] == name)

    root_id, notify_id = start(api)
    wait_status(notify_id, "retrying")
    retrying = api.job(notify_id)
    assert retrying["status"] == "retrying", retrying
    assert "cannot reach it" in retrying["error"]["message"]
    # The player is back (at a new address): the retry reads the configuration again.
    api.patch(f"/api/v1/players/{player['id']}", {"url": kodi.url})
    notify = api.chain(root_id)[-1]

    assert (notify["status"], notify["retry_count"]) == ("completed", 1)
    assert only_group(notify)["player"] == name
    assert only_group(notify)["verified"] is True
    assert len(kodi.scans()) == 1
    assert kodi.movie_files() == [KODI_MOVIE]


# --- players that trickle their answers --------------------------------------------------

# One byte a second never trips the client's 5 s timeout between reads: only the deadline
# for the whole call (the same 5 s) ends such an answer, which would take minutes in full.
TRICKLE = 1.0
DEADLINE = 5.0


def held(notify_id: str, until: str) -> float:
    """Seconds the job spends processing before reaching ``until`` (or a final status).

    The wait is bounded by three deadlines: a player that holds the call until its trickle
    is done makes the test fail here.
    """
    wait_status(notify_id, "processing")
    started = time.monotonic()
    wait_status(notify_id, until, timeout=3 * DEADLINE)
    return time.monotonic() - started


def test_trickling_kodi_fails_at_the_deadline_and_falls_back_to_the_next_kodi(
    api: Api, kodi: FakeKodi, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path)
    with FakeKodi(username=KODI_USER, password=KODI_PASSWORD) as trickling:
        trickling.trickle = TRICKLE  # the body only: the status line and headers come at once
        slow = add_kodi(api, group, trickling.url, position=0)
        good = add_kodi(api, group, kodi.url, position=1)

        _, notify_id = start(api)
        seconds = held(notify_id, "completed")

        notify = api.job(notify_id)
        assert (notify["status"], notify["retry_count"]) == ("completed", 0), notify
        outcome = only_group(notify)
        assert outcome["player"] == good
        assert [(f["player"], f["retryable"]) for f in outcome["fallbacks"]] == [(slow, True)]
        assert "no answer within 5 s" in outcome["fallbacks"][0]["error"]
        assert DEADLINE * 0.9 < seconds < 3 * DEADLINE
        assert trickling.methods() == ["JSONRPC.Ping"]  # nothing after the call that failed
        assert outcome["verified"] is True
        assert len(kodi.scans()) == 1
        assert kodi.movie_files() == [KODI_MOVIE]


def assert_retried_at_the_deadline(api: Api, notify_id: str) -> None:
    """The notify job gave up on a trickling player at the deadline, and will retry."""
    seconds = held(notify_id, "retrying")
    retrying = api.job(notify_id)
    assert retrying["status"] == "retrying", retrying
    assert "no answer within 5 s" in retrying["error"]["message"]
    assert DEADLINE * 0.9 < seconds < 3 * DEADLINE


def test_trickling_jellyfin_is_retried_after_the_deadline_then_notified_once(
    api: Api, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path, to="/media/movies")
    with FakeJellyfin(token="jf-token") as jellyfin:
        add_player(api, group, "jellyfin", jellyfin.url, token="jf-token")
        # Its 204 has no body: the status line itself trickles.
        jellyfin.trickle, jellyfin.trickle_headers = TRICKLE, True

        root_id, notify_id = start(api)
        assert_retried_at_the_deadline(api, notify_id)
        jellyfin.trickle = None
        notify = api.chain(root_id)[-1]

        assert (notify["status"], notify["retry_count"]) == ("completed", 1)
        assert only_group(notify)["status"] == "notified"
        update = {"Path": f"/media/movies/{MOVIE}", "UpdateType": "Created"}
        # The one whose answer trickled, then the one that was accepted: nothing more.
        assert jellyfin.updates() == [update, update]


def test_trickling_plex_is_retried_after_the_deadline_then_refreshed_once(
    api: Api, tmp_path: Path
) -> None:
    group = movies_setup(api, tmp_path, to="/plex/movies")
    with FakePlex(token="plex-token", sections=PLEX_SECTIONS) as plex:
        add_player(api, group, "plex", plex.url, token="plex-token")
        plex.trickle = TRICKLE  # the section list trickles: no refresh may follow

        root_id, notify_id = start(api)
        assert_retried_at_the_deadline(api, notify_id)
        assert plex.refreshes() == []
        plex.trickle = None
        notify = api.chain(root_id)[-1]

        assert (notify["status"], notify["retry_count"]) == ("completed", 1)
        assert only_group(notify)["details"] == {
            "sections": ["1"], "verified": False, "verification": UNVERIFIED
        }  # fmt: skip
        assert plex.refreshes() == [("1", f"/plex/movies/{MOVIE}")]


def test_testing_a_trickling_player_answers_within_the_deadline(api: Api, tmp_path: Path) -> None:
    group = movies_setup(api, tmp_path)
    with FakeKodi(username=KODI_USER, password=KODI_PASSWORD) as trickling:
        trickling.trickle, trickling.trickle_headers = TRICKLE, True
        name = add_kodi(api, group, trickling.url)
        player = next(p for p in api.get("/api/v1/players")["items"] if p["name"] == name)

        started = time.monotonic()
        # The API client's own 10 s read timeout bounds this wait on a route without one.
        response = api.post(f"/api/v1/players/{player['id']}/test", {})
        seconds = time.monotonic() - started

        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["ok"], answer["status"]) == (False, "unreachable"), answer
        assert answer["error"] == "no answer (connection refused or timed out)"
        assert DEADLINE * 0.9 < seconds < 2 * DEADLINE
