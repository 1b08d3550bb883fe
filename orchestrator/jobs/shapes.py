"""The base of the JSON forms the API answers with: pydantic models read from rows.

A shape is declared once and serves twice: the API builds its bodies through it
(``Shape.dump``) and the OpenAPI document publishes its JSON schema, so the two cannot
drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from orchestrator.jobs.models import INT32_MAX


def _iso(value: datetime) -> str:
    return value.isoformat()


# A time as ``datetime.isoformat()`` writes it (the offset as "+00:00").
IsoTime = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _absent(value: Any) -> bool:
    return value is None


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # never sent as null: absent instead


def optional(description: str) -> Any:
    """A field some answers carry and others leave out (rather than send as null)."""
    return Field(None, exclude_if=_absent, description=description, json_schema_extra=_no_default)


class Shape(BaseModel):
    """A JSON form: read from a row's attributes (or a mapping), dumped as JSON types."""

    # A field with a default (a constant such as ``"queued"``) is still always sent; a
    # shape with ``optional`` fields turns this off.
    model_config = ConfigDict(
        from_attributes=True,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )

    @classmethod
    def dump_of(cls, source: Any) -> dict[str, Any]:
        """The JSON form of ``source`` (a row, an object or a mapping)."""
        return cls.model_validate(source).dump()

    def dump(self) -> dict[str, Any]:
        """This shape as JSON types."""
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def build(cls, **fields: Any) -> Self:
        """A shape from keyword fields (aliases or names)."""
        return cls.model_validate(fields)


RowId = Annotated[int, Field(ge=1, le=INT32_MAX)]
