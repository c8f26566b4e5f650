"""LoRA set switch cost on the real model, measured two ways.

`llama_set_adapters_lora` only records the new set on the context; the cost that
matters is what the next decode pays (llama.cpp rebuilds its compute graph when the
adapter set changes). So we time the call itself and also a one-token decode right
after a switch against the same decode with the set unchanged.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from models.llm.native import Batch, Context, Model
from models.testmodels import write_random_lora

REPEATS = 30  # switches (and unswitched decodes) timed


def gemma_adapters(base: Path, out_dir: Path) -> tuple[Path, Path]:
    """Two random rank-8 adapters for `base`, written once into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "bench-lora-a.gguf", out_dir / "bench-lora-b.gguf")
    for seed, path in enumerate(paths, 1):
        if not path.is_file():
            write_random_lora(base, path, seed=seed)
    return paths


def switch_timing(base: Path, adapters: tuple[Path, Path], *, n_threads: int) -> dict[str, Any]:
    model = Model(base, n_gpu_layers=0)
    try:
        a, b = (model.load_adapter(p) for p in adapters)
        ctx = Context(model, n_ctx=1024, n_seq_max=1, n_batch=8, n_threads=n_threads)
        batch = Batch(8)
        try:
            return _measure(ctx, batch, [(a, 1.0)], [(b, 1.0)])
        finally:
            batch.close()
            ctx.close()
    finally:
        model.close()


def _measure(
    ctx: Context, batch: Batch, set_a: list[tuple[Any, float]], set_b: list[tuple[Any, float]]
) -> dict[str, Any]:
    pos = 0

    def decode() -> float:
        nonlocal pos
        batch.clear()
        batch.add(7, pos, 0, True)
        pos += 1
        started = time.perf_counter()
        ctx.decode(batch)
        return time.perf_counter() - started

    ctx.set_adapters(set_a)
    decode()  # graph built for set A
    calls, after_switch, steady = [], [], []
    for i in range(REPEATS):
        started = time.perf_counter()
        ctx.set_adapters(set_b if i % 2 == 0 else set_a)
        calls.append(time.perf_counter() - started)
        after_switch.append(decode())
        steady.append(decode())  # same set again: no switch
    extra = statistics.median(after_switch) - statistics.median(steady)
    return {
        "switches": REPEATS,
        "set_call_ms_median": statistics.median(calls) * 1e3,
        "set_call_ms_max": max(calls) * 1e3,
        "decode_after_switch_ms_median": statistics.median(after_switch) * 1e3,
        "decode_steady_ms_median": statistics.median(steady) * 1e3,
        "switch_cost_ms": (statistics.median(calls) + max(extra, 0.0)) * 1e3,
    }
