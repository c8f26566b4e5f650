"""The game-profile tables of docs/BRIDGE.md, from the shipped profile files: what a
bridge of each game may send (state fields) and what it gets back (actions)."""

from __future__ import annotations

from models.profiles.schema import Column, Param, Profile, StateField


def _bounds(spec: StateField | Param | Column) -> str:
    if spec.type in ("int", "float"):
        return f"{spec.type} in [{spec.min:g}, {spec.max:g}]"
    if spec.type == "enum" and isinstance(spec, StateField | Param):
        return "one of " + ", ".join(f"`{v}`" for v in spec.values)
    if spec.type == "str":
        return f"string, at most {spec.max_length} characters"
    return spec.type


def profile_actions(profile: Profile) -> str:
    rows = [
        "| action | kind | target | exclusive | parameters | what it is |",
        "|---|---|---|---|---|---|",
    ]
    for name, a in profile.actions.items():
        params = "; ".join(
            f"`{p}`{' (optional)' if spec.optional else ''}: {_bounds(spec)}"
            for p, spec in a.params.items()
        )
        rows.append(
            f"| `{name}` | {a.kind} | {a.target} | {'yes' if a.exclusive else ''} | "
            f"{params or '-'} | {a.description or '-'} |"
        )
    kinds = ", ".join(
        f"`{k}` ({d.brain}{_when(d.when)}, every {d.cadence_s:g} s)"
        for k, d in profile.kinds.items()
    )
    return "\n".join([*rows, "", f"Decision kinds: {kinds}."])


def _when(conditions: tuple[str, ...]) -> str:
    return f" while {' or '.join(conditions)}" if conditions else ""


def profile_state(profile: Profile) -> str:
    rows = ["| field | type and bounds | what it is |", "|---|---|---|"]
    for name, f in profile.state.items():
        if f.type == "table":
            cols = ", ".join(f"`{c}` ({_bounds(spec)})" for c, spec in f.columns.items())
            bounds = f"up to {f.max_rows} rows of {cols}"
        else:
            bounds = _bounds(f)
        rows.append(f"| `{name}` | {bounds} | {f.description or '-'} |")
    return "\n".join(rows)
