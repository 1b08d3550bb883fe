"""A row whose stored text the database cannot hand back does not fail the lists.

Such rows cannot be made through the API any more (it refuses that text at the door), but
a database may hold them from before: here they are written straight into the table. On
PostgreSQL, half a surrogate pair escaped in the error's JSON (reading its message fails
in the database); on SQLite, bytes that are not UTF-8 in the summary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, text

from orchestrator.jobs import dispatch
from orchestrator.jobs.models import Job
from orchestrator.storage.db import write_session
from tests.conftest import API_KEY

HEADERS = {"X-Api-Key": API_KEY}


@pytest.fixture
def jobs(database: str) -> Iterator[tuple[str, str]]:
    """A job with unreadable text, and a good one submitted after it, both pending."""
    dispatch.use_relay(lambda job_id: None)  # recorded only: no worker runs them
    try:
        bad = dispatch.submit("test-echo", {"which": "bad"}).job.id
        good = dispatch.submit("test-echo", {"which": "good"}).job.id
    finally:
        dispatch.use_relay(None)
    if database.startswith("postgresql"):
        spoil = "UPDATE jobs SET error = CAST(:error AS json) WHERE id = :id"
        values = {"error": '{"type": "X", "message": "\\ud800"}', "id": bad}
    else:
        spoil = "UPDATE jobs SET summary = CAST(X'C328' AS TEXT) WHERE id = :id"
        values = {"id": bad}
    with write_session() as session:
        session.execute(text(spoil), values)
    yield bad, good
    with write_session() as session:
        session.execute(delete(Job).where(Job.id.in_([bad, good])))


def test_the_list_shows_an_unreadable_row_as_such(
    client: FlaskClient, jobs: tuple[str, str]
) -> None:
    bad, good = jobs
    for query in ("", "?status=pending", "?type=test-echo", "?limit=5"):
        response = client.get(f"/api/v1/jobs{query}", headers=HEADERS)
        assert response.status_code == 200, (query, response.get_data(as_text=True))
        items = {item["id"]: item for item in response.get_json()["items"]}
        assert items[good]["error"] is None
        assert items[bad]["status"] == "pending"
        assert items[bad]["error"]["type"] == "UnreadableRecord"
        assert "cannot" in items[bad]["summary"]


def test_the_job_itself_answers(client: FlaskClient, jobs: tuple[str, str]) -> None:
    bad, _ = jobs
    response = client.get(f"/api/v1/jobs/{bad}", headers=HEADERS)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["id"] == bad
