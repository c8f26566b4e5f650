"""Checking what crosses the farm's edge against a profile: a bridge's state, an
action's parameters (from the rules, the model or a test), a personality's styles.

Refusals raise InvalidInput with the field and the bound, so the inbox can dead-letter
an event with its reason and the model's output can be refused, never half-applied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from models.profiles.schema import TRAITS, Column, Param, Profile, StateField
from npcfarm.domain import Personality
from npcfarm.errors import InvalidInput

Scalar = int | float | bool | str
MAX_STATE_FIELDS = 64


def _number(value: Any, spec: StateField | Param | Column, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: must be a number")
    if not math.isfinite(value):
        raise InvalidInput(f"{where}: must be a finite number")
    if spec.type == "int" and not float(value).is_integer():
        raise InvalidInput(f"{where}: must be a whole number")
    low, high = spec.min, spec.max
    if (low is not None and value < low) or (high is not None and value > high):
        raise InvalidInput(f"{where}: {value} is outside [{low:g}, {high:g}]")
    return value


def scalar(value: Any, spec: StateField | Param | Column, where: str) -> Scalar:
    """One value of a declared type within its bounds (ints stay ints)."""
    if spec.type in ("int", "float"):
        number = _number(value, spec, where)
        return int(number) if spec.type == "int" else float(number)
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise InvalidInput(f"{where}: must be true or false")
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be a string")
    if spec.type == "enum":
        values = spec.values if isinstance(spec, StateField | Param) else ()
        if value not in values:
            raise InvalidInput(f"{where}: {value!r} is not one of {', '.join(values)}")
        return value
    if len(value) > spec.max_length or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"{where}: longer than {spec.max_length} or has control characters")
    return value


def check_state(profile: Profile, state: Mapping[str, Any]) -> dict[str, Any]:
    """A bridge's state for one NPC, every field declared, typed and bounded."""
    if len(state) > MAX_STATE_FIELDS:
        raise InvalidInput(f"state: more than {MAX_STATE_FIELDS} fields")
    out: dict[str, Any] = {}
    for name, value in state.items():
        spec = profile.state.get(name)
        if spec is None:
            raise InvalidInput(f"state.{name}: not a field of profile {profile.name!r}")
        if spec.type != "table":
            out[name] = scalar(value, spec, f"state.{name}")
            continue
        if not isinstance(value, list) or len(value) > spec.max_rows:
            raise InvalidInput(f"state.{name}: a list of at most {spec.max_rows} rows")
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, dict) or set(row) - set(spec.columns):
                raise InvalidInput(f"state.{name}[{i}]: an object of {', '.join(spec.columns)}")
            rows.append(
                {c: scalar(v, spec.columns[c], f"state.{name}[{i}].{c}") for c, v in row.items()}
            )
        out[name] = rows
    return out


def check_params(profile: Profile, action: str, params: Mapping[str, Any]) -> dict[str, Scalar]:
    """An action's parameters: every one declared and in bounds, none missing."""
    spec = profile.actions.get(action)
    if spec is None:
        raise InvalidInput(f"action {action!r} is not in profile {profile.name!r}")
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise InvalidInput(f"{action}: unknown parameters {unknown}")
    out: dict[str, Scalar] = {}
    for name, param in spec.params.items():
        if name not in params:
            if not param.optional:
                raise InvalidInput(f"{action}.{name}: missing")
            continue
        out[name] = scalar(params[name], param, f"{action}.{name}")
    return out


def styles_of(
    profile: Profile, personality: Personality, archetype: str | None = None
) -> dict[str, float]:
    """Each style of the profile for one personality, in [0, 1]."""
    shift = profile.archetypes[archetype].styles if archetype else {}
    traits = {t: float(getattr(personality, t)) for t in TRAITS}
    out = {}
    for name, style in profile.styles.items():
        raw = style.bias + sum(getattr(style, t) * traits[t] for t in TRAITS)
        out[name] = min(1.0, max(0.0, raw + shift.get(name, 0.0)))
    return out
