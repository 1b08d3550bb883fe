"""The ``webhook`` player against a receiver over real HTTP on 127.0.0.1; its header's value
is a secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from services.players import (
    PlayerAuthError,
    PlayerError,
    PlayerSettings,
    PlayerUnavailable,
    client_for,
)
from services.players.base import ScanTarget
from services.players.dry_run import would_send
from services.players.webhook import change_body
from tests.fakes.players import FakeWebhook

SECRET = "Bearer hook-s3cret"
TARGET = ScanTarget(
    "/mnt/tv/Severance/Season 02",
    "Created",
    "tvshows",
    files=frozenset({"S02E02.mkv", "S02E01.mkv"}),
    library="TV",
)


@pytest.fixture
def receiver() -> Iterator[FakeWebhook]:
    with FakeWebhook() as fake:
        yield fake


def settings(receiver: FakeWebhook) -> PlayerSettings:
    return PlayerSettings(
        type="webhook",
        url=f"{receiver.url}/hook",
        header_name="Authorization",
        header_value=SECRET,
        timeout=2.0,
    )


def test_the_body_tells_the_change() -> None:
    now = datetime(2026, 12, 14, 20, 30, 5, 123, tzinfo=UTC)
    assert change_body(TARGET, now) == {
        "event": "Created",
        "folder": "/mnt/tv/Severance/Season 02",
        "library": "TV",
        "content": "tvshows",
        "files": ["S02E01.mkv", "S02E02.mkv"],
        "sent_at": "2026-12-14T20:30:05+00:00",
    }
    whole_library = ScanTarget("/mnt/tv", files=None)
    assert change_body(whole_library, now)["files"] is None


def test_a_change_is_posted_with_the_header(receiver: FakeWebhook) -> None:
    details = client_for(settings(receiver)).notify(TARGET)

    (request,) = receiver.requests
    assert request["path"] == "/hook"
    assert request["headers"]["authorization"] == SECRET
    assert request["body"]["folder"] == TARGET.directory
    assert (details["status"], details["verified"]) == (200, False)
    assert details["sent"] == request["body"]


def test_the_test_posts_a_test_event(receiver: FakeWebhook) -> None:
    assert client_for(settings(receiver)).ping() == {"version": "test event accepted"}
    (request,) = receiver.requests
    assert request["body"]["event"] == "Test" and request["body"]["folder"] is None
    assert request["headers"]["authorization"] == SECRET


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, PlayerUnavailable),
        (503, PlayerUnavailable),
        (401, PlayerAuthError),
        (404, PlayerError),
    ],
)
def test_5xx_is_retryable_4xx_is_not_and_no_message_holds_the_secret(
    receiver: FakeWebhook, status: int, error: type[PlayerError]
) -> None:
    receiver.statuses = [status]

    with pytest.raises(PlayerError) as caught:
        client_for(settings(receiver)).notify(TARGET)

    assert type(caught.value) is error
    assert f"HTTP {status}" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_no_answer_is_retryable_and_the_secret_stays_out() -> None:
    gone = FakeWebhook()
    gone.stop()
    with pytest.raises(PlayerUnavailable) as caught:
        client_for(settings(gone)).notify(TARGET)
    assert "s3cret" not in str(caught.value)


def test_the_settings_repr_holds_no_secret() -> None:
    shown = repr(PlayerSettings(type="webhook", url="http://h", header_value=SECRET, token="t0k"))
    assert "s3cret" not in shown and "t0k" not in shown


def test_the_dry_run_shows_the_body_and_the_command_line() -> None:
    sent = would_send(TARGET)
    method, body = sent["webhook"][0].split(" ", 1)
    assert method == "POST"
    assert json.loads(body)["folder"] == TARGET.directory
    assert sent["command"] == ["'<executable>' '/mnt/tv/Severance/Season 02' Created TV"]
