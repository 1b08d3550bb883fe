"""The ``log`` player: a dry run that sends nothing and says what each type would get."""

from __future__ import annotations

import json

import pytest

from services.players import PLAYER_TYPES, client_for
from services.players.base import PlayerSettings, ScanTarget
from services.players.dry_run import DRY_RUN

FOLDER = "smb://nas/movies/Heat (1995)"


def notify(update_type: str, files: frozenset[str] | None = frozenset({"Heat.mkv"})) -> dict:
    client = client_for(PlayerSettings(type="log", url=""))
    return client.notify(ScanTarget(FOLDER, update_type=update_type, files=files))


def test_it_is_a_player_type_offered_last() -> None:
    assert PLAYER_TYPES[0] == "kodi" and PLAYER_TYPES[-1] == "log"
    assert client_for(PlayerSettings(type="log", url="")).ping() == {"version": "dry run"}


def test_a_changed_folder_would_be_cleaned_where_stale_then_scanned_by_kodi() -> None:
    details = notify("Modified")

    assert (details["verified"], details["verification"]) == (False, DRY_RUN)
    assert details["would_send"]["kodi"] == [
        f"VideoLibrary.Clean {FOLDER}/ (if Kodi lists media no longer on disk)",
        "Files.GetDirectory smb://nas/movies/",
        f"VideoLibrary.Scan {FOLDER}/",
    ]
    body = {"Updates": [{"Path": FOLDER, "UpdateType": "Modified"}]}
    assert details["would_send"]["jellyfin"] == [f"POST /Library/Media/Updated {json.dumps(body)}"]
    assert details["would_send"]["emby"] == details["would_send"]["jellyfin"]
    assert details["would_send"]["plex"] == [
        "GET /library/sections/<key>/refresh?path=smb%3A%2F%2Fnas%2Fmovies%2FHeat%20%281995%29"
    ]


@pytest.mark.parametrize(
    ("update_type", "files", "kodi"),
    [
        ("Created", frozenset({"Heat.mkv"}), ["Files.GetDirectory", "VideoLibrary.Scan"]),
        ("Deleted", frozenset(), ["VideoLibrary.Clean"]),
        ("Modified", frozenset(), ["VideoLibrary.Clean"]),  # its media gone: nothing to scan
    ],
)
def test_kodi_is_cleaned_only_for_a_change_and_scanned_only_while_media_remain(
    update_type: str, files: frozenset[str], kodi: list[str]
) -> None:
    sent = notify(update_type, files)["would_send"]["kodi"]
    assert [line.split()[0] for line in sent] == kodi
