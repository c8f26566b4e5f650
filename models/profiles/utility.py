"""Rules utilities of a profile, scored for a whole batch at once.

Every distinct consideration input becomes one column of an N x I matrix (a state
field scaled into [0, 1], a ratio, a style); each consideration is a curve over one
column; an action's utility is its base plus the weighted sum of its curves, plus the
archetype's bias. One pass of numpy per consideration, not per NPC: a strategy
batch of hundreds of AI players costs about what the RPG brain's matrix product does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.profiles.schema import Consideration, Profile

F64 = NDArray[np.float64]


def _column(
    profile: Profile,
    source: str,
    states: Sequence[Mapping[str, Any]],
    styles: Sequence[Mapping[str, float]],
    scale: float | None,
) -> F64:
    if source.startswith("style."):
        name = source.removeprefix("style.")
        return np.array([s.get(name, 0.0) for s in styles], dtype=np.float64)
    parts = [p.strip().removeprefix("state.") for p in source.split("/")]
    if len(parts) == 2:
        top = np.array([float(s.get(parts[0], 0) or 0) for s in states], dtype=np.float64)
        bottom = np.array([float(s.get(parts[1], 0) or 0) for s in states], dtype=np.float64)
        ratio = np.divide(top, bottom, out=np.zeros_like(top), where=bottom > 0)
        return np.clip(ratio / (scale or 1.0), 0.0, 1.0)
    field = profile.state[parts[0]]
    raw = np.array([float(s.get(parts[0], field.min or 0) or 0) for s in states])
    if scale is not None:
        return np.clip(raw / scale, 0.0, 1.0)
    low, high = field.min or 0.0, field.max if field.max is not None else 1.0
    return np.clip((raw - low) / (high - low), 0.0, 1.0)


def curve(c: Consideration, x: F64) -> F64:
    if c.curve == "linear":
        return c.slope * x + c.offset
    if c.curve == "quadratic":
        return np.power(x, c.exponent)
    if c.curve == "logistic":
        return 1.0 / (1.0 + np.exp(-c.steepness * (x - c.midpoint)))
    if c.curve == "inverse":
        return 1.0 - x
    return (x >= c.threshold).astype(np.float64)


def utilities(
    profile: Profile,
    archetypes: Sequence[str],
    states: Sequence[Mapping[str, Any]],
    styles: Sequence[Mapping[str, float]],
) -> tuple[F64, tuple[str, ...]]:
    """N x A utilities (A = the profile's actions, in order); -inf where an archetype may
    not take the action."""
    actions = tuple(profile.actions)
    n = len(states)
    out = np.zeros((n, len(actions)))
    columns: dict[tuple[str, float | None], F64] = {}
    for j, name in enumerate(actions):
        spec = profile.actions[name]
        out[:, j] = spec.base
        for c in spec.considerations:
            key = (c.input, c.scale)
            if key not in columns:
                columns[key] = _column(profile, c.input, states, styles, c.scale)
            out[:, j] += c.weight * curve(c, columns[key])
    for i, archetype in enumerate(archetypes):
        bias = profile.archetypes[archetype].bias
        allowed = set(profile.allowed(archetype))
        for j, name in enumerate(actions):
            out[i, j] = out[i, j] + bias.get(name, 0.0) if name in allowed else -np.inf
    return out, actions
