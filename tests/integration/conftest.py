"""Fixtures of the API tests: the Flask app over the test database, and its test client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app


@pytest.fixture(scope="module")
def app(database: str) -> Flask:
    """The API app over the migrated test database."""
    return create_app({"TESTING": True})


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    """A test client of the app."""
    with app.test_client() as client:
        yield client


def assert_problem(response: Any, status: int, *words: str) -> dict[str, Any]:
    """Check a problem+json error of ``status`` whose detail names each of ``words``."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body
    assert "Traceback" not in response.get_data(as_text=True)
    return dict(body)
