"""The tick configuration (`ticks.toml`): typed, validated, and comparable by version."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from npcfarm.domain import TIER_ORDER, Tier
from npcfarm.errors import ConfigError
from schedules.tiers import TierPolicy


class TierTicks(BaseModel):
    """How one tier ticks; see the comments in the packaged ticks.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: float = Field(gt=0, le=3600)
    jitter_s: float = Field(0.0, ge=0)
    expiry_s: float = Field(0.0, ge=0)
    pending_timeout_s: float = Field(gt=0)
    batch_size: int = Field(ge=1, le=5000)
    backlog_limit: int = Field(0, ge=0)
    brain: Literal["rules", "llm"] = "rules"

    @model_validator(mode="after")
    def _coherent(self) -> TierTicks:
        if self.jitter_s >= self.interval_s:
            raise ValueError("jitter_s must be smaller than interval_s")
        return self


class Activation(BaseModel):
    """How tiers follow the players in live worlds (`[activation]` in ticks.toml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gold_promote_m: float = Field(25.0, gt=0)
    gold_demote_m: float = Field(35.0, gt=0)
    silver_promote_m: float = Field(60.0, gt=0)
    silver_demote_m: float = Field(75.0, gt=0)
    cooldown_s: float = Field(5.0, ge=0)
    gold_cap: int = Field(200, ge=0)
    silver_cap: int = Field(400, ge=0)

    @model_validator(mode="after")
    def _radii(self) -> Activation:
        self.policy()  # raises ValueError on radii that do not grow
        return self

    def policy(self) -> TierPolicy:
        return TierPolicy(**self.model_dump())


class TicksConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: dict[Tier, TierTicks]
    activation: Activation = Activation()

    @model_validator(mode="after")
    def _all_tiers(self) -> TicksConfig:
        missing = [t.value for t in TIER_ORDER if t not in self.tiers]
        if missing:
            raise ValueError(f"missing tiers: {', '.join(missing)}")
        if self.tiers[Tier.GOLD].backlog_limit:
            raise ValueError("gold is never shed: tiers.gold.backlog_limit must be 0")
        return self

    def __getitem__(self, tier: Tier) -> TierTicks:
        return self.tiers[tier]


def parse_ticks(text: str, *, origin: str = "ticks.toml") -> TicksConfig:
    """Parse and validate; every problem becomes a ConfigError naming the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        return TicksConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from exc


def load_ticks(path: Path) -> tuple[TicksConfig, str]:
    """The parsed config and its text (the text is what `ticks reload` shares via Redis)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read tick configuration {path}: {exc}") from exc
    return parse_ticks(text, origin=str(path)), text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]
