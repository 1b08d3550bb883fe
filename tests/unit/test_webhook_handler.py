"""The ``webhook`` handler alone: a FakeJobContext records what it submits, reports and
keeps; the library lookup is replaced by one movie library (the worker tests cover it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tasks.webhook as webhook
from orchestrator import PermanentError, RetryableError
from services.pathmap import normalise
from tasks.settings import media_settings
from tests.fakes.job_context import FakeJobContext

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MATRIX = "The Matrix (1999)"


def body(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


@pytest.fixture
def movies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Radarr's /movies is this folder, library 7."""
    root = tmp_path / "movies"
    (root / MATRIX).mkdir(parents=True)
    mappings = [("/movies", str(root))]
    roots = {normalise(str(root)): (7, "movies")}
    monkeypatch.setattr(webhook, "_mappings_and_roots", lambda source: (mappings, roots))
    monkeypatch.setattr(webhook, "_refuse_unmounted", lambda library_ids: None)
    return root


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test reads the media settings from its own environment."""
    media_settings.cache_clear()
    yield
    media_settings.cache_clear()


def import_wait(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Run the handler as a worker started with ``ORCH_IMPORT_WAIT=seconds`` would."""
    monkeypatch.setenv("ORCH_IMPORT_WAIT", str(seconds))
    media_settings.cache_clear()


def imported_video(movies: Path) -> Path:
    return movies / MATRIX / Path(body("radarr_download")["movieFile"]["relativePath"]).name


def run(payload_body: dict[str, Any], ctx: FakeJobContext, source: str = "radarr") -> Any:
    return webhook.handle_webhook({"source": source, "body": payload_body}, ctx)


def test_an_event_that_needs_no_scan_submits_nothing(movies: Path) -> None:
    ctx = FakeJobContext("webhook")

    result = run(body("radarr_grab"), ctx)

    assert result["action"] == "ignored"
    assert ctx.submitted == []


def test_an_import_here_in_full_submits_the_scan_of_its_folder_with_radarrs_ids(
    movies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_wait(monkeypatch, 600)
    with imported_video(movies).open("wb") as video:
        video.truncate(body("radarr_download")["movieFile"]["size"])
    ctx = FakeJobContext("webhook")

    result = run(body("radarr_download"), ctx)

    [scan] = ctx.submitted
    folder = str(movies / MATRIX)
    assert (scan.job_type, scan.dedupe_key) == ("scan-movie", f"scan-movie:{folder}")
    assert scan.payload == {
        "library_id": 7,
        "path": folder,
        "update_type": "Created",
        "tmdb_id": 603,
        "imdb_id": "tt0133093",
    }
    assert scan.countdown == (media_settings().scan_delay or None)
    assert result["scans"] == [
        {"job_id": scan.id, "type": "scan-movie", "path": folder, "library_id": 7}
    ]
    assert ctx.progress_reports == []


def test_an_import_not_here_yet_comes_back_later_then_fails_naming_the_file(
    movies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_wait(monkeypatch, 600)
    first = FakeJobContext("webhook")

    with pytest.raises(RetryableError) as waiting:
        run(body("radarr_download"), first)

    assert waiting.value.delay == 5.0
    assert f"{imported_video(movies)} (not there yet)" in str(waiting.value)
    assert first.progress_reports == [
        (0, f"waiting for the imported file {imported_video(movies)} (not there yet)")
    ]
    assert first.submitted == []
    started = first.checkpoint["waiting_since"]
    assert time.time() - started < 5

    later = first.retry()
    later.checkpoint["waiting_since"] = started - 100  # waited 100 s so far
    with pytest.raises(RetryableError) as still:
        run(body("radarr_download"), later)
    assert still.value.delay == 60.0  # looking less often, up to once a minute

    last = first.retry()
    last.checkpoint["waiting_since"] = started - 600
    with pytest.raises(PermanentError, match="path mapping of source radarr"):
        run(body("radarr_download"), last)
    assert last.submitted == []


def test_with_the_wait_off_an_import_is_scanned_at_once(
    movies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_wait(monkeypatch, 0)
    ctx = FakeJobContext("webhook")

    run(body("radarr_download"), ctx)

    assert [child.job_type for child in ctx.submitted] == ["scan-movie"]


def test_a_folder_in_no_library_fails_saying_how_to_fix_it(movies: Path) -> None:
    event = body("radarr_movie_delete")
    event["movie"]["folderPath"] = "/elsewhere/Heat (1995)"

    with pytest.raises(PermanentError, match="is in no library: add a library") as failed:
        run(event, FakeJobContext("webhook"))

    # Each way to fix it: the CLI's commands, the page, the API.
    message = str(failed.value)
    assert "orchestrator library add NAME FOLDER" in message
    assert "orchestrator mapping add radarr FROM TO" in message
    assert "the page's Configuration" in message
    assert "POST /api/v1/path-mappings" in message


@pytest.fixture
def shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sonarr's folders are as this host sees them, in TV library 9; no wait for files."""
    import_wait(monkeypatch, 0)
    root = tmp_path / "tv"
    roots = {normalise(str(root)): (9, "tv")}
    monkeypatch.setattr(webhook, "_mappings_and_roots", lambda source: ([], roots))
    monkeypatch.setattr(webhook, "_refuse_unmounted", lambda library_ids: None)
    return root


def test_an_import_naming_more_folders_than_any_import_scans_their_library_once(
    shows: Path,
) -> None:
    sonarr = body("sonarr_import_complete")
    sonarr["series"]["path"] = f"{shows}/Severance"
    sonarr["episodeFiles"] = [
        {"relativePath": f"Folder {n}/Severance - S01E01.mkv", "path": None} for n in range(1000)
    ]
    ctx = FakeJobContext("webhook")

    result = run(sonarr, ctx, "sonarr")

    # 1,000 folders used to be 1,000 scan jobs.
    [scan] = ctx.submitted
    assert (scan.job_type, scan.payload) == ("library-scan", {"library_id": 9})
    assert scan.dedupe_key == "library-scan:9"
    assert result["scans"] == [{"job_id": scan.id, "type": "library-scan", "library_id": 9}]


def test_an_import_of_many_seasons_is_still_a_scan_per_season(shows: Path) -> None:
    sonarr = body("sonarr_import_complete")
    sonarr["series"]["path"] = f"{shows}/Doctor Who"
    sonarr["episodeFiles"] = [
        {"relativePath": f"Season {n:02}/Doctor Who - S{n:02}E01.mkv"}
        for n in range(1, webhook.MAX_FOLDER_SCANS + 1)
    ]
    ctx = FakeJobContext("webhook")

    run(sonarr, ctx, "sonarr")

    assert [s.job_type for s in ctx.submitted] == ["scan-season"] * webhook.MAX_FOLDER_SCANS
