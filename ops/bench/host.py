"""Benchmark: host time per generated token, the engine's own cost beside llama_decode.

    python -m ops.bench.host [--sequences 64] [--tokens 48] [--vocab 262144]
                             [--out docs/bench/host.json]

On a GPU an 8B decode step of 64 sequences takes ~10 ms, so whatever the engine does
between steps (build the batch, sample, check the grammar, hand results over) must cost
far less than that or it, not the GPU, sets the pace. The figure is the engine loop's
step time minus its `llama_decode` time, per generated token, with 64 live sequences,
on a random-weight model of Gemma's 262k vocabulary and a tiny width (so decoding is
cheap and the host's share is what is measured). Measured in the same run:

1. the engine, unconstrained and with the decision grammar (its grammar tiers counted:
   a random model's picks are rarely valid JSON, so the constrained figure is the worst
   case, not a trained model's);
2. sampling alone over the same logits rows: llama.cpp's top-k/min-p/temperature/dist
   chain (`llama_sampler_sample`, one row at a time, the baseline) against the batch
   draw the engine uses (`models.llm.draw`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np

from models.llm import DecisionRequest, Engine
from models.llm.draw import BatchDraw
from models.llm.native import Batch, Context, Model
from models.llm.sampler import SamplingParams, new_chain
from models.testmodels import GEMMA_VOCAB_TINY, write_tiny_model
from npcfarm.domain import Action
from ops.bench.harness import console, write_report

OUT = Path("docs/bench/host.json")
PROMPT = "The night is long and the road is dark; what do you do next?"


def engine_host(model: Path, sequences: int, tokens: int, *, constrained: bool) -> dict[str, Any]:
    """Host ms per generated token of an engine with `sequences` live sequences."""
    with Engine(
        model_path=model,
        n_ctx=sequences * (tokens + 64) + 256,
        n_seq_max=sequences,
        n_threads=None,
        constrained=constrained,
        max_prefixes=1,
    ) as engine:
        requests = [
            DecisionRequest(
                request_id=f"host-{constrained}-{i}",
                archetype="bench",
                system_prompt="",
                prompt=f"{PROMPT} ({i})",
                allowed_actions=tuple(Action),
                max_tokens=tokens,
                time_limit_s=600.0,
            )
            for i in range(sequences)
        ]
        engine.decide(requests[:2])  # warm: first-decode allocations are not the loop's
        engine.stats = type(engine.stats)()
        engine.decide(requests)
        s = engine.stats
    host = max(s.step_seconds - s.decode_seconds, 0.0)
    out = {
        "constrained": constrained,
        "steps": s.steps,
        "generated_tokens": s.generated_tokens,
        "host_ms_per_token": 1000 * host / max(s.generated_tokens, 1),
        "host_ms_per_step": 1000 * host / max(s.steps, 1),
        "decode_ms_per_step": 1000 * s.decode_seconds / max(s.decode_calls, 1),
        "grammar": {
            "first_accepted": s.sampler.first_accepted,
            "candidate_accepted": s.sampler.candidate_accepted,
            "full_vocab": s.sampler.full_vocab,
        },
    }
    console.print(
        f"engine ({'grammar' if constrained else 'unconstrained'}), {sequences} sequences: "
        f"host {out['host_ms_per_token']:.3f} ms/token, {out['host_ms_per_step']:.2f} ms/step "
        f"(decode {out['decode_ms_per_step']:.2f} ms/step)"
    )
    return out


def sampling_alone(model_path: Path, sequences: int, repeats: int) -> dict[str, Any]:
    """The llama.cpp chain against the batch draw, on the same logits rows."""
    params = SamplingParams()
    model = Model(model_path, n_gpu_layers=0)
    ctx = Context(
        model,
        n_ctx=4 * sequences + 64,
        n_seq_max=sequences,
        n_batch=sequences,
        n_threads=os.cpu_count() or 1,
    )
    batch = Batch(sequences)
    try:
        token = model.tokenize("the", special=False)[-1]
        for seq in range(sequences):
            batch.add(token, 0, seq, True)
        ctx.decode(batch)
        indices = list(range(sequences))
        chains = [new_chain(params, seed) for seed in range(sequences)]
        draw = BatchDraw(params, model.n_vocab)
        rngs = [np.random.default_rng(seed) for seed in range(sequences)]
        chain_s, draw_s = [], []
        for _ in range(repeats):
            started = time.perf_counter()
            for index, chain in zip(indices, chains, strict=True):
                lc.llama_sampler_sample(chain, ctx.ptr, index)
            chain_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            draw.draw(ctx.output_rows(indices), rngs)
            draw_s.append(time.perf_counter() - started)
        for chain in chains:
            lc.llama_sampler_free(chain)
    finally:
        batch.close()
        ctx.close()
        model.close()
    out = {
        "llama_chain_ms_per_token": 1000 * statistics.median(chain_s) / sequences,
        "batch_draw_ms_per_token": 1000 * statistics.median(draw_s) / sequences,
    }
    out["speedup"] = out["llama_chain_ms_per_token"] / out["batch_draw_ms_per_token"]
    console.print(
        f"sampling alone, {sequences} rows of {model.n_vocab:,} logits: llama.cpp chain "
        f"{out['llama_chain_ms_per_token']:.3f} ms/token, batch draw "
        f"{out['batch_draw_ms_per_token']:.3f} ms/token ({out['speedup']:.1f}x)"
    )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--vocab", type=int, default=GEMMA_VOCAB_TINY.n_vocab)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="npcfarm-host-") as tmp:
        console.print(f"writing a random model with a {args.vocab:,}-token vocabulary")
        model = write_tiny_model(
            Path(tmp) / "vocab.gguf", shape=replace(GEMMA_VOCAB_TINY, n_vocab=args.vocab)
        )
        sampling = sampling_alone(model, args.sequences, args.repeats)
        free = engine_host(model, args.sequences, args.tokens, constrained=False)
        grammar = engine_host(model, args.sequences, args.tokens, constrained=True)
    report = {
        "vocab": args.vocab,
        "sequences": args.sequences,
        "engine": free,
        "engine_with_grammar": grammar,
        "sampling": sampling,
        "command": "python -m ops.bench.host " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    write_report(args.out, report)
    console.print(
        f"host time per generated token: {free['host_ms_per_token']:.3f} ms (target <= 0.1 ms); "
        f"llama.cpp's chain alone {sampling['llama_chain_ms_per_token']:.3f} ms"
    )


if __name__ == "__main__":
    main()
