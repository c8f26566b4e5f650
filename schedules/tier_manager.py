"""Recomputes the activation tiers of every live world once a second (leader only).

Reads one world in one pipelined round trip (NPC positions, players, hysteresis
timestamps, quest and relationship floors, current Gold and Silver members), runs
`schedules.tiers`, and writes back only what changed: due-set moves (a promotion
ticks at once), hysteresis timestamps, the nearest player of each NPC above Bronze
(which the brains read), and counters. Tier membership itself is the due sets, so
nothing here can drift from what the scheduler does.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass

import numpy as np
import redis

from npcfarm.domain import TIER_ORDER, Tier
from npcfarm.keys import Keys
from schedules.config import TicksConfig
from schedules.tiers import BRONZE, GOLD, SILVER, TierPolicy, TierState, assign, nearest_players

PLAYER_TTL_S = 30.0  # a player not reported for this long has left
CODE = {Tier.GOLD: GOLD, Tier.SILVER: SILVER, Tier.BRONZE: BRONZE}


@dataclass(slots=True)
class WorldReport:
    world: str
    npcs: int = 0
    players: int = 0
    promoted: int = 0
    demoted: int = 0
    capped: int = 0
    counts: tuple[int, int, int] = (0, 0, 0)
    seconds: float = 0.0


def _xyz(values: list[str]) -> np.ndarray:
    return np.array(" ".join(values).split(), dtype=np.float64).reshape(-1, 3)


class TierManager:
    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._rng = random.Random()

    def recompute_all(self, config: TicksConfig, policy: TierPolicy) -> list[WorldReport]:
        worlds = sorted(str(w) for w in self._client.smembers(self._keys.live_worlds))
        return [self.recompute(w, config, policy) for w in worlds]

    def recompute(
        self, world: str, config: TicksConfig, policy: TierPolicy, *, now: float | None = None
    ) -> WorldReport:
        started = time.perf_counter()
        now = time.time() if now is None else now
        k = self._keys
        pipe = self._client.pipeline(transaction=False)
        pipe.hgetall(k.positions(world))
        pipe.hgetall(k.players(world))
        pipe.hgetall(k.tier_state(world))
        pipe.smembers(k.questing)
        pipe.smembers(k.bonded)
        pipe.zrange(k.due(Tier.GOLD), 0, -1)
        pipe.zrange(k.due(Tier.SILVER), 0, -1)
        positions, players, stamps, questing, bonded, gold, silver = pipe.execute()
        ids = list(positions)
        report = WorldReport(world=world, npcs=len(ids))
        index = {npc_id: i for i, npc_id in enumerate(ids)}
        xy = _xyz(list(positions.values()))[:, :2] if ids else np.zeros((0, 2))
        live = {
            p: v.split() for p, v in players.items() if now - float(v.split()[3]) < PLAYER_TTL_S
        }
        if stale := [p for p in players if p not in live]:
            self._client.hdel(k.players(world), *stale)
        report.players = len(live)
        pids = list(live)
        pxy = np.array([[float(v[0]), float(v[1])] for v in live.values()]).reshape(-1, 2)
        state = self._state(len(ids), index, stamps, gold, silver)
        floored = np.zeros(len(ids), dtype=bool)
        for npc_id in set(questing) | set(bonded):
            if (i := index.get(npc_id)) is not None:
                floored[i] = True
        distance, who = nearest_players(xy, pxy, radius=policy.silver_demote_m)
        new, capped = assign(distance, state, floored, now, policy)
        if not live and not (new.tier != BRONZE).any():
            self._client.srem(k.live_worlds, world)  # empty and settled: not live any more
        self._write(
            world,
            ids=ids,
            old=state,
            new=new,
            distance=distance,
            who=who,
            pids=pids,
            config=config,
            now=now,
            report=report,
        )
        report.capped = int(capped.sum())
        gold_n, silver_n, bronze_n = (int(c) for c in np.bincount(new.tier, minlength=3))
        report.counts = (gold_n, silver_n, bronze_n)
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _state(
        n: int, index: dict[str, int], stamps: dict[str, str], gold: list[str], silver: list[str]
    ) -> TierState:
        state = TierState(
            tier=np.full(n, BRONZE, dtype=np.int8),
            last_gold=np.full(n, -np.inf),
            last_silver=np.full(n, -np.inf),
        )
        for code, members in ((SILVER, silver), (GOLD, gold)):
            for npc_id in members:
                if (i := index.get(npc_id)) is not None:
                    state.tier[i] = code
        for npc_id, value in stamps.items():
            if (i := index.get(npc_id)) is not None:
                last_gold, last_silver = value.split()
                state.last_gold[i], state.last_silver[i] = float(last_gold), float(last_silver)
        return state

    def _write(
        self,
        world: str,
        *,
        ids: list[str],
        old: TierState,
        new: TierState,
        distance: np.ndarray,
        who: np.ndarray,
        pids: list[str],
        config: TicksConfig,
        now: float,
        report: WorldReport,
    ) -> None:
        k = self._keys
        pipe = self._client.pipeline(transaction=True)
        for i in np.nonzero(new.tier != old.tier)[0]:
            npc_id, tier = ids[i], TIER_ORDER[new.tier[i]]
            for other in TIER_ORDER:
                if other is not tier:
                    pipe.zrem(k.due(other), npc_id)
            promoted = new.tier[i] < old.tier[i]
            due = now if promoted else now + self._rng.uniform(0, config[tier].interval_s)
            pipe.zadd(k.due(tier), {npc_id: due})
            report.promoted += int(promoted)
            report.demoted += int(not promoted)
        above = np.nonzero(new.tier != BRONZE)[0]
        pipe.delete(k.tier_state(world), k.near(world))
        if len(above):
            pipe.hset(
                k.tier_state(world),
                mapping={ids[i]: f"{new.last_gold[i]:.3f} {new.last_silver[i]:.3f}" for i in above},
            )
            near = [
                part
                for i in above
                if who[i] >= 0
                for part in (
                    ids[i],
                    json.dumps([{"id": pids[who[i]], "distance": round(float(distance[i]), 2)}]),
                )
            ]
            if near:
                pipe.hset(k.near(world), items=near)
        for name, amount in (("promotions", report.promoted), ("demotions", report.demoted)):
            if amount:
                pipe.hincrby(k.tier_stats, name, amount)
        pipe.execute()
