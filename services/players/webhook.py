"""The ``webhook`` player: POSTs a JSON description of each change to a URL.

For Tdarr, FileFlows or any service of one's own that takes a webhook. The body:
``{"event", "folder", "library", "content", "files", "sent_at"}`` (see ``change_body``),
with one optional header of the household's (e.g. ``Authorization: Bearer ...``), whose
value is a secret: never shown, logged or put in a message. A 2xx answer is taken; 5xx,
a timeout or no answer are retried; any other status fails for good.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.players.base import (
    NoLibrary,
    PlayerSettings,
    ScanTarget,
    request,
    require_directory,
)

UNVERIFIED = "not checked: a webhook reports no library"


def change_body(target: ScanTarget, now: datetime | None = None) -> dict[str, Any]:
    """The JSON body telling of ``target``: the event (Created, Modified or Deleted), the
    folder as the player group sees it, our library's name, its content (movies or
    tvshows), the folder's media files now (relative paths; null for a whole library) and
    when it was sent (ISO 8601, UTC)."""
    return {
        "event": target.update_type,
        "folder": target.directory,
        "library": target.library,
        "content": target.content,
        "files": None if target.files is None else sorted(target.files),
        "sent_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }


def ping_body(now: datetime | None = None) -> dict[str, Any]:
    """The body of the player test, like Radarr's Test event: no folder, nothing to do."""
    sent_at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return {
        "event": "Test",
        "folder": None,
        "library": None,
        "content": None,
        "files": None,
        "sent_at": sent_at,
    }


class WebhookClient(NoLibrary):
    """POSTs each change to the configured URL."""

    TYPES = {"webhook": "Webhook"}

    def __init__(self, settings: PlayerSettings) -> None:
        self.settings = settings

    def _headers(self) -> dict[str, str]:
        name, value = self.settings.header_name, self.settings.header_value
        return {name: value} if name and value is not None else {}

    def _post(self, body: dict[str, Any]) -> int:
        response = request(
            self.settings, "POST", self.settings.url, headers=self._headers(), json=body
        )
        return response.status_code

    def ping(self) -> dict[str, Any]:
        """POST a Test event; any 2xx answer passes. What answered is never echoed."""
        self._post(ping_body())
        return {"version": "test event accepted"}

    def notify(self, target: ScanTarget) -> dict[str, Any]:
        """POST ``change_body(target)``; returns what was sent and the answer's status."""
        require_directory(target.directory)
        body = change_body(target)
        status = self._post(body)
        return {"sent": body, "status": status, "verified": False, "verification": UNVERIFIED}
