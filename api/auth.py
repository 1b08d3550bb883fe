"""API-key authentication (docs/design.md §5.2)."""

from __future__ import annotations

import base64
import binascii
import hmac

from flask import current_app, request


def _same(given: str | None, key: str) -> bool:
    # Constant-time comparison: the time taken says nothing about the key.
    return given is not None and hmac.compare_digest(given.encode(), key.encode())


def presented_key(allow_webhook_forms: bool = False) -> str | None:
    """The key the request presents: ``X-Api-Key``, Bearer, or (webhooks) Basic / ?apikey."""
    if header := request.headers.get("X-Api-Key"):
        return header
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if not allow_webhook_forms:
        return None
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(":")[2]
    return request.args.get("apikey")


def is_authorized(allow_webhook_forms: bool = False) -> bool:
    """True if the request carries the configured API key."""
    key: str = current_app.config["API_KEY"]
    return _same(presented_key(allow_webhook_forms), key)
