"""API-key authentication and scopes (docs/design.md §5.2).

``ORCH_API_KEY`` is the admin key; named keys (``orchestrator key add``) carry a scope.
Each route needs one scope: ``webhooks`` for the webhook and trigger routes, ``read`` for
the other GET routes (the event streams and ``/metrics`` among them), ``admin`` for the
rest. An admin key opens every route; another key, only the routes of its own scope.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from flask import current_app, request

from orchestrator.storage import api_keys


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


# The routes that take work in from a manager or a script: what a ``webhooks`` key opens.
WEBHOOK_ENDPOINTS = ("webhooks.", "triggers.")
# GET routes that are nonetheless an admin's: who holds which key is not for a dashboard.
ADMIN_READS = frozenset({"keys.list_keys"})


def required_scope(endpoint: str, method: str) -> api_keys.Scope:
    """The scope a request to ``endpoint`` with ``method`` needs."""
    if endpoint.startswith(WEBHOOK_ENDPOINTS):
        return "webhooks"
    if method in ("GET", "HEAD") and endpoint not in ADMIN_READS:
        return "read"
    return "admin"


def scope_of_request(allow_webhook_forms: bool = False) -> str | None:
    """The scope of the key the request presents: ``admin`` for ``ORCH_API_KEY``, a named
    key's own, or None for no key or an unknown one."""
    given = presented_key(allow_webhook_forms)
    if not given:
        return None
    if _same(given, current_app.config["API_KEY"]):
        return "admin"
    return api_keys.scope_of(given)


def opens(scope: str, needed: str) -> bool:
    """Whether a key of ``scope`` opens a route that needs ``needed``."""
    return scope in ("admin", needed)
