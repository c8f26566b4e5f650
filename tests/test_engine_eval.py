"""The evaluation scorecard, run through a real (tiny, random) engine."""

from __future__ import annotations

import json

import pytest

from models.archetypes import get_archetype
from models.evaluation import distinct_2, run_eval
from models.llm import Engine, SamplingParams
from models.scenarios import PLAYER_LINES, persona_problems, script
from models.testmodels import write_tiny_kit
from npcfarm.domain import Action


def test_distinct_2() -> None:
    assert distinct_2(["a b c", "a b c"]) == pytest.approx(0.5)
    assert distinct_2(["a b", "c d"]) == 1.0
    assert distinct_2(["one", ""]) == 0.0


def test_script_is_the_same_story_for_everyone() -> None:
    vampire, zombie = script(get_archetype("vampire")), script(get_archetype("zombie"))
    assert len(vampire) == 20
    assert [t.player_words for t in vampire] == [t.player_words for t in zombie]
    assert vampire[0].player_words == PLAYER_LINES[0] and vampire[1].player_words is None
    assert vampire[-1].npc.state.health < vampire[0].npc.state.health


def test_persona_checks() -> None:
    kinds = ("vampire", "zombie", "human")
    vampire, zombie = get_archetype("vampire"), get_archetype("zombie")
    assert persona_problems(vampire, kinds, Action.SPEAK, "Good evening, I am a vampire.") == []
    assert persona_problems(vampire, kinds, Action.SPEAK, "I'm a dragon now!") != []
    assert persona_problems(vampire, kinds, Action.SPEAK, None) == ["speaks without speech"]
    assert persona_problems(zombie, kinds, Action.EMOTE, "Braaains. " * 10) != []


def test_scorecard_from_a_real_engine(tmp_path_factory: pytest.TempPathFactory) -> None:
    kit = write_tiny_kit(tmp_path_factory.mktemp("eval"))
    with Engine(
        model_path=kit.model,
        n_ctx=8192,
        n_seq_max=6,
        n_threads=2,
        sampling=SamplingParams(temperature=0.8),
    ) as engine:
        card = run_eval(engine, model="tiny", archetypes=("vampire", "zombie"), turns=4)
    assert [s.name for s in card.archetypes] == ["vampire", "zombie"]
    assert card.overall.decisions == 8
    for score in (*card.archetypes, card.overall):
        assert 0.0 <= score.schema_valid_rate <= 1.0
        assert score.allowed_action_rate >= score.schema_valid_rate
        assert score.latency_p50_ms <= score.latency_p95_ms <= score.latency_p99_ms
    assert json.loads(json.dumps(card.to_json()))["overall"]["decisions"] == 8
    assert card.table().row_count == 3
