"""Reading Radarr/Sonarr/Lidarr webhook bodies into folders to rescan."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.webhooks import (
    SOURCES,
    ImportedFile,
    ScanTarget,
    WebhookError,
    WebhookEvent,
    parse_webhook,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MATRIX = "/movies/The Matrix (1999)"
SEVERANCE = "/tv/Severance"
RADIOHEAD = "/music/Radiohead"

# fixture file -> (action, [(folder, update type)])
EXPECTED: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "radarr_application_update.json": ("ignored", []),
    "radarr_download.json": ("scan", [(MATRIX, "Created")]),
    "radarr_download_windows.json": ("scan", [("D:\\Movies\\The Matrix (1999)", "Modified")]),
    "radarr_grab.json": ("ignored", []),
    "radarr_health.json": ("ignored", []),
    "radarr_health_restored.json": ("ignored", []),
    "radarr_manual_interaction_required.json": ("ignored", []),
    "radarr_movie_added.json": ("ignored", []),
    "radarr_movie_delete.json": ("scan", [(MATRIX, "Deleted")]),
    "radarr_movie_file_delete.json": ("scan", [(MATRIX, "Modified")]),
    "radarr_rename.json": ("scan", [(MATRIX, "Modified")]),
    "radarr_test.json": ("ignored", []),
    "sonarr_application_update.json": ("ignored", []),
    "sonarr_download.json": ("scan", [(f"{SEVERANCE}/Season 02", "Created")]),
    "sonarr_episode_file_delete.json": ("scan", [(f"{SEVERANCE}/Season 02", "Modified")]),
    "sonarr_grab.json": ("ignored", []),
    "sonarr_health.json": ("ignored", []),
    "sonarr_health_restored.json": ("ignored", []),
    "sonarr_import_complete.json": (
        "scan",
        [(f"{SEVERANCE}/Season 01", "Created"), (f"{SEVERANCE}/Season 02", "Created")],
    ),
    "sonarr_manual_interaction_required.json": ("ignored", []),
    "sonarr_rename.json": (
        "scan",
        [(f"{SEVERANCE}/Season 02", "Modified"), (f"{SEVERANCE}/Season 2", "Deleted")],
    ),
    "sonarr_series_add.json": ("ignored", []),
    "sonarr_series_delete.json": ("scan", [(SEVERANCE, "Deleted")]),
    "sonarr_test.json": ("ignored", []),
    "lidarr_album_delete.json": ("scan", [(RADIOHEAD, "Modified")]),  # no album folder sent
    "lidarr_application_update.json": ("ignored", []),
    "lidarr_artist_add.json": ("ignored", []),
    "lidarr_artist_delete.json": ("scan", [(RADIOHEAD, "Deleted")]),
    "lidarr_download.json": ("scan", [(f"{RADIOHEAD}/OK Computer (1997)", "Created")]),
    "lidarr_download_failure.json": ("ignored", []),
    "lidarr_download_upgrade.json": ("scan", [(f"{RADIOHEAD}/In Rainbows (2007)", "Modified")]),
    "lidarr_grab.json": ("ignored", []),
    "lidarr_health.json": ("ignored", []),
    "lidarr_health_restored.json": ("ignored", []),
    "lidarr_import_failure.json": ("ignored", []),
    "lidarr_rename.json": (
        "scan",
        [(f"{RADIOHEAD}/Kid A (2000)", "Modified"), (f"{RADIOHEAD}/Kid A", "Deleted")],
    ),
    "lidarr_retag.json": ("scan", [(f"{RADIOHEAD}/OK Computer (1997)", "Modified")]),
    "lidarr_test.json": ("ignored", []),
}
KINDS = {"radarr": "movie", "sonarr": "tv", "lidarr": "music"}


def load(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return body


def source_of(name: str) -> str:
    return name.split("_", 1)[0]


def folders(event: WebhookEvent) -> list[tuple[str, str]]:
    return [(target.path, target.update_type) for target in event.targets]


def test_the_table_covers_every_fixture() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture(name: str) -> None:
    body = load(name)
    action, targets = EXPECTED[name]

    event = parse_webhook(source_of(name), body)

    assert (event.action, folders(event)) == (action, targets)
    assert event.event_type == body["eventType"]
    assert event.instance == body["instanceName"]
    assert {t.kind for t in event.targets} <= {KINDS[source_of(name)]}
    assert (event.reason is None) == (action == "scan")
    assert json.loads(json.dumps(event.to_dict())) == event.to_dict()


def test_movie_metadata() -> None:
    event = parse_webhook("radarr", load("radarr_download.json"))
    assert (event.title, event.year, event.tmdb_id, event.imdb_id, event.tvdb_id) == (
        "The Matrix",
        1999,
        603,
        "tt0133093",
        None,
    )
    assert event.to_dict()["targets"] == [
        {"path": MATRIX, "update_type": "Created", "kind": "movie"}
    ]


def test_album_metadata_and_the_files_imported() -> None:
    event = parse_webhook("lidarr", load("lidarr_download.json"))

    assert (event.title, event.year, event.artist) == ("OK Computer", 1997, "Radiohead")
    assert event.artist_mbid == "a74b1b7f-71a5-4011-9441-d0b5e4122711"
    assert event.album_mbid == "b1392450-e666-3926-a536-22c65f834433"
    assert len(event.files) == 12 and all(f.size for f in event.files)
    assert event.files[0].path == (
        f"{RADIOHEAD}/OK Computer (1997)/Radiohead - OK Computer - 01 - Airbag.flac"
    )


def test_a_multi_disc_album_is_scanned_as_the_folder_above_its_discs() -> None:
    body = load("lidarr_download.json")
    body["trackFiles"] = [
        {"path": f"{RADIOHEAD}/OK Computer (1997)/CD 1/01 Airbag.flac"},
        {"path": f"{RADIOHEAD}/OK Computer (1997)/Disc 2/01 Lucky.flac"},
    ]

    event = parse_webhook("lidarr", body)

    assert folders(event) == [(f"{RADIOHEAD}/OK Computer (1997)", "Created")]


def test_a_lidarr_body_sent_to_the_radarr_url_names_the_right_one() -> None:
    with pytest.raises(WebhookError, match="this is a Lidarr webhook .* /api/webhooks/lidarr"):
        parse_webhook("radarr", load("lidarr_download.json"))


def test_series_metadata() -> None:
    event = parse_webhook("sonarr", load("sonarr_download.json"))
    assert (event.title, event.year, event.tmdb_id, event.imdb_id, event.tvdb_id) == (
        "Severance",
        2022,
        95396,
        "tt11280740",
        371980,
    )
    assert event.targets == (ScanTarget(f"{SEVERANCE}/Season 02", "Created", "tv"),)
    assert not event.is_upgrade


@pytest.mark.parametrize("source", SOURCES)
def test_test_body_is_ignored(source: str) -> None:
    body = load(f"{source}_test.json")
    where = {"radarr": ("movie", "folderPath"), "sonarr": ("series", "path"),
             "lidarr": ("artist", "path")}[source]  # fmt: skip
    assert body[where[0]][where[1]] == "C:\\testpath"  # a dummy path that must not be scanned

    event = parse_webhook(source, body)

    assert (event.action, event.targets, event.reason) == (
        "ignored",
        (),
        "Test events need no scan",
    )
    assert event.title == ("Test title" if source == "lidarr" else "Test Title")
    assert event.tmdb_id is None  # 0 means unknown


# --- not a webhook ------------------------------------------------------------------------


def test_unknown_source() -> None:
    with pytest.raises(WebhookError, match="unknown webhook source 'readarr'"):
        parse_webhook("readarr", load("radarr_download.json"))


@pytest.mark.parametrize("body", [None, [], ["eventType"], "Download", 42, b"{}"])
def test_body_not_an_object(body: Any) -> None:
    with pytest.raises(WebhookError, match="not a JSON object"):
        parse_webhook("radarr", body)


@pytest.mark.parametrize("body", [{}, {"eventType": ""}, {"eventType": "  "}, {"eventType": 3}])
def test_body_without_event_type(body: dict[str, Any]) -> None:
    with pytest.raises(WebhookError, match="the body has no eventType"):
        parse_webhook("sonarr", body)


def test_webhook_error_is_a_value_error() -> None:
    assert issubclass(WebhookError, ValueError)


# --- ignored ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "event_type"),
    [
        ("radarr", "Foo"),
        ("radarr", "MovieFileDeleted"),  # Metarr's names, never sent by Radarr
        ("radarr", "HealthIssue"),
        ("radarr", "SeriesDelete"),  # Sonarr's name
        ("sonarr", "MovieDelete"),
        ("sonarr", "download"),
    ],
)
def test_unknown_event_type_is_ignored(source: str, event_type: str) -> None:
    body = load(f"{source}_download.json") | {"eventType": event_type}

    event = parse_webhook(source, body)

    assert (event.action, event.targets) == ("ignored", ())
    assert event.reason == f"unknown event type {event_type!r}"


@pytest.mark.parametrize(
    ("source", "event_type"),
    [(s, e) for s in SOURCES for e in ("Download", "Rename")]
    + [("radarr", "MovieFileDelete"), ("radarr", "MovieDelete")]
    + [("sonarr", "EpisodeFileDelete"), ("sonarr", "SeriesDelete")],
)
def test_event_without_any_path_is_ignored(source: str, event_type: str) -> None:
    event = parse_webhook(source, {"eventType": event_type})

    assert (event.action, event.targets) == ("ignored", ())
    assert event.reason == f"{event_type} without any path"
    assert event.title is None and event.instance is None and not event.is_upgrade


# --- wrong types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"movie": ["The Matrix"]},
        {"movie": {"folderPath": 42, "title": 7, "year": "1999", "tmdbId": True}},
        {"movieFile": {"path": 42, "relativePath": ["x"]}, "movie": {"folderPath": None}},
        {"movieFile": "x.mkv", "movie": {"folderPath": ""}},
        {"isUpgrade": "true", "instanceName": {"name": "Radarr"}},
    ],
)
def test_wrong_types_do_not_raise(change: dict[str, Any]) -> None:
    event = parse_webhook("radarr", load("radarr_download.json") | change)
    assert event.action in ("scan", "ignored")
    assert not event.is_upgrade


SONARR_IDS = ("Severance", 2022, 371980, 95396, "tt11280740")


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith("sonarr_")))
def test_every_sonarr_fixture_with_a_series_carries_its_ids(name: str) -> None:
    body = load(name)
    event = parse_webhook("sonarr", body)

    found = (event.title, event.year, event.tvdb_id, event.tmdb_id, event.imdb_id)
    if name == "sonarr_test.json":  # 0 and null mean unknown
        assert found == ("Test Title", None, 1234, None, None)
    elif "series" in body:
        assert found == SONARR_IDS
    else:
        assert found == (None,) * 5


@pytest.mark.parametrize(
    "series",
    [
        {"tvdbId": "371980", "tmdbId": 95396.0, "imdbId": 11280740, "title": [], "year": "2022"},
        {"tvdbId": True, "tmdbId": -1, "imdbId": "", "title": "  ", "year": 0},
        {"tvdbId": None, "tmdbId": {}, "imdbId": None, "title": None, "year": None},
        {},
    ],
)
def test_series_ids_of_the_wrong_type_are_left_out(series: dict[str, Any]) -> None:
    body = load("sonarr_download.json")
    for key in ("tvdbId", "tmdbId", "imdbId", "title", "year"):
        body["series"].pop(key)
    body["series"].update(series)

    event = parse_webhook("sonarr", body)

    assert (event.title, event.year, event.tvdb_id, event.tmdb_id, event.imdb_id) == (None,) * 5
    assert folders(event) == [(f"{SEVERANCE}/Season 02", "Created")]


def test_a_series_object_that_is_not_an_object_gives_no_ids_and_no_scan() -> None:
    body = load("sonarr_series_delete.json") | {"series": ["Severance", 371980]}

    event = parse_webhook("sonarr", body)

    assert (event.action, event.tvdb_id, event.title) == ("ignored", None, None)


def test_wrong_types_fall_back_to_the_next_path() -> None:
    body = load("radarr_download.json")
    body["movieFile"]["path"] = 42

    event = parse_webhook("radarr", body)

    assert folders(event) == [(MATRIX, "Created")]


def every_key(value: Any, trail: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        yield (*trail, key)
        if isinstance(child, dict | list):
            yield from every_key(child, (*trail, key))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_any_field_of_a_fixture_may_hold_anything(name: str) -> None:
    original = load(name)
    for trail in every_key(original):
        if trail == ("eventType",):
            continue
        for junk in (None, [], {}, 0, -1, "", "x", True, 1.5, [None], {"path": 1}):
            body = copy.deepcopy(original)
            parent = body
            for key in trail[:-1]:
                parent = parent[key]
            parent[trail[-1]] = junk
            parse_webhook(source_of(name), body)


# --- paths --------------------------------------------------------------------------------


def test_windows_radarr_download_keeps_its_style() -> None:
    event = parse_webhook("radarr", load("radarr_download_windows.json"))
    assert event.targets == (ScanTarget("D:\\Movies\\The Matrix (1999)", "Modified", "movie"),)
    assert event.is_upgrade


def test_windows_sonarr_joins_series_path_and_relative_path() -> None:
    body = load("sonarr_download.json")
    body["series"]["path"] = "C:\\TV\\Severance\\"
    del body["episodeFile"]["path"]

    event = parse_webhook("sonarr", body)

    assert folders(event) == [("C:\\TV\\Severance\\Season 02", "Created")]


@pytest.mark.parametrize(
    ("folder_path", "expected"),
    [
        ("/movies/The Matrix (1999)/", MATRIX),
        ("/movies//The Matrix (1999)", MATRIX),
        ("D:\\Movies\\The Matrix (1999)\\", "D:\\Movies\\The Matrix (1999)"),
        ("D:/Movies/The Matrix (1999)", "D:\\Movies\\The Matrix (1999)"),
        ("\\\\nas\\media\\Movies\\The Matrix (1999)", "\\\\nas\\media\\Movies\\The Matrix (1999)"),
        ("/movies/AC\\DC Live (1991)", "/movies/AC\\DC Live (1991)"),
    ],
)
def test_folders_have_no_trailing_separator(folder_path: str, expected: str) -> None:
    event = parse_webhook(
        "radarr", {"eventType": "MovieDelete", "movie": {"folderPath": folder_path}}
    )
    assert folders(event) == [(expected, "Deleted")]


def test_radarr_download_falls_back_to_folder_and_relative_path() -> None:
    body = load("radarr_download.json")
    del body["movieFile"]["path"]
    body["movieFile"]["relativePath"] = "Extras/The Matrix (1999) Featurette.mkv"

    assert folders(parse_webhook("radarr", body)) == [(f"{MATRIX}/Extras", "Created")]

    del body["movieFile"]
    assert folders(parse_webhook("radarr", body)) == [(MATRIX, "Created")]


def test_import_complete_in_two_seasons_gives_two_targets() -> None:
    body = load("sonarr_import_complete.json")
    for episode_file in body["episodeFiles"]:
        del episode_file["path"]  # series.path + relativePath gives the same folders

    event = parse_webhook("sonarr", body)

    assert folders(event) == EXPECTED["sonarr_import_complete.json"][1]


def test_import_complete_without_file_paths_uses_the_destination() -> None:
    body = load("sonarr_import_complete.json")
    body["episodeFiles"] = []
    body["destinationPath"] = "/tv/Severance/Season 02/"

    assert folders(parse_webhook("sonarr", body)) == [(f"{SEVERANCE}/Season 02", "Created")]


def test_radarr_rename_into_another_folder_scans_both() -> None:
    body = load("radarr_rename.json")
    body["renamedMovieFiles"][0]["previousPath"] = "/movies/The Matrix/The Matrix.mkv"

    event = parse_webhook("radarr", body)

    assert folders(event) == [(MATRIX, "Modified"), ("/movies/The Matrix", "Deleted")]


def test_sonarr_rename_from_previous_relative_path() -> None:
    body = load("sonarr_rename.json")
    for renamed in body["renamedEpisodeFiles"]:
        del renamed["path"], renamed["previousPath"]

    event = parse_webhook("sonarr", body)

    assert folders(event) == EXPECTED["sonarr_rename.json"][1]


def test_sonarr_upgrade_is_modified() -> None:
    body = load("sonarr_download.json") | {"isUpgrade": True}

    event = parse_webhook("sonarr", body)

    assert event.is_upgrade
    assert folders(event) == [(f"{SEVERANCE}/Season 02", "Modified")]


@pytest.mark.parametrize(
    ("reason", "update_type"), [("upgrade", "Modified"), ("manual", "Deleted")]
)
def test_radarr_file_delete(reason: str, update_type: str) -> None:
    body = load("radarr_movie_file_delete.json") | {"deleteReason": reason}
    assert folders(parse_webhook("radarr", body)) == [(MATRIX, update_type)]


# --- property-based -----------------------------------------------------------------------

KEYS = [
    "movie", "series", "remoteMovie", "movieFile", "episodeFile", "episodeFiles",
    "renamedMovieFiles", "renamedEpisodeFiles", "path", "relativePath", "folderPath",
    "previousPath", "previousRelativePath", "destinationPath", "isUpgrade", "deleteReason",
    "title", "year", "tmdbId", "imdbId", "tvdbId", "instanceName", "size",
]  # fmt: skip
EVENT_TYPES = [
    "Test", "Grab", "Download", "Rename", "MovieAdded", "MovieDelete", "MovieFileDelete",
    "SeriesAdd", "SeriesDelete", "EpisodeFileDelete", "Health", "HealthRestored",
    "ApplicationUpdate", "ManualInteractionRequired",
]  # fmt: skip


def test_random_bodies_raise_nothing_but_webhook_error() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    paths = st.sampled_from(["", "/", "C:", "C:\\", "/tv/X/S01/e.mkv", "D:\\M\\a.mkv", "\\\\n\\s"])
    scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | paths
    values = st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(KEYS) | st.text(), inner, max_size=5)
        ),
        max_leaves=25,
    )
    bodies = st.builds(
        lambda event_type, rest: rest | {"eventType": event_type},
        st.sampled_from(EVENT_TYPES) | st.text(),
        st.dictionaries(st.sampled_from(KEYS) | st.text(), values, max_size=8),
    )

    @hypothesis.settings(max_examples=400, deadline=None)
    @hypothesis.given(source=st.sampled_from(SOURCES), body=bodies)
    def check(source: str, body: dict[str, Any]) -> None:
        try:
            event = parse_webhook(source, body)
        except WebhookError:
            return
        assert (event.action == "scan") == bool(event.targets)
        assert all(t.path and t.path.strip() for t in event.targets)
        assert len({t.path for t in event.targets}) == len(event.targets)
        assert all(f.path.strip() and (f.size is None or f.size > 0) for f in event.files)
        json.dumps(event.to_dict())

    check()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_body_of_the_other_manager_names_the_right_url(name: str) -> None:
    body = json.loads((FIXTURES / name).read_text())
    sender = name.split("_", 1)[0]
    other = "sonarr" if sender == "radarr" else "radarr"
    if not (body.get("movie") or body.get("remoteMovie") or body.get("series")
            or body.get("artist")):  # fmt: skip
        # Health, updates and the like: nothing tells the managers apart, and it is ignored.
        assert parse_webhook(other, body).action == "ignored"
        return
    with pytest.raises(
        WebhookError, match=f"point {sender.capitalize()} at /api/webhooks/{sender}"
    ):
        parse_webhook(other, body)


# fixture file -> the files its import names, with their sizes (nothing else names any)
IMPORTED = {
    "radarr_download.json": [
        (f"{MATRIX}/The Matrix (1999) Bluray-1080p.mkv", 11741063123),
    ],
    "radarr_download_windows.json": [
        ("D:\\Movies\\The Matrix (1999)\\The Matrix (1999).mkv", 61203421184),
    ],
    "sonarr_download.json": [
        (
            f"{SEVERANCE}/Season 02/Severance - S02E01 - Hello, Ms. Cobel WEBDL-2160p.mkv",
            9126805504,
        ),
    ],
    "sonarr_import_complete.json": [
        (f"{SEVERANCE}/Season 01/Severance - S01E09 - The We We Are WEBDL-2160p.mkv", 8210221056),
        (
            f"{SEVERANCE}/Season 02/Severance - S02E01 - Hello, Ms. Cobel WEBDL-2160p.mkv",
            9126805504,
        ),
        (
            f"{SEVERANCE}/Season 02/Severance - S02E02 - Goodbye, Mrs. Selvig WEBDL-2160p.mkv",
            7340032000,
        ),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_imports_name_their_files_and_sizes(name: str) -> None:
    event = parse_webhook(source_of(name), load(name))
    # Lidarr's imports name every track file of the album, each with its path and size.
    tracks = [(f["path"], f["size"]) for f in load(name).get("trackFiles", [])]

    expected = IMPORTED.get(name, tracks if event.event_type == "Download" else [])
    assert event.files == tuple(ImportedFile(path, size) for path, size in expected)


def test_an_imported_file_without_path_is_found_from_its_folder_and_size_may_be_missing() -> None:
    body = load("radarr_download.json")
    del body["movieFile"]["path"]
    body["movieFile"]["size"] = "big"

    event = parse_webhook("radarr", body)

    assert event.files == (ImportedFile(f"{MATRIX}/The Matrix (1999) Bluray-1080p.mkv", None),)
    assert event.to_dict()["files"] == [{"path": event.files[0].path, "size": None}]


def test_a_mapping_may_have_each_source_the_catalog_knows_and_no_other() -> None:
    from typing import get_args

    from services.catalog.config import MappingSource
    from services.catalog.models import MAPPING_SOURCES

    assert get_args(MappingSource) == MAPPING_SOURCES
    assert set(SOURCES) < set(MAPPING_SOURCES)
