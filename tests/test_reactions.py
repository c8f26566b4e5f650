"""The rules brain answers a player by what it knows of them: friends are greeted,
enemies refused or fought, a trade request gets trade, a quest giver speaks of it."""

from __future__ import annotations

import json

import redis

from models.reactions import Standing, react
from npcfarm.domain import NPC, Action, Decision, Emotion, Job, Personality, Source
from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.results import read_results
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from tasks.context import WorkerContext
from tasks.decide import run_job
from tests.helpers import make_npc

CALM = Personality(agreeableness=0.8, neuroticism=0.2)
FIERCE = Personality(agreeableness=0.1, neuroticism=0.8)


def _npc(archetype: str = "human", personality: Personality = CALM) -> NPC:
    return make_npc("mira", archetype=archetype, player_at=2.0).model_copy(
        update={"personality": personality}
    )


def test_a_friend_is_greeted_and_a_stranger_left_to_the_utility_table() -> None:
    friend = Standing("ann", kind="talk", trust=0.5, affinity=0.6)
    greeted = react(_npc(), friend)
    assert greeted is not None and greeted.action is Action.SPEAK
    assert greeted.emotion is Emotion.HAPPY and greeted.target == "ann"
    assert greeted.speech == "Good to see you again, ann!"
    assert react(_npc(), Standing("bob", kind="talk")) is None


def test_an_enemy_is_refused_by_the_calm_and_fought_by_the_fierce() -> None:
    traitor = Standing("bob", kind="trade", trust=0.2, betrayals=1)
    refused = react(_npc(), traitor)
    assert refused is not None and refused.action is Action.SPEAK
    assert refused.speech == "I do not deal with traitors. Go away, bob."
    fought = react(
        _npc("werewolf", FIERCE), Standing("bob", kind="talk", trust=-0.6, affinity=-0.5)
    )
    assert fought is not None and fought.action is Action.ATTACK and fought.target == "bob"
    # Attacked: the calm flee, whoever attacks.
    fled = react(_npc(), Standing("cat", kind="attack"))
    assert fled is not None and fled.action is Action.FLEE and fled.emotion is Emotion.AFRAID


def test_trade_and_quests_are_answered_within_the_archetype() -> None:
    trade = react(_npc(), Standing("ann", kind="trade"))
    assert trade is not None and trade.action is Action.TRADE and trade.target == "ann"
    # A werewolf does not trade: it says so.
    wolf = react(_npc("werewolf"), Standing("ann", kind="trade"))
    assert (
        wolf is not None and wolf.action is Action.SPEAK and "do not trade" in (wolf.speech or "")
    )
    quest = react(_npc(), Standing("ann", kind="talk", quests=[("blood_oath", "")]))
    assert quest is not None and quest.action is Action.QUEST
    assert quest.speech == "The blood oath: Have you done what I asked?"


def test_through_the_inbox_a_friend_who_turns_on_the_npc_becomes_its_enemy(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    """Real ingest (memory written as events arrive) and the real job path."""
    save_npcs(client, keys, [_npc()])
    jobs: list[Job] = []
    ingest = Ingest(client, keys, publish_job=jobs.append, consumer="t", claim_idle_ms=50)
    ingest.ensure_group()
    ctx = WorkerContext.build(settings)

    def act(n: int, kind: str) -> tuple[Action, str | None, Source]:
        event = {"type": "interaction", "event_id": f"e{n}", "npc_id": "mira"}
        event |= {"player_id": "ann", "kind": kind}
        client.xadd(keys.inbox, {"event": json.dumps(event)})
        ingest.run_once(block_ms=10)
        run_job(ctx, jobs.pop().model_dump(mode="json"))
        answer = next(d for _, d in read_results(client, keys, "w1") if d.tick_id == f"ix-e{n}")
        assert isinstance(answer, Decision)
        return answer.action, answer.speech, answer.source

    for n in range(4):  # four gifts make a friend
        act(n, "gift")
    assert act(4, "talk") == (Action.SPEAK, "Good to see you again, ann!", Source.RULES)
    assert act(5, "trade")[0] is Action.TRADE
    action, speech, _ = act(6, "attack")  # a betrayal: it fights back
    assert action is Action.ATTACK and speech == "You will regret that, ann."
    assert act(7, "trade")[:2] == (Action.SPEAK, "I do not deal with traitors. Go away, ann.")
