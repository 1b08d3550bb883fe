"""libraries.system_path: the system folder confirmed for a library, checked at each scan

Revision ID: 0105
Revises: 0104
Create Date: 2026-12-07
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0105"
down_revision = "0104"
branch_labels = None
depends_on = None

# The system folders of services/catalog/system_folders.py when this was written.
SYSTEM_FOLDERS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root", "/run",
    "/sbin", "/sys", "/usr", "/var",
)  # fmt: skip


def _in_system_folder(path: str) -> bool:
    return path == "/" or any(path == f or path.startswith(f + "/") for f in SYSTEM_FOLDERS)


def upgrade() -> None:
    with op.batch_alter_table("libraries") as batch:
        batch.add_column(sa.Column("system_path", sa.String(1000), nullable=True))
    # A library already in a system folder was confirmed when it was set: keep that.
    libraries = sa.table(
        "libraries", sa.column("id", sa.Integer), sa.column("path"), sa.column("system_path")
    )
    connection = op.get_bind()
    for library_id, path in connection.execute(sa.select(libraries.c.id, libraries.c.path)):
        real = os.path.realpath(path)
        if _in_system_folder(real):
            connection.execute(
                libraries.update().where(libraries.c.id == library_id).values(system_path=real)
            )


def downgrade() -> None:
    with op.batch_alter_table("libraries") as batch:
        batch.drop_column("system_path")
