"""The grammar of a game profile: llama.cpp samples inside it, and the parser checks
the reply against the profile again (what the grammar cannot bound, it refuses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_cpp import Llama, LlamaGrammar

from models.profiles import get_profile
from models.profiles.grammar import game_grammar, parse_game_decision
from models.testmodels import write_tiny_kit
from npcfarm.errors import InvalidInput

STRATEGY = get_profile("strategy")
ACTIONS = ["build", "train", "raid", "plan"]


def test_the_tiny_model_writes_only_the_profiles_actions(tmp_path: Path) -> None:
    kit = write_tiny_kit(tmp_path / "tiny")
    llm = Llama(model_path=str(kit.model), n_ctx=2048, verbose=False, seed=1)
    grammar = LlamaGrammar.from_string(game_grammar(STRATEGY, ACTIONS), verbose=False)
    parsed, refused = [], []
    for seed in range(6):
        out = llm.create_completion(
            "Decide:", grammar=grammar, max_tokens=300, temperature=1.0, seed=seed
        )
        text = str(out["choices"][0]["text"])
        assert text.startswith('{"action": "') and text.split('"')[3] in ACTIONS
        try:
            parsed.append(parse_game_decision(text, STRATEGY, ACTIONS))
        except InvalidInput as exc:
            refused.append(str(exc))
    assert parsed, refused  # a random model: some replies are in bounds
    assert all(r.split(":")[0].endswith(("troops", "count", "hours")) for r in refused)
    llm.close()


def test_replies_outside_the_profile_are_refused() -> None:
    ok = parse_game_decision(
        '{"action": "train", "target": null, "params": {"unit": "axeman", "count": 12}}',
        STRATEGY,
        ACTIONS,
    )
    assert ok.action == "train" and ok.params == {"unit": "axeman", "count": 12}
    for bad, why in (
        ('{"action": "festival", "target": null, "params": {}}', "may take"),
        ('{"action": "message", "target": "7", "params": {"text": "hi"}}', "may take"),
        ('{"action": "raid", "target": null, "params": {"troops": 5}}', "target"),
        ('{"action": "train", "target": null, "params": {"unit": "tank", "count": 1}}', "one of"),
        ('{"action": "build", "params": {"building": "wall"}, "extra": 1}', "object of"),
        ("not json", "JSON"),
    ):
        with pytest.raises(InvalidInput, match=why):
            parse_game_decision(bad, STRATEGY, ACTIONS)


def test_a_designers_action_is_in_the_grammar() -> None:
    grammar = game_grammar(STRATEGY, STRATEGY.allowed("diplomat"))
    assert '"\\"join_alliance\\""' in grammar and "a-raid" in grammar
    assert "a-raid" not in game_grammar(STRATEGY, STRATEGY.allowed("turtle"))
