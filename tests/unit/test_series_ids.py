"""The series ids a Sonarr webhook hands to ``scan-season``, and the series folder a
season folder belongs to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.catalog.models import MAX_TMDB_ID
from services.catalog.queries import ManagerSeries, series_folder
from services.webhooks import parse_webhook
from tasks.scan_season import SeasonScanRequest
from tasks.webhook import _series_ids

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def sonarr(name: str, **series: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / f"sonarr_{name}.json").read_text())
    body["series"].update(series)
    return body


def test_a_download_hands_over_every_id_the_title_and_the_year() -> None:
    ids = _series_ids(parse_webhook("sonarr", sonarr("download")))

    assert ids == {
        "tvdb_id": 371980,
        "tmdb_id": 95396,
        "imdb_id": "tt11280740",
        "title": "Severance",
        "year": 2022,
    }
    assert SeasonScanRequest(library_id=1, path="/tv/Severance/Season 02", **ids).tvdb_id == 371980


@pytest.mark.parametrize(
    ("series", "left"),
    [
        ({"tvdbId": 2**31, "tmdbId": 2**40}, {"tvdb_id", "tmdb_id"}),
        ({"imdbId": "nm0000206"}, {"imdb_id"}),
        ({"imdbId": "tt" + "1" * 13}, {"imdb_id"}),
        ({"imdbId": "tt123\n"}, {"imdb_id"}),
        ({"year": 20220}, {"year"}),
        ({"title": " \t "}, {"title"}),
    ],
)
def test_malformed_values_are_left_out_and_the_rest_kept(
    series: dict[str, Any], left: set[str]
) -> None:
    ids = _series_ids(parse_webhook("sonarr", sonarr("download", **series)))

    assert set(ids) == {"tvdb_id", "tmdb_id", "imdb_id", "title", "year"} - left
    SeasonScanRequest(library_id=1, path="/tv/Severance", **ids)  # always a valid request


def test_the_largest_ids_are_kept_and_a_long_title_is_cut_to_its_column() -> None:
    body = sonarr("download", tvdbId=MAX_TMDB_ID, tmdbId=MAX_TMDB_ID, title=" " + "S" * 600)

    ids = _series_ids(parse_webhook("sonarr", body))

    assert (ids["tvdb_id"], ids["tmdb_id"], ids["title"]) == (MAX_TMDB_ID, MAX_TMDB_ID, "S" * 500)
    SeasonScanRequest(library_id=1, path="/tv/Severance", **ids)


@pytest.mark.parametrize(
    "bad",
    [{"tvdb_id": 0}, {"tvdb_id": 2**31}, {"imdb_id": "12345"}, {"year": 0}, {"title": ""}],
)
def test_the_scan_request_refuses_malformed_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SeasonScanRequest(library_id=1, path="/tv/Severance", **bad)


def test_a_manager_series_without_malformed_values() -> None:
    given = ManagerSeries(
        title="  Severance ", year=10_000, tvdb_id=True, tmdb_id=-5, imdb_id="tt11280740x"
    )
    assert given.checked() == ManagerSeries(title="Severance")
    well_formed = ManagerSeries("Severance", 2022, 371980, 95396, "tt11280740")
    assert well_formed.checked() == well_formed
    assert ManagerSeries(tvdb_id=2**31, imdb_id=None, title="").checked() == ManagerSeries()


@pytest.mark.parametrize(
    ("folder", "series"),
    [
        ("/data/tv/Severance/Season 01", "/data/tv/Severance"),
        ("/data/tv/Severance", "/data/tv/Severance"),  # SeriesDelete, or no season folders
        ("/data/tv/Severance/Season 01/Extras", "/data/tv/Severance"),
        ("/data/tv/Severance/", "/data/tv/Severance"),
        ("/data/tv", None),  # the library root is no series
        ("/data/tvshows/Severance", None),
        ("/data/tv/../movies/Alien", None),
    ],
)
def test_the_series_folder_is_the_library_roots_child(folder: str, series: str | None) -> None:
    assert series_folder("/data/tv", folder) == series
    assert series_folder("/data/tv/", folder) == series


def test_a_library_at_the_root_of_the_file_system() -> None:
    assert series_folder("/", "/Severance/Season 01") == "/Severance"
