"""Shared system-prompt prefixes held in the KV cache under sequence ids of their own.

An archetype's system prompt is decoded once into a reserved sequence id; each request
of that archetype then starts with `llama_memory_seq_cp`, which in a unified KV cache
only tags the prefix's cells with one more sequence id (no copy, no recompute). The key
includes the adapter set, because a LoRA changes the keys and values the prefix holds.

Prefixes nobody is using stay cached (the next tick of that archetype is likely soon)
and are evicted least recently used first, when a prefix slot or KV cells are needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

AdapterKey = tuple[tuple[str, float], ...]  # (adapter path, scale) in application order
PrefixKey = tuple[str, AdapterKey, str]  # (archetype, adapters, system prompt)


@dataclass(slots=True)
class Prefix:
    key: PrefixKey
    seq_id: int
    tokens: tuple[int, ...]
    users: int = 0  # live sequences that attend to it
    last_used: int = 0  # logical clock, for LRU eviction
    ready: bool = False  # decoded into the KV cache
    hits: int = field(default=0)

    @property
    def cells(self) -> int:
        return len(self.tokens)


class PrefixCache:
    """Prefix slots over a fixed range of sequence ids; `drop` frees a slot's KV cells."""

    def __init__(self, seq_ids: Iterable[int], drop: Callable[[int], None]) -> None:
        self._free = list(seq_ids)[::-1]
        self._drop = drop
        self._by_key: dict[PrefixKey, Prefix] = {}
        self._clock = 0

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def cells(self) -> int:
        """KV cells held by cached prefixes."""
        return sum(p.cells for p in self._by_key.values())

    def get(self, key: PrefixKey) -> Prefix | None:
        return self._by_key.get(key)

    def touch(self, prefix: Prefix) -> None:
        self._clock += 1
        prefix.last_used = self._clock

    def add(self, key: PrefixKey, tokens: tuple[int, ...]) -> Prefix | None:
        """A new, not yet decoded prefix; None when every slot is held by a live one."""
        if not self._free and not self.evict_idle(slots=1):
            return None
        prefix = Prefix(key=key, seq_id=self._free.pop(), tokens=tokens)
        self._by_key[key] = prefix
        self.touch(prefix)
        return prefix

    def remove(self, prefix: Prefix) -> None:
        if self._by_key.pop(prefix.key, None) is not None:
            self._drop(prefix.seq_id)
            self._free.append(prefix.seq_id)

    def evict_idle(self, *, slots: int = 0, cells: int = 0, keep: PrefixKey | None = None) -> bool:
        """Drop idle prefixes, oldest first, until `slots` slots and `cells` are freed."""
        idle = sorted(
            (p for p in self._by_key.values() if p.users == 0 and p.key != keep),
            key=lambda p: p.last_used,
        )
        freed_slots = freed_cells = 0
        for prefix in idle:
            if freed_slots >= slots and freed_cells >= cells:
                break
            self.remove(prefix)
            freed_slots += 1
            freed_cells += prefix.cells
        return freed_slots >= slots and freed_cells >= cells

    def clear(self) -> None:
        for prefix in list(self._by_key.values()):
            self.remove(prefix)
