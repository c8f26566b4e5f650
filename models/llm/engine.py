"""The Engine: one model, one context and one scheduler per worker process.

Load the model and every LoRA adapter once (errors become ModelMissing /
ModelLoadFailed before a worker takes work), then serve: one thread owns the context
and runs the scheduler without pause while there is work, and any thread submits a
request and waits on its future. Requests join between decode steps, so concurrent
callers (Celery slots, players, tiers, archetypes) share one continuous batch instead
of taking turns. The batching itself is in models/llm/scheduler.py; the public API is
in models/llm/__init__.py.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from models.llm.framing import Framer
from models.llm.native import Context, Model, max_sequences
from models.llm.native import supports_gpu_offload as _gpu
from models.llm.prefix import AdapterKey
from models.llm.sampler import SamplingParams
from models.llm.scheduler import Scheduler
from models.llm.stats import EngineStats
from models.llm.ticket import Ticket
from models.llm.types import ERROR_CANCELLED, ERROR_DECODE_FAILURE, DecisionRequest, DecisionResult
from npcfarm.domain import Action
from npcfarm.errors import ConfigError, EngineError, ModelLoadFailed, ModelMissing

DEFAULT_MAX_PREFIXES = 8  # sequence ids reserved for cached shared prefixes
DEFAULT_SAMPLING = SamplingParams()  # temperature 0.7, top-k 40, min-p 0.05
WARM_UP_ID = "__warm_up__"  # request id (and archetype) of warm-up requests

log = logging.getLogger(__name__)
T = TypeVar("T")


class Engine:
    """Batched, grammar-constrained NPC decisions from one GGUF model, served by one
    loop thread; `submit`, `decide` and `cancel` are safe from any thread."""

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
            self._adapters, broken = self._load_adapters(adapters)
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
        # An archetype whose adapter is missing or broken runs on the bare base: the fault
        # stays with the archetypes that use that file, never the whole engine.
        self.adapter_faults: dict[str, str] = {
            name: next(broken[str(path)] for path, _ in stack if str(path) in broken)
            for name, stack in adapters.items()
            if any(str(path) in broken for path, _ in stack)
        }
        self._groups: dict[str, AdapterKey] = {
            name: tuple((str(path), float(scale)) for path, scale in stack)
            for name, stack in adapters.items()
            if name not in self.adapter_faults
        }
        self._n_gpu_layers = n_gpu_layers
        self._n_seq_max = n_seq_max
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
        self._wake = threading.Condition()
        self._inbox: list[Ticket | tuple[Callable[[], Any], Future[Any]]] = []
        self._closed = False
        self._loop = threading.Thread(target=self._serve, name="engine-loop", daemon=True)
        self._loop.start()

    def _load_adapters(
        self, adapters: Mapping[str, Sequence[tuple[Path, float]]]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Each adapter file once: the loaded ones, and why each other one failed."""
        loaded: dict[str, Any] = {}
        broken: dict[str, str] = {}
        for stack in adapters.values():
            for path, _ in stack:
                key = str(path)
                if key in loaded or key in broken:
                    continue
                try:
                    loaded[key] = self._model.load_adapter(Path(path))
                except (ModelMissing, ModelLoadFailed) as exc:
                    broken[key] = str(exc)
                    log.warning("adapter unavailable, its archetypes use the base: %s", exc)
        return loaded, broken

    def submit(self, request: DecisionRequest) -> Ticket:
        """Queue one request for the running batch; `ticket.future` gives its result."""
        ticket = Ticket(request)
        with self._wake:
            if self._closed:
                raise EngineError("the engine is closed")
            self._inbox.append(ticket)
            self._wake.notify()
        return ticket

    def decide(self, requests: Sequence[DecisionRequest]) -> list[DecisionResult]:
        """Submit `requests` and wait for all of them; results in request order. Other
        callers' requests share the same batches meanwhile."""
        tickets = [self.submit(request) for request in requests]
        return [ticket.future.result() for ticket in tickets]

    def _on_loop(self, call: Callable[[], T]) -> T:
        """Run `call` on the loop thread between two steps (it owns the context)."""
        done: Future[T] = Future()
        with self._wake:
            if self._closed:
                raise EngineError("the engine is closed")
            self._inbox.append((call, done))
            self._wake.notify()
        return done.result()

    def _take(self) -> list[Ticket | tuple[Callable[[], Any], Future[Any]]] | None:
        with self._wake:
            while not (self._closed or self._inbox or self._scheduler.busy):
                self._wake.wait()
            if self._closed:
                return None
            incoming, self._inbox = self._inbox, []
            return incoming

    def _serve(self) -> None:
        while (incoming := self._take()) is not None:
            for item in incoming:
                if isinstance(item, Ticket):
                    self._scheduler.add(item)
                    continue
                call, done = item
                try:
                    done.set_result(call())
                except BaseException as exc:  # handed to the waiting caller
                    done.set_exception(exc)
            if not self._scheduler.busy:
                continue
            try:
                self._scheduler.step()
            except Exception as exc:  # a bug must not strand every waiting caller
                log.exception("engine step failed; ending the requests in flight")
                self._scheduler.abort(f"{ERROR_DECODE_FAILURE}: {type(exc).__name__}: {exc}")
        self._scheduler.abort(f"{ERROR_CANCELLED}: the engine closed")
        with self._wake:
            left, self._inbox = self._inbox, []
        for item in left:
            if isinstance(item, Ticket):
                self._scheduler.add(item)
            else:
                item[1].set_exception(EngineError("the engine is closed"))
        self._scheduler.abort(f"{ERROR_CANCELLED}: the engine closed")

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

        def fill() -> None:
            self._scheduler.clear_prefixes()
            for archetype, system in (prefixes or {}).items():
                self._scheduler.prefix_for(
                    self._scheduler.pending(Ticket(_probe(archetype, system)))
                )
            self.stats = EngineStats()

        self._on_loop(fill)

    def close(self) -> None:
        """Stop the loop (requests still in it end as cancelled), then free everything."""
        with self._wake:
            if self._closed:
                return
            self._closed = True
            self._wake.notify()
        self._loop.join()
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

    def metrics(self) -> dict[str, Any]:
        """Queue, live sequences, occupancy, tokens/s, host time per step, time to action
        and to the whole decision (p50/p95 of recent requests)."""
        return self.stats.snapshot(
            n_seq_max=self._n_seq_max,
            queued=len(self._inbox) + len(self._scheduler.queue),
            live=len(self._scheduler.live),
        )

    def cancel(self, request_id: str) -> None:
        """Make a queued or live request (or the next one with this id) end as cancelled."""
        self._scheduler.cancelled.add(request_id)
        with self._wake:
            self._wake.notify()

    def reset_prefixes(self) -> None:
        """Forget cached shared prefixes (the next request of each archetype re-decodes)."""
        self._on_loop(self._scheduler.clear_prefixes)


def _probe(archetype: str, system: str) -> DecisionRequest:
    return DecisionRequest(
        request_id=WARM_UP_ID,
        archetype=archetype,
        system_prompt=system,
        prompt="",
        allowed_actions=(Action.IDLE,),
    )
