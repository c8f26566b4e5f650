"""The archetype catalogue: allowed actions, utility biases, day/night habits and barks.

Designers edit `archetypes.toml`, not code. The file is checked once, at load, so a
typo (an unknown action or emotion, a bias on a forbidden action, an over-long bark)
fails loudly at startup with a message naming the file and the entry, instead of
showing up later as an NPC that quietly never does something.
"""

from __future__ import annotations

import functools
import math
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from npcfarm.domain import MAX_SPEECH_CHARS, Action, Emotion
from npcfarm.errors import ConfigError, InvalidInput

DEFAULT_PATH = Path(__file__).with_name("archetypes.toml")  # the packaged catalogue
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # the same rule as NPC.archetype
REQUIRED_ACTION = Action.IDLE  # every archetype allows it: the rules brain's last resort
FALLBACK_KEY = "fallback"  # bark list used for emotions an archetype has no lines for
BIAS_KEYS = ("action_bias", "day_bias", "night_bias")  # optional per-action bias tables
_ACTION_NAMES = tuple(a.value for a in Action)
PROMPT_FIELDS = frozenset(
    {"archetype", "voice", "actions", "emotions", "example"}
)  # placeholders a `system_prompt` template may use (see models/prompts.py)
_LLM_KEYS = ("system_prompt", "base_model", "adapters")  # optional, for the LLM engine
_KNOWN_KEYS = frozenset({"nocturnal", "voice", "allowed_actions", "barks", *BIAS_KEYS, *_LLM_KEYS})

Bias = Mapping[Action, float]


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """One LoRA adapter of an archetype's stack; `path` is relative to the data dir."""

    path: str
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Archetype:
    """One kind of NPC. Immutable: the catalogue is shared by every task in a worker."""

    name: str
    nocturnal: bool  # active at night; the rules brain makes it rest or hide by day
    voice: str  # one line on how it speaks, for LLM prompts
    allowed_actions: frozenset[Action]
    action_bias: Bias = field(hash=False)  # additive utility, always applied
    day_bias: Bias = field(hash=False)  # additive utility in daylight
    night_bias: Bias = field(hash=False)  # additive utility at night
    barks: Mapping[Emotion, tuple[str, ...]] = field(hash=False)
    fallback_barks: tuple[str, ...]
    system_prompt: str | None = None  # template over PROMPT_FIELDS; None: the default one
    base_model: str | None = None  # a base in models/catalogue.toml; None: its default
    adapters: tuple[AdapterSpec, ...] = ()  # LoRA stack applied on the base, in order

    def barks_for(self, emotion: Emotion) -> tuple[str, ...]:
        """Lines for `emotion`, or the fallback lines when the archetype has none."""
        return self.barks.get(emotion) or self.fallback_barks


Catalogue = Mapping[str, Archetype]


def load_archetypes(path: str | Path = DEFAULT_PATH) -> Catalogue:
    """Read and check a catalogue file; raises ConfigError saying what is wrong where."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read archetype catalogue {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"archetype catalogue {path} is not valid TOML: {exc}") from exc
    if not raw:
        raise ConfigError(f"archetype catalogue {path} defines no archetypes")
    out: dict[str, Archetype] = {}
    for name, entry in raw.items():
        where = f"{path}: [{name}]"
        if not NAME_PATTERN.match(name):
            raise ConfigError(f"{where}: archetype names must match {NAME_PATTERN.pattern}")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        out[name] = _parse_entry(name, entry, where)
    return MappingProxyType(out)


@functools.cache
def default_catalogue() -> Catalogue:
    """The packaged catalogue, read once per process."""
    return load_archetypes(DEFAULT_PATH)


def archetype_names() -> tuple[str, ...]:
    """Names in the packaged catalogue, in file order."""
    return tuple(default_catalogue())


def get_archetype(name: str) -> Archetype:
    """Look up an archetype of the packaged catalogue; InvalidInput when unknown."""
    try:
        return default_catalogue()[name]
    except KeyError:
        known = ", ".join(archetype_names())
        raise InvalidInput(f"unknown archetype {name!r} (known: {known})") from None


def _parse_entry(name: str, entry: dict[str, Any], where: str) -> Archetype:
    unknown = sorted(set(entry) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(_KNOWN_KEYS)}")
    nocturnal = entry.get("nocturnal")
    if not isinstance(nocturnal, bool):
        raise ConfigError(f"{where}.nocturnal: must be true or false")
    voice = entry.get("voice")
    if not isinstance(voice, str) or not voice.strip() or "\n" in voice:
        raise ConfigError(f"{where}.voice: must be one non-empty line of text")
    allowed = _parse_actions(entry.get("allowed_actions"), f"{where}.allowed_actions")
    biases = [_parse_bias(entry.get(key, {}), allowed, f"{where}.{key}") for key in BIAS_KEYS]
    barks, fallback = _parse_barks(entry.get("barks"), f"{where}.barks")
    return Archetype(
        name=name,
        nocturnal=nocturnal,
        voice=voice.strip(),
        allowed_actions=allowed,
        action_bias=biases[0],
        day_bias=biases[1],
        night_bias=biases[2],
        barks=barks,
        fallback_barks=fallback,
        system_prompt=_parse_template(entry.get("system_prompt"), f"{where}.system_prompt"),
        base_model=_parse_base(entry.get("base_model"), f"{where}.base_model"),
        adapters=_parse_adapters(entry.get("adapters", []), f"{where}.adapters"),
    )


def _parse_template(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be non-empty text")
    try:
        names = {field for _, field, _, _ in string.Formatter().parse(value) if field}
    except ValueError as exc:
        raise ConfigError(f"{where}: broken placeholder: {exc}") from None
    unknown = sorted(names - PROMPT_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown placeholders {unknown}; known: {sorted(PROMPT_FIELDS)}"
        )
    return value


def _parse_base(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be the name of a base model in the model catalogue")
    return value


def _parse_adapters(value: object, where: str) -> tuple[AdapterSpec, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list of {{ path = ..., scale = ... }} tables")
    out: list[AdapterSpec] = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict) or set(item) - {"path", "scale"}:
            raise ConfigError(f"{at}: must be a table with `path` and optional `scale`")
        path, scale = item.get("path"), item.get("scale", 1.0)
        if not isinstance(path, str) or not path.endswith(".gguf"):
            raise ConfigError(f"{at}.path: must name a .gguf LoRA file")
        if (
            isinstance(scale, bool)
            or not isinstance(scale, int | float)
            or not math.isfinite(scale)
        ):
            raise ConfigError(f"{at}.scale: must be a finite number")
        out.append(AdapterSpec(path=path, scale=float(scale)))
    return tuple(out)


def _action(value: object, where: str) -> Action:
    if isinstance(value, str) and value in _ACTION_NAMES:
        return Action(value)
    known = ", ".join(_ACTION_NAMES)
    raise ConfigError(f"{where}: unknown action {value!r} (known: {known})")


def _parse_actions(value: object, where: str) -> frozenset[Action]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list of action names")
    allowed = frozenset(_action(v, where) for v in value)
    if REQUIRED_ACTION not in allowed:
        raise ConfigError(f"{where}: must include {REQUIRED_ACTION.value!r}")
    return allowed


def _parse_bias(value: object, allowed: frozenset[Action], where: str) -> Bias:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table of action = number")
    out: dict[Action, float] = {}
    for key, number in value.items():
        action = _action(key, where)
        if action not in allowed:
            raise ConfigError(f"{where}: bias for {key!r}, which is not in allowed_actions")
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ConfigError(f"{where}.{key}: must be a number")
        if not math.isfinite(number):
            raise ConfigError(f"{where}.{key}: must be finite")
        out[action] = float(number)
    return MappingProxyType(out)


def _parse_lines(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: must be a non-empty list of lines")
    for line in value:
        if not isinstance(line, str) or not line.strip():
            raise ConfigError(f"{where}: every line must be non-empty text")
        if len(line) > MAX_SPEECH_CHARS:
            raise ConfigError(f"{where}: line longer than {MAX_SPEECH_CHARS} characters")
    return tuple(value)


def _parse_barks(
    value: object, where: str
) -> tuple[Mapping[Emotion, tuple[str, ...]], tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: must be a table of emotion = [lines]")
    if FALLBACK_KEY not in value:
        raise ConfigError(f"{where}: needs a {FALLBACK_KEY!r} list")
    barks: dict[Emotion, tuple[str, ...]] = {}
    for key, lines in value.items():
        if key == FALLBACK_KEY:
            continue
        try:
            emotion = Emotion(key)
        except ValueError:
            known = ", ".join(e.value for e in Emotion)
            raise ConfigError(f"{where}: unknown emotion {key!r} (known: {known})") from None
        barks[emotion] = _parse_lines(lines, f"{where}.{key}")
    return MappingProxyType(barks), _parse_lines(value[FALLBACK_KEY], f"{where}.{FALLBACK_KEY}")
