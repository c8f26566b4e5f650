"""Gold and Silver decisions through a real llama.cpp engine (tiny random model), with
the farm's fallbacks: an engine that will not load, an open circuit, a cache hit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from models.testmodels import write_tiny_kit
from npcfarm.domain import Source, Tick, Tier
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import Settings
from tasks.context import WorkerContext
from tasks.decide import decide_ticks
from tasks.llm import BRAIN, Asked, LlmBrain
from tests.helpers import make_npc

pytestmark = pytest.mark.slow


def _catalogue(tmp: Path) -> Path:
    kit = write_tiny_kit(tmp / "tiny")
    path = tmp / "catalogue.toml"
    path.write_text(f"""default_base = "tiny"
[bases.tiny]
path = "{kit.model}"
n_ctx = 4096
n_seq_max = 4
threads = 2
""")
    return path


@pytest.fixture
def llm_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "engine_enabled": True,
            "model_catalogue": _catalogue(tmp_path),
            "engine_load_wait_s": 60.0,
            "data_dir": tmp_path / "data",
            # A random model rambles inside its strings: give it room (real models stop early).
            "engine_max_tokens": 512,
            "engine_time_limit_s": 120.0,
        }
    )


def _ticks(ids: list[str]) -> list[Tick]:
    return [
        Tick(npc_id=i, tick_id=f"t-{i}-{time.time_ns()}", tier=Tier.GOLD, enqueued_at=time.time())
        for i in ids
    ]


def test_gold_decisions_come_from_the_model_and_validate(
    client: redis.Redis, keys: Keys, llm_settings: Settings
) -> None:
    ctx = WorkerContext.build(llm_settings)
    brain = LlmBrain()
    save_npcs(
        client,
        keys,
        [
            make_npc("g0", archetype="vampire", player_at=3.0),
            make_npc("g1", archetype="human", player_at=3.0),
        ],
    )
    ticks = _ticks(["g0", "g1"])
    assert decide_ticks(ctx, ticks, idempotent=False, brain="llm", llm=brain) == 2
    decisions = [d for _, d in read_results(client, keys, "w1")]
    assert {d.source for d in decisions} <= {Source.LLM, Source.RULES}
    llm = [d for d in decisions if d.source is Source.LLM]
    assert llm, [d.reason for d in decisions]
    assert all(d.model == "tiny" for d in llm)
    engines = client.hgetall(keys.engines)
    assert len(engines) == 1 and '"base": "tiny"' in next(iter(engines.values()))


def test_an_engine_that_cannot_load_degrades_to_rules(
    client: redis.Redis, keys: Keys, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "catalogue.toml"
    broken.write_text(f'default_base = "x"\n[bases.x]\npath = "{tmp_path}/missing.gguf"\n')
    update = {"engine_enabled": True, "model_catalogue": broken, "engine_load_wait_s": 30.0}
    ctx = WorkerContext.build(settings.model_copy(update=update))
    brain = LlmBrain()
    save_npcs(client, keys, [make_npc("r1")])
    from npcfarm.registry import get_npc  # noqa: PLC0415
    from tasks.llm import Asked  # noqa: PLC0415

    answers = brain.decide(ctx, [Asked(get_npc(client, keys, "r1"), "t1")])
    assert answers[0].choice is None and answers[0].reason == "engine_unavailable"


def test_disabled_engine_is_said_so(client: redis.Redis, keys: Keys, settings: Settings) -> None:
    ctx = WorkerContext.build(settings)  # the test suite runs with the engine off
    save_npcs(client, keys, [make_npc("z")])
    assert decide_ticks(ctx, _ticks(["z"]), idempotent=False, brain="llm") == 1
    ((_, decision),) = read_results(client, keys, "w1")
    assert decision.source is Source.RULES and decision.reason == "engine_off"
    assert BRAIN.model == ""


def test_ticks_that_waited_past_the_queue_budget_are_decided_by_rules(
    client: redis.Redis, keys: Keys, llm_settings: Settings
) -> None:
    from npcfarm.stats import reason_counts, summarize  # noqa: PLC0415

    ctx = WorkerContext.build(llm_settings.model_copy(update={"engine_queue_budget_s": 4.0}))
    brain = LlmBrain()
    save_npcs(client, keys, [make_npc("fresh", player_at=3.0), make_npc("late", player_at=3.0)])
    fresh, late = _ticks(["fresh", "late"])
    late = late.model_copy(update={"enqueued_at": time.time() - 10.0})  # a backlog's tick
    assert decide_ticks(ctx, [fresh, late], idempotent=False, brain="llm", llm=brain) == 2
    decisions = {d.npc_id: d for _, d in read_results(client, keys, "w1")}
    assert decisions["late"].source is Source.RULES
    assert decisions["late"].reason == "llm_backlog"
    assert decisions["fresh"].reason != "llm_backlog"  # asked the model (its answer or its error)
    assert brain.model == "tiny"
    gold = next(t for t in summarize(client, keys) if t.tier is Tier.GOLD)
    assert reason_counts(gold.counters)["llm_backlog"] == 1

    patient = WorkerContext.build(llm_settings.model_copy(update={"engine_queue_budget_s": 0.0}))
    old = _ticks(["late"])[0].model_copy(update={"enqueued_at": time.time() - 10.0})
    assert decide_ticks(patient, [old], idempotent=False, brain="llm", llm=brain) == 1
    newest = max((d for _, d in read_results(client, keys, "w1")), key=lambda d: d.seq)
    assert newest.tick_id == old.tick_id and newest.reason != "llm_backlog"  # 0: always asks


def test_model_output_is_validated_again_and_a_refusal_says_why() -> None:
    from models.archetypes import get_archetype  # noqa: PLC0415
    from models.prompts import system_prompt  # noqa: PLC0415
    from tasks.llm import validate_answer  # noqa: PLC0415

    wolf = make_npc("w", archetype="werewolf", player_at=2.0)
    good = {"action": "speak", "target": "player-1", "speech": "Back off.", "emotion": "angry"}
    answer = validate_answer(wolf, good, Source.LLM)
    assert answer.choice is not None and answer.source is Source.LLM and answer.reason is None
    assert answer.choice.target == "player-1"
    unseen = validate_answer(wolf, {**good, "target": "nobody"}, Source.CACHE)
    assert unseen.choice is not None and unseen.choice.target is None  # not in sight: dropped
    for bad, why in (
        ({**good, "action": "trade"}, "invalid_output"),  # werewolves do not trade
        ({**good, "emotion": "smug"}, "invalid_output"),
        ({**good, "speech": system_prompt(get_archetype("werewolf"))[:80]}, "prompt_echo"),
    ):
        refused = validate_answer(wolf, bad, Source.LLM)
        assert (refused.choice, refused.source, refused.reason) == (None, Source.RULES, why)


def test_a_repeated_situation_is_answered_from_the_cache_even_while_loading(
    client: redis.Redis, keys: Keys, llm_settings: Settings
) -> None:
    from npcfarm.stats import CACHE_HITS, cache_hit_rate  # noqa: PLC0415

    ctx = WorkerContext.build(llm_settings)
    loaded = LlmBrain()
    npcs = [make_npc(f"c{i}", player_at=3.0) for i in range(6)]
    save_npcs(client, keys, npcs)
    first = loaded.decide(ctx, [Asked(n, f"a-{n.id}") for n in npcs], tier=Tier.GOLD)
    answered = [n for n, a in zip(npcs, first, strict=True) if a.source is Source.LLM]
    assert answered, [a.reason for a in first]  # the tiny model gets some right
    npc = answered[0]
    # Minutes later, a little hurt, the player a step closer: the same situation.
    state = npc.state.model_copy(update={"time_of_day": npc.state.time_of_day + 0.2})
    drifted = npc.model_copy(update={"state": state.model_copy(update={"health": 0.97})})
    (again,) = loaded.decide(ctx, [Asked(drifted, "a-again")], tier=Tier.GOLD)
    assert again.source is Source.CACHE and again.choice == first[npcs.index(npc)].choice

    fresh_worker = LlmBrain()  # its engine starts loading now; nothing waits for it
    quick = WorkerContext.build(llm_settings.model_copy(update={"engine_load_wait_s": 0.0}))
    unseen = npcs[5].model_copy(update={"id": "c-new"})
    started = time.monotonic()
    hit, miss = fresh_worker.decide(quick, [Asked(drifted, "b1"), Asked(unseen, "b2")])
    assert time.monotonic() - started < 1.0
    assert hit.source is Source.CACHE
    assert miss.source is Source.RULES and miss.reason == "engine_loading"
    counters = {str(k): int(v) for k, v in client.hgetall(keys.stats(Tier.GOLD)).items()}
    assert counters[CACHE_HITS] >= 1 and 0 < (cache_hit_rate(counters) or 0) < 1


def test_model_decisions_publish_the_action_first_and_the_speech_after(
    client: redis.Redis, keys: Keys, llm_settings: Settings
) -> None:
    """What a Redis-only bridge reads: an `action` entry, then a `speech` entry of the
    same tick (own seq); the latest hash ends with the whole decision."""
    from npcfarm.domain import Decision  # noqa: PLC0415
    from npcfarm.redisconn import entries as rows_of  # noqa: PLC0415

    ctx = WorkerContext.build(llm_settings.model_copy(update={"response_cache_ttl_s": 0}))
    brain = LlmBrain()
    npcs = [make_npc(f"a{i}", player_at=3.0) for i in range(4)]
    save_npcs(client, keys, npcs)
    assert decide_ticks(ctx, _ticks([n.id for n in npcs]), idempotent=True, brain="llm", llm=brain)
    entries = [
        (fields.get("part", ""), Decision.model_validate_json(fields["d"]))
        for _, fields in rows_of(client.xrange(keys.results("w1")))
    ]
    actions = {d.tick_id: d for part, d in entries if part == "action"}
    speeches = {d.tick_id: d for part, d in entries if part == "speech"}
    assert actions, [(p, d.source, d.reason) for p, d in entries]  # the tiny model managed some
    assert set(speeches) == set(actions)  # every action entry is followed by its speech
    for tick, first in actions.items():
        second = speeches[tick]
        assert first.source is Source.LLM and first.speech is None
        assert second.seq > first.seq
        assert (second.action, second.target, second.emotion) == (
            first.action,
            first.target,
            first.emotion,
        )
        latest = client.hget(keys.latest("w1"), first.npc_id)
        assert latest is not None and Decision.model_validate_json(latest).seq == second.seq
    assert len(entries) == len(npcs) + len(speeches)  # the rest were whole decisions
    stats = client.hgetall(keys.stats(Tier.GOLD))
    assert int(stats["decided"]) == len(npcs)  # a decision counts once, not per entry
