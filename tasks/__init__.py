"""Job handlers of the media pipeline, one module per job type.

The platform imports this package in the API, the worker and the CLI; importing
it registers every job type below with ``@job``.
"""

from tasks import library_scan, notify_players, scan_movie, scan_season, webhook

__all__ = ["library_scan", "notify_players", "scan_movie", "scan_season", "webhook"]
