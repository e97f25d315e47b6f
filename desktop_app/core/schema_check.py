"""Checks, in plain Python, that a JSON schema is one llama.cpp can enforce.

A preset's output schema becomes a grammar in the engine process (where
llama.cpp lives: ``engine/grammar.py``); the window never loads llama.cpp. So
a schema is checked here, when a preset is read or saved, against what
llama.cpp's converter accepts: the JSON types, local ``$ref``s, ``properties``
/ ``items`` / ``prefixItems``, ``anyOf`` / ``oneOf`` / ``allOf``, ``enum`` and
``const``, string ``format``s and ``pattern``s anchored with ``^`` and ``$``.
A problem is reported with the place in the schema, e.g. ``properties.tags.items``.
"""

from __future__ import annotations

from typing import Any

TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
MAX_DEPTH = 32
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def schema_problem(schema: Any) -> str | None:
    """Why llama.cpp could not enforce ``schema``, or None if it can."""
    if not isinstance(schema, dict):
        return "the schema must be a JSON object"
    try:
        _check(schema, schema, "", 0)
    except _Problem as problem:
        return str(problem)
    return None


class _Problem(Exception):
    pass


def _fail(where: str, what: str) -> None:
    raise _Problem(f"{where or 'the schema'}: {what}")


def _check(node: Any, root: dict, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        _fail(where, f"nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, bool):
        return  # true / false schemas (additionalProperties: false)
    if not isinstance(node, dict):
        _fail(where, "each part of a schema must be a JSON object")
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for name in kinds:
        if name not in TYPES:
            _fail(where, f"unknown type {name!r} (known: {', '.join(sorted(TYPES))})")
    if "$ref" in node:
        _check_ref(node["$ref"], root, where)
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        _fail(where, "enum must be a non-empty list")
    if "required" in node and not (isinstance(node["required"], list)
                                   and all(isinstance(r, str) for r in node["required"])):
        _fail(where, "required must be a list of property names")
    if "pattern" in node:
        pattern = node["pattern"]
        if not (isinstance(pattern, str) and pattern.startswith("^") and pattern.endswith("$")):
            _fail(where, 'a pattern must be text that starts with "^" and ends with "$"')
    for key in ("minItems", "maxItems", "minLength", "maxLength"):
        if key in node and (not isinstance(node[key], int) or isinstance(node[key], bool)
                            or node[key] < 0):
            _fail(where, f"{key} must be a whole number of 0 or more")
    properties = node.get("properties", {})
    if not isinstance(properties, dict):
        _fail(where, "properties must be an object of schemas")
    for name, sub in properties.items():
        _check(sub, root, _join(where, f"properties.{name}"), depth + 1)
    for key in ("items", "additionalProperties"):
        if key in node:
            sub = node[key]
            subs = sub if isinstance(sub, list) and key == "items" else [sub]
            for index, item in enumerate(subs):
                _check(item, root, _join(where, key if len(subs) == 1 else f"{key}.{index}"),
                       depth + 1)
    for key in _SUBSCHEMA_LISTS:
        if key in node:
            if not isinstance(node[key], list) or not node[key]:
                _fail(where, f"{key} must be a non-empty list of schemas")
            for index, sub in enumerate(node[key]):
                _check(sub, root, _join(where, f"{key}.{index}"), depth + 1)
    for key in ("$defs", "definitions"):
        defs = node.get(key, {})
        if not isinstance(defs, dict):
            _fail(where, f"{key} must be an object of schemas")
        for name, sub in defs.items():
            _check(sub, root, _join(where, f"{key}.{name}"), depth + 1)


def _check_ref(ref: Any, root: dict, where: str) -> None:
    if not isinstance(ref, str) or not ref.startswith("#/"):
        _fail(where, f"only references inside the schema (\"#/...\") are supported, not {ref!r}")
    target: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(target, dict) or part not in target:
            _fail(where, f"the reference {ref} points at nothing")
        target = target[part]


def _join(where: str, part: str) -> str:
    return f"{where}.{part}" if where else part
