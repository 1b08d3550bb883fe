"""System folders: a library there would scan the system's own files.

Setting a library's folder there (or a link to there) needs a confirmation, and the real
folder confirmed is kept (``Library.system_path``). Each scan resolves the folder again:
one that leads into a system folder it was not confirmed for (a link swapped since) is
not scanned.
"""

from __future__ import annotations

import os

from orchestrator.errors import PermanentError
from services.catalog.models import Library

# /mnt, /media, /srv, /data, /home/... are fine.
SYSTEM_FOLDERS = (
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/root", "/run",
    "/sbin", "/sys", "/usr", "/var",
)  # fmt: skip


def system_folder(path: str) -> str | None:
    """The system folder ``path`` is (``/`` itself) or lies in, else None."""
    if path == "/":
        return "/"
    return next((f for f in SYSTEM_FOLDERS if path == f or path.startswith(f + "/")), None)


def confirmed_system_path(path: str) -> str | None:
    """What a library set to ``path`` (already confirmed if need be) keeps as confirmed:
    its real folder when that is a system folder, else None."""
    real = os.path.realpath(path)
    return real if system_folder(real) else None


def refuse_system_folder(library: Library) -> None:
    """Fail for good when the library's folder now leads into a system folder that was
    not confirmed for it (a link changed since it was set)."""
    real = os.path.realpath(library.path)
    found = system_folder(real)
    if found and real != library.system_path:
        raise PermanentError(
            f"library {library.name}: its folder {library.path} now leads to {real}, in the"
            f" system folder {found}; nothing was scanned and no player was told. If that is"
            " meant, set the library's path again with confirm_system_path"
        )
