"""The default model end to end: Gemma 3 270M from its PyPI package, on the CPU."""

from __future__ import annotations

import pytest

from models.archetypes import default_catalogue
from models.catalogue import engine_config
from models.llm import DecisionRequest, Engine
from models.prompts import system_prompt, user_prompt
from npcfarm.domain import NPC, Nearby, NPCState


@pytest.mark.slow
def test_gemma_decides_valid_in_character_json(tmp_path_factory: pytest.TempPathFactory) -> None:
    config = engine_config(tmp_path_factory.mktemp("gemma"))
    kwargs = config.engine_kwargs() | {"n_seq_max": 4, "n_ctx": 4096, "n_gpu_layers": 0}
    archetypes = list(default_catalogue().values())[:4]
    requests = []
    for i, archetype in enumerate(archetypes * 2):
        npc = NPC(
            id=f"n{i}",
            name=f"Npc{i}",
            archetype=archetype.name,
            state=NPCState(time_of_day=22.0, nearby_players=[Nearby(id="p1", distance=3.0)]),
        )
        requests.append(
            DecisionRequest(
                request_id=f"g{i}",
                archetype=archetype.name,
                system_prompt=system_prompt(archetype),
                prompt=user_prompt(npc, player_id="p1", player_words="Who goes there?"),
                allowed_actions=tuple(sorted(archetype.allowed_actions)),
                time_limit_s=120.0,
            )
        )
    with Engine(**kwargs) as engine:
        engine.warm_up()
        results = engine.decide(requests)
        assert engine.offload["n_layers"] == 18
    for request, result in zip(requests, results, strict=True):
        assert result.error is None, result.error
        assert result.action in request.allowed_actions
    assert all(r.prefix_tokens_reused > 100 for r in results[4:])  # second round shares
