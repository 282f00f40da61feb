"""The OpenAPI 3.1 document, built from the same endpoints and models that validate requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.routing import Endpoint, body_required
from core.errors import ErrorResponse

_ERROR_TEXT = {
    401: "Missing, invalid or expired credentials.",
    403: "Authenticated, but not allowed to do this.",
    404: "No such resource, or not one you may see.",
    409: "Conflicts with the current state or existing data.",
    422: "The request is malformed: invalid JSON, or fields that fail validation (see details).",
    503: "A dependency is unavailable; retry later.",
}
_REF = "#/components/schemas/{model}"
# One server-sent event, as a client parses it: its fields are strings.
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "id": {"type": "string"},
        "data": {"type": "string", "description": "A JSON object."},
        "retry": {"type": "string"},
    },
}


def _schema_inputs(endpoints: list[Endpoint]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorResponse, "serialization"): None
    }
    for ep in endpoints:
        if ep.body is not None:
            wanted[(ep.body, "validation")] = None
        if ep.response is not None:
            wanted[(ep.response, "serialization")] = None
        for model in ep.extra_responses.values():
            wanted[(model, "serialization")] = None
    return list(wanted)


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's fields as query parameters; the types they refer to (an enum) join
    ``components``, so every ``$ref`` resolves."""
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.get("$defs", {}))
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        params.append(param)
    return params


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def build_openapi(endpoints: list[Endpoint], *, version: str) -> dict[str, Any]:
    """Return the OpenAPI document for ``endpoints``.

    Every endpoint lists the errors it can answer with, all in the shared
    ``ErrorResponse`` shape: 401 and 403 when it needs credentials, 422 when it
    takes input, 404 when it names a resource in its path, plus its own.
    """
    refs, top = models_json_schema(_schema_inputs(endpoints), ref_template=_REF)
    components: dict[str, Any] = dict(top.get("$defs", {}))
    error_ref = refs[(ErrorResponse, "serialization")]
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "tags": list(ep.tags),
            "responses": {},
        }
        if ep.description:
            op["description"] = ep.description
        params: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in ep.path_params
        ]
        if ep.query is not None:
            params.extend(_query_parameters(ep.query, components))
        if ep.idempotent:
            params.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 255},
                    "description": "Send the same key to retry safely: a repeat of the same "
                    "request within 24 h returns the first response without booking again; "
                    "the same key with another body gets 422 `idempotency_key_reused`.",
                }
            )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": body_required(ep.body),
                "content": _json(refs[(ep.body, "validation")]),
            }
        ok: dict[str, Any] = {"description": "Success."}
        if ep.response is not None:
            ok["content"] = _json(refs[(ep.response, "serialization")])
        elif ep.media_type == "text/event-stream":
            ok["content"] = {ep.media_type: {"schema": _SSE_EVENT}}
        elif ep.media_type is not None:
            ok["content"] = {ep.media_type: {"schema": {"type": "string"}}}
        op["responses"][str(ep.status_code)] = ok
        for status, model in ep.extra_responses.items():
            op["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "See schema."),
                "content": _json(refs[(model, "serialization")]),
            }
        codes = set(ep.errors)
        if ep.auth:
            codes |= {401, 403}
            op["security"] = [{"bearerAuth": []}, {"apiKey": []}]
        else:
            op["security"] = []
        if ep.body is not None or ep.query is not None:
            codes.add(422)
        if ep.path_params:
            codes.add(404)
        for status in sorted(codes - set(ep.extra_responses)):
            content = _json(error_ref)
            if ep.media_type == "text/html":
                # A page answers a person: its errors are pages too (or JSON, before it).
                content["text/html"] = {"schema": {"type": "string"}}
            op["responses"][str(status)] = {
                "description": _ERROR_TEXT.get(status, "Error."),
                "content": content,
            }
        method: Literal["get", "post", "put", "patch", "delete"] = ep.method.lower()  # type: ignore[assignment]
        paths.setdefault(ep.path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Liveclass API",
            "version": version,
            "description": "Live online tutoring: people, sessions, join tokens. Errors share one "
            'shape: `{"error": {"code", "message", "request_id", "details"}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
