"""Path mapping: the same folder as another program sees it (docs/design.md §4.2).

A mapping turns a prefix into another prefix; the longest matching prefix wins.
Separators (``\\`` from Radarr on Windows) and trailing slashes are normalised,
and ``.``/``..`` components are resolved so that a mapped path can never climb
out of the prefix it was mapped from.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from orchestrator.errors import InvalidInput

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_DRIVE = re.compile(r"^[a-zA-Z]:(/|$)")


class PathEscape(InvalidInput):
    """A path whose ``..`` components climb above the mapped prefix."""


def is_windows_style(path: str) -> bool:
    """True for ``C:\\...``, ``C:/...`` or UNC (``\\\\server\\share``) paths."""
    return "\\" in path or bool(_DRIVE.match(path))


def normalise(path: str) -> str:
    """Forward slashes, no duplicate or trailing slash, no ``.`` step; ``smb://`` style
    schemes kept. A ``..`` step stays: :func:`is_within` refuses what it escapes to."""
    path = path.strip().replace("\\", "/")
    scheme = ""
    if match := _SCHEME.match(path):
        scheme, path = match.group(0), path[match.end() :]
    unc = path.startswith("//") and not scheme
    path = re.sub(r"/{2,}", "/", path)
    if "/." in path:
        kept = [part for n, part in enumerate(path.split("/")) if part != "." or n == 0]
        path = "/".join(kept) or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    return scheme + ("/" if unc else "") + path


def _key(path: str) -> str:
    # Windows paths compare case-insensitively, like the file systems they name.
    return path.lower() if is_windows_style(path) else path


def _relative_part(path: str, prefix: str) -> str | None:
    """What follows ``prefix`` in ``path`` ('' when equal), or None if it is not a prefix."""
    if _key(path) == _key(prefix):
        return ""
    base = prefix if prefix.endswith("/") else prefix + "/"
    if _key(path).startswith(_key(base)):
        return path[len(base) :]
    return None


def _clean_relative(rest: str) -> str:
    if not rest:
        return ""
    cleaned = posixpath.normpath(rest)
    if cleaned == ".." or cleaned.startswith("../"):
        raise PathEscape(f"{rest!r} climbs above its root")
    return "" if cleaned == "." else cleaned


def join(prefix: str, rest: str) -> str:
    """``prefix`` + ``rest`` in the prefix's own separator style."""
    if not rest:
        return prefix
    separator = "\\" if "\\" in prefix else "/"
    return prefix.rstrip("/\\") + separator + rest.replace("/", separator)


def map_path(path: str, mappings: Iterable[tuple[str, str]]) -> str | None:
    """Map ``path`` with the longest matching ``(from, to)`` prefix; None when none matches.

    Raises :class:`PathEscape` when the part after the prefix climbs out of it.
    """
    normal = normalise(path)
    best: tuple[int, str, str] | None = None
    for source, target in mappings:
        rest = _relative_part(normal, normalise(source))
        if rest is not None and (best is None or len(normalise(source)) > best[0]):
            best = (len(normalise(source)), target, rest)
    if best is None:
        return None
    _, target, rest = best
    return join(target.strip(), _clean_relative(rest))


def is_within(path: str, root: str) -> bool:
    """True if ``path`` is ``root`` or inside it, after normalising both (no ``..`` escape)."""
    rest = _relative_part(normalise(path), normalise(root))
    if rest is None:
        return False
    try:
        _clean_relative(rest)
    except PathEscape:
        return False
    return True


def best_root(path: str, roots: Iterable[str]) -> str | None:
    """The longest of ``roots`` that holds ``path``, or None."""
    holding = [root for root in roots if is_within(path, root)]
    return max(holding, key=lambda root: len(normalise(root)), default=None)
