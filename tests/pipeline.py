"""Shared pieces of the pipeline tests: webhook fixtures, movie folders, a clean catalog."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from orchestrator.db import write_session
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
