"""Secrets the user did not configure: generated once and kept in the data dir.

Keeping them in files (mode 0600) lets every process started with the same
``ORCH_DATA_DIR`` agree on them, and a restart keeps them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from orchestrator.errors import ConfigurationError
from orchestrator.runtime import current
from orchestrator.settings import Settings


def _stored_secret(path: Path) -> tuple[str, bool]:
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value, True


# Shorter keys can be guessed; the generated ones have 32 characters.
MIN_API_KEY_LENGTH = 16


class WeakApiKey(ConfigurationError):
    """``ORCH_API_KEY`` is too short to protect the API."""


def api_key(settings: Settings | None = None) -> tuple[str, bool]:
    """The API key (``ORCH_API_KEY`` or generated) and whether it was just generated.

    Raises :class:`WeakApiKey` for a configured key shorter than 16 characters.
    """
    settings = settings or current().settings
    if settings.api_key:
        if len(settings.api_key) < MIN_API_KEY_LENGTH:
            # Never the key itself: this message goes to logs and terminals.
            raise WeakApiKey(
                f"ORCH_API_KEY is shorter than {MIN_API_KEY_LENGTH} characters: set a longer"
                " one (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'),"
                " or unset it to have one generated into"
                f" {settings.data_dir / 'api_key'}"
            )
        return settings.api_key, False
    return _stored_secret(settings.data_dir / "api_key")


def flower_credentials(settings: Settings | None = None) -> tuple[str, str, bool]:
    """Flower's user and password (configured or generated) and whether it was just generated."""
    settings = settings or current().settings
    user = settings.flower_user or "admin"
    if settings.flower_password:
        return user, settings.flower_password, False
    password, generated = _stored_secret(settings.data_dir / "flower_password")
    return user, password, generated
