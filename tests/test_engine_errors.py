"""How the engine fails: always a clear EngineError or an error result, never a crash.

Whole-engine problems (a missing or broken model) raise at construction; a missing or
broken adapter only sends its archetypes to the bare base (`adapter_faults`),
before a worker takes work. Per-request problems (a prompt that cannot fit, a decode
that fails, a budget or time limit, a cancellation) end that request with an error
result and leave the others, and the engine, working.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import llama_cpp as lc
import pytest

from models.llm import DecisionRequest, Engine, SamplingParams
from models.testmodels import TinyKit, write_tiny_kit
from npcfarm.domain import Action
from npcfarm.errors import ConfigError, EngineError, ModelLoadFailed, ModelMissing

ALLOWED = (Action.IDLE, Action.SPEAK)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> TinyKit:
    return write_tiny_kit(tmp_path_factory.mktemp("tiny"))


def build(model: Path, **kw: object) -> Engine:
    options: dict[str, object] = {
        "model_path": model,
        "n_ctx": 1024,
        "n_seq_max": 3,
        "n_threads": 2,
        "sampling": SamplingParams(temperature=0.0),
    }
    options.update(kw)
    return Engine(**options)  # type: ignore[arg-type]


@pytest.fixture
def eng(kit: TinyKit) -> Iterator[Engine]:
    with build(kit.model) as engine:
        yield engine


def ask(i: int, prompt: str = "Decide.", **kw: object) -> DecisionRequest:
    options: dict[str, object] = {"max_tokens": 400, "time_limit_s": 30.0}
    options.update(kw)
    return DecisionRequest(
        request_id=f"q{i}",
        archetype="human",
        system_prompt="You are an NPC.",
        prompt=prompt,
        allowed_actions=ALLOWED,
        **options,  # type: ignore[arg-type]
    )


def test_missing_model_is_model_missing(tmp_path: Path) -> None:
    with pytest.raises(ModelMissing, match="does not exist"):
        build(tmp_path / "nope.gguf")


@pytest.mark.parametrize("content", [b"", b"not a gguf at all" * 100, b"GGUF\x03\x00\x00\x00junk"])
def test_broken_model_file_is_model_load_failed(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadFailed, match="could not load"):
        build(path)


def test_truncated_model_is_model_load_failed(kit: TinyKit, tmp_path: Path) -> None:
    path = tmp_path / "truncated.gguf"
    path.write_bytes(kit.model.read_bytes()[: kit.model.stat().st_size // 2])
    with pytest.raises(EngineError):
        build(path)


def test_a_broken_or_missing_adapter_degrades_only_its_archetypes(
    kit: TinyKit, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"junk" * 64)
    stacks = {
        "vampire": [(tmp_path / "none.gguf", 1.0)],
        "ghoul": [(junk, 1.0)],
        "werewolf": [(kit.lora_a, 1.0)],
    }
    with build(kit.model, adapters=stacks) as engine:
        assert set(engine.adapter_faults) == {"vampire", "ghoul"}
        assert "does not exist" in engine.adapter_faults["vampire"]
        assert "LoRA" in engine.adapter_faults["ghoul"]
        asked = [
            DecisionRequest(
                request_id=name,
                archetype=name,
                system_prompt="NPC.",
                prompt="Decide.",
                allowed_actions=(Action.IDLE, Action.SPEAK),
                max_tokens=400,
                time_limit_s=60.0,
            )
            for name in ("vampire", "ghoul", "werewolf", "human")
        ]
        results = engine.decide(asked)
        assert all(not (r.error or "").startswith("decode_failure") for r in results)
        assert engine.stats.adapter_switch_seconds  # werewolf still gets its adapter
    with build(kit.model, adapters={"werewolf": [(kit.lora_a, 1.0)]}) as clean:
        assert clean.adapter_faults == {}


def test_too_many_sequences_is_a_config_error(kit: TinyKit) -> None:
    with pytest.raises(ConfigError):
        build(kit.model, n_seq_max=10_000)


def test_oversized_prompt_is_an_error_result_and_others_go_on(eng: Engine) -> None:
    huge = "word " * 2000
    results = eng.decide([ask(0), ask(1, huge), ask(2)])
    assert results[1].error is not None and results[1].error.startswith("context_overflow")
    assert results[1].action is None
    assert results[0].error is None and results[2].error is None


def test_failing_decode_ends_its_batch_and_the_engine_recovers(eng: Engine) -> None:
    # llama.cpp's abort callback makes llama_decode itself fail (it returns 2); it is
    # set on the engine's context, the one thing reached into here.
    calls = {"n": 0}

    @lc.ggml_abort_callback  # type: ignore[untyped-decorator]
    def abort_third(_data: ctypes.c_void_p) -> bool:
        calls["n"] += 1
        return calls["n"] >= 3

    ctx = eng._scheduler._ctx.ptr
    lc.llama_set_abort_callback(ctx, abort_third, None)
    try:
        failed = eng.decide([ask(i) for i in range(3)])
    finally:
        lc.llama_set_abort_callback(ctx, lc.ggml_abort_callback(), None)
    assert failed and all(r.error and r.error.startswith("decode_failure") for r in failed)
    assert all(r.action is None for r in failed)
    again = eng.decide([ask(i) for i in range(3)])
    assert all(r.error is None for r in again)


def test_token_budget_and_time_limit(eng: Engine) -> None:
    short, late, fine = eng.decide([ask(0, max_tokens=2), ask(1, time_limit_s=1e-9), ask(2)])
    assert short.error == "token_budget" and short.generated_tokens == 2
    assert late.error is not None and late.error.startswith("timeout")
    assert fine.error is None


def test_budget_cut_inside_speech_keeps_the_decision(eng: Engine) -> None:
    full = eng.decide([ask(0)])[0]
    assert full.error is None and full.speech is not None
    cut = eng.decide([ask(0, max_tokens=full.generated_tokens - 3)])[0]
    assert cut.error is None  # salvaged: the object was closed after the speech so far
    assert (cut.action, cut.target, cut.emotion) == (full.action, full.target, full.emotion)
    assert full.speech.startswith(cut.speech or "")


def test_cancellation(eng: Engine) -> None:
    eng.cancel("q1")
    results = eng.decide([ask(0), ask(1)])
    assert results[0].error is None
    assert results[1].error == "cancelled"
    assert eng.decide([ask(1)])[0].error is None  # a cancellation is used once


def test_invalid_requests(eng: Engine) -> None:
    bad = DecisionRequest(
        request_id="x", archetype="human", system_prompt="s", prompt="p", allowed_actions=()
    )
    result = eng.decide([bad, ask(1)])
    assert result[0].error is not None and result[0].error.startswith("invalid_request")
    assert result[1].error is None
    assert eng.decide([]) == []


def test_closed_engine_refuses(kit: TinyKit) -> None:
    engine = build(kit.model)
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.decide([ask(0)])
