"""A varied demo world: archetypes, personalities, tiers and situations drawn at random.

Deterministic for a seed, so a demo or a benchmark can be reproduced exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from models.archetypes import archetype_names
from npcfarm.domain import NPC, Nearby, NPCState, Personality, Tier, Vec3

TIER_SHARES = ((Tier.GOLD, 0.05), (Tier.SILVER, 0.20), (Tier.BRONZE, 0.75))
_SYLLABLES = ("ka", "mo", "ri", "sel", "dra", "vin", "to", "ul", "mir", "gan", "es", "bro")
DEMO_WORLD_M = 600.0  # side of the square demo world: dense enough that players meet NPCs


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _tier(rng: random.Random) -> Tier:
    roll = rng.random()
    for tier, share in TIER_SHARES:
        if roll < share:
            return tier
        roll -= share
    return Tier.BRONZE


def _nearby(
    rng: random.Random, tier: Tier, players: int, npcs: int
) -> tuple[list[Nearby], list[Nearby]]:
    close = {Tier.GOLD: (5.0, 25.0), Tier.SILVER: (20.0, 60.0), Tier.BRONZE: (60.0, 300.0)}[tier]
    seen_players = []
    if tier is not Tier.BRONZE or rng.random() < 0.1:
        for p in rng.sample(range(players), k=min(players, rng.randint(1, 3))):
            seen_players.append(
                Nearby(
                    id=f"player-{p}",
                    distance=round(rng.uniform(*close), 1),
                    hostile=rng.random() < 0.15,
                )
            )
    seen_npcs = [
        Nearby(
            id=f"npc-{rng.randrange(npcs):05d}",
            distance=round(rng.uniform(2, 40), 1),
            hostile=rng.random() < 0.2,
        )
        for _ in range(rng.randint(0, 4))
    ]
    return seen_players, seen_npcs


def demo_npcs(count: int, *, seed: int = 7, worlds: int = 1, players: int = 20) -> Iterator[NPC]:
    """Yield `count` NPCs spread over `worlds` worlds named demo-0, demo-1, ..."""
    rng = random.Random(seed)
    names = archetype_names()
    for i in range(count):
        tier = _tier(rng)
        near_players, near_npcs = _nearby(rng, tier, players, count)
        yield NPC(
            id=f"npc-{i:05d}",
            name=_name(rng),
            archetype=rng.choice(names),
            world=f"demo-{i % worlds}",
            region=rng.choice(("crypt", "village", "forest", "marsh", "keep")),
            personality=Personality(
                openness=rng.random(),
                conscientiousness=rng.random(),
                extraversion=rng.random(),
                agreeableness=rng.random(),
                neuroticism=rng.random(),
            ),
            tier=tier,
            position=Vec3(x=rng.uniform(0, DEMO_WORLD_M), y=rng.uniform(0, DEMO_WORLD_M)),
            state=NPCState(
                health=round(rng.uniform(0.1, 1.0), 2),
                hunger=round(rng.random(), 2),
                time_of_day=round(rng.uniform(0, 23.9), 1),
                nearby_players=near_players,
                nearby_npcs=near_npcs,
            ),
        )
