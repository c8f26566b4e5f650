"""A whole batch's memory in one Redis round trip, cached in the worker process.

One Lua call takes every NPC's hot and recall keys and the version this process
already holds; it returns only what changed (the version alone otherwise), so a Gold
NPC ticking every two seconds costs a few bytes a tick until something happens to it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from npcfarm.keys import Keys
from npcfarm.memory.records import HotMemory, Recall
from npcfarm.memory.store import NO_VERSION, parse_hot, parse_recall

CACHE_SIZE = 20_000  # NPCs whose memory one worker process keeps
NOT_HELD = "-"  # never a version token

# What a decision reads; the rest (closed sessions, idempotency marks, the mood
# trajectory) is for writers and `memory show`, and is left in Redis.
HOT_READ = ("turns", "rel", "quest", "session")
RECALL_READ = ("summaries", "facts")

# KEYS: memory(n1), recall(n1), memory(n2), recall(n2)...; ARGV: the versions held
# (store.new_version tokens; '' for an NPC without memory)
_PREFETCH = """
local out = {}
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[2 * i - 1], 'v') or ''
  if v == ARGV[i] then
    out[i] = {v}
  else
    out[i] = {v, redis.call('HMGET', KEYS[2 * i - 1], 'turns', 'rel', 'quest', 'session'),
              redis.call('HMGET', KEYS[2 * i], 'summaries', 'facts')}
  end
end
return out
"""


@dataclass(frozen=True, slots=True)
class MemoryView:
    """What one NPC remembers, as of `version`: the parts a decision reads (HOT_READ,
    RECALL_READ); `closed`, `seen` and `mood` are left empty."""

    npc_id: str
    version: str
    hot: HotMemory
    recall: Recall


def _fields(names: tuple[str, ...], values: list[str | None]) -> dict[str, str]:
    return {name: value for name, value in zip(names, values, strict=True) if value}


class MemoryCache:
    """Per-process LRU of memory views, refreshed by version (one round trip a batch)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._views: OrderedDict[str, MemoryView] = OrderedDict()
        self._size = size
        self._scripts: dict[int, object] = {}
        self.hits = self.misses = 0

    def fetch(
        self, client: redis.Redis, keys: Keys, npc_ids: Sequence[str]
    ) -> dict[str, MemoryView]:
        ids = list(dict.fromkeys(npc_ids))
        if not ids:
            return {}
        script = self._scripts.get(id(client))
        if script is None:
            script = self._scripts[id(client)] = client.register_script(_PREFETCH)
        held = [self._views[n].version if n in self._views else NOT_HELD for n in ids]
        flat_keys = [k for n in ids for k in (keys.memory(n), keys.recall(n))]
        reply = script(keys=flat_keys, args=held)  # type: ignore[operator]
        out: dict[str, MemoryView] = {}
        for npc_id, row in zip(ids, reply, strict=True):
            if len(row) == 1:
                view = self._views[npc_id]
                self.hits += 1
            else:
                view = MemoryView(
                    npc_id,
                    str(row[0] or NO_VERSION),
                    parse_hot(_fields(HOT_READ, row[1])),
                    parse_recall(_fields(RECALL_READ, row[2])),
                )
                self.misses += 1
            self._views[npc_id] = view
            self._views.move_to_end(npc_id)
            out[npc_id] = view
        while len(self._views) > self._size:
            self._views.popitem(last=False)
        return out

    def clear(self) -> None:
        self._views.clear()


CACHE = MemoryCache()  # one per worker process
