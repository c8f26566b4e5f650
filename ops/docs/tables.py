"""JSON Schema (as pydantic writes it) to Markdown tables a bridge author can read."""

from __future__ import annotations

import json
from typing import Any

Schema = dict[str, Any]


def _resolve(node: Schema, defs: Schema) -> Schema:
    ref = node.get("$ref")
    if ref is None:
        return node
    return dict(defs[ref.rsplit("/", 1)[-1]])


def _variants(node: Schema, defs: Schema) -> tuple[list[Schema], bool]:
    """The non-null alternatives of a field and whether null is allowed."""
    options = node.get("anyOf") or node.get("oneOf") or [node]
    nullable = any(o.get("type") == "null" for o in options)
    return [_resolve(o, defs) for o in options if o.get("type") != "null"], nullable


def _type_name(node: Schema) -> str:
    if "enum" in node or "const" in node:
        return "string" if node.get("type", "string") == "string" else str(node["type"])
    if node.get("type") == "array":
        return "array"
    if "properties" in node:
        return "object"
    return str(node.get("type", "any"))


def json_type(node: Schema, defs: Schema) -> str:
    options, nullable = _variants(node, defs)
    names = list(dict.fromkeys(_type_name(o) for o in options))
    return " or ".join(names + (["null"] if nullable else []))


def _number_bounds(node: Schema) -> str:
    low = (
        f"≥ {node['minimum']:g}"
        if "minimum" in node
        else (f"> {node['exclusiveMinimum']:g}" if "exclusiveMinimum" in node else "")
    )
    high = (
        f"≤ {node['maximum']:g}"
        if "maximum" in node
        else (f"< {node['exclusiveMaximum']:g}" if "exclusiveMaximum" in node else "")
    )
    return ", ".join(part for part in (low, high) if part)


def _string_bounds(node: Schema) -> str:
    if "pattern" in node:
        return f"`{node['pattern']}`"
    low, high = node.get("minLength"), node.get("maxLength")
    if low is not None and high is not None:
        return f"{low}–{high} characters"
    if high is not None:
        return f"≤ {high} characters"
    return f"≥ {low} characters" if low is not None else ""


def _object_bounds(node: Schema) -> str:
    """A small all-number object (a position) inline; anything else by its table."""
    props = node["properties"]
    plain = all(p.get("type") == "number" and len(p) <= 3 for p in props.values())
    if plain:
        names = ", ".join(f"`{name}`" for name in props)
        return f"{names}: finite numbers (a missing one takes its default), no other keys"
    return f"*{node.get('title', 'object')}* (below)"


def bounds(node: Schema, defs: Schema) -> str:
    """What values a field accepts, in the page's words (characters = code points)."""
    options, _ = _variants(node, defs)
    parts: list[str] = []
    for option in options:
        if "const" in option:
            parts.append(f"always `{json.dumps(option['const'])}`")
        elif "enum" in option:
            parts.append(", ".join(f"`{v}`" for v in option["enum"]))
        elif option.get("type") == "string":
            parts.append(_string_bounds(option))
        elif option.get("type") in ("number", "integer"):
            parts.append(_number_bounds(option) or ("finite" if option["type"] == "number" else ""))
        elif option.get("type") == "array":
            items = _resolve(option.get("items", {}), defs)
            cap = f"≤ {option['maxItems']} items" if "maxItems" in option else "any length"
            inner = bounds(items, defs) if "properties" not in items else items.get("title", "")
            parts.append(f"{cap}, each {inner}" if inner else cap)
        elif "properties" in option:
            parts.append(_object_bounds(option))
    return "; ".join(p for p in parts if p)


def default(name: str, node: Schema, required: list[str]) -> str:
    if name in required:
        return "required"
    if "default" not in node:
        return ""
    value = json.dumps(node["default"], ensure_ascii=False, separators=(", ", ": "))
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def field_table(schema: Schema, *, defs: Schema | None = None, skip: tuple[str, ...] = ()) -> str:
    """One row per property: field, JSON type, bounds, default, meaning."""
    defs = schema.get("$defs", {}) if defs is None else defs
    required = list(schema.get("required", []))
    rows = [
        "| field | JSON type | bounds | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, node in schema.get("properties", {}).items():
        if name in skip:
            continue
        cells = [
            f"`{name}`",
            json_type(node, defs),
            bounds(node, defs),
            default(name, node, required),
            node.get("description", ""),
        ]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def nested(schema: Schema, title: str) -> Schema:
    """A sub-object's schema from the document's `$defs`, with the same `$defs`."""
    return {**schema["$defs"][title], "$defs": schema["$defs"]}
