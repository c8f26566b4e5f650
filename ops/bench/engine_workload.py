"""The engine benchmark's workload and its baselines.

- `workload`: decision requests over all archetypes, from the scripted scenarios, so
  every run (and every baseline) sees the same prompts;
- `raw_replay`: the same token work as an engine run (the same prompt suffixes after
  the same shared prefixes, the same number of generated tokens per sequence, logits
  for the same rows) through bare `llama_decode` with the same slot count and batch
  size, but no sampling, grammar or Python bookkeeping: the ceiling for the engine;
- `llama_one_at_a_time`: the high-level `Llama` class serving one request at a time,
  unconstrained (parse, retry on invalid JSON) or with its own grammar sampler.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as lc

from models.archetypes import default_catalogue
from models.grammar import (
    RESPONSE_PRIMER,
    DecisionFormatError,
    ObjectScanner,
    decision_grammar,
    parse_decision,
)
from models.llm import DecisionRequest, DecisionResult
from models.llm.framing import Framer
from models.llm.native import Batch, Context, Model
from models.prompts import CHAT_FORMATS, system_prompt, user_prompt
from models.scenarios import PLAYER_ID, script

RETRIES = 3  # attempts per decision for the unconstrained high-level baseline


def workload(n: int, *, time_limit_s: float = 600.0, max_tokens: int = 96) -> list[DecisionRequest]:
    """`n` requests cycling through the archetypes and the scripted turns."""
    catalogue = list(default_catalogue().values())
    scripts = {a.name: script(a, 20) for a in catalogue}
    out = []
    for i in range(n):
        archetype = catalogue[i % len(catalogue)]
        turn = scripts[archetype.name][(i // len(catalogue)) % 20]
        out.append(
            DecisionRequest(
                request_id=f"b{i}",
                archetype=archetype.name,
                system_prompt=system_prompt(archetype),
                prompt=user_prompt(
                    turn.npc,
                    player_id=PLAYER_ID if turn.player_words else None,
                    player_words=turn.player_words,
                ),
                allowed_actions=tuple(sorted(archetype.allowed_actions)),
                max_tokens=max_tokens,
                time_limit_s=time_limit_s,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class RawRun:
    seconds: float
    tokens: int  # prompt + generated tokens decoded in the timed part
    decodes: int


def raw_replay(
    model: Model,
    requests: Sequence[DecisionRequest],
    results: Sequence[DecisionResult],
    *,
    slots: int,
    n_ctx: int,
    n_threads: int,
    chat_template: str | None,
    n_batch: int = 512,
) -> RawRun:
    """Decode what an engine run decoded, with shared prefixes decoded before timing."""
    framer = Framer(model, chat_template)
    prefixes = {r.system_prompt: framer.prefix(r.system_prompt) for r in requests}
    ctx = Context(
        model, n_ctx=n_ctx, n_seq_max=slots + len(prefixes), n_batch=n_batch, n_threads=n_threads
    )
    batch = Batch(n_batch)
    try:
        prefix_seq = {}
        for k, (text, tokens) in enumerate(prefixes.items()):
            prefix_seq[text] = seq = slots + k
            for at in range(0, len(tokens), n_batch):
                batch.clear()
                for pos, token in enumerate(tokens[at : at + n_batch], at):
                    batch.add(token, pos, seq, False)
                ctx.decode(batch)
        queue = deque(
            (r.system_prompt, framer.suffix(r.prompt), res.generated_tokens)
            for r, res in zip(requests, results, strict=True)
            if res.generated_tokens > 0
        )
        return _replay(ctx, batch, queue, prefixes=prefixes, prefix_seq=prefix_seq, slots=slots)
    finally:
        batch.close()
        ctx.close()


@dataclass(slots=True)
class _Seq:
    pos: int
    pending: list[int]  # prompt tokens not decoded yet
    left: int  # tokens still to generate (each costs one more decode but the last)


def _replay(
    ctx: Context,
    batch: Batch,
    queue: deque[tuple[str, list[int], int]],
    *,
    prefixes: dict[str, tuple[int, ...]],
    prefix_seq: dict[str, int],
    slots: int,
) -> RawRun:
    free = list(range(slots))
    live: dict[int, _Seq] = {}
    tokens = decodes = 0
    started = time.perf_counter()
    while queue or live:
        while queue and free:
            system, suffix, generate = queue.popleft()
            seq = free.pop()
            ctx.seq_copy(prefix_seq[system], seq)
            live[seq] = _Seq(len(prefixes[system]), list(suffix), generate)
        batch.clear()
        for seq, state in live.items():
            if not state.pending:
                batch.add(7, state.pos, seq, True)  # a fixed token: no sampling
                state.pos, state.left = state.pos + 1, state.left - 1
        for seq, state in live.items():
            room = batch.capacity - batch.n
            if state.pending and room > 0:
                chunk, state.pending = state.pending[:room], state.pending[room:]
                for k, token in enumerate(chunk, 1):
                    batch.add(token, state.pos, seq, not state.pending and k == len(chunk))
                    state.pos += 1
                if not state.pending:
                    state.left -= 1  # the first token comes from the prompt's logits
        ctx.decode(batch)
        tokens, decodes = tokens + batch.n, decodes + 1
        for seq in [s for s, st in live.items() if not st.pending and st.left <= 0]:
            ctx.seq_remove(seq)
            del live[seq]
            free.append(seq)
    return RawRun(seconds=time.perf_counter() - started, tokens=tokens, decodes=decodes)


@dataclass(frozen=True, slots=True)
class BaselineRun:
    seconds: float
    attempted: int  # requests started before the time cap
    valid: int  # decisions that validated (after retries, unconstrained)
    generated_tokens: int
    latencies: list[float]


def llama_one_at_a_time(
    model_path: Path,
    requests: Sequence[DecisionRequest],
    *,
    n_threads: int,
    grammar: bool,
    cap_s: float,
    temperature: float = 0.7,
) -> BaselineRun:
    """The high-level Llama, one request at a time (its prompt cache reuses a shared
    prefix between consecutive requests, as it would in a naive worker)."""
    llm = lc.Llama(str(model_path), n_ctx=2048, n_threads=n_threads, verbose=False, seed=1)
    valid = generated = attempted = 0
    latencies: list[float] = []
    started = time.perf_counter()
    try:
        for request in requests:
            if time.perf_counter() - started > cap_s:
                break
            attempted += 1
            began = time.perf_counter()
            text = _render(request, primed=not grammar)
            constraint = lc.LlamaGrammar.from_string(
                decision_grammar(request.allowed_actions), verbose=False
            )
            for _ in range(1 if grammar else RETRIES):
                out, n = _complete(
                    llm, text, request.max_tokens, temperature, constraint if grammar else None
                )
                generated += n
                try:
                    parse_decision(
                        out if grammar else RESPONSE_PRIMER + out, request.allowed_actions
                    )
                except DecisionFormatError:
                    continue
                valid += 1
                break
            latencies.append(time.perf_counter() - began)
    finally:
        llm.close()
    return BaselineRun(time.perf_counter() - started, attempted, valid, generated, latencies)


def _render(request: DecisionRequest, *, primed: bool) -> str:
    fmt = CHAT_FORMATS["gemma"]
    text = fmt.system_open + request.system_prompt + fmt.system_close
    text += fmt.user_open + request.prompt + fmt.user_close
    return text + RESPONSE_PRIMER if primed else text


def _complete(
    llm: lc.Llama, text: str, max_tokens: int, temperature: float, grammar: lc.LlamaGrammar | None
) -> tuple[str, int]:
    """Stream a completion, stopping where the decision object closes (as the engine does)."""
    scanner = ObjectScanner()
    if grammar is None:
        scanner.feed(RESPONSE_PRIMER.encode())
    pieces: list[str] = []
    n = 0
    stream = llm.create_completion(
        text,
        max_tokens=max_tokens,
        temperature=temperature,
        top_k=40,
        min_p=0.05,
        stream=True,
        grammar=grammar,
    )
    for chunk in stream:
        piece = chunk["choices"][0]["text"]
        pieces.append(piece)
        n += 1
        if scanner.feed(piece.encode()) is not None:
            break
    return "".join(pieces), n
