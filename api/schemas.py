"""Types shared by the API's request and response models."""

from __future__ import annotations

from typing import Annotated, ClassVar, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as 'Europe/London'"
        ) from exc
    return value


TimeZoneName = Annotated[
    str,
    Field(
        description="IANA time zone, e.g. 'America/New_York'.",
        examples=["Europe/London"],
        # The names this server knows, so the schema refuses what the check refuses.
        json_schema_extra={"enum": sorted(available_timezones())},
    ),
    AfterValidator(_check_zone),
]
# Names and labels are stripped of surrounding whitespace (pydantic strips Unicode
# White_Space, which leaves U+001C-U+001F alone), so they must hold something else:
# the pattern says so in the schema (ECMA-262 regex).
_VISIBLE = (
    "[^\\t-\\r\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(json_schema_extra={"pattern": _VISIBLE}),
]
Label = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(json_schema_extra={"pattern": _VISIBLE}),
]
Password = Annotated[
    str,
    StringConstraints(min_length=10, max_length=256),
    Field(description="At least 10 characters.", json_schema_extra={"writeOnly": True}),
]
Email = EmailStr


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Patch(Input):
    """A PATCH body: a field left out keeps its value. ``NOT_NULL`` names the fields that
    cannot be cleared: an explicit null for one is a 422 (``null_not_allowed``), and the
    OpenAPI schema does not offer null for them, so the document and the check agree.
    The router checks (``api.routing``), after the caller's permissions."""

    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name in cls.NOT_NULL:
            prop = target["properties"][name]
            options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
            if len(options) == 1:
                del prop["anyOf"]
                prop.update(options[0])
            prop.pop("default", None)
        return schema

    def nulls(self) -> list[str]:
        """The ``NOT_NULL`` fields this body sets to null."""
        return [f for f in self.NOT_NULL if f in self.model_fields_set and getattr(self, f) is None]


class PageQuery(Input):
    limit: int = Field(default=50, ge=1, le=200, description="Items per page.")
    offset: int = Field(default=0, ge=0, le=1_000_000, description="Items to skip.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Items matching the filters, on all pages.")
    limit: int
    offset: int
