"""Named API keys with a scope, besides ``ORCH_API_KEY`` (which is always ``admin``).

A key is shown once, when it is made; the database keeps only its SHA-256 (a key is 43
random characters: a fast hash of it cannot be reversed by guessing) and its first
characters, so that a list can tell keys apart without holding them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import Integer, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.storage.db import Base, UTCDateTime, read_session, utcnow, write_session

Scope = Literal["webhooks", "read", "admin"]
SCOPES: tuple[str, ...] = get_args(Scope)
# What each scope is for, in the words the CLI, the API and the README use.
SCOPE_HELP = {
    "webhooks": "the webhook and trigger routes only: the key for Radarr, Sonarr and Lidarr",
    "read": "GET routes, the event streams and /metrics: for dashboards and Prometheus",
    "admin": "everything, as ORCH_API_KEY",
}
PREFIX = "orch_"  # tells a key of ours apart in a file or a leak report
HINT_CHARS = len(PREFIX) + 4
# A key's last use is written at most this often: not one write per request.
TOUCH_EVERY = timedelta(seconds=60)
MAX_NAME_CHARS = 100


class ApiKey(Base):
    """A named key: its scope, its hash and when it was made and last used."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS), unique=True)
    scope: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@dataclass(frozen=True)
class KeyInfo:
    """A key as it is listed: never its secret."""

    id: int
    name: str
    scope: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        """The listed form of ``row``."""
        return cls(row.id, row.name, row.scope, row.hint, row.created_at, row.last_used_at)

    def to_dict(self) -> dict[str, object]:
        """The JSON form the API answers with."""
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "hint": self.hint + "…",
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_name(name: str) -> str:
    """``name`` stripped; raises ``InvalidInput`` if it is blank, too long or not printable."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidInput(
            f"a key's name is 1 to {MAX_NAME_CHARS} printable characters, e.g. radarr", "name"
        )
    return name


def check_scope(scope: str) -> str:
    """``scope`` if it is one; raises ``InvalidInput`` naming the scopes otherwise."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}", "scope")
    return scope


def add(name: str, scope: str) -> tuple[KeyInfo, str]:
    """Make a key; returns it as listed and its secret, which nothing keeps.

    Raises ``InvalidInput`` for a bad name or scope, ``Conflict`` for a name in use.
    """
    name, scope = check_name(name), check_scope(scope)
    secret = PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, scope=scope, secret_hash=_hash(secret), hint=secret[:HINT_CHARS])
    try:
        with write_session() as session:
            session.add(row)
            session.flush()
            info = KeyInfo.of(row)
    except IntegrityError:
        raise Conflict(
            f"a key named {name!r} exists: revoke it first, or pick another name"
        ) from None
    return info, secret


def all_keys() -> list[KeyInfo]:
    """Every named key, by name."""
    with read_session() as session:
        return [KeyInfo.of(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.name))]


def revoke(name_or_id: str | int) -> KeyInfo:
    """Delete the key of that name (or id): it opens nothing from now on. Raises NotFound."""
    with write_session() as session:
        row = _find(session, name_or_id)
        if row is None:
            which = (
                f"with id {name_or_id}" if isinstance(name_or_id, int) else f"named {name_or_id!r}"
            )
            raise NotFound(f"no API key {which} (`orchestrator key list` lists them)")
        info = KeyInfo.of(row)
        session.execute(delete(ApiKey).where(ApiKey.id == row.id))
    return info


def _find(session: Session, name_or_id: str | int) -> ApiKey | None:
    if isinstance(name_or_id, int):
        return session.get(ApiKey, name_or_id)
    return session.scalars(select(ApiKey).where(ApiKey.name == name_or_id)).first()


def scope_of(secret: str) -> str | None:
    """The scope of the named key ``secret``, or None if no key has it; notes its use."""
    digest = _hash(secret)
    with read_session() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.secret_hash == digest)).first()
        if row is None:
            return None
        scope, last_used = row.scope, row.last_used_at
    now = utcnow()
    if last_used is None or now - last_used >= TOUCH_EVERY:
        with write_session() as session:
            session.execute(
                update(ApiKey).where(ApiKey.secret_hash == digest).values(last_used_at=now)
            )
    return scope
