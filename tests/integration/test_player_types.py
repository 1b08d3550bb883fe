"""``GET /api/v1/player-types``: the registered player types, which the page offers."""

from __future__ import annotations

from flask.testing import FlaskClient

from services.players import PLAYER_KINDS
from tests.conftest import API_KEY
from tests.integration.conftest import assert_problem


def test_the_types_are_the_registry_in_its_order(client: FlaskClient) -> None:
    response = client.get("/api/v1/player-types", headers={"X-Api-Key": API_KEY})

    assert response.status_code == 200
    assert response.get_json() == {
        "items": [{"type": kind.name, "label": kind.label} for kind in PLAYER_KINDS.values()]
    }
    assert response.get_json()["items"][0] == {"type": "kodi", "label": "Kodi"}


def test_the_types_need_the_key(client: FlaskClient) -> None:
    assert_problem(client.get("/api/v1/player-types"), 401, "API key")
