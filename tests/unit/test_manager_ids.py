"""The one check of a manager's ids, title and year: what a payload refuses is what a
webhook body and the catalog leave out."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.manager_ids import MAX_TITLE_LENGTH, well_formed
from services.catalog.models import MAX_TMDB_ID
from tasks.scan_season import SeasonScanRequest

BAD = [
    {"tmdb_id": 0},
    {"tmdb_id": MAX_TMDB_ID + 1},
    {"tvdb_id": True},
    {"tvdb_id": "371980"},
    {"imdb_id": "tt123\n"},
    {"imdb_id": "nm0000206"},
    {"year": 10_000},
    {"title": " \t "},
    {"title": 5},
]


@pytest.mark.parametrize("bad", BAD)
def test_a_value_that_does_not_fit_is_left_out_of_a_body_and_refused_in_a_payload(
    bad: dict[str, Any],
) -> None:
    good = {"imdb_id": "tt11280740"} if "imdb_id" not in bad else {"year": 2022}
    assert well_formed(**bad, **good) == good  # the rest of the body is kept
    with pytest.raises(ValidationError):
        SeasonScanRequest(library_id=1, path="/tv/Severance", **bad)


def test_values_that_fit_are_kept_as_stored_and_a_long_title_is_cut() -> None:
    values = {"tmdb_id": MAX_TMDB_ID, "tvdb_id": 1, "imdb_id": "tt11280740", "year": 2022}
    long_title = " " + "S" * (MAX_TITLE_LENGTH + 100) + " "

    kept = well_formed(**values, title=long_title)

    assert kept == {**values, "title": "S" * MAX_TITLE_LENGTH}
    request = SeasonScanRequest(library_id=1, path="/tv/Severance", **values, title=long_title)
    assert request.title == kept["title"]


def test_none_is_left_out() -> None:
    assert well_formed(tmdb_id=None, title=None) == {}
