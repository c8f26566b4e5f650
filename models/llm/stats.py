"""Counters an engine keeps, for the benchmark and `status`.

The counters are what the benchmark and `npcfarm status` report: how many tokens each
decode carried, how much prompt was evaluated against reused, how often the grammar had
to scan the whole vocabulary, and what each LoRA switch cost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from models.llm.sampler import SamplerStats

RECENT = 512  # latencies kept for the p50/p95 of a snapshot


@dataclass(slots=True)
class EngineStats:
    decode_calls: int = 0
    decode_seconds: float = 0.0
    batch_tokens: int = 0  # tokens fed to llama_decode, prompt and generated
    prompt_tokens_evaluated: int = 0  # prompt tokens decoded, shared prefixes included once
    prefix_hits: int = 0
    prefix_misses: int = 0
    adapter_switch_seconds: list[float] = field(default_factory=list)
    sampler: SamplerStats = field(default_factory=SamplerStats)
    generated_tokens: int = 0  # sampled tokens, all requests
    forced_tokens: int = 0  # output tokens the grammar forced, decoded in chunks
    steps: int = 0  # loop turns that decoded
    step_seconds: float = 0.0  # wall time of those turns (decode plus host work)
    live_sum: int = 0  # live sequences summed over steps: occupancy = live_sum / steps
    result_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    action_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    tier_seconds: dict[str, tuple[deque[float], deque[float]]] = field(default_factory=dict)

    def count_action(self, tier: str, seconds: float) -> None:
        self.action_seconds.append(seconds)
        self._tier(tier)[0].append(seconds)

    def count_result(self, tier: str, seconds: float) -> None:
        self.result_seconds.append(seconds)
        self._tier(tier)[1].append(seconds)

    def _tier(self, tier: str) -> tuple[deque[float], deque[float]]:
        kept = self.tier_seconds.get(tier or "untiered")
        if kept is None:
            kept = (deque(maxlen=RECENT), deque(maxlen=RECENT))
            self.tier_seconds[tier or "untiered"] = kept
        return kept

    def count_decode(self, tokens: int, seconds: float) -> None:
        self.decode_calls += 1
        self.batch_tokens += tokens
        self.decode_seconds += seconds

    def count_step(self, live: int) -> None:
        self.steps += 1
        self.live_sum += live

    def snapshot(self, *, n_seq_max: int, queued: int, live: int) -> dict[str, Any]:
        """What status, top and Prometheus show of an engine (npcfarm_engine_*); `tiers`
        holds the same four latencies for each tier's requests."""
        host = max(self.step_seconds - self.decode_seconds, 0.0)
        return {
            "queued": queued,
            "live": live,
            "n_seq_max": n_seq_max,
            "occupancy": self.live_sum / self.steps / n_seq_max if self.steps else 0.0,
            "tokens_per_s": self.generated_tokens / self.step_seconds if self.step_seconds else 0.0,
            "host_ms_per_step": 1000 * host / self.steps if self.steps else 0.0,
            "generated_tokens": self.generated_tokens,
            "steps": self.steps,
            "action_p50_ms": 1000 * _quantile(self.action_seconds, 0.5),
            "action_p95_ms": 1000 * _quantile(self.action_seconds, 0.95),
            "decision_p50_ms": 1000 * _quantile(self.result_seconds, 0.5),
            "decision_p95_ms": 1000 * _quantile(self.result_seconds, 0.95),
            "tiers": {
                tier: _latencies(acted, whole) for tier, (acted, whole) in self.tier_seconds.items()
            },
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["result_seconds"], out["action_seconds"] = (
            list(out["result_seconds"]),
            list(out["action_seconds"]),
        )
        out["tier_seconds"] = {
            tier: {"action": list(acted), "decision": list(whole)}
            for tier, (acted, whole) in self.tier_seconds.items()
        }
        return out


def _latencies(acted: Iterable[float], whole: Iterable[float]) -> dict[str, float]:
    acted, whole = list(acted), list(whole)
    return {
        "action_p50_ms": 1000 * _quantile(acted, 0.5),
        "action_p95_ms": 1000 * _quantile(acted, 0.95),
        "decision_p50_ms": 1000 * _quantile(whole, 0.5),
        "decision_p95_ms": 1000 * _quantile(whole, 0.95),
    }


def _quantile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0
