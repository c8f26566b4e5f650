"""A game profile as data: its actions, the state its bridge sends, its archetypes.

A game that is not an RPG (a Travian-style strategy game, say) cannot be expressed in
the farm's fixed 15-action vocabulary, so each game brings a profile (TOML, one file
per game, in this folder): actions with typed, bounded parameters and the decision
kind they belong to; the state fields its bridge may send, typed and bounded (the
inbox validates against them); personality-derived styles; each action's rules
utility as considerations (a curve over a state field, a ratio of two, or a style,
with a weight); archetypes as biases over those; decision kinds with their cadence
and their brain. A designer adds an action or an archetype here, without code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
MAX_TABLE_ROWS = 64
_INPUT = re.compile(r"^(state\.[a-z][a-z0-9_]*)( / state\.[a-z][a-z0-9_]*)?$|^style\.[a-z_]+$")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Spec):
    """One column of a table field (a bounded list of rows, e.g. the neighbours)."""

    type: Literal["int", "float", "bool", "str"]
    description: str = ""
    min: float | None = None
    max: float | None = None
    max_length: int = Field(64, ge=1, le=256)


class StateField(_Spec):
    """A value the bridge sends for an NPC; refused by the inbox when out of bounds."""

    type: Literal["int", "float", "bool", "enum", "str", "table"]
    description: str = ""
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()  # enum
    max_length: int = Field(64, ge=1, le=1024)  # str
    columns: dict[Name, Column] = {}  # table
    max_rows: int = Field(16, ge=1, le=MAX_TABLE_ROWS)  # table

    @model_validator(mode="after")
    def _complete(self) -> StateField:
        if self.type in ("int", "float") and (self.min is None or self.max is None):
            raise ValueError(f"a {self.type} field needs min and max")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("min must be below max")
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs values")
        if self.type == "table" and not self.columns:
            raise ValueError("a table field needs columns")
        return self


class Param(_Spec):
    """A typed, bounded parameter of an action (the grammar and the parser bound it)."""

    type: Literal["int", "float", "bool", "enum", "str"]
    description: str = ""
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    max_length: int = Field(64, ge=1, le=600)
    optional: bool = False

    @model_validator(mode="after")
    def _complete(self) -> Param:
        if self.type in ("int", "float") and (self.min is None or self.max is None):
            raise ValueError(f"a {self.type} parameter needs min and max")
        if self.type == "enum" and not self.values:
            raise ValueError("an enum parameter needs values")
        return self


class Consideration(_Spec):
    """One input's contribution to an action's utility: `weight * curve(input)`.

    `input` is `state.<field>` (scaled into [0, 1] by its bounds, or by `scale`),
    `state.<a> / state.<b>` (a ratio, clipped to [0, 1]) or `style.<name>`.
    Curves: linear `slope * x + offset`; quadratic `x ** exponent`; logistic
    `1 / (1 + exp(-steepness * (x - midpoint)))`; inverse `1 - x`; step
    `x >= threshold`.
    """

    input: str
    curve: Literal["linear", "quadratic", "logistic", "inverse", "step"] = "linear"
    weight: float = 1.0
    scale: float | None = Field(None, gt=0)
    slope: float = 1.0
    offset: float = 0.0
    exponent: float = Field(2.0, gt=0)
    midpoint: float = 0.5
    steepness: float = 10.0
    threshold: float = 0.5

    @model_validator(mode="after")
    def _known_form(self) -> Consideration:
        if not _INPUT.match(self.input):
            raise ValueError(
                f"input {self.input!r}: use state.<field>, state.<a> / state.<b> or style.<name>"
            )
        return self


class ActionSpec(_Spec):
    description: str = ""
    kind: Name  # the decision kind it belongs to (economy, military, ...)
    target: Literal["none", "npc", "player", "village", "any"] = "none"
    exclusive: bool = False  # one NPC at a time per target (a claim, as attack/trade)
    params: dict[Name, Param] = {}
    considerations: tuple[Consideration, ...] = ()
    base: float = 0.0  # utility before considerations


class Style(_Spec):
    """A style in [0, 1] derived from the Big Five: `bias + sum(weight * trait)`."""

    description: str = ""
    bias: float = 0.0
    openness: float = 0.0
    conscientiousness: float = 0.0
    extraversion: float = 0.0
    agreeableness: float = 0.0
    neuroticism: float = 0.0


class DecisionKind(_Spec):
    """What is being decided decides the brain: `rules`, `llm`, or `llm` only while one of
    the `when` conditions (bool state fields) holds."""

    description: str = ""
    cadence_s: float = Field(gt=0)
    brain: Literal["rules", "llm", "llm_when"] = "rules"
    when: tuple[Name, ...] = ()


class TierRule(_Spec):
    """Tiers that follow what an NPC is going through instead of distance to players:
    Gold while any `gold_when` flag holds, Silver while any `silver_when` one does,
    Bronze otherwise (flags are bool state fields)."""

    gold_when: tuple[Name, ...] = ()
    silver_when: tuple[Name, ...] = ()


class ArchetypeSpec(_Spec):
    description: str = ""
    allowed_actions: tuple[Name, ...] | None = None  # None: every action of the profile
    bias: dict[Name, float] = {}  # added to an action's utility
    styles: dict[Name, float] = {}  # added to a style before clipping to [0, 1]


class Profile(_Spec):
    name: Name
    version: int = Field(ge=1)
    description: str
    # `considerations`: the utilities below decide; `rpg`: the RPG rules brain
    # (models/rules.py) over the archetype catalogue (models/archetypes.toml).
    rules: Literal["considerations", "rpg"] = "considerations"
    state: dict[Name, StateField]
    styles: dict[Name, Style] = {}
    kinds: dict[Name, DecisionKind]
    actions: dict[Name, ActionSpec]
    archetypes: dict[Name, ArchetypeSpec] = {}
    tiers: TierRule | None = None  # None: tiers follow players (the tier manager)

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.rules == "considerations" and not self.archetypes:
            raise ValueError("a profile decided by its considerations needs archetypes")
        if "idle" not in self.actions:
            raise ValueError("every profile has an `idle` action (what rules fall back to)")
        for name, action in self.actions.items():
            if action.kind not in self.kinds:
                raise ValueError(f"action {name}: unknown kind {action.kind!r}")
            for c in action.considerations:
                for ref in re.findall(r"(state|style)\.([a-z0-9_]+)", c.input):
                    self._known(ref, f"action {name}")
        for name, kind in self.kinds.items():
            self._flags(kind.when, f"kind {name}: `when`")
        for name, arch in self.archetypes.items():
            self._check_archetype(name, arch)
        if self.tiers:
            self._flags((*self.tiers.gold_when, *self.tiers.silver_when), "tiers")
        return self

    def _flags(self, names: tuple[str, ...], where: str) -> None:
        for flag in names:
            known = self.state.get(flag)
            if known is None or known.type != "bool":
                raise ValueError(f"{where} {flag!r} must be a bool state field")

    def tier_of(self, state: Mapping[str, Any]) -> str | None:
        """The tier the state calls for (`gold`, `silver`, `bronze`), None without a rule."""
        if self.tiers is None:
            return None
        if any(state.get(f) for f in self.tiers.gold_when):
            return "gold"
        return "silver" if any(state.get(f) for f in self.tiers.silver_when) else "bronze"

    def _check_archetype(self, name: str, arch: ArchetypeSpec) -> None:
        for action in (*(arch.allowed_actions or ()), *arch.bias):
            if action not in self.actions:
                raise ValueError(f"archetype {name}: unknown action {action!r}")
        if arch.allowed_actions is not None and "idle" not in arch.allowed_actions:
            raise ValueError(f"archetype {name}: allowed_actions must include idle")
        for style in arch.styles:
            if style not in self.styles:
                raise ValueError(f"archetype {name}: unknown style {style!r}")

    def _known(self, ref: tuple[str, str], where: str) -> None:
        space, name = ref
        table: dict[str, Any] = dict(self.state) if space == "state" else dict(self.styles)
        if name not in table:
            raise ValueError(f"{where}: unknown {space} {name!r}")
        if space == "state" and self.state[name].type in ("str", "table", "enum"):
            raise ValueError(f"{where}: state {name!r} is not a number or a flag")

    def allowed(self, archetype: str) -> tuple[str, ...]:
        """The actions an archetype may take, in the profile's order."""
        spec = self.archetypes[archetype]
        names = spec.allowed_actions
        return tuple(a for a in self.actions if names is None or a in names)
