"""Relationship scores fade toward neutral, and with them the bond floor."""

from __future__ import annotations

import json
import time
from typing import cast

import pytest
import redis

from npcfarm.keys import Keys
from npcfarm.registry import save_npcs
from npcfarm.relations import current, fade_bonded, faded
from ops.bridge.ingest import Ingest
from tests.helpers import make_npc

WEEK = 7 * 24 * 3600.0


def test_a_score_halves_every_half_life() -> None:
    assert faded(0.8, 0.0, WEEK, WEEK) == pytest.approx(0.4)
    assert faded(-0.6, 0.0, 2 * WEEK, WEEK) == pytest.approx(-0.15)
    assert faded(0.8, 0.0, 10 * WEEK, 0.0) == 0.8  # 0: never fades


def _attack(client: redis.Redis, keys: Keys, service: Ingest, event_id: str) -> None:
    event = {
        "type": "interaction",
        "event_id": event_id,
        "npc_id": "grim",
        "player_id": "ann",
        "kind": "attack",
    }
    client.xadd(keys.inbox, {"event": json.dumps(event)})
    service.run_once(block_ms=10)


def test_a_grudge_fades_off_the_bond_floor(
    client: redis.Redis, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NPCFARM_RELATIONSHIP_HALF_LIFE_H", "168")
    save_npcs(client, keys, [make_npc("grim")])
    service = Ingest(client, keys, publish_job=lambda job: None, consumer="t")
    service.ensure_group()
    _attack(client, keys, service, "a1")
    _attack(client, keys, service, "a2")  # -0.6: bonded (a grudge keeps it Silver)
    assert client.sismember(keys.bonded, "grim")
    touched = float(client.hget(keys.relationships_touched("grim"), "ann") or 0)
    assert time.time() - touched < 60
    assert fade_bonded(client, keys, half_life_s=WEEK) == []  # still strong today
    later = time.time() + WEEK / 2  # 0.6 * 0.5 ** 0.5 = 0.42 < 0.5
    assert fade_bonded(client, keys, half_life_s=WEEK, now=later) == ["grim"]
    assert not client.sismember(keys.bonded, "grim")
    held = cast(dict[str, str], client.hgetall(keys.relationships("grim")))
    touched_at = cast(dict[str, str], client.hgetall(keys.relationships_touched("grim")))
    scores = current(held, touched_at, later, WEEK)
    assert scores["ann"] == pytest.approx(-0.6 * 0.5**0.5, rel=1e-3)
