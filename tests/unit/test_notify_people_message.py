"""What a notify-people message says of a failed notify-players: the groups told, each
player that failed and why, a group no player was tried for, and the link to the job."""

from __future__ import annotations

from orchestrator.jobs.models import Job
from tasks.notify_people import message
from tasks.settings import media_settings


def test_a_failed_notify_names_each_group_and_player_and_links_the_job() -> None:
    job = Job(
        id="job-1",
        type="notify-players",
        summary="Heat (1995) · Created",
        error={"message": "group Bedroom: kodi-2: no answer within 5 s"},
        checkpoint={
            "notified": {"1": {"group": "Living room", "player": "kodi-1", "verified": True}},
            "failed": [
                {"group": "Bedroom", "attempts": [{"player": "kodi-2", "error": "no answer"}]},
                {"group": "Den", "error": "smb://x escapes the mapping"},
            ],
        },
    )

    title, body = message(job, "failed")

    assert title == "Failed: notify-players Heat (1995) · Created"
    assert body.splitlines() == [
        "notify-players Heat (1995) · Created",
        "Error: group Bedroom: kodi-2: no answer within 5 s",
        "Living room: told kodi-1 (verified)",
        "Not told: Bedroom: kodi-2: no answer",
        "Not told: Den: smb://x escapes the mapping",
        f"{media_settings().public_url.rstrip('/')}/#job=job-1",
    ]
