"""API keys for integrations; created and revoked by coordinators."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from api.api_keys import DEFAULT_SCOPES, Scope, find_api_keys, issue_api_key
from api.api_keys import revoke_api_key as revoke_key
from api.models import ApiKey
from api.permissions import not_visible, require_coordinator
from api.routing import Call, Router
from api.schemas import Input, Label, Page, PageQuery
from core.errors import PermissionDenied

router = Router()
TAGS = ["api-keys"]


class ApiKeyCreate(Input):
    name: Label = Field(description="What the key is for, e.g. 'billing sync'.")
    scopes: list[Scope] = Field(
        default_factory=lambda: list(DEFAULT_SCOPES),
        min_length=1,
        description="What the key may do: `read` (GET), `write` (every other method), "
        "`personal_data` (routes over a student's personal data, with read or write), "
        "`admin` (API keys, the audit log, exports and erasure). Default: read and write.",
    )
    expires_in_days: int = Field(
        default=365, ge=1, le=1825, description="Days until the key stops working."
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    scopes: list[Scope] = Field(description="What the key may do.")
    expires_at: datetime | None = Field(description="Null: a key made before keys expired.")

    @classmethod
    def of(cls, k: ApiKey) -> ApiKeyOut:
        return cls(
            id=k.id,
            name=k.name,
            prefix=k.prefix,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
            scopes=[Scope(s) for s in k.scopes] if k.scopes is not None else list(Scope),
            expires_at=k.expires_at,
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
    """Create an API key; it acts as a coordinator of your organisation, within its
    scopes, until it expires. A key may not make a key with scopes it lacks."""
    p = call.principal
    require_coordinator(p, "create API keys")
    wanted = tuple(dict.fromkeys(body.scopes))
    if p.scopes is not None and not {s.value for s in wanted} <= p.scopes:
        raise PermissionDenied("an API key cannot create a key with scopes it does not have")
    issued = await issue_api_key(
        call.db,
        org_id=p.org_id,
        name=body.name,
        created_by=p.id if p.kind == "user" else None,
        now=call.now,
        scopes=wanted,
        lifetime=timedelta(days=body.expires_in_days),
    )
    return ApiKeyCreated(key=issued.key, **ApiKeyOut.of(issued.row).model_dump())


@router.delete("/api/v1/api-keys/{key_id}", tags=TAGS)
async def revoke_api_key(call: Call, key_id: str) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    p = call.principal
    require_coordinator(p, "revoke API keys")
    if await revoke_key(call.db, org_id=p.org_id, key_id=key_id, now=call.now) is None:
        raise not_visible(p, "API key", key_id)
