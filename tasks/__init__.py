"""Job handlers of the media pipeline, one module per job family.

The platform imports this package in the API, the worker and the CLI; importing
it registers every job type below with ``@job``. A module defining jobs imports no
other such module: what they share lives in modules that define none (``scanning``,
``settings``, ``summaries``; ``tests/unit/test_task_imports.py`` checks it).
"""

from tasks import (
    library_scan,
    notify_people,
    notify_players,
    scan_album,
    scan_movie,
    scan_season,
    webhook,
)

__all__ = [
    "library_scan",
    "notify_people",
    "notify_players",
    "scan_album",
    "scan_movie",
    "scan_season",
    "webhook",
]
