"""The archetype catalogue: the packaged file's content, and load-time validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from models.archetypes import (
    DEFAULT_PATH,
    archetype_names,
    default_catalogue,
    get_archetype,
    load_archetypes,
)
from npcfarm.domain import MAX_SPEECH_CHARS, Action, Emotion
from npcfarm.errors import ConfigError, InvalidInput

EXPECTED = ("vampire", "werewolf", "zombie", "ghoul", "lich", "human")

MINIMAL = """
[imp]
nocturnal = false
voice = "Squeaky."
allowed_actions = ["idle", "wander"]
[imp.action_bias]
wander = 0.5
[imp.barks]
happy = ["Hee!", "Hoo!"]
fallback = ["Eek."]
"""


def test_catalogue_has_the_six_archetypes_in_file_order() -> None:
    assert archetype_names() == EXPECTED
    assert all(get_archetype(name).name == name for name in EXPECTED)


def test_archetypes_are_distinct() -> None:
    cat = default_catalogue()
    assert len({a.voice for a in cat.values()}) == len(EXPECTED)
    assert len({a.fallback_barks for a in cat.values()}) == len(EXPECTED)
    assert len({(a.allowed_actions, tuple(a.action_bias.items())) for a in cat.values()}) == 6


@pytest.mark.parametrize(
    ("name", "forbidden"),
    [
        ("zombie", {Action.TRADE, Action.QUEST, Action.SPEAK, Action.FLEE}),
        ("lich", {Action.FEED}),
        ("human", {Action.FEED}),
        ("werewolf", {Action.TRADE, Action.QUEST}),
    ],
)
def test_forbidden_actions(name: str, forbidden: set[Action]) -> None:
    assert not forbidden & get_archetype(name).allowed_actions


def test_night_habits() -> None:
    vampire, werewolf = get_archetype("vampire"), get_archetype("werewolf")
    assert vampire.nocturnal and werewolf.nocturnal and not get_archetype("human").nocturnal
    assert vampire.day_bias[Action.HIDE] > 0
    assert werewolf.night_bias[Action.ATTACK] > 0


@pytest.mark.parametrize("name", EXPECTED)
def test_entry_is_complete(name: str) -> None:
    arch = get_archetype(name)
    assert Action.IDLE in arch.allowed_actions
    assert arch.voice and "\n" not in arch.voice
    for bias in (arch.action_bias, arch.day_bias, arch.night_bias):
        assert set(bias) <= arch.allowed_actions
    rich = [e for e, lines in arch.barks.items() if len(lines) >= 2]
    assert len(rich) >= 5
    assert arch.fallback_barks
    for emotion in Emotion:
        lines = arch.barks_for(emotion)
        assert lines and all(0 < len(line) <= MAX_SPEECH_CHARS for line in lines)


def test_barks_for_falls_back(tmp_path: Path) -> None:
    path = tmp_path / "imp.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    arch = load_archetypes(path)["imp"]
    assert arch.barks_for(Emotion.HAPPY) == ("Hee!", "Hoo!")
    assert arch.barks_for(Emotion.ANGRY) == ("Eek.",)


def test_catalogue_is_immutable() -> None:
    arch = get_archetype("zombie")
    with pytest.raises(dataclasses.FrozenInstanceError):
        arch.nocturnal = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        arch.action_bias[Action.IDLE] = 9.0  # type: ignore[index]
    with pytest.raises(TypeError):
        default_catalogue()["dragon"] = arch  # type: ignore[index]
    assert hash(arch) == hash(get_archetype("zombie"))


def test_unknown_archetype_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="'dragon'"):
        get_archetype("dragon")


def test_load_default_path_matches_cached_catalogue() -> None:
    assert dict(load_archetypes(DEFAULT_PATH)) == dict(default_catalogue())


def test_designer_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    cat = load_archetypes(str(path))
    assert list(cat) == ["imp"]
    assert cat["imp"].action_bias == {Action.WANDER: 0.5}
    assert cat["imp"].day_bias == {}


BROKEN = [
    ('allowed_actions = ["idle", "wander"]', 'allowed_actions = ["idle", "dance"]', "'dance'"),
    ("wander = 0.5", "dance = 0.5", "unknown action 'dance'"),
    ("wander = 0.5", "feed = 0.5", "not in allowed_actions"),
    ("wander = 0.5", 'wander = "lots"', "must be a number"),
    ("wander = 0.5", "wander = true", "must be a number"),
    ("wander = 0.5", "wander = inf", "finite"),
    ('happy = ["Hee!", "Hoo!"]', 'giddy = ["Hee!"]', "unknown emotion 'giddy'"),
    ('happy = ["Hee!", "Hoo!"]', "happy = []", "non-empty list"),
    ('happy = ["Hee!", "Hoo!"]', 'happy = ["  "]', "non-empty text"),
    ('happy = ["Hee!", "Hoo!"]', f'happy = ["{"a" * (MAX_SPEECH_CHARS + 1)}"]', "longer than"),
    ('fallback = ["Eek."]', "", "'fallback'"),
    ('allowed_actions = ["idle", "wander"]', 'allowed_actions = ["wander"]', "'idle'"),
    ('allowed_actions = ["idle", "wander"]', "allowed_actions = []", "non-empty list"),
    ("nocturnal = false", 'nocturnal = "no"', "nocturnal"),
    ('voice = "Squeaky."', 'voice = ""', "voice"),
    ('voice = "Squeaky."', 'voice = "Squeaky."\ncolour = "red"', "unknown keys"),
    ("[imp]", "[Imp]", "must match"),
    ("[imp]", "[imp]\n[imp.barks]\n[imp]", "not valid TOML"),
    ("[imp.barks]", "[imp.sounds]", "unknown keys"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN)
def test_broken_catalogue_is_config_error(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in MINIMAL
    path = tmp_path / "broken.toml"
    path.write_text(MINIMAL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_archetypes(path)
    assert str(path) in str(info.value)


def test_missing_barks_table(tmp_path: Path) -> None:
    path = tmp_path / "nobarks.toml"
    path.write_text(MINIMAL.split("[imp.barks]", maxsplit=1)[0], encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[imp\]\.barks"):
        load_archetypes(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "defines no archetypes"), ("imp = 3", "must be a table"), ("= =", "not valid TOML")],
)
def test_unusable_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "odd.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_archetypes(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_archetypes(tmp_path / "absent.toml")
