"""The Python half of ops/bench/gpu.sh: the benchmark model and the engine's figures.

    python -m ops.bench.gpu model --shape llama3-8b --out model-f16.gguf
    python -m ops.bench.gpu serve --model model-q4_k_m.gguf --levels 1,8,32,64,128
                                  --batched-bench batched-bench.jsonl --out gpu-cuda.json

`serve` measures, on the model llama-batched-bench just ran on:

1. the engine at each level C: C requests at once, each a distinct prompt of about
   `--npp` tokens and `--ntg` generated tokens (unconstrained, as batched-bench decodes),
   its prompt-plus-generated tokens per second against batched-bench's at the same
   parallelism (its `speed`: the same token count over prompt and generation time);
2. the moonshot of DESIGN.md: 1,000 Gold decisions (archetype prompts, the decision
   grammar) arriving evenly over 2 s, as 1,000 NPCs ticking every 2 s would send them;
   decisions per second and time to action p50/p95 (target p95 <= 250 ms). With a
   random-weight model the grammar often has to pick the token (a trained model's own
   picks mostly pass), so this is the machinery's figure on the real model's shape.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.archetypes import default_catalogue
from models.llm import DecisionRequest, DecisionResult, Engine
from models.llm.native import supports_gpu_offload, system_info
from models.prompts import system_prompt
from models.testmodels import LLAMA3_8B, LLAMA3_VOCAB_SMALL, write_tiny_model
from npcfarm.domain import Action
from npcfarm.settings import get_settings
from ops.bench.harness import console, machine, write_report

SHAPES = {"llama3-8b": LLAMA3_8B, "small": LLAMA3_VOCAB_SMALL}
WORDS = ["the", "night", "and", "the", "road", "you", "friend", "village", "blood", "brains"]


def _prompt(words: int, i: int) -> str:
    return f"{i}: " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(words))


def _engine(model: Path, slots: int, npp: int, ntg: int, *, constrained: bool) -> Engine:
    return Engine(
        model_path=model,
        n_ctx=slots * (npp + ntg + 64) + 2048,
        n_seq_max=slots,
        n_gpu_layers=999,
        constrained=constrained,
        n_batch=2048,
    )


def _words_for(engine: Engine, npp: int) -> int:
    """How many words make a prompt of about `npp` tokens in this model's tokenizer."""
    probe = 32
    (result,) = engine.decide([_raw("probe", _prompt(probe, 0), 1)])
    per_word = max(result.prompt_tokens, 1) / probe
    return max(1, round(npp / per_word))


def _raw(request_id: str, prompt: str, ntg: int) -> DecisionRequest:
    return DecisionRequest(
        request_id=request_id,
        archetype="bench",
        system_prompt="",
        prompt=prompt,
        allowed_actions=tuple(Action),
        max_tokens=ntg,
        time_limit_s=600.0,
    )


def sweep(model: Path, levels: Sequence[int], npp: int, ntg: int) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    with _engine(model, max(levels), npp, ntg, constrained=False) as engine:
        words = _words_for(engine, npp)
        for c in levels:
            requests = [_raw(f"c{c}-{i}", _prompt(words, i), ntg) for i in range(c)]
            started = time.perf_counter()
            results = engine.decide(requests)
            seconds = time.perf_counter() - started
            prompt = sum(r.prompt_tokens for r in results)
            generated = sum(r.generated_tokens for r in results)
            out[c] = {
                "seconds": seconds,
                "prompt_tokens": prompt,
                "generated_tokens": generated,
                "speed": (prompt + generated) / seconds,
                "generated_per_s": generated / seconds,
            }
            console.print(
                f"engine C={c}: {out[c]['speed']:,.0f} tokens/s "
                f"({generated:,} generated, {prompt:,} prompt, {seconds:.2f} s)"
            )
    return out


def moonshot(model: Path, npcs: int, period_s: float) -> dict[str, Any]:
    """`npcs` Gold decisions arriving evenly over `period_s`: throughput and time to
    action, as a farm of `npcs` NPCs ticking every `period_s` would load one engine."""
    catalogue = default_catalogue()
    archetypes = sorted(catalogue)
    requests = []
    for i in range(npcs):
        archetype = catalogue[archetypes[i % len(archetypes)]]
        requests.append(
            DecisionRequest(
                request_id=f"gold-{i}",
                archetype=archetype.name,
                system_prompt=system_prompt(archetype),
                prompt=f"You are NPC {i}. A player stands 2 m away and says: good evening.",
                allowed_actions=tuple(sorted(archetype.allowed_actions)),
                max_tokens=get_settings().engine_max_tokens,
                time_limit_s=600.0,
                tier="gold",
            )
        )
    with _engine(model, 128, 160, get_settings().engine_max_tokens, constrained=True) as engine:
        engine.decide(requests[: len(archetypes)])  # archetype prefixes cached, as when warm
        tickets = []
        started = time.perf_counter()
        for i, request in enumerate(requests):
            delay = started + i * period_s / npcs - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tickets.append(engine.submit(request))
        results: list[DecisionResult] = [t.future.result() for t in tickets]
        seconds = time.perf_counter() - started
        heads = [t.action.result() for t in tickets]
    acted = [h.seconds for h in heads if h is not None]
    errors = Counter((r.error or "").split(":")[0] for r in results if not r.ok)
    out: dict[str, Any] = {
        "npcs": npcs,
        "period_s": period_s,
        "seconds": seconds,
        "decisions_per_s": sum(r.ok for r in results) / seconds,
        "heads": len(acted),
        "action_p50_ms": float(1000 * np.percentile(acted, 50)) if acted else 0.0,
        "action_p95_ms": float(1000 * np.percentile(acted, 95)) if acted else 0.0,
        "errors": dict(errors),
    }
    console.print(
        f"moonshot: {npcs} Gold decisions over {period_s:g} s: "
        f"{out['decisions_per_s']:,.0f} decisions/s, time to action p50 "
        f"{out['action_p50_ms']:.0f} ms, p95 {out['action_p95_ms']:.0f} ms (target 250 ms); "
        f"{out['heads']} heads, errors {out['errors'] or 'none'}"
    )
    return out


def batched_bench(path: Path) -> dict[int, dict[str, float]]:
    """llama-batched-bench's JSON lines, by parallelism."""
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            out[int(row["pl"])] = row
    return out


def _gpu() -> str:
    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        return found.stdout.strip() or "none"
    except (OSError, subprocess.SubprocessError):
        return "none"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    levels = report["levels"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(levels, [report["engine"][str(c)]["speed"] for c in levels], "o-", label="engine")
    bench = report["batched_bench"]
    if bench:
        ax.plot(
            levels,
            [bench[str(c)]["speed"] if str(c) in bench else float("nan") for c in levels],
            "s--",
            label="llama-batched-bench",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent requests")
    ax.set_ylabel("tokens/s (prompt + generated)")
    ax.set_title(f"{report['shape']} Q4_K_M, {report['mode']}: {report['gpu']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    model = sub.add_parser("model", help="write a random-weight GGUF of a benchmark shape")
    model.add_argument("--shape", choices=sorted(SHAPES), default="llama3-8b")
    model.add_argument("--out", type=Path, required=True)
    serve = sub.add_parser("serve", help="the engine's figures beside llama-batched-bench")
    serve.add_argument("--model", type=Path, required=True)
    serve.add_argument("--levels", default="1,8,32,64,128")
    serve.add_argument("--npp", type=int, default=128)
    serve.add_argument("--ntg", type=int, default=128)
    serve.add_argument("--batched-bench", type=Path)
    serve.add_argument("--mode", default="cuda")
    serve.add_argument("--npcs", type=int, default=0, help="moonshot NPCs (0: 1000, cpu: 16)")
    serve.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "model":
        write_tiny_model(args.out, shape=SHAPES[args.shape], dtype="f16")
        console.print(f"wrote {args.out} ({args.out.stat().st_size / 2**30:.1f} GiB)")
        return
    levels = [int(c) for c in args.levels.split(",")]
    bench = batched_bench(args.batched_bench) if args.batched_bench else {}
    engine = sweep(args.model, levels, args.npp, args.ntg)
    npcs = args.npcs or (1000 if args.mode == "cuda" else 16)
    report = {
        "mode": args.mode,
        "gpu": _gpu(),
        "offload": supports_gpu_offload(),
        "system": system_info(),
        "machine": machine(),
        "shape": "llama3-8b" if "llama3-8b" in args.model.name else args.model.stem,
        "levels": levels,
        "npp": args.npp,
        "ntg": args.ntg,
        "engine": {str(c): v for c, v in engine.items()},
        "batched_bench": {str(c): v for c, v in bench.items()},
        "engine_vs_batched_bench": {
            str(c): engine[c]["speed"] / bench[c]["speed"] for c in levels if c in bench
        },
        "moonshot": moonshot(args.model, npcs, 2.0),
        "command": "ops/bench/gpu.sh run" + (" --cpu" if args.mode == "cpu" else ""),
    }
    write_report(args.out, report)
    plot(report, args.out.with_suffix(".png"))
    for c, ratio in report["engine_vs_batched_bench"].items():
        console.print(f"C={c}: engine {ratio:.2f}x llama-batched-bench (target >= 0.9x)")


if __name__ == "__main__":
    main()
