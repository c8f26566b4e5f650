"""NPC memory in Redis: forming, bounds, idempotency, one-round-trip prefetch, recall."""

from __future__ import annotations

import json
import time

import pytest
import redis

from npcfarm.archive import ArchiveEvent
from npcfarm.domain import Emotion
from npcfarm.keys import Keys
from npcfarm.memory.prefetch import MemoryCache
from npcfarm.memory.records import SUMMARY_MAX, Caps
from npcfarm.memory.remember import (
    remember_interaction,
    remember_quest,
    remember_reply,
    store_summary,
)
from npcfarm.memory.render import for_prompt
from npcfarm.memory.retrieval import rank
from npcfarm.memory.store import MemoryStore, seen_mark
from npcfarm.memory.summary import deterministic_summary, due_sessions, summary_memory
from npcfarm.redisconn import entries

DAY = 86_400.0


@pytest.fixture
def store(client: redis.Redis, keys: Keys) -> MemoryStore:
    return MemoryStore(client, keys, Caps(), conversation_gap_s=60)


def archived(client: redis.Redis, keys: Keys) -> list[ArchiveEvent]:
    return [ArchiveEvent.from_fields(f) for _, f in entries(client.xrange(keys.archive))]


def test_an_interaction_forms_a_turn_a_bond_a_fact_and_a_mood(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    remember_interaction(
        store,
        "npc-1",
        event_id="e1",
        player_id="p1",
        kind="talk",
        text="I promise to bring the herbs by dawn",
    )
    remember_interaction(store, "npc-1", event_id="e2", player_id="p1", kind="gift", text=None)
    hot, recall = store.load("npc-1")
    assert [(t.who, t.text) for t in hot.turns] == [
        ("p1", "I promise to bring the herbs by dawn"),
        ("p1", "(gives a gift)"),
    ]
    bond = hot.rel.players["p1"]
    assert bond.promises == ["I promise to bring the herbs by dawn"]
    assert bond.met == 1 and bond.trust == pytest.approx(0.1) and bond.affinity > 0.15
    assert [f.id for f in recall.facts] == ["gave:p1"]
    assert [p.emotion for p in recall.mood] == [Emotion.CURIOUS, Emotion.HAPPY]
    assert hot.session is not None and hot.session.turns == 2
    kinds = sorted({(e.kind, e.data["kind"]) for e in archived(client, keys)})
    assert kinds == [("memory", k) for k in ("fact", "mood", "relationship_card", "turn")]


def test_the_same_event_is_remembered_once(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    for _ in range(3):
        remember_interaction(store, "npc-1", event_id="e1", player_id="p1", kind="gift", text=None)
    hot, recall = store.load("npc-1")
    assert len(hot.turns) == 1 and recall.facts[0].count == 1
    assert hot.rel.players["p1"].trust == pytest.approx(0.1)
    version = client.hget(keys.memory("npc-1"), "v")
    remember_interaction(store, "npc-1", event_id="e1", player_id="p1", kind="gift", text=None)
    assert client.hget(keys.memory("npc-1"), "v") == version


def test_an_attack_by_a_trusted_player_is_a_betrayal(store: MemoryStore) -> None:
    remember_interaction(store, "n", event_id="e1", player_id="p1", kind="help", text=None)
    remember_interaction(store, "n", event_id="e2", player_id="p1", kind="attack", text=None)
    hot, recall = store.load("n")
    assert hot.rel.players["p1"].betrayals == ["attacked me after earning my trust"]
    assert {f.id for f in recall.facts} == {"saved:p1", "attacked:p1"}


def test_size_caps_evict_and_never_fail(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    now = time.time()
    for i in range(60):  # 60 players, 60 turns, insults and gifts: far over every cap
        kind = ("gift", "attack", "trade", "talk")[i % 4]
        remember_interaction(
            store,
            "n",
            event_id=f"e{i}",
            player_id=f"player-{i:03d}",
            kind=kind,
            text="you stinking fool " + "x" * 150,
            now=now + i,
        )
    for i in range(40):
        remember_quest(
            store,
            "n",
            event_id=f"q{i}",
            flag=f"quest_{i:02d}_" + "y" * 40,
            active=i % 3 != 0,
            now=now + 100 + i,
        )
    hot, recall = store.load("n")
    raw = {str(k): str(v) for k, v in client.hgetall(keys.memory("n")).items()}
    assert len(hot.turns) == 20 and hot.turns[-1].who == "player-059"
    assert len(raw["rel"].encode()) <= 2048 and len(raw["quest"].encode()) <= 2048
    assert "player-059" in hot.rel.players  # the newest player stays
    assert "quest_38_" + "y" * 40 in hot.quest.quests  # the newest active quest stays
    assert all(q.status == "active" for q in hot.quest.quests.values())  # done ones go first
    assert len(recall.facts) <= 10
    assert (
        client.memory_usage(keys.memory("n"), samples=0) or 0
    ) <= 10 * 1024  # all fields counted


def test_prefetch_is_one_round_trip_and_cached_by_version(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    for i in range(64):
        remember_interaction(
            store, f"n{i}", event_id=f"e{i}", player_id="p1", kind="talk", text=f"hello number {i}"
        )
    MemoryCache().fetch(client, keys, ["warm-up"])  # loads the script into Redis
    cache = MemoryCache()
    before = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    views = cache.fetch(client, keys, [f"n{i}" for i in range(64)] + ["nobody"])
    after = client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
    assert after - before == 1
    assert views["n7"].hot.turns[0].text == "hello number 7" and views["nobody"].version == ""
    assert cache.misses == 65
    cache.fetch(client, keys, [f"n{i}" for i in range(64)])
    assert cache.hits == 64
    remember_interaction(store, "n3", event_id="x", player_id="p2", kind="gift", text=None)
    again = cache.fetch(client, keys, ["n3", "n4"])
    assert len(again["n3"].hot.turns) == 2 and cache.misses == 66


def test_a_worker_cache_does_not_outlive_a_redis_loss(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    remember_interaction(store, "n", event_id="e1", player_id="p1", kind="talk", text="old")
    cache = MemoryCache()
    cache.fetch(client, keys, ["n"])
    client.flushdb()  # Redis lost; the NPC's memory starts again from nothing
    remember_interaction(store, "n", event_id="e2", player_id="p2", kind="talk", text="new")
    view = cache.fetch(client, keys, ["n"])["n"]
    assert [t.text for t in view.hot.turns] == ["new"]


def test_sessions_end_on_silence_or_another_player_and_are_summarised(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    t0 = time.time() - 600
    remember_interaction(
        store,
        "n",
        event_id="e1",
        player_id="p1",
        kind="talk",
        text="Have you seen the wolves near the mill?",
        now=t0,
    )
    remember_reply(
        store,
        "n",
        tick_id="ix-e1",
        player_id="p1",
        speech="Aye, three of them.",
        emotion=Emotion.AFRAID,
        action="speak",
        now=t0 + 2,
    )
    remember_interaction(
        store,
        "n",
        event_id="e1b",
        player_id="p1",
        kind="talk",
        text="I will hunt them down before nightfall.",
        now=t0 + 4,
    )
    remember_interaction(
        store, "n", event_id="e2", player_id="p1", kind="gift", text=None, now=t0 + 5
    )
    assert client.zscore(keys.conversations, "n") == pytest.approx(t0 + 65)
    remember_interaction(
        store, "n", event_id="e3", player_id="p2", kind="talk", text="Hi", now=t0 + 9
    )
    hot, recall = store.load("n")
    assert [s.player_id for s in hot.closed] == ["p1"]
    assert client.zscore(keys.conversations, "n") == 0  # a closed session is due at once
    due = due_sessions(hot, now=t0 + 100, gap_s=60)
    assert [s.player_id for s in due] == ["p1", "p2"]
    text = deterministic_summary(due[0], hot, recall)
    assert 300 <= len(text) <= SUMMARY_MAX
    assert "wolves near the mill" in text and "gave me a gift" in text and "Aye, three" in text
    assert "I will hunt them down" in text  # the promise, from the relationship card
    for session in due:
        store_summary(
            store,
            "n",
            session,
            summary_memory(session, deterministic_summary(session, hot, recall), source="rules"),
        )
    hot, recall = store.load("n")
    assert not hot.closed and hot.session is None
    assert [m.player_id for m in recall.summaries] == ["p1", "p2"]
    assert client.zscore(keys.conversations, "n") is None
    store_summary(store, "n", due[0], summary_memory(due[0], "again", source="rules"))
    assert len(store.load("n")[1].summaries) == 2


def test_memory_survives_a_seven_day_gap_and_expires_after_the_window(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    now = time.time()
    week_ago, old = now - 7 * DAY, now - 31 * DAY
    remember_interaction(
        store, "n", event_id="old", player_id="p9", kind="gift", text=None, now=old
    )
    remember_interaction(
        store, "n", event_id="e1", player_id="p1", kind="help", text=None, now=week_ago
    )
    remember_interaction(
        store,
        "n",
        event_id="e2",
        player_id="p2",
        kind="talk",
        text="nice weather",
        now=week_ago + 60,
    )
    assert 0 < client.ttl(keys.recall("n")) <= 30 * DAY
    _, recall = store.load("n")
    assert "gave:p9" not in {f.id for f in recall.facts}  # beyond the 30-day window
    view = MemoryCache().fetch(client, keys, ["n"])["n"]
    top = rank(
        view.recall,
        query="you saved me from the wolves",
        player_id="p1",
        now=now,
        window_s=30 * DAY,
    )
    assert top[0].memory.id == "saved:p1"
    prompt = for_prompt(
        view, player_id="p1", query="remember me?", now=now, window_s=30 * DAY, budget_chars=1200
    )
    assert any("saved my life" in line for line in prompt.lines)
    assert any(line.startswith("You and p1: trust") for line in prompt.lines)


def test_retrieval_weighs_recency_importance_and_relevance(store: MemoryStore) -> None:
    now = time.time()
    remember_interaction(
        store, "n", event_id="a", player_id="p1", kind="trade", text=None, now=now - 20 * DAY
    )
    remember_interaction(
        store, "n", event_id="b", player_id="p2", kind="attack", text=None, now=now - 10 * DAY
    )
    remember_interaction(
        store,
        "n",
        event_id="c",
        player_id="p3",
        kind="talk",
        text="you worthless worm",
        now=now - 60,
    )
    _, recall = store.load("n")
    plain = rank(recall, query="", player_id=None, now=now, window_s=30 * DAY)
    assert plain[-1].memory.id == "traded:p1"  # old and unimportant
    assert {s.memory.id for s in plain[:2]} == {"attacked:p2", "insulted:p3"}
    asked = rank(recall, query="the trade we made", player_id="p1", now=now, window_s=30 * DAY)
    assert asked[0].memory.id == "traded:p1" and asked[0].relevance == 1.0


def test_prompt_memory_respects_its_budget(
    store: MemoryStore, client: redis.Redis, keys: Keys
) -> None:
    for i in range(20):
        remember_interaction(
            store,
            "n",
            event_id=f"e{i}",
            player_id="p1",
            kind="talk",
            text=f"line {i} " + "words " * 20,
        )
    view = MemoryCache().fetch(client, keys, ["n"])["n"]
    for budget in (0, 150, 400, 1200):
        got = for_prompt(
            view, player_id="p1", query="", now=time.time(), window_s=30 * DAY, budget_chars=budget
        )
        assert sum(len(x) + 1 for x in got.lines + got.turns) <= budget
    assert json.loads(client.hget(keys.memory("n"), "seen") or "[]")[-1] == seen_mark("ix:e19")
