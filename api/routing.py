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
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, get_args, get_type_hints

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import idempotency
from api.audit_trail import write_entries
from api.auth import API_KEY_HEADER, Principal, authenticate
from api.schemas import Patch
from api.services import Services
from core.errors import (
    Conflict,
    ErrorDetail,
    LiveclassError,
    NotAuthenticated,
    PermissionDenied,
    TooManyRequests,
    ValidationFailed,
    details_from_pydantic,
)
from core.logging import get_logger, request_id_var

log = get_logger("liveclass.api")
MAX_BODY_BYTES = 1_000_000
# Routes under these tags need an API key's ``admin`` scope.
ADMIN_TAGS = {"api-keys", "audit", "privacy"}


@dataclass
class Call:
    """One request as a handler sees it."""

    request: Request
    db: AsyncSession
    services: Services
    caller: Principal | None
    status_code: int | None = None  # a handler may override the declared status
    # The students whose data this call read or changed, for the audit log
    # (``api.audit_trail``); a handler that returns several students' data names them.
    students: list[str] = field(default_factory=list)

    def about(self, *student_ids: str | None) -> None:
        """Name students whose personal data this call returns or changes."""
        self.students.extend(s for s in student_ids if s)

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
    # The kind of a student's personal data the route touches: its calls are audited,
    # as ``audit_action`` when it succeeds (else read, create, update or delete by method).
    audit: str | None = None
    audit_action: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        """What an API key needs for this route (``api.api_keys.Scope`` values)."""
        needed = {"read" if self.method == "GET" else "write"}
        if self.audit is not None:
            needed.add("personal_data")
        if ADMIN_TAGS & set(self.tags):
            needed.add("admin")
        return frozenset(needed)

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
        audit: str | None = None,
        audit_action: str | None = None,
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
                    audit=audit,
                    audit_action=audit_action,
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
        """One Starlette route per path, dispatching on the method: a method the path
        does not serve gets 405 with an ``Allow`` header naming every method it does."""
        by_path: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {}
        for ep in self.endpoints:
            by_path.setdefault(ep.path, {})[ep.method] = _asgi_endpoint(ep)
        routes = []
        for path, handlers in by_path.items():
            name = next(ep.operation_id for ep in self.endpoints if ep.path == path)
            routes.append(Route(path, _dispatch(handlers), methods=list(handlers), name=name))
        return routes


def _dispatch(
    handlers: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint


def body_required(model: type[BaseModel]) -> bool:
    """Whether a request must send a body: only when the model has a required field."""
    return any(f.is_required() for f in model.model_fields.values())


class InvalidBody:
    """Stands in for a body that failed validation until the handler first touches it.

    Permissions come before the body: a caller who may not act on the resource is
    told so (403/404) whatever they sent, and learns nothing from the body's errors.
    The handler authorises first; its first use of the body raises the validation
    error. A handler that never touches it is answered with that error too.
    """

    __slots__ = ("error",)

    def __init__(self, error: ValidationFailed) -> None:
        object.__setattr__(self, "error", error)

    def __getattr__(self, name: str) -> Any:
        raise object.__getattribute__(self, "error")


async def _parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    """The JSON body as ``model``, checked strictly against the schema the API documents.

    Only an empty body means "all defaults" (for a model with no required field);
    ``null``, a list or a number is not an object and is refused. Strict validation:
    ``"5"`` is not an integer and ``1`` is not a string, as the OpenAPI schema says.
    """
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationFailed(
            f"request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large"
        )
    if not raw.strip() and not body_required(model):
        return model.model_validate({})  # every field is optional: no body means all defaults
    try:
        data = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValidationFailed(
            f"request body is not valid JSON ({exc}); send a JSON object",
            code="invalid_json",
            details=[ErrorDetail(loc=["body"], message=str(exc), type="json_invalid")],
        ) from exc
    if data is None and not raw.strip():
        raise ValidationFailed(
            "request body is missing; send a JSON object",
            details=[ErrorDetail(loc=["body"], message="Field required", type="missing")],
        )
    if not isinstance(data, dict):
        raise ValidationFailed(
            "request body must be a JSON object",
            details=[ErrorDetail(loc=["body"], message="not an object", type="model_type")],
        )
    try:
        body = model.model_validate_json(json.dumps(_integral(data)), strict=True)
    except ValidationError as exc:
        raise ValidationFailed(
            "request body has invalid fields; see details",
            details=details_from_pydantic(exc.errors(), prefix="body"),
        ) from exc
    if isinstance(body, Patch) and (nulls := body.nulls()):
        raise ValidationFailed(
            "these fields cannot be null; leave them out to keep the current value",
            details=[
                ErrorDetail(loc=["body", f], message="may not be null", type="null_not_allowed")
                for f in nulls
            ],
        )
    return body


def _integral(value: Any) -> Any:
    """``1617.0`` as ``1617``: JSON Schema counts a number with no fraction as an integer."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


_NUMBER = re.compile(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


def _is_time(annotation: Any) -> bool:
    """Whether a field holds a date or time (pydantic's ``AwareDatetime`` and kin too)."""
    if isinstance(annotation, type) and (
        issubclass(annotation, date)
        or annotation.__module__ == "pydantic.types"
        and annotation.__name__.endswith(("Datetime", "Date"))
    ):
        return True
    return any(_is_time(a) for a in get_args(annotation))


def _parse_query(request: Request, model: type[BaseModel]) -> BaseModel:
    params = dict(request.query_params)
    # pydantic reads a number as seconds since 1970; the API documents ISO 8601 only.
    numeric = [
        name
        for name, info in model.model_fields.items()
        if name in params and _is_time(info.annotation) and _NUMBER.fullmatch(params[name])
    ]
    if numeric:
        raise ValidationFailed(
            "query parameters are invalid; see details",
            details=[
                ErrorDetail(
                    loc=["query", name],
                    message="give a date-time in ISO 8601, e.g. 2026-12-05T10:00:00Z",
                    type="datetime_from_number",
                )
                for name in numeric
            ],
        )
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(
            "query parameters are invalid; see details",
            details=details_from_pydantic(exc.errors(), prefix="query"),
        ) from exc


def _asgi_endpoint(ep: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        started = time.perf_counter()
        seen = _Seen()
        try:
            response = await _run(ep, request, services, seen)
        except LiveclassError as exc:
            if isinstance(exc, NotAuthenticated):
                services.metrics.auth_failures.labels(exc.code).inc()
            if ep.audit is not None and seen.caller is not None and exc.status_code in (403, 404):
                await _audit_denial(ep, request, services, seen)
            headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
            if isinstance(exc, TooManyRequests):
                headers = {"Retry-After": str(exc.retry_after)}
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


@dataclass
class _Seen:
    """What a request got as far as: whom it authenticated, what the handler named."""

    caller: Principal | None = None
    call: Call | None = None


async def _audit(
    db: AsyncSession,
    ep: Endpoint,
    request: Request,
    services: Services,
    principal: Principal | None,
    named: list[str],
    *,
    denied: bool,
) -> None:
    assert ep.audit is not None
    await write_entries(
        db,
        resource=ep.audit,
        method=ep.method,
        path_template=ep.path,
        request=request,
        principal=principal,
        named=named,
        denied=denied,
        now=services.clock.now(),
        action=ep.audit_action,
    )


async def _audit_denial(ep: Endpoint, request: Request, services: Services, seen: _Seen) -> None:
    """Record a refused attempt at personal data, in a transaction of its own (the
    request's was rolled back). A failure here is logged; the caller still gets the 403."""
    try:
        async with services.sessionmaker() as db, db.begin():
            named = seen.call.students if seen.call is not None else []
            await _audit(db, ep, request, services, seen.caller, named, denied=True)
    except Exception:
        log.exception("writing a denied attempt to the audit log failed", route=ep.path)


async def _run(ep: Endpoint, request: Request, services: Services, seen: _Seen) -> Response:
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
                seen.caller = caller
                if caller.scopes is not None and not ep.scopes <= caller.scopes:
                    missing = ", ".join(sorted(ep.scopes - caller.scopes))
                    raise PermissionDenied(
                        f"this API key lacks the scope {missing}; a coordinator can create "
                        "a key with it (POST /api/v1/api-keys)"
                    )
            kwargs: dict[str, Any] = {p: request.path_params[p] for p in ep.path_params}
            if ep.query is not None:
                kwargs["query"] = _parse_query(request, ep.query)
            invalid: InvalidBody | None = None
            if ep.body is not None:
                try:
                    kwargs["body"] = await _parse_body(request, ep.body)
                except ValidationFailed as exc:
                    kwargs["body"] = invalid = InvalidBody(exc)
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
            call = seen.call = Call(request=request, db=db, services=services, caller=caller)
            result = await ep.handler(call, **kwargs)
            if invalid is not None:
                raise invalid.error  # the handler never read the body it was sent
            response = _response(result, call.status_code or ep.status_code)
            if ep.audit is not None:
                # In the request's transaction: the data is never served without its entry.
                await _audit(db, ep, request, services, caller, call.students, denied=False)
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
