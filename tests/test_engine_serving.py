"""The engine as a served loop: concurrent callers share one continuous batch.

Each Celery slot (here: plain threads) submits its own requests; the loop thread joins
them between decode steps. Greedy sampling makes every output comparable with the same
request decided alone.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from models.llm import ERROR_CANCELLED, DecisionResult, Engine, scheduler
from models.testmodels import TinyKit
from npcfarm.errors import EngineError
from tests.test_engine import decision_of, engine, kit, request

__all__ = ["kit"]  # the module fixture, shared with tests/test_engine.py


def test_requests_from_many_threads_share_decode_steps(kit: TinyKit) -> None:
    requests = [request(i, max_tokens=200) for i in range(8)]
    with engine(kit, n_seq_max=1) as single:
        alone = [single.decide([r])[0] for r in requests]
        sequential_steps = single.stats.decode_calls
    with engine(kit, n_seq_max=8) as served:
        start = threading.Barrier(len(requests))

        def one_caller(index: int) -> DecisionResult:
            start.wait()  # every caller submits at about the same moment
            return served.submit(requests[index]).future.result(timeout=60)

        with ThreadPoolExecutor(len(requests)) as pool:
            together = list(pool.map(one_caller, range(len(requests))))
        shared_steps = served.stats.decode_calls
    assert [decision_of(r) for r in together] == [decision_of(r) for r in alone]
    assert all(r.error is None for r in together)
    assert shared_steps < sequential_steps / 2, (shared_steps, sequential_steps)


def test_a_request_joins_a_batch_already_running(kit: TinyKit) -> None:
    with engine(kit, n_seq_max=4) as served:
        first = served.submit(request(1, max_tokens=400))
        while served.stats.decode_calls < 3:  # the first request is decoding
            time.sleep(0.001)
        second = served.submit(request(2, max_tokens=20))
        late = second.future.result(timeout=60)
        assert not first.future.done() or first.future.result().generated_tokens > 20
        assert late.request_id == "r2"
        assert first.future.result(timeout=60).request_id == "r1"


def test_cancel_from_another_thread_ends_only_that_request(kit: TinyKit) -> None:
    with engine(kit, n_seq_max=4) as served:
        keep = served.submit(request(1))
        drop = served.submit(request(2, max_tokens=500))
        served.cancel("r2")
        assert drop.future.result(timeout=60).error == ERROR_CANCELLED
        assert keep.future.result(timeout=60).error is None


def test_close_ends_what_is_in_flight_and_refuses_more(kit: TinyKit) -> None:
    served: Engine = engine(kit, n_seq_max=2)
    tickets = [served.submit(request(i, max_tokens=500)) for i in range(4)]
    served.close()
    outcomes = [t.future.result(timeout=10) for t in tickets]
    assert all(r.error is None or r.error.startswith(ERROR_CANCELLED) for r in outcomes)
    with pytest.raises(EngineError):
        served.submit(request(9))


def test_the_action_is_known_before_the_speech_is(kit: TinyKit) -> None:
    with engine(kit, n_seq_max=4) as served:
        tickets = [served.submit(request(i)) for i in range(4)]
        results = [t.future.result(timeout=60) for t in tickets]
        heads = [t.action.result(timeout=1) for t in tickets]
        metrics = served.metrics()
    for head, result in zip(heads, results, strict=True):
        if result.error is not None:
            continue
        assert head is not None
        assert (head.action, head.target, head.emotion) == (
            result.action,
            result.target,
            result.emotion,
        )
        assert head.seconds <= result.seconds
    assert any(r.error is None for r in results)
    assert metrics["steps"] > 0 and 0 < metrics["occupancy"] <= 1
    assert metrics["action_p50_ms"] <= metrics["decision_p50_ms"]
    assert metrics["live"] == 0 and metrics["queued"] == 0


def test_forced_joints_are_decoded_in_chunks(kit: TinyKit, monkeypatch: pytest.MonkeyPatch) -> None:
    requests = [request(i) for i in range(4)]
    with engine(kit, n_seq_max=4) as jumping:
        jumped = jumping.decide(requests)
        forced, steps = jumping.stats.forced_tokens, jumping.stats.decode_calls
    monkeypatch.setattr(scheduler, "forced_continuation", lambda text, allowed: "")
    with engine(kit, n_seq_max=4) as stepping:
        stepped = stepping.decide(requests)
        plain_steps = stepping.stats.decode_calls
    assert forced > 0 and steps < plain_steps
    # the forced keys are tokenized on their own, not as the model would have split
    # them, so later tokens may differ; every decision is still whole and valid
    assert all(r.error is None and r.action is not None for r in jumped + stepped)


def test_latencies_are_kept_per_tier(kit: TinyKit) -> None:
    with engine(kit, n_seq_max=4) as served:
        served.decide([replace(request(1), tier="gold"), replace(request(2), tier="silver")])
        tiers = served.metrics()["tiers"]
    assert set(tiers) == {"gold", "silver"}
    assert 0 < tiers["gold"]["action_p50_ms"] <= tiers["gold"]["decision_p50_ms"]
