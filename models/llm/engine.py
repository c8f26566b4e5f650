"""The Engine: one model, one context and one scheduler per worker process.

This module is lifecycle only: load the model and every LoRA adapter once (errors
become ModelMissing / ModelLoadFailed before a worker takes work), warm up, report
offload, close. The batching loop is in models/llm/scheduler.py. See
models/llm/__init__.py for the public API.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from models.llm.framing import Framer
from models.llm.native import Context, Model, max_sequences
from models.llm.native import supports_gpu_offload as _gpu
from models.llm.prefix import AdapterKey
from models.llm.sampler import SamplingParams
from models.llm.scheduler import Scheduler
from models.llm.stats import EngineStats
from models.llm.types import DecisionRequest, DecisionResult
from npcfarm.domain import Action
from npcfarm.errors import ConfigError, EngineError

DEFAULT_MAX_PREFIXES = 8  # sequence ids reserved for cached shared prefixes
DEFAULT_SAMPLING = SamplingParams()  # temperature 0.7, top-k 40, min-p 0.05
WARM_UP_ID = "__warm_up__"  # request id (and archetype) of warm-up requests


class Engine:
    """Batched, grammar-constrained NPC decisions from one GGUF model (not thread-safe
    for concurrent `decide` calls: they are serialised by a lock; `cancel` is safe)."""

    def __init__(
        self,
        *,
        model_path: Path,
        n_ctx: int,
        n_seq_max: int,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        adapters: Mapping[str, Sequence[tuple[Path, float]]] = {},
        seed: int = 0,
        chat_template: str | None = None,
        sampling: SamplingParams = DEFAULT_SAMPLING,
        constrained: bool = True,
        max_prefixes: int = DEFAULT_MAX_PREFIXES,
        n_batch: int = 512,
        flash_attn: bool | None = None,
    ) -> None:
        total = n_seq_max + max_prefixes
        if n_seq_max < 1 or max_prefixes < 0 or total > max_sequences():
            raise ConfigError(f"n_seq_max + max_prefixes must be 1..{max_sequences()}")
        self._model = Model(Path(model_path), n_gpu_layers=n_gpu_layers)
        try:
            self._adapters = {
                str(path): self._model.load_adapter(Path(path))
                for stack in adapters.values()
                for path, _ in stack
            }
            self._ctx = Context(
                self._model,
                n_ctx=n_ctx,
                n_seq_max=total,
                n_batch=n_batch,
                n_threads=n_threads or os.cpu_count() or 1,
                flash_attn=flash_attn,
            )
            framer = Framer(self._model, chat_template)
        except BaseException:
            self._model.close()
            raise
        self._groups: dict[str, AdapterKey] = {
            name: tuple((str(path), float(scale)) for path, scale in stack)
            for name, stack in adapters.items()
        }
        self._n_gpu_layers = n_gpu_layers
        self.stats = EngineStats()
        self._scheduler = Scheduler(
            self._ctx,
            framer=framer,
            n_slots=n_seq_max,
            max_prefixes=max_prefixes,
            n_batch=n_batch,
            adapters=self._adapters,
            groups=self._groups,
            sampling=sampling,
            constrained=constrained,
            seed=seed,
            stats=lambda: self.stats,
        )
        self._lock = threading.Lock()
        self._closed = False

    def warm_up(self, prefixes: Mapping[str, str] | None = None) -> None:
        """Run one short decision per adapter group (pages weights in, builds compute
        graphs), then optionally decode `prefixes` (archetype -> system prompt) so the
        first real tick of each archetype finds its prefix cached."""
        groups = {key: name for name, key in self._groups.items()} | {(): WARM_UP_ID}
        self.decide(
            [
                DecisionRequest(
                    request_id=f"{WARM_UP_ID}{i}",
                    archetype=name,
                    system_prompt="Warm-up.",
                    prompt="Decide.",
                    allowed_actions=(Action.IDLE,),
                    max_tokens=4,
                    time_limit_s=120.0,
                )
                for i, name in enumerate(groups.values())
            ]
        )
        with self._lock:
            self._scheduler.clear_prefixes()
            for archetype, system in (prefixes or {}).items():
                probe = _probe(archetype, system)
                self._scheduler.prefix_for(self._scheduler.pending(0, probe, time.perf_counter()))
            self.stats = EngineStats()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._scheduler.close()
            self._ctx.close()
            self._model.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def offload(self) -> dict[str, Any]:
        supported = _gpu()
        wanted = self._model.n_layer + 1 if self._n_gpu_layers < 0 else self._n_gpu_layers
        return {
            "gpu_supported": supported,
            "n_gpu_layers": self._n_gpu_layers,
            "n_layers": self._model.n_layer,
            "offloaded_layers": min(wanted, self._model.n_layer + 1) if supported else 0,
        }

    def cancel(self, request_id: str) -> None:
        """Make a request of the running (or next) `decide` call end as cancelled."""
        self._scheduler.cancelled.add(request_id)

    def decide(self, requests: Sequence[DecisionRequest]) -> list[DecisionResult]:
        """Decide all `requests` with continuous batching; results in request order."""
        with self._lock:
            if self._closed:
                raise EngineError("the engine is closed")
            return self._scheduler.run(requests)

    def reset_prefixes(self) -> None:
        """Forget cached shared prefixes (the next request of each archetype re-decodes)."""
        with self._lock:
            self._scheduler.clear_prefixes()


def _probe(archetype: str, system: str) -> DecisionRequest:
    return DecisionRequest(
        request_id=WARM_UP_ID,
        archetype=archetype,
        system_prompt=system,
        prompt="",
        allowed_actions=(Action.IDLE,),
    )
