"""The decision engine on a real llama.cpp: batching, prefixes, adapters, validity.

A tiny random-weight GGUF (models/testmodels.py) makes every test run real loading,
KV sharing, LoRA and grammar-constrained sampling in milliseconds. Greedy sampling
makes outputs reproducible, so "the same tokens" is checked on whole decisions plus
their generated-token counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from models.llm import DecisionRequest, DecisionResult, Engine, SamplingParams
from models.testmodels import TinyKit, write_tiny_kit
from npcfarm.domain import MAX_SPEECH_CHARS, Action, Emotion

GREEDY = SamplingParams(temperature=0.0)
ALLOWED = (Action.IDLE, Action.SPEAK, Action.FLEE, Action.ATTACK)
SYSTEM = "You are a village NPC. Reply with one JSON decision."


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> TinyKit:
    return write_tiny_kit(tmp_path_factory.mktemp("tiny"))


def engine(kit: TinyKit, **overrides: object) -> Engine:
    options: dict[str, object] = {
        "model_path": kit.model,
        "n_ctx": 4096,
        "n_seq_max": 4,
        "n_threads": 2,
        "sampling": GREEDY,
        "flash_attn": False,  # flash attention's CPU kernel rounds differently per batch shape
    }
    options.update(overrides)
    return Engine(**options)  # type: ignore[arg-type]


@pytest.fixture
def greedy(kit: TinyKit) -> Iterator[Engine]:
    with engine(kit) as eng:
        yield eng


def request(
    i: int, *, archetype: str = "human", system: str = SYSTEM, **kw: object
) -> DecisionRequest:
    options: dict[str, object] = {"max_tokens": 512, "time_limit_s": 60.0}
    options.update(kw)
    return DecisionRequest(
        request_id=f"r{i}",
        archetype=archetype,
        system_prompt=system,
        prompt=f"Turn {i}. " + "Someone approaches. " * (i % 4),
        allowed_actions=ALLOWED,
        **options,  # type: ignore[arg-type]
    )


def decision_of(result: DecisionResult) -> tuple[object, ...]:
    return (result.action, result.target, result.emotion, result.speech, result.generated_tokens)


def decisions(results: Sequence[DecisionResult]) -> list[tuple[object, ...]]:
    assert all(r.error is None for r in results), [r.error for r in results]
    return [decision_of(r) for r in results]


def test_batching_gives_the_same_tokens_as_one_at_a_time(kit: TinyKit, greedy: Engine) -> None:
    requests = [request(i) for i in range(6)]
    batched = greedy.decide(requests)
    with engine(kit, n_seq_max=1) as single:
        one_by_one = [single.decide([r])[0] for r in requests]
    assert decisions(batched) == decisions(one_by_one)
    assert [r.request_id for r in batched] == [r.request_id for r in requests]


def test_sequences_join_and_leave_mid_flight(kit: TinyKit, greedy: Engine) -> None:
    # 7 requests through 2 slots with very different lengths: slots free up at
    # different steps and queued requests start while others are still generating.
    requests = [request(i, max_tokens=512 if i % 3 else 40) for i in range(7)]
    with engine(kit, n_seq_max=2) as two:
        mixed = two.decide(requests)
        steps = two.stats.decode_calls
    alone = [greedy.decide([r])[0] for r in requests]
    assert [decision_of(r) for r in mixed] == [decision_of(r) for r in alone]
    assert [r.error for r in mixed] == [r.error for r in alone]
    assert steps < sum(r.generated_tokens for r in mixed)  # steps were shared


def test_shared_prefix_is_decoded_once_and_changes_nothing(kit: TinyKit) -> None:
    requests = [request(i) for i in range(4)]
    with engine(kit) as shared:
        results = shared.decide(requests)
        stats = shared.stats
    prefix = results[0].prompt_tokens - results[0].evaluated_prompt_tokens
    assert prefix == 0 and results[0].prefix_tokens_reused == 0  # the first one decodes it
    reused = {r.prefix_tokens_reused for r in results[1:]}
    assert len(reused) == 1 and reused.pop() > 10
    assert (stats.prefix_misses, stats.prefix_hits) == (1, 3)
    assert stats.prompt_tokens_evaluated == sum(r.evaluated_prompt_tokens for r in results)
    with engine(kit, max_prefixes=0) as private:
        unshared = private.decide(requests)
        assert private.stats.prompt_tokens_evaluated == sum(r.prompt_tokens for r in unshared)
    assert decisions(results) == decisions(unshared)


def test_prefix_cache_survives_between_calls_and_warm_up_fills_it(kit: TinyKit) -> None:
    with engine(kit) as eng:
        eng.warm_up(prefixes={"human": SYSTEM})
        first = eng.decide([request(0)])[0]
        again = eng.decide([request(1)])[0]
    assert first.prefix_tokens_reused > 0
    assert again.prefix_tokens_reused == first.prefix_tokens_reused


def test_adapters_are_grouped_and_applied_per_batch(kit: TinyKit) -> None:
    adapters = {"vampire": [(kit.lora_a, 1.0)], "lich": [(kit.lora_b, 0.7)]}
    mixed = [request(i, archetype=("vampire", "lich", "human")[i % 3]) for i in range(9)]
    with engine(kit, adapters=adapters) as eng:
        together = eng.decide(mixed)
        switches = list(eng.stats.adapter_switch_seconds)
        steps = eng.stats.decode_calls
        by_group = {
            name: eng.decide([r for r in mixed if r.archetype == name])
            for name in ("vampire", "lich", "human")
        }
    apart = {r.request_id: r for results in by_group.values() for r in results}
    assert decisions(together) == decisions([apart[r.request_id] for r in mixed])
    with engine(kit) as plain:
        no_adapter = plain.decide(mixed)
    changed = [a != b for a, b in zip(decisions(together), decisions(no_adapter), strict=True)]
    assert any(changed[0::3]) and any(changed[1::3])  # vampire and lich were adapted
    assert not any(changed[2::3])  # human has no adapter
    # grouped: sets switch between turns of several steps, not on every decode
    assert 0 < len(switches) < steps / 2


def test_every_output_validates(kit: TinyKit) -> None:
    archetype_actions = {"a": (Action.IDLE,), "b": (Action.FEED, Action.HIDE, Action.IDLE)}
    requests = [
        DecisionRequest(
            request_id=f"s{i}",
            archetype="a" if i % 2 else "b",
            system_prompt=SYSTEM,
            prompt=f"Sampled turn {i}",
            allowed_actions=archetype_actions["a" if i % 2 else "b"],
            max_tokens=600,
            time_limit_s=60.0,
        )
        for i in range(24)
    ]
    with engine(kit, sampling=SamplingParams(temperature=1.5, top_k=0, min_p=0.0), seed=7) as eng:
        results = eng.decide(requests)
    for req, res in zip(requests, results, strict=True):
        assert res.error is None, res.error
        assert res.action in req.allowed_actions
        assert isinstance(res.emotion, Emotion)
        assert res.speech is None or 0 < len(res.speech) <= MAX_SPEECH_CHARS
        res.as_decision(npc_id="n1", world="w")  # the domain's own validation accepts it
    assert eng.stats.sampler.full_vocab > 0  # a random model exercises every grammar tier


def test_unconstrained_output_is_checked_too(kit: TinyKit) -> None:
    with engine(kit, constrained=False) as eng:
        results = eng.decide([request(i, max_tokens=64) for i in range(4)])
    for res in results:  # a random model writes garbage: never a decision that is not valid
        assert (res.error is None) == (res.action is not None)
        assert res.error is None or res.error.split(":")[0] in {"invalid_output", "token_budget"}


def test_offload_report_and_lifecycle(kit: TinyKit, tmp_path: Path) -> None:
    eng = engine(kit, n_gpu_layers=-1)
    offload = eng.offload
    assert offload["n_layers"] == 2 and offload["n_gpu_layers"] == -1
    assert isinstance(offload["gpu_supported"], bool)
    assert offload["offloaded_layers"] == (3 if offload["gpu_supported"] else 0)
    eng.close()
    eng.close()  # idempotent
