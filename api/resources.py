"""Configuration resources (libraries, path mappings, player groups, players), movies and
series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.errors import ApiError, get_row
from api.requests import json_body, query_int, query_limit
from api.schemas import PlayerKind, PlayerKinds
from orchestrator.storage.db import read_session, write_session
from services.catalog import shapes
from services.catalog.config import RESOURCES, Resource
from services.catalog.models import Movie, Series
from services.players import PLAYER_KINDS

bp = Blueprint("resources", __name__, url_prefix="/api/v1")


def _page(rows: list[Any], limit: int, to_dict: Any) -> dict[str, Any]:
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return {"items": [to_dict(row) for row in rows[:limit]], "next_cursor": next_cursor}


def _conflict(resource: Resource, exc: IntegrityError) -> ApiError:
    return ApiError(409, f"a {resource.name} resource with the same unique field already exists")


def _register(resource: Resource) -> None:
    base = f"/{resource.name}"
    endpoint = resource.name.replace("-", "_")
    what = f"{resource.name} resource"  # "no players resource with id 7"

    def create() -> tuple[Response, int]:
        try:
            with write_session() as session:
                row = resource.create(session, json_body())
                body = resource.to_dict(row)
        except IntegrityError as exc:
            raise _conflict(resource, exc) from exc
        return jsonify(body), 201

    def list_rows() -> Response:
        limit, after = query_limit(), query_int("cursor")
        query = select(resource.model).where(resource.model.id > after)
        with read_session() as session:
            rows = list(session.scalars(query.order_by(resource.model.id).limit(limit + 1)))
            return jsonify(_page(rows, limit, resource.to_dict))

    def get(row_id: int) -> Response:
        with read_session() as session:
            return jsonify(resource.to_dict(get_row(session, resource.model, row_id, what)))

    def patch(row_id: int) -> Response:
        try:
            with write_session() as session:
                row = get_row(session, resource.model, row_id, what)
                body = resource.to_dict(resource.update(session, row, json_body()))
        except IntegrityError as exc:
            raise _conflict(resource, exc) from exc
        return jsonify(body)

    def delete(row_id: int) -> tuple[str, int]:
        with write_session() as session:
            session.delete(get_row(session, resource.model, row_id, what))
        return "", 204

    bp.add_url_rule(base, f"create_{endpoint}", create, methods=["POST"])
    bp.add_url_rule(base, f"list_{endpoint}", list_rows, methods=["GET"])
    bp.add_url_rule(f"{base}/<id:row_id>", f"get_{endpoint}", get, methods=["GET"])
    bp.add_url_rule(f"{base}/<id:row_id>", f"patch_{endpoint}", patch, methods=["PATCH"])
    bp.add_url_rule(f"{base}/<id:row_id>", f"delete_{endpoint}", delete, methods=["DELETE"])


for _resource in RESOURCES.values():
    _register(_resource)


@bp.get("/player-types")
def list_player_types() -> Response:
    """The types a player may have, in the order they are offered, with their names."""
    kinds = [PlayerKind.build(type=kind.name, label=kind.label) for kind in PLAYER_KINDS.values()]
    return jsonify(PlayerKinds(items=kinds).dump())


def _catalog_page(model: Any, manager_id: str, to_dict: Callable[[Any], Any]) -> Response:
    """A page of ``model`` rows, filtered by ``library_id``, the manager's id
    ``manager_id`` and ``title`` (substring)."""
    limit, after = query_limit(), query_int("cursor")
    query = select(model).where(model.id > after)
    for column in ("library_id", manager_id):
        if column in request.args:
            query = query.where(getattr(model, column) == query_int(column))
    if title := request.args.get("title"):
        query = query.where(model.title.ilike(f"%{title}%"))
    with read_session() as session:
        rows = list(session.scalars(query.order_by(model.id).limit(limit + 1)))
        return jsonify(_page(rows, limit, to_dict))


@bp.get("/movies")
def list_movies() -> Response:
    """Movies, filtered by ``library_id``, ``tmdb_id`` and ``title`` (substring)."""
    return _catalog_page(Movie, "tmdb_id", shapes.Movie.dump_of)


@bp.get("/series")
def list_series() -> Response:
    """Series, filtered by ``library_id``, ``tvdb_id`` and ``title`` (substring)."""
    return _catalog_page(Series, "tvdb_id", shapes.Series.dump_of)


@bp.get("/movies/<id:movie_id>")
def get_movie(movie_id: int) -> Response:
    """A movie with its files and assets."""
    with read_session() as session:
        return jsonify(shapes.MovieDetail.dump_of(get_row(session, Movie, movie_id, "movie")))
