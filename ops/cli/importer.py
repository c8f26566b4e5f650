"""Reading NPC records from YAML or CSV files, validating every record before any is saved.

CSV columns are flat (`openness`, `x`, `health`, ...); they are folded into the
nested record shape. Errors name the record (CSV line or YAML index) and the field.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from models.archetypes import archetype_names
from npcfarm.domain import NPC
from npcfarm.errors import InvalidInput
from npcfarm.registry import parse_npc

PERSONALITY = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
POSITION = ("x", "y", "z")
STATE = ("health", "hunger", "time_of_day")
MAX_FILE_BYTES = 64 * 1024 * 1024  # refuse absurd files before parsing them


def _fold_csv_row(row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    nested: dict[str, dict[str, str]] = {"personality": {}, "position": {}, "state": {}}
    for column, value in row.items():
        if column is None:
            raise InvalidInput("more values than columns")
        if value is None or value == "":
            continue
        if column in PERSONALITY:
            nested["personality"][column] = value
        elif column in POSITION:
            nested["position"][column] = value
        elif column in STATE:
            nested["state"][column] = value
        else:
            record[column] = value
    record.update({k: v for k, v in nested.items() if v})
    return record


def _records(path: Path) -> list[tuple[str, Any]]:
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = []
        for row in reader:
            where = f"line {reader.line_num}"
            try:
                rows.append((where, _fold_csv_row(row)))
            except InvalidInput as exc:
                raise InvalidInput(f"{path}:{where}: {exc}") from exc
        return rows
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: not valid YAML: {exc}") from exc
        if isinstance(data, dict) and "npcs" in data:
            data = data["npcs"]
        if not isinstance(data, list):
            raise InvalidInput(f"{path}: expected a list of NPC records (or a mapping 'npcs:')")
        return [(f"record {i}", item) for i, item in enumerate(data)]
    raise InvalidInput(f"{path}: unknown file type {suffix!r} (use .yaml, .yml or .csv)")


def read_npc_file(path: Path) -> tuple[list[NPC], list[str]]:
    """All valid NPCs and a list of readable errors, one per invalid record."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InvalidInput(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    npcs: list[NPC] = []
    errors: list[str] = []
    seen: set[str] = set()
    known = archetype_names()
    for where, raw in _records(path):
        try:
            npc = parse_npc(raw)
        except InvalidInput as exc:
            errors.append(f"{path}:{where}: {exc}")
            continue
        if npc.archetype not in known:
            errors.append(
                f"{path}:{where}: unknown archetype {npc.archetype!r} (known: {', '.join(known)})"
            )
            continue
        if npc.id in seen:
            errors.append(f"{path}:{where}: duplicate id {npc.id!r}")
            continue
        seen.add(npc.id)
        npcs.append(npc)
    return npcs, errors
