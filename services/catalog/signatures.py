"""Stored folder signatures: what a folder held when it was last scanned.

``library-scan`` compares them with ``services.folder_signature`` of each folder on disk
and scans only the folders whose signature changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator.jobs.models import utcnow
from services.catalog.models import ScannedFolder
from services.catalog.queries import chunks


def folder_signatures(session: Session, library_id: int) -> dict[str, str]:
    """``{folder: signature}`` of every folder of the library stored by a scan."""
    query = select(ScannedFolder.path, ScannedFolder.signature).where(
        ScannedFolder.library_id == library_id
    )
    return {path: signature for path, signature in session.execute(query)}


def store_folder_signatures(session: Session, library_id: int, signatures: dict[str, str]) -> None:
    """Insert or update the signatures of scanned folders (SQLite and PostgreSQL)."""
    if not signatures:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    rows = [
        {"library_id": library_id, "path": path, "signature": signature, "scanned_at": now}
        for path, signature in signatures.items()
    ]
    # A scan-movie job may store the same folder meanwhile: upsert, never a duplicate.
    for chunk in chunks(rows):
        insert = dialect.insert(ScannedFolder).values(chunk)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=[ScannedFolder.path],
                set_={
                    "library_id": insert.excluded.library_id,
                    "signature": insert.excluded.signature,
                    "scanned_at": insert.excluded.scanned_at,
                },
            )
        )


def forget_folder_signatures(session: Session, paths: Sequence[str]) -> None:
    """Delete the stored signatures of these folders, so that they are scanned again."""
    for chunk in chunks(list(paths)):
        session.execute(delete(ScannedFolder).where(ScannedFolder.path.in_(chunk)))
