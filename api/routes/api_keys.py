"""API keys for integrations; created and revoked by coordinators."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.api_keys import find_api_keys, issue_api_key
from api.api_keys import revoke_api_key as revoke_key
from api.models import ApiKey
from api.permissions import not_visible, require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Label, Page, PageQuery

router = Router()
TAGS = ["api-keys"]


class ApiKeyCreate(Input):
    name: Label = Field(description="What the key is for, e.g. 'billing sync'.")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself. Shown only now: store it safely.")


class ApiKeyPage(Page[ApiKeyOut]):
    pass


@router.get("/api/v1/api-keys", tags=TAGS)
async def list_api_keys(call: Call, query: PageQuery) -> ApiKeyPage:
    """List your organisation's API keys (never the keys themselves)."""
    p = call.principal
    require_coordinator(p, "see API keys")
    rows, total = await find_api_keys(call.db, org_id=p.org_id, page=query)
    return ApiKeyPage(
        items=[ApiKeyOut.of(k) for k in rows], total=total, limit=query.limit, offset=query.offset
    )


@router.post("/api/v1/api-keys", tags=TAGS, status_code=201)
async def create_api_key(call: Call, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create an API key; it acts as a coordinator of your organisation."""
    p = call.principal
    require_coordinator(p, "create API keys")
    issued = await issue_api_key(
        call.db,
        org_id=p.org_id,
        name=body.name,
        created_by=p.id if p.kind == "user" else None,
        now=call.now,
    )
    return ApiKeyCreated(key=issued.key, **ApiKeyOut.of(issued.row).model_dump())


@router.delete("/api/v1/api-keys/{key_id}", tags=TAGS)
async def revoke_api_key(call: Call, key_id: str) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    p = call.principal
    require_coordinator(p, "revoke API keys")
    if await revoke_key(call.db, org_id=p.org_id, key_id=key_id, now=call.now) is None:
        raise not_visible(p, "API key", key_id)
