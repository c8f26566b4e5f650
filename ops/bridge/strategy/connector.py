"""The bridge of a strategy game reached over HTTP: it plays the bridge role for every
AI player of one world.

Each round: one batched read of every AI player's state (`POST /api/batch/states`),
translated into the `strategy` profile and pushed to the farm's inbox as `npc_state`
events (only the fields that changed); the farm's decisions read from the world's
results stream; their orders sent in one batched call (`POST /api/batch/orders`);
and each decision's outcome (accepted, refused with the game's code, a raid's
report) pushed back as an `outcome` event, which the farm keeps as experience. The
game's rate limit is honoured (a 429's Retry-After), and a state is read again only
every `poll_s`, so the game sees far fewer calls than the farm makes decisions.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import redis

from models.profiles import get_profile
from models.profiles.values import check_state
from npcfarm.domain import NPC, GameDecision, Personality, Tier, parse_decision
from npcfarm.errors import InvalidInput
from npcfarm.keys import Keys
from npcfarm.redisconn import StreamEntries
from ops.bridge.strategy.orders import orders_for
from ops.bridge.strategy.play import Missions, Outcome
from ops.bridge.strategy.translate import Knowledge, learn, profile_state

log = logging.getLogger(__name__)

ARCHETYPES = ("builder", "raider", "turtle", "diplomat")
ACT_EVERY_S = 1.0  # orders are sent at most this often, batched
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def npc_id(player: int) -> str:
    return f"ai-{player:03d}"


@dataclass(slots=True)
class Calls:
    """The game API calls made, and the decisions carried out, for the bench."""

    made: Counter[str] = field(default_factory=Counter)
    decisions: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def per_decision(self) -> float:
        return sum(self.made.values()) / max(self.decisions, 1)


class Connector:
    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        client: redis.Redis,
        keys: Keys,
        world: str,
        poll_s: float = 5.0,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self._redis, self._keys, self.world = client, keys, world
        self._poll_s = poll_s
        self._profile = get_profile("strategy")
        self.rules: dict[str, Any] = {}
        self.players: list[int] = []
        self.know: dict[int, Knowledge] = {}
        self.missions: dict[int, Missions] = {}
        self.states: dict[int, dict[str, Any]] = {}  # the game's view, last read
        self._sent: dict[int, dict[str, Any]] = {}  # profile fields last pushed
        self._cursor = "0-0"
        self._polled = 0.0
        self.calls = Calls()

    # -- HTTP ----------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None) -> Any:
        for _ in range(5):
            self.calls.made[path] += 1
            answer = self._http.request(method, "/api" + path, json=body)
            if answer.status_code == 429:  # the game's rate limit: wait as told
                time.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            answer.raise_for_status()
            return answer.json()
        raise RuntimeError(f"{path}: still rate limited")

    # -- setting up the world --------------------------------------------------------
    def register(self, *, seed: int = 7) -> list[NPC]:
        """Tell the farm the world plays `strategy` and register one NPC per AI player."""
        self.rules = self._request("GET", "/rules")
        listed = self._request("GET", "/players?limit=1000")
        self.players = [int(p["id"]) for p in listed]
        rng = random.Random(seed)
        npcs = [
            NPC(
                id=npc_id(p),
                name=str(row["name"])[:64],
                archetype=ARCHETYPES[p % len(ARCHETYPES)],
                world=self.world,
                tier=Tier.BRONZE,
                personality=Personality(**{t: round(rng.random(), 2) for t in TRAITS}),
            )
            for p, row in zip(self.players, listed, strict=True)
        ]
        events: list[dict[str, Any]] = [
            {"type": "world_profile", "profile": "strategy", "world": self.world}
        ]
        events += [{"type": "npc_register", "npc": n.model_dump(mode="json")} for n in npcs]
        self._push(events)
        self.know = {p: Knowledge() for p in self.players}
        self.missions = {p: Missions() for p in self.players}
        return npcs

    def _push(self, events: list[dict[str, Any]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for event in events:
            event.setdefault("event_id", f"{self.world}-{time.time_ns()}-{random.getrandbits(24)}")
            pipe.xadd(self._keys.inbox, {"event": json.dumps(event, separators=(",", ":"))})
        pipe.execute()

    # -- one round -------------------------------------------------------------------
    def poll(self, *, force: bool = False) -> int:
        """Read every AI player's state (one call) and push what changed; returns how
        many state events were pushed."""
        now = time.monotonic()
        if not force and now - self._polled < self._poll_s:
            return 0
        self._polled = now
        asks = [
            {"id": p, "reports_after": k.reports_after, "messages_after": k.messages_after}
            for p, k in self.know.items()
        ]
        answer = self._request("POST", "/batch/states", {"players": asks, "radius": 10})
        states = {int(s["player"]["id"]): s for s in answer["states"] if "villages" in s}
        attacked = {
            p: any(m["kind"] == "hostile" for m in s["movements"]["incoming"])
            for p, s in states.items()
        }
        events: list[dict[str, Any]] = []
        for player, state in states.items():
            self.states[player] = state
            for report in learn(self.know[player], state, self.rules, player):
                done = self.missions[player].reported(report)
                if done is not None:
                    events.append(_outcome_event(player, done))
            try:
                fields = check_state(
                    self._profile,
                    profile_state(state, self.rules, self.know[player], under_attack=attacked),
                )
            except InvalidInput as exc:  # a translation bug: say so, keep the others
                log.error("state of player %d does not fit the profile: %s", player, exc)
                continue
            changed = _changed(self._sent.get(player, {}), fields)
            if changed:
                self._sent[player] = fields
                events.append({"type": "npc_state", "npc_id": npc_id(player), "game": changed})
        self._push(events)
        return sum(e["type"] == "npc_state" for e in events)

    def act(self, *, block_ms: int = 200) -> int:
        """Carry out the farm's new decisions for this world (one batched call)."""
        reply = self._redis.xread(
            {self._keys.results(self.world): self._cursor}, count=1000, block=block_ms
        )
        rows = [
            r for _s, found in cast(list[tuple[str, StreamEntries]], reply or []) for r in found
        ]
        if not rows:
            return 0
        self._cursor = rows[-1][0]
        decisions = [d for _, f in rows if isinstance(d := parse_decision(f["d"]), GameDecision)]
        plans, outcomes = [], []
        by_player = {npc_id(p): p for p in self.players}
        for d in decisions:
            player = by_player.get(d.npc_id)
            state = self.states.get(player) if player is not None else None
            if player is None or state is None or d.action == "idle":
                continue
            alliance = (state.get("alliance") or {}).get("id")
            orders = orders_for(
                d, player, state["villages"][0], self.rules, has_alliance=alliance is not None
            )
            if orders is None:
                outcomes.append(
                    _outcome_event(player, Outcome(d.tick_id, "refused", "not_possible"))
                )
                continue
            orders = [o for o in orders if "{alliance}" not in o.path or alliance is not None]
            for o in orders:
                path = o.path.replace("{alliance}", str(alliance))
                plans.append((player, d, {"player": player, "path": path, "body": o.body}))
            if not orders:
                outcomes.append(_outcome_event(player, Outcome(d.tick_id, "accepted")))
        self.calls.decisions += len(decisions)
        self.calls.actions.update(d.action for d in decisions)
        if plans:
            answer = self._request("POST", "/batch/orders", {"orders": [p[2] for p in plans]})
            seen: set[str] = set()
            for (player, d, _order), result in zip(plans, answer["results"], strict=True):
                if d.tick_id in seen:
                    continue  # a decision of two orders reports once, by its first
                seen.add(d.tick_id)
                outcomes.append(_outcome_event(player, _result(d, result, self.missions[player])))
        for event in outcomes:
            self.calls.outcomes[str(event["status"])] += 1
        self._push(outcomes)
        return len(decisions)

    def serve(self, stop: threading.Event) -> None:
        """Poll and act until `stop`; an unreachable game or Redis is waited out."""
        while not stop.is_set():
            try:
                self.poll()
                if self.act(block_ms=500):
                    stop.wait(ACT_EVERY_S)  # let decisions gather: one batch of orders
            except (httpx.HTTPError, redis.ConnectionError, RuntimeError) as exc:
                log.warning("strategy connector: %s; retrying in 2 s", exc)
                stop.wait(2.0)

    def close(self) -> None:
        self._http.close()


def _result(d: GameDecision, result: Mapping[str, Any], missions: Missions) -> Outcome:
    if not result.get("accepted"):
        return Outcome(
            d.tick_id, "refused", str(result.get("code")), str(result.get("reason"))[:400]
        )
    if d.action in ("raid", "attack", "scout") and d.target is not None:
        missions.sent(int(d.target), d.action, d.tick_id)
    values = {
        k: float(v)
        for k, v in result.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return Outcome(d.tick_id, "accepted", None, None, dict(list(values.items())[:16]))


def _outcome_event(player: int, o: Outcome) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "outcome",
        "npc_id": npc_id(player),
        "tick_id": o.tick_id,
        "status": o.status,
        "values": o.values,
    }
    if o.code:
        event["code"] = o.code
    if o.detail:
        event["detail"] = o.detail
    return event


def _changed(before: Mapping[str, Any], now: Mapping[str, Any]) -> dict[str, Any]:
    """The fields worth sending: new, or changed (amounts by at least 1, shares by 1 %)."""
    out = {}
    for name, value in now.items():
        old = before.get(name)
        tolerance = 1.0 if isinstance(old, float) and abs(old) >= 100 else 0.01
        if isinstance(value, float) and isinstance(old, float) and abs(value - old) < tolerance:
            continue
        if value != old:
            out[name] = value
    return out
