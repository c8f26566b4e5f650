"""The live view (`npcfarm top`, `npcfarm up`) shows answers with what the NPC remembers."""

from __future__ import annotations

import time

import redis
from rich.console import Console

from npcfarm.domain import Job
from npcfarm.keys import Keys
from npcfarm.memory.remember import remember_interaction
from npcfarm.memory.store import MemoryStore
from npcfarm.registry import save_npcs
from npcfarm.settings import Settings
from ops.cli.top import conversations
from tasks.context import WorkerContext
from tasks.decide import run_job
from tests.helpers import make_npc

DAY = 86_400.0


def _text(client: redis.Redis, keys: Keys, world: str) -> list[str]:
    console = Console(record=True, width=300)
    console.print(conversations(client, keys, world))
    return console.export_text().splitlines()


def _answer(ctx: WorkerContext, npc_id: str, event_id: str, player: str, text: str) -> None:
    job = Job(
        npc_id=npc_id,
        tick_id=f"ix-{event_id}",
        enqueued_at=time.time(),
        origin="interaction",
        player_id=player,
        kind="talk",
        text=text,
        brain="rules",
    )
    assert run_job(ctx, job.model_dump(mode="json")) == 1


def test_an_answer_to_a_returning_player_shows_what_the_npc_knows_of_them(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    save_npcs(client, keys, [make_npc("smith"), make_npc("baker")])
    store = MemoryStore.from_settings(client, keys, settings)
    now = time.time()
    remember_interaction(
        store, "smith", event_id="old", player_id="ann", kind="help", text=None, now=now - 3 * DAY
    )
    remember_interaction(
        store,
        "smith",
        event_id="vow",
        player_id="ann",
        kind="talk",
        text="I promise to bring the herbs",
        now=now - 2 * DAY,
    )
    remember_interaction(store, "smith", event_id="now", player_id="ann", kind="talk", text="Hi!")
    remember_interaction(store, "baker", event_id="new", player_id="bob", kind="talk", text="Hey")
    ctx = WorkerContext.build(settings)
    _answer(ctx, "smith", "now", "ann", "Hi!")
    _answer(ctx, "baker", "new", "bob", "Hey")

    lines = _text(client, keys, "w1")
    smith = next(line for line in lines if "smith" in line and "answers" in line)
    assert "answers ann (rules)" in smith and "I remember you, ann." in smith
    known = smith.split("│")[-2]  # the "knows of them" column
    assert "met 3 times" in known and "ann saved my life" in known and "promised" in known
    baker = next(line for line in lines if "baker" in line and "answers" in line)
    assert "answers bob" in baker and "met once" in baker  # a first meeting: no facts yet
    formed = [line for line in lines if "remembers (fact)" in line]
    assert formed and all("ann" in line for line in formed)  # whom each memory is about


def test_an_npc_that_never_met_the_player_is_shown_as_a_stranger(
    client: redis.Redis, keys: Keys, settings: Settings
) -> None:
    save_npcs(client, keys, [make_npc("smith")])
    _answer(WorkerContext.build(settings), "smith", "first", "cat", "Hello?")
    smith = next(line for line in _text(client, keys, "w1") if "answers" in line)
    assert "answers cat" in smith and "(a stranger)" in smith
