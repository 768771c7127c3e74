"""Turns pydantic JSON Schema into the structural OpenAPI v3 schema that CRDs need:
no $ref, no nullable unions, no titles, descriptions kept for `kubectl explain`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# Scalar defaults go into the CRD, as built-in kinds default theirs, so `kubectl get` shows
# them; object and duration defaults stay in the models only.
_DROP = {"title", "$defs"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.get("$defs", {})
    converted: dict[str, Any] = _convert(raw, definitions)
    return converted


def _convert(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        variants = [v for v in node["anyOf"] if v.get("type") != "null"]
        if len(variants) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return _convert({**variants[0], **rest}, definitions)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "default" and (not isinstance(value, bool | int | float | str)
                                 or node.get("x-kubernetes-int-or-string")):
            continue
        if key == "properties":
            out[key] = {name: _convert(prop, definitions) for name, prop in value.items()}
        else:
            out[key] = _convert(value, definitions)
    if out.get("type") == "object" and out.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("additionalProperties", None)
    return out
