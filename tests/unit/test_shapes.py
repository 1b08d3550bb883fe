"""The response shapes: what each row's JSON form shows, hides and leaves out."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from flask import Flask
from pydantic import ValidationError

from api.schemas import ERROR_MESSAGE_CHARS, Job, JobSummary
from services.catalog import shapes

WHEN = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def _job(**changes: object) -> SimpleNamespace:
    fields = dict(
        id="j1", type="scan-movie", summary=None, status="failed", priority=3, queue="high",
        attempts=1, retry_count=0, max_retries=3, progress_percent=50.0,
        progress_message="half", parent_id=None, root_id="j1", dedupe_key=None, worker=None,
        created_at=WHEN, updated_at=WHEN, run_at=None, dispatched_at=None, started_at=None,
        completed_at=None, next_retry_at=None, payload={"path": "/m"}, result=None,
        error={"type": "PermanentError", "message": "x" * 1000, "traceback": "..."},
        checkpoint=None, error_type="PermanentError", error_message="x" * (ERROR_MESSAGE_CHARS + 1),
    )  # fmt: skip
    return SimpleNamespace(**{**fields, **changes})


@pytest.fixture
def request_context() -> object:
    app = Flask(__name__)
    app.add_url_rule("/api/v1/jobs/<job_id>", "jobs.get_job")
    app.add_url_rule("/api/v1/jobs/<job_id>/stream", "events.job_stream")
    with app.test_request_context() as context:
        yield context


def test_a_whole_job_has_its_links_progress_and_times_and_leaves_out_what_it_lacks(
    request_context: object,
) -> None:
    body = Job.dump_of(_job())
    assert body["links"] == {"self": "/api/v1/jobs/j1", "stream": "/api/v1/jobs/j1/stream"}
    assert body["progress"] == {"percent": 50.0, "message": "half"}
    assert body["created_at"] == "2026-11-27T22:00:00+00:00"
    assert body["error"]["traceback"] == "..."
    assert "progress_percent" not in body and "error_type" not in body
    assert "children" not in body and "deduplicated" not in body


def test_a_summary_cuts_the_error_and_has_no_payload(request_context: object) -> None:
    body = JobSummary.dump_of(_job())
    assert body["error"] == {
        "type": "PermanentError",
        "message": "x" * ERROR_MESSAGE_CHARS + "…",
    }
    assert not {"payload", "result", "checkpoint"} & set(body)


def test_a_summary_of_a_job_without_an_error_has_error_null(request_context: object) -> None:
    body = JobSummary.dump_of(_job(error_type=None, error_message=None))
    assert body["error"] is None


def test_a_job_row_that_breaks_the_contract_is_refused_not_sent() -> None:
    with pytest.raises(ValidationError, match="priority"):
        JobSummary.model_validate(_job(priority=11))


def test_a_player_shows_whether_its_secrets_are_set_and_masks_a_url_with_credentials() -> None:
    row = SimpleNamespace(
        id=1, name="Kodi", type="kodi", url="http://kodi:p@ss/w@kodi.local:8080", group_id=2,
        enabled=True, position=0, username="kodi", password="secret", token=None,
    )  # fmt: skip
    body = shapes.Player.dump_of(row)
    assert body["url"] == "http://***@kodi.local:8080"
    assert body["has_password"] is True and body["has_token"] is False
    assert "secret" not in str(body) and "password" not in body


def test_a_group_lists_ids_and_its_mappings_as_from_and_to() -> None:
    row = SimpleNamespace(
        id=1,
        name="living room",
        libraries=[SimpleNamespace(id=5), SimpleNamespace(id=2)],
        path_mappings=[SimpleNamespace(from_path="/data", to_path="smb://nas/data")],
        players=[SimpleNamespace(id=9), SimpleNamespace(id=3)],
    )
    assert shapes.PlayerGroup.dump_of(row) == {
        "id": 1,
        "name": "living room",
        "library_ids": [2, 5],
        "path_mappings": [{"from": "/data", "to": "smb://nas/data"}],
        "player_ids": [9, 3],
    }


def test_a_library_without_anchors_shows_an_empty_list() -> None:
    row = SimpleNamespace(id=1, name="Movies", path="/m", kind="movies", anchors=None,
                          follow_links=None, watch=None)  # fmt: skip
    body = shapes.Library.dump_of(row)
    assert body["anchors"] == [] and body["follow_links"] is False and body["watch"] is False


def test_a_movie_in_detail_splits_its_videos_from_its_assets() -> None:
    def file(path: str, kind: str) -> SimpleNamespace:
        return SimpleNamespace(path=path, kind=kind, art_type=None, language=None, flags=[],
                               part=None, size=1, mtime=1.0)  # fmt: skip

    movie = SimpleNamespace(
        id=1, library_id=1, path="/m/A (2000)", title="A", year=2000, tmdb_id=None,
        imdb_id=None, state="present", disc=None, created_at=WHEN, updated_at=WHEN,
        scanned_at=None, files=[file("a.mkv", "video"), file("poster.jpg", "art")],
    )  # fmt: skip
    body = shapes.MovieDetail.dump_of(movie)
    assert [f["path"] for f in body["files"]] == ["a.mkv"]
    assert [f["path"] for f in body["assets"]] == ["poster.jpg"]
    assert "all_files" not in body
    assert "files" not in shapes.Movie.dump_of(movie)
