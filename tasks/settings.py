"""Settings of the media job types, read from ``ORCH_*`` variables like the platform's.

Read through :func:`media_settings` when used, so that a process started with other
values (a test's worker) uses its own; ``media_settings.cache_clear()`` re-reads them.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from orchestrator.settings import EnvSettings, read_settings
from services.notifications import check_urls, split_urls

Outcome = Literal["failed", "completed"]
OUTCOMES: tuple[Outcome, ...] = ("failed", "completed")


class MediaSettings(EnvSettings):
    """The media pipeline's configuration (see ``.env.example`` for each variable)."""

    # Scans wait this long, so that a burst of events for one folder (a redelivered
    # webhook, an import then a rename) coalesces into one scan and one player refresh.
    scan_delay: float = 2.0
    # How long an import may take to show up here in full (0: do not wait).
    import_wait: float = 600.0
    # Seconds between scheduled scans of every library (beat submits library-scan-all).
    library_scan_interval: float = 24 * 3600.0
    # How long to wait before asking a busy player (Kodi scanning) again.
    player_busy_retry: float = 30.0
    # How long a player that can tell (Kodi) may take to show a change in its library
    # before its folder's fallback is scanned, and again before the job fails (0: do not
    # check, and report the players unverified).
    player_verify_timeout: float = Field(default=20.0, ge=0, le=120)
    # Watched folders: seconds a changed folder must be quiet, its files' sizes unchanged,
    # before it is scanned (a copy in progress keeps it waiting).
    watch_quiet: float = Field(default=5.0, ge=0.5, le=3600)
    # Seconds between scans of a watched library whose folders do not fit in the inotify
    # watches left (fs.inotify.max_user_watches): it is scanned on this schedule instead.
    watch_fallback_interval: float = Field(default=900.0, ge=60)
    # Where people hear of failures (and, if asked, of imports every player took): Apprise
    # URLs, separated by commas or spaces. Secret: never shown whole.
    notify_urls: SecretStr | None = None
    # What they hear of: "failed" (a job of the pipeline failed for good), "completed"
    # (an import reached every player), or both ("failed,completed").
    notify_on: str = "failed"
    # The page's address as people open it, for the link in each message.
    public_url: str = "http://127.0.0.1:8000"

    @field_validator("notify_urls")
    @classmethod
    def _apprise_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_urls(value.get_secret_value())
        return value

    @field_validator("notify_on")
    @classmethod
    def _outcomes(cls, value: str) -> str:
        outcomes = {part.strip() for part in value.split(",") if part.strip()}
        if not outcomes <= set(OUTCOMES):
            raise ValueError("must be failed, completed, or failed,completed")
        return ",".join(sorted(outcomes))

    def notify_url_list(self) -> list[str]:
        """The Apprise URLs to send each message to."""
        return split_urls(self.notify_urls.get_secret_value()) if self.notify_urls else []

    def tells(self, outcome: Outcome) -> bool:
        """Whether people are told of ``outcome`` (and there is anyone to tell)."""
        return outcome in self.notify_on.split(",") and self.notify_urls is not None


@lru_cache(maxsize=1)
def media_settings() -> MediaSettings:
    """The process-wide media settings, read once from the environment."""
    return read_settings(MediaSettings)
