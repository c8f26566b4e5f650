"""Every Redis key the farm reads or writes, each with a one-line comment.

Bridges depend on the `latest`, `results` and `npc` names (see docs/BRIDGE.md), so
they change only with a protocol version. Celery's own queues (`gold`, `silver`,
`bronze`) are named by the tiers and live in the same database.
"""

from __future__ import annotations

from dataclasses import dataclass

from npcfarm.domain import Tier

DEFAULT_PREFIX = "npcfarm"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix, so several farms can share a Redis database."""

    prefix: str = DEFAULT_PREFIX

    # -- registry -------------------------------------------------------------
    def npc(self, npc_id: str) -> str:
        """STRING: the NPC record as JSON (`NPC` model)."""
        return f"{self.prefix}:npc:{npc_id}"

    @property
    def npcs(self) -> str:
        """SET: every registered NPC id."""
        return f"{self.prefix}:npcs"

    def world_npcs(self, world: str) -> str:
        """SET: the NPC ids of one world."""
        return f"{self.prefix}:world:{world}:npcs"

    @property
    def worlds(self) -> str:
        """SET: every world an NPC was ever saved in (not pruned)."""
        return f"{self.prefix}:worlds"

    @property
    def world_of(self) -> str:
        """HASH: npc id -> world, so a move to another world cleans the old indexes."""
        return f"{self.prefix}:world"

    @property
    def archetype_of(self) -> str:
        """HASH: npc id -> archetype, read by the sweep to group batches."""
        return f"{self.prefix}:archetype"

    # -- scheduling -----------------------------------------------------------
    def due(self, tier: Tier) -> str:
        """ZSET: npc id -> epoch seconds of its next tick, one set per tier."""
        return f"{self.prefix}:due:{tier}"

    @property
    def pending(self) -> str:
        """HASH: npc id -> id of its outstanding tick, "<enqueue epoch ms>-..." (coalescing)."""
        return f"{self.prefix}:pending"

    @property
    def leader(self) -> str:
        """STRING with TTL: the scheduler leader's token (lease)."""
        return f"{self.prefix}:scheduler:leader"

    @property
    def ticks_config(self) -> str:
        """HASH: `toml` (the active ticks.toml text), `version` (its content hash), `source`."""
        return f"{self.prefix}:ticks:config"

    # -- results --------------------------------------------------------------
    @property
    def seq(self) -> str:
        """STRING counter: last decision sequence number handed out."""
        return f"{self.prefix}:seq"

    def latest(self, world: str) -> str:
        """HASH: npc id -> latest decision JSON of that NPC (with `seq`)."""
        return f"{self.prefix}:latest:{world}"

    def results(self, world: str) -> str:
        """STREAM: every decision of one world, fields `npc`, `seq`, `d` (JSON), capped."""
        return f"{self.prefix}:results:{world}"

    def published(self, npc_id: str, tick_id: str, *, speech: bool = False) -> str:
        """STRING with TTL: marks a late-acked job's tick (or its speech entry) as
        published (idempotency)."""
        tail = ":speech" if speech else ""
        return f"{self.prefix}:published:{npc_id}:{tick_id}{tail}"

    # -- statistics -----------------------------------------------------------
    def stats(self, tier: Tier) -> str:
        """HASH: counters of one tier (enqueued, decided, coalesced, missed, shed_expired, ...)."""
        return f"{self.prefix}:stats:{tier}"

    def rate(self, tier: Tier, second: int) -> str:
        """STRING counter with short TTL: decisions published in one epoch second."""
        return f"{self.prefix}:rate:{tier}:{second}"

    def latencies(self, tier: Tier) -> str:
        """LIST: the most recent enqueue-to-publish latencies in ms (capped)."""
        return f"{self.prefix}:lat:{tier}"

    # -- game profiles ---------------------------------------------------------
    @property
    def world_profiles(self) -> str:
        """HASH: world -> its game profile (`rpg` when absent)."""
        return f"{self.prefix}:worlds:profile"

    def plan(self, npc_id: str) -> str:
        """STRING with TTL: a strategy NPC's standing goal from its last strategic review."""
        return f"{self.prefix}:plan:{npc_id}"

    # -- model cost ------------------------------------------------------------
    def usage(self, day: str) -> str:
        """HASH with TTL: one UTC day's model use, field `world|tier|archetype|metric`
        (requests, prompt_tokens, generated_tokens, decode_s) -> count."""
        return f"{self.prefix}:usage:{day}"

    def spent(self, day: str) -> str:
        """HASH with TTL: one UTC day's model cost, field `world|tier` -> money (GPU-seconds
        times `gpu_cost_per_hour` / 3600)."""
        return f"{self.prefix}:spent:{day}"

    # -- bridge inbox and world state ---------------------------------------
    @property
    def inbox(self) -> str:
        """STREAM: bridge events, field `event` (JSON, schema npcfarm.event/1); group `ingest`."""
        return f"{self.prefix}:inbox"

    @property
    def dead_letters(self) -> str:
        """STREAM: inbox entries refused by ingest, fields `reason`, `raw`, `inbox_id` (capped)."""
        return f"{self.prefix}:inbox:dead"

    @property
    def ingest_stats(self) -> str:
        """HASH: ingest counters (applied, dead, per event type)."""
        return f"{self.prefix}:stats:ingest"

    @property
    def api_keys(self) -> str:
        """HASH: gateway API key id -> JSON record (SHA-256 digest of the secret, worlds,
        rate, burst, created, revoked)."""
        return f"{self.prefix}:gateway:keys"

    def bucket(self, key_id: str) -> str:
        """HASH with TTL: a gateway key's token bucket (`tokens`, `ts`)."""
        return f"{self.prefix}:gateway:bucket:{key_id}"

    def receipts(self, source: str) -> str:
        """STREAM: how each inbox entry naming `source` ended (applied or dead)."""
        return f"{self.prefix}:receipts:{source}"

    def applied(self, event_id: str) -> str:
        """STRING with TTL: an interaction event already applied (idempotent redelivery)."""
        return f"{self.prefix}:applied:{event_id}"

    def players(self, world: str) -> str:
        """HASH: player id -> "x y z epoch" of its last reported position."""
        return f"{self.prefix}:players:{world}"

    @property
    def live_worlds(self) -> str:
        """SET: worlds whose bridge reports players; their tiers follow the players."""
        return f"{self.prefix}:live_worlds"

    def positions(self, world: str) -> str:
        """HASH: npc id -> "x y z", the compact copy the tier manager reads every second."""
        return f"{self.prefix}:pos:{world}"

    def tier_state(self, world: str) -> str:
        """HASH: npc id -> "last_gold last_silver" (epoch s in range) for NPCs above Bronze."""
        return f"{self.prefix}:tierstate:{world}"

    def near(self, world: str) -> str:
        """HASH: npc id -> JSON list of the nearest players (written by the tier manager)."""
        return f"{self.prefix}:near:{world}"

    def quests(self, npc_id: str) -> str:
        """SET: the quest flags set on an NPC."""
        return f"{self.prefix}:quests:{npc_id}"

    @property
    def questing(self) -> str:
        """SET: NPC ids with at least one quest flag (kept at least Silver)."""
        return f"{self.prefix}:questing"

    def relationships(self, npc_id: str) -> str:
        """HASH: player id -> relationship score in [-1, 1] of an NPC."""
        return f"{self.prefix}:rel:{npc_id}"

    def relationships_touched(self, npc_id: str) -> str:
        """HASH: player id -> epoch s of the last change of that relationship score
        (scores fade from there, npcfarm/relations.py)."""
        return f"{self.prefix}:reltouched:{npc_id}"

    @property
    def bonded(self) -> str:
        """SET: NPC ids with a strong relationship (|score| >= threshold): at least Silver."""
        return f"{self.prefix}:bonded"

    def claim(self, world: str, kind: str, target: str) -> str:
        """STRING with TTL: "npc tier faction" holding an exclusive claim (attack, trade...)."""
        return f"{self.prefix}:claim:{world}:{kind}:{target}"

    def held_claim(self, world: str) -> str:
        """HASH: npc id -> the claim key it holds, released when its next decision differs."""
        return f"{self.prefix}:held:{world}"

    @property
    def tier_stats(self) -> str:
        """HASH: tier manager counters (promotions, demotions)."""
        return f"{self.prefix}:stats:tiers"

    # -- language-model engine --------------------------------------------------
    def response_cache(self, digest: str) -> str:
        """STRING with TTL: a model decision for one rendered prompt (repeatable barks)."""
        return f"{self.prefix}:cache:{digest}"

    @property
    def engines(self) -> str:
        """HASH: "host:pid" -> JSON of a loaded engine (base, GPU offload, load and seen time)."""
        return f"{self.prefix}:engines"

    # -- memory ---------------------------------------------------------------
    def memory(self, npc_id: str) -> str:
        """HASH: an NPC's hot memory: `v` (version), `turns`, `rel`, `quest`, `session`,
        `seen` (recent event ids, for idempotent updates); JSON values, each size-capped."""
        return f"{self.prefix}:mem:{npc_id}"

    def recall(self, npc_id: str) -> str:
        """HASH with TTL (the nearline window): `summaries`, `facts`, `mood` as JSON lists."""
        return f"{self.prefix}:recall:{npc_id}"

    @property
    def memories_recent(self) -> str:
        """LIST: the latest facts and summaries formed, as JSON (capped; `top` shows them)."""
        return f"{self.prefix}:memories:recent"

    @property
    def conversations(self) -> str:
        """ZSET: npc id -> epoch s its conversations are due for a summary (0: one ended,
        else the open one's last turn + the silence gap)."""
        return f"{self.prefix}:conversations"

    # -- archive --------------------------------------------------------------
    @property
    def archive(self) -> str:
        """STREAM: events for the archive (fields `id`, `kind`, `npc`, `ts`, `d`); group
        `archiver`; entries are trimmed once every archiver acknowledged them."""
        return f"{self.prefix}:archive"

    @property
    def archive_stats(self) -> str:
        """HASH: archiver counters (archived, duplicates, batches, failures, dead, lost)."""
        return f"{self.prefix}:stats:archive"

    # -- operations -----------------------------------------------------------
    @property
    def audit(self) -> str:
        """STREAM: admin actions (who, what, when, args), capped."""
        return f"{self.prefix}:audit"

    @property
    def rejected_jobs(self) -> str:
        """STREAM: jobs a worker refused as malformed, with the reason (capped)."""
        return f"{self.prefix}:rejected"


def queue_key(tier: Tier) -> str:
    """LIST: Celery's queue for a tier, as kombu names it in Redis (no prefix)."""
    return str(tier)


DRAMATIQ_NAMESPACE = "dramatiq"  # dramatiq's key prefix (its RedisBroker `namespace`)


def dramatiq_queue_key(tier: Tier) -> str:
    """LIST: dramatiq's queue of a tier's messages (`task_queue = "dramatiq"`)."""
    return f"{DRAMATIQ_NAMESPACE}:{tier}"


# LIST: Celery's queue of memory jobs (conversation summaries), consumed after Bronze, so
# a worker with a model writes summaries only when no decision is waiting.
MEMORY_QUEUE = "memory"
QUEUE_ORDER = (*(str(t) for t in Tier), MEMORY_QUEUE)  # strict priority, first to last
