"""What a manager (Radarr, Sonarr, Lidarr) may say a movie, a series or an album is: its ids,
title and year (and an album's artist).

One place checks them. A scan's payload refuses a value that does not fit (its model's
fields use these types); a webhook body, which may hold anything, keeps only the values
that fit (``well_formed``), and so does the catalog before it writes them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, Strict, TypeAdapter, ValidationError

from services.catalog.models import IMDB_ID, MAX_TMDB_ID

MAX_TITLE_LENGTH = 500
MAX_YEAR = 9999


def _clipped(value: Any) -> Any:
    # A title longer than its column is cut rather than refused; blank is refused.
    return value.strip()[:MAX_TITLE_LENGTH] if isinstance(value, str) else value


# An id fits its 32-bit column; an imdb id is "tt" and digits; never a bool for a number.
ManagerId = Annotated[int, Strict(), Field(ge=1, le=MAX_TMDB_ID)]
ImdbId = Annotated[str, Strict(), Field(pattern=IMDB_ID)]
Year = Annotated[int, Strict(), Field(ge=1, le=MAX_YEAR)]
Title = Annotated[str, Strict(), BeforeValidator(_clipped), Field(min_length=1)]
# MusicBrainz's ids are UUIDs (a Lidarr Test event's "aaaaa-aaa-aaaa-aaaaaa" is none).
MusicBrainzId = Annotated[
    str, Strict(), Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]

_CHECKS: dict[str, TypeAdapter[Any]] = {
    "tmdb_id": TypeAdapter(ManagerId),
    "tvdb_id": TypeAdapter(ManagerId),
    "imdb_id": TypeAdapter(ImdbId),
    "title": TypeAdapter(Title),
    "year": TypeAdapter(Year),
    "artist": TypeAdapter(Title),
    "artist_mbid": TypeAdapter(MusicBrainzId),
    "album_mbid": TypeAdapter(MusicBrainzId),
}


def well_formed(**values: Any) -> dict[str, Any]:
    """The values (``tmdb_id``, ``tvdb_id``, ``imdb_id``, ``title``, ``year``, ``artist``,
    ``artist_mbid``, ``album_mbid``) that fit,
    as they are stored; None and the values that do not fit are left out."""
    kept = {}
    for name, value in values.items():
        if value is None:
            continue
        try:
            kept[name] = _CHECKS[name].validate_python(value)
        except ValidationError:
            continue
    return kept
