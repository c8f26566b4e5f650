"""One interaction's whole trace, from the bridge's span to the published decision,
across a real Celery worker (in a thread, so the in-memory exporter sees its spans);
and the engine's part of a trace (queue, action, speech) with the tiny model."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from npcfarm import tracing
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from tasks.context import WorkerContext
from tasks.decide import decide_ticks
from tasks.llm import LlmBrain
from tests.conftest import wait_for
from tests.helpers import make_npc
from tests.test_llm_path import _ticks, llm_settings  # noqa: F401 (the fixture)
from workers.app import app as celery_app
from workers.dispatch import publish_job


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.setup("npcfarm-test", endpoint=None, exporter=exporter)
    yield exporter
    tracing.disable()


def _by_name(found: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    named = [s for s in found if s.name == name]
    assert len(named) == 1, (name, [s.name for s in found])
    return named[0]


def _num(attributes: Mapping[str, object] | None, name: str) -> float:
    value = (attributes or {}).get(name)
    assert isinstance(value, int | float), (name, value)
    return float(value)


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_an_interaction_is_one_trace_from_the_bridge_to_the_publish(
    client: redis.Redis, keys: Keys, spans: InMemorySpanExporter
) -> None:
    save_npcs(client, keys, [make_npc("vlad", archetype="vampire", world="castle")])
    trace_id, bridge_span = secrets.token_hex(16), secrets.token_hex(8)
    event = {
        "type": "interaction",
        "event_id": "tr-1",
        "npc_id": "vlad",
        "player_id": "ann",
        "kind": "talk",
        "text": "Good evening.",
        "traceparent": f"00-{trace_id}-{bridge_span}-01",
    }
    ingest = Ingest(
        client, keys, publish_job=lambda job: publish_job(celery_app, job), consumer="trace"
    )
    ingest.ensure_group()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        client.xadd(keys.inbox, {"event": json.dumps(event)})
        wait_for(lambda: ingest.run_once(block_ms=50).jobs == 1, what="the interaction applied")

        def answered() -> bool:
            return any(d.tick_id == "ix-tr-1" for _, d in read_results(client, keys, "castle"))

        wait_for(answered, timeout=30, what="the answer published")
        wait_for(lambda: any(s.name == "decide" for s in spans.get_finished_spans()))
        time.sleep(0.2)  # the task's own span ends right after its body
    found = spans.get_finished_spans()
    assert {s.context.trace_id for s in found} == {int(trace_id, 16)}
    inbox = _by_name(found, "inbox interaction")
    sent = _by_name(found, "apply_async/npcfarm.job")
    run = _by_name(found, "run/npcfarm.job")
    decide = _by_name(found, "decide")
    recall = _by_name(found, "memory.recall")
    publish = _by_name(found, "publish")
    # Each span is the child of the one before it: the bridge's, the ingest's, the
    # message's (carried in Celery's headers), the task's, the decision's.
    assert _parent(inbox) == int(bridge_span, 16)
    assert _parent(sent) == inbox.context.span_id
    assert _parent(run) == sent.context.span_id
    assert _parent(decide) == run.context.span_id
    assert _parent(recall) == _parent(publish) == decide.context.span_id
    assert inbox.attributes is not None and inbox.attributes["npcfarm.event_id"] == "tr-1"
    assert decide.attributes is not None and decide.attributes["npcfarm.tier"] == "gold"
    assert _num(decide.attributes, "npcfarm.queue_ms") >= 0
    assert inbox.start_time is not None and decide.end_time is not None
    assert publish.end_time is not None and publish.end_time <= decide.end_time


@pytest.mark.slow
def test_the_engine_reports_its_queue_action_and_speech_times(
    client: redis.Redis,
    keys: Keys,
    llm_settings: Settings,  # noqa: F811
    spans: InMemorySpanExporter,
) -> None:
    ctx, brain = WorkerContext.build(llm_settings), LlmBrain()
    save_npcs(client, keys, [make_npc("g0", archetype="vampire", player_at=3.0)])
    decide_ticks(ctx, _ticks(["g0"]), idempotent=False, brain="llm", llm=brain)
    found = spans.get_finished_spans()
    engine = _by_name(found, "engine.request")
    assert _parent(engine) == _by_name(found, "decide").context.span_id
    attributes = engine.attributes or {}
    assert attributes["npcfarm.archetype"] == "vampire"
    assert _num(attributes, "npcfarm.prompt_tokens") > 0
    assert _num(attributes, "npcfarm.decode_s") > 0
    assert _num(attributes, "npcfarm.queue_ms") >= 0
    assert _num(attributes, "npcfarm.speech_ms") > 0
    assert [e.name for e in engine.events][:1] == ["slot"]
    assert engine.start_time is not None and engine.end_time is not None
    assert engine.start_time < engine.end_time
    assert (_by_name(found, "decide").attributes or {}).get("npcfarm.brain") == "llm"


def test_tracing_is_off_without_an_endpoint() -> None:
    assert not tracing.setup("npcfarm-test", endpoint=None)
    assert not tracing.enabled() and tracing.traceparent() is None
    with tracing.span("nothing") as span:
        assert not span.is_recording()
