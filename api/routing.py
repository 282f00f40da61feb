"""Typed endpoints on Starlette: one declaration validates requests and documents them.

A handler states its inputs in its signature and its output in its return
annotation::

    @router.get("/api/v1/tutors/{tutor_id}", tags=["tutors"])
    async def get_tutor(call: Call, tutor_id: str) -> TutorOut: ...

A parameter named ``body`` is the JSON body, one named ``query`` the query
string (both pydantic models), any other parameter a path parameter. The same
models drive validation here and the schema in ``api/openapi.py``, so the two
cannot drift. Each call runs in one database transaction that commits only if
the handler returns: a refused request writes nothing. An endpoint declared
``idempotent=True`` honours an ``Idempotency-Key`` header (``api.idempotency``):
its response is stored in that same transaction and replayed to retries.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_type_hints

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import idempotency
from api.auth import API_KEY_HEADER, Principal, authenticate
from api.services import Services
from core.errors import (
    Conflict,
    ErrorDetail,
    LiveclassError,
    NotAuthenticated,
    ValidationFailed,
    details_from_pydantic,
)
from core.logging import get_logger, request_id_var

log = get_logger("liveclass.api")
MAX_BODY_BYTES = 1_000_000


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    db: AsyncSession
    services: Services
    caller: Principal | None
    status_code: int | None = None  # a handler may override the declared status

    @property
    def principal(self) -> Principal:
        if self.caller is None:  # only reachable from an auth=False endpoint by mistake
            raise NotAuthenticated("this endpoint needs credentials")
        return self.caller

    @property
    def now(self) -> datetime:
        return self.services.clock.now()


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    description: str
    tags: tuple[str, ...]
    status_code: int
    auth: bool
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    media_type: str | None  # for handlers that return a raw Response
    path_params: tuple[str, ...]
    errors: tuple[int, ...]
    extra_responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    idempotent: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


def error_response(exc: LiveclassError, headers: dict[str, str] | None = None) -> Response:
    body = exc.to_response(request_id_var.get()).model_dump_json()
    return Response(
        body, status_code=exc.status_code, media_type="application/json", headers=headers
    )


def _model(tp: Any) -> type[BaseModel] | None:
    return tp if inspect.isclass(tp) and issubclass(tp, BaseModel) else None


class Router:
    """Collects endpoints; ``routes()`` gives Starlette routes, ``endpoints`` feeds OpenAPI."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def include(self, other: Router) -> None:
        self.endpoints.extend(other.endpoints)

    def route(
        self,
        method: str,
        path: str,
        *,
        tags: Iterable[str] = (),
        status_code: int = 200,
        auth: bool = True,
        errors: Iterable[int] = (),
        media_type: str | None = None,
        extra_responses: dict[int, type[BaseModel]] | None = None,
        idempotent: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            hints = get_type_hints(handler)
            params = list(inspect.signature(handler).parameters)[1:]
            path_params = tuple(p for p in params if p not in ("body", "query"))
            for p in path_params:
                if "{" + p + "}" not in path:
                    raise TypeError(f"{handler.__name__}: parameter {p!r} is not in path {path!r}")
            returns = hints.get("return")
            doc = inspect.getdoc(handler) or handler.__name__.replace("_", " ")
            summary, _, description = doc.partition("\n")
            self.endpoints.append(
                Endpoint(
                    method=method,
                    path=path,
                    handler=handler,
                    summary=summary.strip(),
                    description=description.strip(),
                    tags=tuple(tags),
                    status_code=204 if returns is type(None) else status_code,
                    auth=auth,
                    body=_model(hints.get("body")) if "body" in params else None,
                    query=_model(hints.get("query")) if "query" in params else None,
                    response=_model(returns),
                    media_type=media_type,
                    path_params=path_params,
                    errors=tuple(errors),
                    extra_responses=extra_responses or {},
                    idempotent=idempotent,
                )
            )
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def routes(self) -> list[Route]:
        return [
            Route(ep.path, _asgi_endpoint(ep), methods=[ep.method], name=ep.operation_id)
            for ep in self.endpoints
        ]


def body_required(model: type[BaseModel]) -> bool:
    """Whether a request must send a body: only when the model has a required field."""
    return any(f.is_required() for f in model.model_fields.values())


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationFailed(
            f"request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large"
        )
    try:
        data = json.loads(raw) if raw else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            f"request body is not valid JSON ({exc}); send a JSON object",
            code="invalid_json",
            details=[ErrorDetail(loc=["body"], message=str(exc), type="json_invalid")],
        ) from exc
    if data is None and not body_required(model):
        data = {}  # every field is optional: no body means all defaults
    if data is None:
        raise ValidationFailed(
            "request body is missing; send a JSON object",
            details=[ErrorDetail(loc=["body"], message="Field required", type="missing")],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "request body has invalid fields; see details",
            details=details_from_pydantic(exc.errors(), prefix="body"),
        ) from exc


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise ValidationFailed(
            "query parameters are invalid; see details",
            details=details_from_pydantic(exc.errors(), prefix="query"),
        ) from exc


def _asgi_endpoint(ep: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        started = time.perf_counter()
        try:
            response = await _run(ep, request, services)
        except LiveclassError as exc:
            if isinstance(exc, NotAuthenticated):
                services.metrics.auth_failures.labels(exc.code).inc()
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
            response = error_response(exc, headers)
        except Exception:
            log.exception("unhandled error", route=ep.path, method=ep.method)
            response = error_response(
                LiveclassError(
                    "something went wrong on our side; try again, "
                    "and quote the request id if it persists"
                )
            )
        services.metrics.requests.labels(ep.method, ep.path, str(response.status_code)).inc()
        services.metrics.latency.labels(ep.method, ep.path).observe(time.perf_counter() - started)
        return response

    return endpoint


async def _run(ep: Endpoint, request: Request, services: Services) -> Response:
    try:
        async with services.sessionmaker() as db, db.begin():
            caller = None
            if ep.auth:
                caller = await authenticate(
                    db,
                    authorization=request.headers.get("authorization"),
                    api_key=request.headers.get(API_KEY_HEADER),
                    secret=services.secret,
                    now=services.clock.now(),
                )
            kwargs: dict[str, Any] = {p: request.path_params[p] for p in ep.path_params}
            if ep.query is not None:
                kwargs["query"] = _parse_query(request, ep.query)
            if ep.body is not None:
                kwargs["body"] = await _parse_body(request, ep.body)
            claimed = None
            key = request.headers.get(idempotency.HEADER) if ep.idempotent else None
            if key is not None and caller is not None:
                digest = idempotency.request_hash(ep.method, request.url.path, await request.body())
                claim = await idempotency.claim(
                    db,
                    principal_id=f"{caller.kind}:{caller.id}",
                    key=key,
                    digest=digest,
                    now=services.clock.now(),
                )
                if isinstance(claim, Response):
                    return claim
                claimed = claim
            call = Call(request=request, db=db, services=services, caller=caller)
            result = await ep.handler(call, **kwargs)
            response = _response(result, call.status_code or ep.status_code)
            if claimed is not None:
                # Stored before the commit below, so the booking and its answer land together.
                await idempotency.remember(db, claimed, response)
    except IntegrityError as exc:
        raise Conflict(
            "the change conflicts with existing data (a duplicate or a reference in use)",
        ) from exc
    return response


def _response(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=status)
    return Response(result.model_dump_json(), status_code=status, media_type="application/json")
