"""Counters an engine keeps, for the benchmark and `status`.

The counters are what the benchmark and `npcfarm status` report: how many tokens each
decode carried, how much prompt was evaluated against reused, how often the grammar had
to scan the whole vocabulary, and what each LoRA switch cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from models.llm.sampler import SamplerStats


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

    def count_decode(self, tokens: int, seconds: float) -> None:
        self.decode_calls += 1
        self.batch_tokens += tokens
        self.decode_seconds += seconds

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
