"""/openapi.json touch-ups, and a 3.0 copy for the bundled Swagger UI.

FastAPI writes OpenAPI 3.1. The Swagger UI that the ``swagger-ui-bundle`` package ships
(4.x) renders only 3.0, so /docs reads a copy with the few 3.1-only constructs rewritten.
"""

from __future__ import annotations

import copy
from typing import Any

from services.restapi.problems import PROBLEM_MEDIA_TYPE

RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": 'Quota policy, e.g. "api";q=100;w=10 (draft-ietf-httpapi-ratelimit-headers)',
    "RateLimit": 'Remaining quota, e.g. "api";r=99;t=1',
    "X-RateLimit-Limit": "Bucket capacity",
    "X-RateLimit-Remaining": "Requests left before a 429",
    "X-RateLimit-Reset": "Unix time when the bucket is full again",
    "Retry-After": "Seconds to wait (on 429): waiting exactly this long gets through",
}


def polish(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses are problem+json; 429 documents its headers; 405 is a shared response."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content")
                if (
                    code.isdigit()
                    and int(code) >= 400
                    and content
                    and "application/json" in content
                ):
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
                if code == "429":
                    response["headers"] = {
                        name: {"description": text, "schema": {"type": "string"}}
                        for name, text in RATE_LIMIT_HEADERS.items()
                    }
            if "422" in operation.get("responses", {}):
                # FastAPI documents its own 422 shape; ours is a problem document.
                operation["responses"]["422"]["content"] = {
                    PROBLEM_MEDIA_TYPE: {
                        "schema": {"$ref": "#/components/schemas/ValidationProblem"}
                    }
                }
    components = schema.setdefault("components", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    components.setdefault("responses", {})["MethodNotAllowed"] = {
        "description": "405: the method is not allowed on this path; the Allow header lists those that are",
        "headers": {"Allow": {"schema": {"type": "string"}}},
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    return schema


def _downgrade(node: Any) -> Any:
    if isinstance(node, list):
        return [_downgrade(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _downgrade(v) for k, v in node.items()}
    any_of = node.get("anyOf")
    if isinstance(any_of, list) and {"type": "null"} in any_of:
        rest = [s for s in any_of if s != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            node.update(rest[0])
        else:
            node["anyOf" if len(rest) > 1 else "allOf"] = rest
        node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else types
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if isinstance(node.get("examples"), list) and (
        "type" in node or "$ref" in node or "anyOf" in node
    ):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[plain] = node[bound]
            node[bound] = True
    return node


def as_openapi_30(schema: dict[str, Any]) -> dict[str, Any]:
    out = _downgrade(copy.deepcopy(schema))
    out["openapi"] = "3.0.3"
    return out
