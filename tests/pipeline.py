"""Shared pieces of the pipeline tests: webhook fixtures, movie, show and album folders, a
clean catalog."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from orchestrator.storage.db import write_session
from services.catalog.models import Library, ManagerPathMapping, PlayerGroup
from tests.conftest import API_KEY

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HEADERS = {"X-Api-Key": API_KEY}
FINAL = {"completed", "failed", "cancelled"}


def fixture(name: str) -> dict[str, Any]:
    """A webhook body from ``tests/fixtures``."""
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def unique(name: str) -> str:
    """``name`` with a random suffix, for rows that must not clash across tests."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def clear_catalog() -> None:
    """Delete every player group, manager mapping and library (and what hangs off them)."""
    with write_session() as session:
        for model in (PlayerGroup, ManagerPathMapping, Library):
            session.execute(delete(model))


def make_movie(library: Path, folder: str, tmdb_id: int | None) -> Path:
    """A movie folder as Radarr leaves it: video, NFO with the tmdb id (none without an
    id), poster."""
    movie = library / folder
    movie.mkdir(parents=True)
    (movie / f"{folder}.mkv").write_bytes(b"\0" * 4096)
    if tmdb_id is not None:
        (movie / f"{folder}.nfo").write_text(
            f"<movie><title>{folder.split(' (')[0]}</title><year>1999</year>"
            f'<uniqueid type="tmdb" default="true">{tmdb_id}</uniqueid></movie>'
        )
    (movie / "poster.jpg").write_bytes(b"jpg")
    return movie


def make_show(library: Path, folder: str, title: str) -> Path:
    """A show folder with its ``tvshow.nfo``, as Sonarr (or a scraper) leaves it."""
    show = library / folder
    show.mkdir(parents=True, exist_ok=True)
    (show / "tvshow.nfo").write_text(f"<tvshow><title>{title}</title></tvshow>")
    return show


def make_episode(season_folder: Path, show: str, season: int, episode: int) -> Path:
    """An episode video with its NFO (what Kodi's "Local information only" scraper reads)."""
    season_folder.mkdir(parents=True, exist_ok=True)
    stem = f"{show} - S{season:02d}E{episode:02d} - Episode {episode}"
    video = season_folder / f"{stem}.mkv"
    video.write_bytes(b"\0" * 2048)
    (season_folder / f"{stem}.nfo").write_text(
        f"<episodedetails><title>Episode {episode}</title><season>{season}</season>"
        f"<episode>{episode}</episode></episodedetails>"
    )
    return video


def make_album(artist_folder: Path, album: str, tracks: int, artist: str = "Radiohead") -> Path:
    """An album folder as Lidarr leaves it: ``tracks`` FLAC files of a second of tone each,
    tagged (artist, album, title, track number) by ffmpeg, as a real Kodi reads them.
    Skips the test where ffmpeg is missing (CI installs it: make kodi)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ffmpeg is missing; CI must install it (make kodi)")
        pytest.skip("ffmpeg is missing (make kodi installs it)")
    folder = artist_folder / album
    folder.mkdir(parents=True)
    for number in range(1, tracks + 1):
        tags = {"artist": artist, "album_artist": artist, "album": album,
                "title": f"Track {number}", "track": str(number)}  # fmt: skip
        metadata = [arg for key, value in tags.items() for arg in ("-metadata", f"{key}={value}")]
        subprocess.run(
            [ffmpeg, "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
             *metadata, str(folder / f"{number:02d} Track {number}.flac")],
            check=True, timeout=30,
        )  # fmt: skip
    return folder
