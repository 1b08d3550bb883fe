"""Shared pieces of the pipeline tests: webhook fixtures, movie folders, a clean catalog."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

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
