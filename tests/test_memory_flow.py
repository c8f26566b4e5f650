"""Memory through the running farm: ingest, real workers, summary jobs, Gold prompts."""

from __future__ import annotations

import json
import time

import redis

from models.prompts import user_prompt
from npcfarm.archive import ArchiveEvent
from npcfarm.domain import Tier
from npcfarm.keys import Keys
from npcfarm.memory.store import MemoryStore
from npcfarm.redisconn import entries
from npcfarm.registry import save_npcs
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from schedules.conversations import ConversationCloser
from tasks.context import WorkerContext
from tasks.memory import recall_for_prompts
from tests.conftest import WorkerFactory, wait_for
from tests.helpers import make_npc
from workers.app import app
from workers.dispatch import publish_job, summary_publisher

GAP_S = 1.0


def _say(client: redis.Redis, keys: Keys, event_id: str, kind: str, text: str | None) -> None:
    event = {
        "type": "interaction",
        "event_id": event_id,
        "npc_id": "smith",
        "player_id": "ann",
        "kind": kind,
        "text": text,
    }
    client.xadd(keys.inbox, {"event": json.dumps(event)})


def test_a_conversation_is_remembered_answered_and_summarised_by_a_worker(
    client: redis.Redis, keys: Keys, start_worker: WorkerFactory
) -> None:
    save_npcs(client, keys, [make_npc("smith")])
    client.zadd(keys.due(Tier.BRONZE), {"smith": time.time() + 3600})
    start_worker(env={"NPCFARM_CONVERSATION_GAP_S": str(GAP_S)})
    store = MemoryStore(client, keys, conversation_gap_s=GAP_S)
    ingest = Ingest(
        client, keys, publish_job=lambda job: publish_job(app, job), consumer="t", memory=store
    )
    ingest.ensure_group()
    _say(client, keys, "m1", "talk", "Can you mend my sword by dawn? I promise to pay in silver.")
    _say(client, keys, "m2", "gift", None)
    ingest.run_once(block_ms=10)

    def answered() -> bool:
        return sum(t.who == "self" for t in store.load("smith")[0].turns) == 2

    wait_for(answered, timeout=15, what="both replies remembered as turns")
    hot, recall = store.load("smith")
    assert [t.who for t in hot.turns][:2] == ["ann", "ann"]
    assert hot.rel.players["ann"].promises == ["I promise to pay in silver."]
    assert [f.id for f in recall.facts] == ["gave:ann"]

    time.sleep(GAP_S + 0.2)  # silence: the conversation has ended
    assert ConversationCloser(client, keys, summary_publisher(app)).run(time.time()) == 1
    wait_for(lambda: bool(store.load("smith")[1].summaries), timeout=15, what="a summary")
    summary = store.load("smith")[1].summaries[0]
    assert summary.player_id == "ann" and summary.source == "rules"  # the engine is off
    assert "mend my sword" in summary.text and "gave me a gift" in summary.text
    assert client.zscore(keys.conversations, "smith") is None
    archived = [ArchiveEvent.from_fields(f) for _, f in entries(client.xrange(keys.archive))]
    kinds = {(e.kind, e.data.get("kind")) for e in archived}
    assert {
        ("interaction", "talk"),
        ("interaction", "gift"),
        ("memory", "summary"),
        ("memory", "turn"),
        ("memory", "fact"),
    } <= kinds
    assert sum(e.kind == "decision" for e in archived) == 2  # the two Gold answers


def test_gold_prompts_carry_memory_and_bronze_ones_do_not(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    from npcfarm.domain import Nearby  # noqa: PLC0415
    from npcfarm.memory.remember import remember_interaction  # noqa: PLC0415

    npc = make_npc("smith")
    save_npcs(client, keys, [npc])
    store = MemoryStore.from_settings(client, keys, settings)
    week_ago = time.time() - 7 * 86_400
    remember_interaction(
        store, "smith", event_id="old", player_id="ann", kind="help", text=None, now=week_ago
    )
    remember_interaction(
        store,
        "smith",
        event_id="new",
        player_id="ann",
        kind="talk",
        text="Remember when you were drowning?",
    )
    ctx = WorkerContext.build(settings)
    visitors = {"smith": Nearby(id="ann", distance=1.5)}
    words = {"smith": "Remember when you were drowning?"}
    gold = recall_for_prompts(ctx, [npc], Tier.GOLD, visitors, words)["smith"]
    prompt = user_prompt(
        npc,
        player_id="ann",
        player_words=words["smith"],
        memory=gold.lines,
        recent_turns=gold.turns,
    )
    assert "You and ann: trust" in prompt and "ann saved my life" in prompt
    assert "ann: Remember when you were drowning?" in prompt
    assert len("\n".join(gold.lines + gold.turns)) <= 300 * 4
    assert recall_for_prompts(ctx, [npc], Tier.BRONZE, visitors, words) == {}


def test_the_rules_brain_greets_a_player_it_remembers(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    from npcfarm.domain import Job  # noqa: PLC0415
    from npcfarm.memory.remember import remember_interaction  # noqa: PLC0415
    from npcfarm.results import latest_decision  # noqa: PLC0415
    from tasks.decide import run_job  # noqa: PLC0415

    save_npcs(client, keys, [make_npc("smith")])
    store = MemoryStore.from_settings(client, keys, settings)
    remember_interaction(
        store,
        "smith",
        event_id="long-ago",
        player_id="ann",
        kind="help",
        text=None,
        now=time.time() - 3 * 86_400,
    )
    remember_interaction(store, "smith", event_id="now", player_id="ann", kind="talk", text="Hi!")
    ctx = WorkerContext.build(settings)
    job = Job(
        npc_id="smith",
        tick_id="ix-now",
        enqueued_at=time.time(),
        origin="interaction",
        player_id="ann",
        kind="talk",
        text="Hi!",
        brain="rules",
    )
    assert run_job(ctx, job.model_dump(mode="json")) == 1
    decision = latest_decision(client, keys, "w1", "smith")
    assert decision is not None and decision.speech == "I remember you, ann. You saved my life."


def test_within_one_conversation_the_rules_brain_recalls_what_just_happened(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    from npcfarm.memory.prefetch import MemoryCache  # noqa: PLC0415
    from npcfarm.memory.remember import remember_interaction  # noqa: PLC0415
    from npcfarm.memory.render import recall_line  # noqa: PLC0415

    store = MemoryStore.from_settings(client, keys, settings)
    now = time.time()
    remember_interaction(
        store, "smith", event_id="a", player_id="ann", kind="gift", text=None, now=now - 10
    )
    view = MemoryCache().fetch(client, keys, ["smith"])["smith"]
    assert recall_line(view, "ann") is None  # the gift being answered is not "remembered"
    remember_interaction(
        store, "smith", event_id="b", player_id="ann", kind="talk", text="Hi", now=now
    )
    view = MemoryCache().fetch(client, keys, ["smith"])["smith"]
    assert recall_line(view, "ann") == "You gave me a gift, ann. I will not forget it."
    assert recall_line(view, "bob") is None
