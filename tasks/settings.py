"""Settings of the media job types, read from ``ORCH_*`` variables like the platform's.

Read through :func:`media_settings` when used, so that a process started with other
values (a test's worker) uses its own; ``media_settings.cache_clear()`` re-reads them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field

from orchestrator.settings import EnvSettings, read_settings


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


@lru_cache(maxsize=1)
def media_settings() -> MediaSettings:
    """The process-wide media settings, read once from the environment."""
    return read_settings(MediaSettings)
