"""The OpenAPI 3.1 description of the API, served at ``GET /api/openapi.json`` (key required).

The document is declarative: tables of operations, responses and the JSON forms the API
returns; request bodies are the pydantic models' own JSON schemas. It is built once per app
(the 413 response names the app's body limit) and cached in ``app.extensions``.
"""

from __future__ import annotations

import copy
from http import HTTPStatus
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from api import schemas as api_shapes
from api.jobs import SubmitBody
from api.keys import KeyCreate
from api.requests import DEFAULT_LIMIT, MAX_LIMIT
from orchestrator.jobs.lifecycle import JobStatus
from orchestrator.jobs.models import INT32_MAX
from orchestrator.jobs.shapes import Shape
from orchestrator.jobs.summaries import MAX_SUMMARY_CHARS
from orchestrator.storage.api_keys import SCOPES
from services.catalog import shapes as catalog_shapes
from services.catalog.config import RESOURCES
from services.players import PLAYER_TYPES
from services.webhooks import SOURCES

bp = Blueprint("openapi", __name__)

Schema = dict[str, Any]
INT32 = {"type": "integer", "format": "int32", "maximum": INT32_MAX}
JSON, PROBLEM_JSON = "application/json", "application/problem+json"


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: str, properties: Schema, **extra: Any) -> Schema:
    """An object schema; ``required`` names the required properties, space-separated."""
    return {"type": "object", "required": required.split(), "properties": properties, **extra}


def _null(type_: str, **extra: Any) -> Schema:
    return {"type": [type_, "null"], **extra}


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STR, BOOL, OBJECT = {"type": "string"}, {"type": "boolean"}, {"type": "object"}
STATUSES = {"enum": [s.value for s in JobStatus]}
PLAYER_TYPE = {"enum": list(PLAYER_TYPES)}  # the registry of player clients

# --- the JSON forms the API answers with: their shapes (api/schemas.py, services/catalog) --
RESPONSE_SHAPES: tuple[type[Shape], ...] = (
    api_shapes.Problem, api_shapes.Job, api_shapes.JobSummary, api_shapes.Event,
    catalog_shapes.Library, catalog_shapes.PathMapping, catalog_shapes.PlayerGroup,
    catalog_shapes.Player, catalog_shapes.Movie, catalog_shapes.MovieDetail,
    catalog_shapes.Series, api_shapes.WebhookQueued, api_shapes.ScanQueued,
    api_shapes.Health, api_shapes.Readiness, api_shapes.PlayerReachable,
    api_shapes.PlayerFailed, api_shapes.PlayerKinds,
)  # fmt: skip
SCHEMAS: dict[str, Schema] = {
    "WebhookBody": _obj("eventType", {
        # Not blank as str.strip() sees it: it also strips \x1c-\x1f and \x85, unlike ECMA \s.
        "eventType": {"type": "string", "minLength": 1, "pattern": r"[^\s\x1c-\x1f\x85]"},
    }, additionalProperties=True, description="A Radarr/Sonarr webhook: any event, any fields."),
    "ApiKey": _obj("id name scope hint created_at last_used_at", {
        "id": INT32, "name": STR, "scope": {"enum": list(SCOPES)},
        "hint": {**STR, "description": "The key's first characters, then …"},
        "created_at": {**STR, "format": "date-time"},
        "last_used_at": {**_null("string"), "format": "date-time",
                         "description": "Written at most once a minute"},
    }),
    "ApiKeyPage": _obj("items", {"items": _array(_ref("ApiKey"))}),
    "ApiKeyMade": {"allOf": [_ref("ApiKey"), _obj("key", {"key": {
        **STR, "description": "The key itself: shown this once, kept only as a hash"}})]},
    "PlayerTest": {"oneOf": [_ref("PlayerReachable"), _ref("PlayerFailed")],
                   "description": "Only whether a player of that type answers, and its "
                   "version: nothing else of what answers at the URL is echoed."},
}  # fmt: skip
RESOURCE_SCHEMA = {
    "libraries": "Library",
    "path-mappings": "PathMapping",
    "player-groups": "PlayerGroup",
    "players": "Player",
}
# A page of jobs holds summaries; the others hold the rows as their GET shows them.
PAGE_ITEMS = {
    "Job": "JobSummary", "Movie": "Movie", "Series": "Series",
    **{n: n for n in RESOURCE_SCHEMA.values()},
}  # fmt: skip
for _name, _item in PAGE_ITEMS.items():
    SCHEMAS[f"{_name}Page"] = _obj(
        "items next_cursor",
        {
            "items": _array(_ref(_item)),
            "next_cursor": {**_null("string"), "description": "Pass as `cursor` for the next page"},
        },
    )


def _shape_schemas(schemas: dict[str, Schema]) -> None:
    """Add the response shapes' JSON schemas (as the API serializes them) to ``schemas``."""
    for shape in RESPONSE_SHAPES:
        _component(shape, schemas, "serialization")
    for name in ("Player", "PlayerKind", "PlayerReachable", "PlayerFailed"):
        schemas[name]["properties"]["type"].update(PLAYER_TYPE)


def _request_schema(model: type[BaseModel], schemas: dict[str, Schema]) -> Schema:
    """A request body's JSON schema as a component (its ``$defs`` become components too).

    Integers get the 32-bit range of the database; a partial update (``Patch``) takes
    ``null`` only for the fields it may clear.
    """
    schema = _component(model, schemas, "validation")
    nullable = getattr(model, "NULLABLE", None)
    if nullable is not None:
        for field, prop in schema["properties"].items():
            if field not in nullable and "anyOf" in prop:
                prop.pop("default", None)
                (kept,) = [s for s in prop.pop("anyOf") if s != {"type": "null"}]
                prop.update(kept)
    return _ref(model.__name__)


class _Untitled(GenerateJsonSchema):
    """Pydantic's JSON schema without a title on every property (the name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _component(
    model: type[BaseModel], schemas: dict[str, Schema], mode: Literal["validation", "serialization"]
) -> Schema:
    """Add ``model``'s JSON schema (in ``mode``) and its ``$defs`` to ``schemas``."""
    schema = model.model_json_schema(
        by_alias=True,
        ref_template="#/components/schemas/{model}",
        schema_generator=_Untitled,
        mode=mode,
    )
    defs = schema.pop("$defs", {})
    if mode == "validation":  # what a request sends must fit the database's columns
        _bounded(defs)
        _bounded(schema)
    schemas.update(defs)
    schemas[model.__name__] = schema
    return schema


def _bounded(schema: Any) -> Any:
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            schema.update({**INT32, "minimum": -INT32_MAX - 1, **schema})
        for value in schema.values():
            _bounded(value)
    elif isinstance(schema, list):
        for value in schema:
            _bounded(value)
    return schema


# --- parameters and responses ----------------------------------------------------------


def _param(where: str, name: str, schema: Schema, description: str) -> Schema:
    required = where == "path"
    return {"name": name, "in": where, "required": required, "schema": schema,
            "description": description}  # fmt: skip


def _row(name: str, what: str) -> list[Schema]:
    return [_param("path", name, {**INT32, "minimum": 0}, what)]


QINT = {**INT32, "minimum": 0}
LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}
LIMIT = _param("query", "limit", LIMIT_SCHEMA, "Page size")
PAGE = [LIMIT, _param("query", "cursor", QINT, "`next_cursor` of the previous page")]
JOB_PAGE = [LIMIT, _param("query", "cursor", STR, "`next_cursor` of the previous page")]
JOB = [_param("path", "job_id", {"type": "string", "minLength": 1}, "The job's id")]
FILTERS = [
    _param("query", "status", STATUSES, "Only jobs in this status"),
    _param("query", "type", STR, "Only jobs of this type"),
    _param("query", "root_id", STR, "Only jobs of this chain"),
    _param("query", "parent_id", STR, "Only children of this job"),
    _param(
        "query",
        "maintenance",
        {"enum": ["0", "1", "true", "false", "yes", "no"]},
        "0, false or no: leave out the platform's maintenance (reaper, retention)",
    ),
]
SEARCH = _param("query", "q", {"type": "string", "maxLength": MAX_SUMMARY_CHARS},
                "Only jobs whose summary contains this (case-insensitive)")  # fmt: skip
AFTER = [
    _param(
        "header",
        "Last-Event-ID",
        QINT,
        "Replay the stored events after this id (at most "
        "10,000: further back, a stream.skipped event comes first, then the newest)",
    ),
    _param("query", "last_event_id", QINT, "As Last-Event-ID, which wins when both are sent"),
]
CHAIN = _param("query", "chain", {"enum": ["0", "1", "true", "false", "yes", "no"]},
               "1, true or yes: the events of the job's whole chain")  # fmt: skip
MOVIE_FILTERS = [
    _param("query", "library_id", QINT, "Only movies of this library"),
    _param("query", "tmdb_id", QINT, "Only movies with this TMDB id"),
    _param("query", "title", STR, "Only titles containing this (case-insensitive)"),
]
SERIES_FILTERS = [
    _param("query", "library_id", QINT, "Only series of this library"),
    _param("query", "tvdb_id", QINT, "Only series with this TVDB id"),
    _param("query", "title", STR, "Only titles containing this (case-insensitive)"),
]
SOURCE = [_param("path", "source", {"enum": list(SOURCES)}, "The manager sending it")]
DIRS = [
    {
        **_param(
            "query",
            "dir",
            {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "A folder to scan, as this host or its `manual` path mappings see it;"
            " repeat it for several",
        ),
        "required": True,
        "style": "form",
        "explode": True,
    }
]

# status: (component name, description, header every such answer carries)
# fmt: off
PROBLEMS: dict[int, tuple[str, str, str | None]] = {
    400: ("BadRequest", "A query parameter or header is invalid, or the body is missing, not "
          "JSON, not an object, or (webhooks) has no eventType, or the job type is unknown", None),
    401: ("Unauthorized", "The API key is missing or wrong", None),
    403: ("Forbidden", "The key's scope does not open this route: webhooks keys open the "
          "webhook and trigger routes, read keys the other GET routes, admin keys all", None),
    404: ("NotFound", "No such resource", None),
    405: ("MethodNotAllowed", "The path exists, not with this method: any method not listed "
          "for a path answers this", "Allow"),
    409: ("Conflict", "The request conflicts with the current state (job status, a unique "
          "field, a held dedupe_key)", None),
    413: ("ContentTooLarge", "The body is larger than {limit} bytes", None),
    422: ("UnprocessableContent", "The body fails validation: `errors` (or `field`) names the "
          "fields", None),
    503: ("ServiceUnavailable", "The database is unavailable: retry after `Retry-After` s",
          "Retry-After"),
}
# fmt: on


def _responses(limit: int | None) -> dict[str, Schema]:
    responses: dict[str, Schema] = {}
    for name, description, header in PROBLEMS.values():
        response = {"description": description.format(limit=limit),
                    "content": {PROBLEM_JSON: {"schema": _ref("Problem")}}}  # fmt: skip
        if header:
            response["headers"] = {header: {"required": True, "schema": STR}}
        responses[name] = response
    return responses


def _ok(status: int, schema: str | Schema, media: str = JSON, **headers: str) -> Schema:
    """A success response: ``schema`` is a component name or a schema."""
    body = _ref(schema) if isinstance(schema, str) else schema
    content = {media: {"schema": body}}
    response: Schema = {"description": HTTPStatus(status).phrase, "content": content}
    if headers:
        response["headers"] = {name: {"required": True, "schema": STR, "description": text}
                               for name, text in headers.items()}  # fmt: skip
    return {str(status): response}


OPEN: list[Schema] = []  # no key needed
WEBHOOK_AUTH: list[Schema] = [{"ApiKey": []}, {"Bearer": []}, {"Basic": []}, {"ApiKeyQuery": []}]
STREAM = _ok(200, {**STR, "description": "See the Event schema"}, "text/event-stream")
NO_CONTENT = {"204": {"description": "Deleted"}}


def _op(
    op_id: str,
    summary: str,
    ok: Schema,
    errors: str = "",
    params: list[Schema] | None = None,
    body: Schema | None = None,
    security: list[Schema] | None = None,
) -> Schema:
    """An operation; ``errors`` lists its statuses, plus 401 unless open and 413 with a body."""
    codes = {int(code) for code in errors.split()}
    codes |= {401, 403} if security != OPEN else set()
    codes |= {413} if body else set()
    responses = ok | {
        str(code): {"$ref": f"#/components/responses/{PROBLEMS[code][0]}"} for code in sorted(codes)
    }
    operation: Schema = {"operationId": op_id, "summary": summary, "responses": responses}
    if params:
        operation["parameters"] = params
    if body:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    if security is not None:
        operation["security"] = security
    return operation


# --- the operations -----------------------------------------------------------------------


def _paths(schemas: dict[str, Schema]) -> dict[str, Schema]:
    submit_body = _request_schema(SubmitBody, schemas)
    location = {"Location": "The job's URL"}
    # fmt: off
    paths: dict[str, Schema] = {
        "/healthz": {"get": _op("health.healthz", "Liveness", _ok(200, "Health"), security=OPEN)},
        "/readyz": {"get": _op("health.readyz", "Readiness: the database and broker answer",
                               _ok(200, "Readiness") | _ok(503, "Readiness"), security=OPEN)},
        "/": {"get": _op("web.index", "The jobs web page", _ok(200, STR, "text/html"),
                         security=OPEN)},
        "/metrics": {"get": _op("metrics.metrics", "Prometheus metrics (text exposition "
                                "format)", _ok(200, STR, "text/plain"), "503")},
        "/api/openapi.json": {"get": _op("openapi.document", "This document",
                                         _ok(200, OBJECT))},
        "/api/v1/jobs": {
            "post": _op("jobs.submit_job", "Submit a job (or get the pending one holding its "
                        "dedupe_key)", _ok(202, "Job", **location), "400 422 503",
                        body=submit_body),
            "get": _op("jobs.list_jobs", "Job summaries, newest first (GET a job for its "
                       "payload and result)", _ok(200, "JobPage"), "400 503",
                       [*JOB_PAGE, *FILTERS, SEARCH]),
        },
        "/api/v1/jobs/{job_id}": {"get": _op("jobs.get_job", "A job in full, with its "
                                             "children as summaries",
                                             _ok(200, "Job"), "404 503", JOB)},
        "/api/v1/jobs/{job_id}/retry": {"post": _op(
            "jobs.retry", "Queue a failed or cancelled job again", _ok(202, "Job"),
            "404 409 503", JOB)},
        "/api/v1/jobs/{job_id}/cancel": {"post": _op(
            "jobs.cancel", "Cancel a waiting job, or stop a running one", _ok(200, "Job"),
            "404 409 503", JOB)},
        "/api/v1/jobs/{job_id}/stream": {"get": _op(
            "events.job_stream", "Server-Sent Events of a job (or its chain), replayed after "
            "Last-Event-ID, then live; ends after the last one", STREAM, "400 404 503",
            [*JOB, CHAIN, *AFTER])},
        "/api/v1/events": {"get": _op(
            "events.all_events", "Server-Sent Events of every job, replayed after Last-Event-ID,"
            " then live (never ends)", STREAM, "400", FILTERS + AFTER)},
        "/api/v1/keys": {
            "post": _op("keys.create_key", "Make a named key with a scope (the key is in this "
                        "answer only)", _ok(201, "ApiKeyMade"), "400 409 422 503",
                        body=_request_schema(KeyCreate, schemas)),
            "get": _op("keys.list_keys", "The named keys, without their secrets (admin keys "
                       "only)", _ok(200, "ApiKeyPage"), "503"),
        },
        "/api/v1/keys/{key_id}": {"delete": _op(
            "keys.revoke_key", "Revoke a named key", NO_CONTENT, "404 503",
            _row("key_id", "The key's id"))},
        "/api/v1/movies": {"get": _op("resources.list_movies", "Movies of the catalog",
                                      _ok(200, "MoviePage"), "400 503", PAGE + MOVIE_FILTERS)},
        "/api/v1/movies/{movie_id}": {"get": _op(
            "resources.get_movie", "A movie with its files and assets", _ok(200, "MovieDetail"),
            "404 503", _row("movie_id", "The movie's id"))},
        "/api/v1/series": {"get": _op("resources.list_series", "Series of the catalog",
                                      _ok(200, "SeriesPage"), "400 503", PAGE + SERIES_FILTERS)},
        "/api/v1/player-types": {"get": _op(
            "resources.list_player_types", "The types a player may have, in the order offered",
            _ok(200, "PlayerKinds"))},
        "/api/v1/players/{player_id}/test": {"post": _op(
            "actions.test_player", "Check that a player answers and accepts its credentials",
            _ok(200, "PlayerTest"), "404 503", _row("player_id", "The player's id"))},
        "/api/v1/libraries/{library_id}/scan": {"post": _op(
            "actions.scan_library", "Queue a library-scan job", _ok(202, "ScanQueued"),
            "404 503", _row("library_id", "The library's id"))},
    }
    paths["/api/triggers/manual"] = {"post": _op(
        "triggers.manual", "Queue a manual-scan job of the folders given", _ok(202, "ScanQueued"),
        "400 503", DIRS, security=WEBHOOK_AUTH)}
    for method in ("post", "put"):
        paths.setdefault("/api/webhooks/{source}", {})[method] = _op(
            f"webhooks.receive_{method}", "Record a Radarr/Sonarr webhook as a `webhook` job",
            _ok(202, "WebhookQueued"), "400 404 503", SOURCE, _ref("WebhookBody"),
            WEBHOOK_AUTH)
    for name, resource in RESOURCES.items():
        end, shown, row = name.replace("-", "_"), RESOURCE_SCHEMA[name], _row("row_id", "Its id")
        create = _request_schema(resource.create_schema, schemas)
        patch = _request_schema(resource.patch_schema, schemas)
        paths[f"/api/v1/{name}"] = {
            "post": _op(f"resources.create_{end}", f"Create one of {name}", _ok(201, shown),
                        "400 409 422 503", body=create),
            "get": _op(f"resources.list_{end}", f"The {name}, by id", _ok(200, f"{shown}Page"),
                       "400 503", PAGE),
        }
        paths[f"/api/v1/{name}/{{row_id}}"] = {
            "get": _op(f"resources.get_{end}", f"One of {name}", _ok(200, shown), "404 503", row),
            "patch": _op(f"resources.patch_{end}", "Change the fields given (others stay)",
                         _ok(200, shown), "400 404 409 422 503", row, patch),
            "delete": _op(f"resources.delete_{end}", f"Delete one of {name}", NO_CONTENT,
                          "404 503", row),
        }
    # fmt: on
    return paths


def build_document(max_request_bytes: int | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API; ``max_request_bytes`` is the 413 limit."""
    schemas = copy.deepcopy(SCHEMAS)
    _shape_schemas(schemas)
    paths = _paths(schemas)
    # fmt: off
    security_schemes = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
        "Bearer": {"type": "http", "scheme": "bearer", "description": "The API key as token"},
        "Basic": {"type": "http", "scheme": "basic",
                  "description": "Webhooks only: any user name, the API key as password"},
        "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "apikey",
                        "description": "Webhooks only: the API key as `?apikey=`"},
    }
    # fmt: on
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orchestrator",
            "version": "1",
            "description": "Jobs, events and configuration of the home-media orchestrator. "
            "Every error is application/problem+json: a method not listed for a path answers "
            "405 (MethodNotAllowed), an unknown path 404.",
        },
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": security_schemes,
            "schemas": schemas,
            "responses": _responses(max_request_bytes),
        },
    }


@bp.get("/api/openapi.json")
def document() -> Response:
    """The OpenAPI document of this app, built on first use."""
    cached = current_app.extensions.get("openapi")
    if cached is None:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        cached = current_app.extensions["openapi"] = build_document(limit)
    return jsonify(cached)
