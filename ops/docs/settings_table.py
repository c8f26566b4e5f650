"""The settings table of docs/OPERATIONS.md, from the one settings object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from npcfarm.settings import Settings

CONFIG_ROW = (
    "| `NPCFARM_CONFIG` | unset | an existing file | all | TOML file with the settings "
    "below (not secrets) |"
)


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _default(info: FieldInfo) -> str:
    doc = _extra(info).get("default_doc")
    if doc:
        return str(doc)
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, (dict, list)):
        return f"`{json.dumps(value)}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _bounds(info: FieldInfo) -> str:
    doc = _extra(info).get("bounds_doc")
    if doc is not None:
        return str(doc)
    low = high = ""
    pattern = None
    for meta in info.metadata:
        if isinstance(meta, Ge):
            low = f"≥ {meta.ge:,}"
        elif isinstance(meta, Gt):
            low = f"> {meta.gt:,}"
        elif isinstance(meta, Le):
            high = f"≤ {meta.le:,}"
        elif isinstance(meta, Lt):
            high = f"< {meta.lt:,}"
        elif getattr(meta, "pattern", None):
            pattern = meta.pattern
    if pattern:
        return f"`{pattern}`"
    if low.startswith("≥") and high.startswith("≤"):
        return f"{low[2:]}–{high[2:]}"
    if info.annotation is bool:
        return "boolean"
    if info.annotation is int and not (low or high):
        return "integer"
    return ", ".join(part for part in (low, high) if part)


def settings_rows() -> list[str]:
    rows = [
        "| environment variable | default | bounds | used by | meaning |",
        "|---|---|---|---|---|",
        CONFIG_ROW,
    ]
    for name, info in Settings.model_fields.items():
        cells = [
            f"`NPCFARM_{name.upper()}`",
            _default(info),
            _bounds(info),
            str(_extra(info).get("used_by", "")),
            info.description or "",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def blocks() -> dict[str, str]:
    """The generated parts of docs/OPERATIONS.md, by marker name."""
    return {"settings": "\n".join(settings_rows())}
