"""From what the strategy game shows a player to the `strategy` profile's state.

The game's `state` answer (GET /api/players/{p}/state, or `Game.state_of`) is about
one player; the profile's state is what the AI player's brain reads. What the game
does not show (a neighbour's defence, who is at war with whom, an ally under attack)
the connector learns from reports and from the other AI players' states, and keeps
in `Knowledge`. Everything sent stays inside the profile's bounds, and the whole
event inside the inbox's 4 KB: the nearest 8 neighbours only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RESOURCES = ("wood", "clay", "iron", "crop")
NEIGHBOURS = 8  # rows sent: keeps an npc_state event well inside the inbox's 4 KB
WAR_S = 24 * 3600.0  # game seconds a player who attacked us stays an enemy
REPLY_GAP_S = 12 * 3600.0  # game seconds: one answer per correspondent in this window
BIG = 1e9


@dataclass(slots=True)
class Knowledge:
    """What one AI player has learned: known defences, enemies, its cursors."""

    defence: dict[int, float] = field(default_factory=dict)  # village -> last seen defence
    enemies: dict[int, float] = field(default_factory=dict)  # player -> game time of the act
    reports_after: int = 0
    messages_after: int = 0
    last_message: tuple[int, str] | None = None  # (from, text) of the newest unanswered
    talks_until: float = 0.0  # game time: a diplomatic exchange is open until then
    replied: dict[int, float] = field(default_factory=dict)  # player -> when we last wrote

    def answered(self, player: int, now: float) -> None:
        """We wrote to `player`: its next letters within REPLY_GAP_S need no answer (two
        AI players would otherwise answer each other's answers for ever)."""
        self.replied[player] = now
        if self.last_message and self.last_message[0] == player:
            self.last_message = None


def learn(
    k: Knowledge, state: Mapping[str, Any], rules: Mapping[str, Any], me: int
) -> list[dict[str, Any]]:
    """Take in the new reports and messages of a state; returns the new reports."""
    now = float(state["game_time"])
    reports = list(state.get("reports") or [])
    for r in reports:
        defender = r.get("defender") or {}
        attacker = r.get("attacker") or {}
        if r.get("role") == "attacker" and r.get("defence") is not None:
            k.defence[int(defender["village"])] = float(r["defence"])
        scouted = r.get("scouted")
        if scouted:
            k.defence[int(defender["village"])] = defence_of(
                scouted.get("troops") or {},
                int((scouted.get("buildings") or {}).get("wall", 0)),
                rules,
            )
        if r.get("role") in ("defender", "reinforcement") and int(attacker.get("player", me)) != me:
            k.enemies[int(attacker["player"])] = now
    k.reports_after = int(state.get("reports_cursor") or k.reports_after)
    for m in state.get("messages") or []:
        sender = int(m["from"])
        k.talks_until = now + 6 * 3600
        if now - k.replied.get(sender, -REPLY_GAP_S) >= REPLY_GAP_S:
            k.last_message = (sender, str(m["text"])[:300])
    k.messages_after = int(state.get("messages_cursor") or k.messages_after)
    for player, at in list(k.enemies.items()):
        if now - at > WAR_S:
            del k.enemies[player]
    return reports


def defence_of(troops: Mapping[str, int], wall: int, rules: Mapping[str, Any]) -> float:
    """The game's defence formula against infantry (rules.units, the wall's bonus)."""
    units = rules["units"]
    base = 10 + 10 * wall + sum(n * units[u]["def_inf"] for u, n in troops.items() if u in units)
    return float(base * 1.05**wall)


def profile_state(
    state: Mapping[str, Any],
    rules: Mapping[str, Any],
    k: Knowledge,
    *,
    under_attack: Mapping[int, bool],
) -> dict[str, Any]:
    """The `strategy` profile's fields for one player (its capital village)."""
    v = state["villages"][0]
    now = float(state["game_time"])
    res, cap, prod = v["resources"], v["capacity"], v["production"]
    fills = [res[r] / max(cap[r], 1.0) for r in RESOURCES]
    units = rules["units"]
    home = {u: int(n) for u, n in v["troops_home"].items()}
    fighters = sum(n for u, n in home.items() if units[u]["attack"] > 0)
    attack = sum(n * units[u]["attack"] for u, n in home.items())
    hostile = [m for m in state["movements"]["incoming"] if m["kind"] == "hostile"]
    alliance = (state.get("alliance") or {}).get("id")
    rows = _neighbours(state, k, alliance, under_attack)
    best = next((r for r in rows if r["relation"] != "ally" and r["defense"] >= 0), None)
    raid_ratio = min(1000.0, attack / max(best["defense"], 1.0)) if best else 0.0
    invites = state["player"].get("invites") or []
    return {
        "village": str(v["id"]),
        **{r: min(BIG, max(0.0, float(res[r]))) for r in RESOURCES},
        "storage": float(cap["wood"]),
        "granary": float(cap["crop"]),
        "storage_fill": min(1.0, max(fills)),
        "production": min(1e8, sum(max(0.0, float(prod[r])) for r in RESOURCES)),
        "crop_net": max(-1e7, min(1e7, float(prod["crop"]))),
        "population": int(v["population"]),
        "attack_power": float(attack),
        "defense_power": defence_of(home, int(v["buildings"]["wall"]), rules),
        "troops_home": int(fighters),
        "scouts_home": int(home.get("scout", 0)),
        "merchants_free": int((v.get("merchants") or {}).get("free", 0)),
        "threat": min(100.0, _threat(hostile, state, v)),
        "raid_ratio": raid_ratio,
        "raid_distance": float(best["distance"]) if best else 0.0,
        "build_queue_busy": v["construction"] is not None,
        "train_queue_busy": len(v["training"]) >= 2,
        "under_attack": bool(hostile),
        "at_war": any(r["relation"] == "enemy" for r in rows) or bool(k.enemies),
        "in_talks": now < k.talks_until,
        "message_received": k.last_message is not None,
        "last_message_from": str(k.last_message[0]) if k.last_message else "",
        "last_message": k.last_message[1] if k.last_message else "",
        "has_alliance": alliance is not None,
        "ally_needs_help": any(r["relation"] == "ally" and r["under_attack"] for r in rows),
        "imbalance": min(1.0, max(fills) - min(fills)),
        "neighbours": rows,
        "buildings": _buildings(v),
        "trainable": _trainable(v, units),
        "invited": bool(invites),
        "invite_alliance": str(invites[0]["alliance"]) if invites else "",
    }


def _threat(hostile: list[dict[str, Any]], state: Mapping[str, Any], v: Mapping[str, Any]) -> float:
    """Hostile arrivals weighed by their senders' size against ours (strength is hidden)."""
    sizes = {int(n["player"]): int(n["population"]) for n in state.get("nearby") or []}
    mine = max(int(v["population"]), 1)
    return sum(sizes.get(int(m["from_player"]), mine) / mine for m in hostile)


def _neighbours(
    state: Mapping[str, Any],
    k: Knowledge,
    alliance: int | None,
    under_attack: Mapping[int, bool],
) -> list[dict[str, Any]]:
    rows = []
    for n in (state.get("nearby") or [])[:NEIGHBOURS]:
        player = int(n["player"])
        relation = "neutral"
        if alliance is not None and n.get("alliance") == alliance:
            relation = "ally"
        elif player in k.enemies:
            relation = "enemy"
        rows.append(
            {
                "village": str(n["village"]),
                "player": str(player),
                "distance": min(10_000.0, float(n["distance"])),
                "population": int(n["population"]),
                "defense": min(1e10, k.defence.get(int(n["village"]), -1.0)),
                "relation": relation,
                "under_attack": bool(under_attack.get(player, False)),
            }
        )
    return rows


def _buildings(v: Mapping[str, Any]) -> list[dict[str, Any]]:
    res, cap = v["resources"], v["capacity"]
    rows = []
    for name, level in v["buildings"].items():
        up = v["upgrades"].get(name)
        affordable = up is not None and all(
            res[r] >= up["cost"][r] and cap[r] >= up["cost"][r] for r in RESOURCES
        )
        rows.append(
            {"building": name, "level": int(level), "affordable": affordable, "maxed": up is None}
        )
    return rows


def _trainable(v: Mapping[str, Any], units: Mapping[str, Any]) -> list[dict[str, Any]]:
    res = v["resources"]
    rows = []
    for name, time_s in v["train_time_s"].items():
        if time_s is None:
            continue
        cost = units[name]["cost"]
        affordable = int(min(res[r] // cost[r] if cost[r] else BIG for r in RESOURCES))
        rows.append(
            {
                "unit": name,
                "affordable": max(0, min(100_000_000, affordable)),
                "attack": float(units[name]["attack"]),
                "defense": float(units[name]["def_inf"]),
            }
        )
    return rows
