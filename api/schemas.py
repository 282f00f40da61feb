"""Types shared by the API's request and response models."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints


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
    Field(description="IANA time zone, e.g. 'America/New_York'.", examples=["Europe/London"]),
    AfterValidator(_check_zone),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[
    str,
    StringConstraints(min_length=10, max_length=256),
    Field(description="At least 10 characters.", json_schema_extra={"writeOnly": True}),
]
Email = EmailStr


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class PageQuery(Input):
    limit: int = Field(default=50, ge=1, le=200, description="Items per page.")
    offset: int = Field(default=0, ge=0, le=1_000_000, description="Items to skip.")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="Items matching the filters, on all pages.")
    limit: int
    offset: int
