"""Liveness, readiness and metrics: what orchestrators and Prometheus poll."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel
from starlette.responses import Response

from api.routing import Call, Router
from api.services import Services
from api.version import app_version
from core.database import ping

router = Router()
TAGS = ["operations"]


class HealthOut(BaseModel):
    status: str
    version: str


class CheckOut(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class ReadinessOut(BaseModel):
    status: str
    checks: dict[str, CheckOut]


@router.get("/healthz", tags=TAGS, auth=False)
async def healthz(call: Call) -> HealthOut:
    """The process is up and serving (touches no dependency)."""
    return HealthOut(status="ok", version=app_version())


async def _check_database(services: Services) -> None:
    await ping(services.engine)


async def _check_redis(services: Services) -> None:
    assert services.redis is not None
    await services.redis.ping()


@router.get("/readyz", tags=TAGS, auth=False, extra_responses={503: ReadinessOut})
async def readyz(call: Call) -> ReadinessOut:
    """Every configured dependency answers: the database, and Redis when configured."""
    services = call.services
    checks = {"database": _check_database}
    if services.redis is not None:
        checks["redis"] = _check_redis
    results: dict[str, CheckOut] = {}
    for name, check in checks.items():
        started = time.perf_counter()
        error = None
        try:
            async with asyncio.timeout(services.settings.readiness_timeout_seconds):
                await check(services)
        except TimeoutError:
            error = f"no answer within {services.settings.readiness_timeout_seconds} s"
        except Exception as exc:  # any failure means "not ready"; the type says why
            error = f"{type(exc).__name__}: {exc}"[:300]
        results[name] = CheckOut(
            ok=error is None,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            error=error,
        )
    ready = all(r.ok for r in results.values())
    if not ready:
        call.status_code = 503
    return ReadinessOut(status="ready" if ready else "unavailable", checks=results)


@router.get("/metrics", tags=TAGS, auth=False, media_type="text/plain")
async def metrics(call: Call) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(call.services.metrics.render(), media_type="text/plain; version=0.0.4")
