"""A profile's decisions as a GBNF grammar, and the parser that checks them again.

For a game profile the model may only write one of the profile's actions (those of
the decision kinds it is asked for, and of the NPC's archetype) with that action's
parameters: each action is its own alternative, `{"action": "train", "target": null,
"params": {"unit": "axeman", "count": 12}}`, with its parameters in declared order,
enums as alternatives, strings bounded in length, and integers bounded in digits.
Numeric bounds a grammar cannot say (`count` <= 10,000) and everything else are
checked again by `parse_game_decision`, through the same `check_params` the rules'
choices pass: nothing reaches a decision that is out of the profile's bounds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from models.profiles.schema import Param, Profile
from models.profiles.values import check_params
from models.strategy import GameChoice
from npcfarm.errors import InvalidInput

MAX_TARGET = 64
GAME_PRIMER = '{"action": "'  # replies start with this, as RPG decisions do


def _lit(text: str) -> str:
    return json.dumps(text)  # a GBNF string literal is a JSON string


def _quoted(value: str) -> str:
    return _lit(json.dumps(value))  # the JSON string `"value"`, as a GBNF literal


def _param_rule(spec: Param) -> str:
    if spec.type == "enum":
        return " | ".join(_quoted(v) for v in spec.values)
    if spec.type == "bool":
        return '"true" | "false"'
    if spec.type == "str":
        return f'"\\"" gchar{{1,{spec.max_length}}} "\\""'
    low, high = spec.min or 0, spec.max or 0
    digits = max(1, len(str(int(max(abs(low), abs(high))))))
    sign = '"-"? ' if low < 0 else ""
    tail = f" [0-9]{{0,{digits - 1}}}" if digits > 1 else ""
    zero = '"0" | ' if low <= 0 else ""  # a bound the grammar can say: no 0 when min >= 1
    number = f"{sign}({zero}[1-9]{tail})"  # JSON: no leading zeros
    return number if spec.type == "int" else f'{number} ("." [0-9]{{1,3}})?'


def game_grammar(profile: Profile, actions: Iterable[str]) -> str:
    """GBNF for one decision whose action is one of `actions` (of `profile`)."""
    names = [a for a in profile.actions if a in set(actions)]
    if not names:
        raise InvalidInput("a game grammar needs at least one action")
    rules = [f"root ::= {' | '.join(f'a-{n.replace(chr(95), chr(45))}' for n in names)}"]
    for name in names:
        spec = profile.actions[name]
        rule = f"a-{name.replace('_', '-')}"
        target = '"null"' if spec.target == "none" else "target"
        parts = [
            _lit('{"action": '),
            _quoted(name),
            _lit(', "target": '),
            target,
            _lit(', "params": {'),
        ]
        for k, (param, p_spec) in enumerate(spec.params.items()):
            prefix = ", " if k else ""
            parts += [_lit(f'{prefix}"{param}": '), f"({_param_rule(p_spec)})"]
        parts.append(_lit("}}"))
        rules.append(f"{rule} ::= {' '.join(parts)}")
    rules += [
        f'target ::= "\\"" gchar{{1,{MAX_TARGET}}} "\\""',
        'gchar ::= [^"\\\\\\x00-\\x1f]',
    ]
    return "\n".join(rules)


def parse_game_decision(text: str, profile: Profile, actions: Iterable[str]) -> GameChoice:
    """The model's reply as a choice, or InvalidInput saying what is wrong with it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not one JSON object: {exc.msg}") from exc
    if not isinstance(data, dict) or set(data) - {"action", "target", "params"}:
        raise InvalidInput("a decision is an object of action, target and params")
    name = data.get("action")
    if not isinstance(name, str) or name not in set(actions) or name not in profile.actions:
        raise InvalidInput(f"action {name!r} is not one this NPC may take")
    spec = profile.actions[name]
    target: Any = data.get("target")
    if spec.target == "none":
        target = None
    elif not isinstance(target, str) or not 0 < len(target) <= MAX_TARGET:
        raise InvalidInput(f"{name}: a target string is required")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidInput(f"{name}: params must be an object")
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{name}.{key}: not a finite number")
    checked = check_params(profile, name, params)
    speech = checked.get("text") if name == "message" else None
    return GameChoice(name, spec.kind, target, checked, str(speech) if speech else None)
