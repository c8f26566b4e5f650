"""Per-sequence grammar constraints at close to unconstrained cost.

A grammar sampler applied to the whole vocabulary is what makes constrained decoding
slow: Gemma's 262k-token vocabulary costs about 25 ms per token on two cores. So, as
llama.cpp's common sampler does, the token is drawn unconstrained first (for the whole
batch at once, `models.llm.draw`) and the grammar is asked only about that one token.
When it is rejected we try the few dozen most likely tokens (a numpy threshold over the
logits, then the grammar and this sequence's sampler chain on that short list) and only
when all of those are rejected fall back to the grammar over the whole vocabulary. Each
tier is counted, so the benchmark can show how often the expensive one runs.

Chains hold only stateless samplers (top-k, temperature, min-p, dist or greedy), so the
chain having "accepted" a token that the grammar then rejected changes nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import llama_cpp as lc
import numpy as np

from models.grammar import decision_grammar
from models.llm.native import TOKEN_DATA, Context, Model, token_array
from npcfarm.domain import Action
from npcfarm.errors import DecodeFailure

CANDIDATE_WINDOW = 10.0  # logits within this of the best are grammar candidates
MAX_CANDIDATES = 64  # of which at most this many, the most likely ones


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How tokens are drawn; temperature 0 is greedy (reproducible, used by tests)."""

    temperature: float = 0.7
    top_k: int = 40
    min_p: float = 0.05


@dataclass(slots=True)
class SamplerStats:
    """How often each grammar tier decided a token (engine-wide counters)."""

    unconstrained: int = 0  # tokens drawn with no grammar at all
    first_accepted: int = 0  # the chain's own pick passed the grammar
    candidate_accepted: int = 0  # a top candidate passed after the first was rejected
    full_vocab: int = 0  # the grammar had to scan the whole vocabulary


def new_chain(params: SamplingParams, seed: int) -> Any:
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    if params.temperature <= 0.0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_greedy())
        return chain
    if params.top_k > 0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_top_k(params.top_k))
    if params.min_p > 0.0:
        lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_min_p(params.min_p, 1))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_temp(params.temperature))
    lc.llama_sampler_chain_add(chain, lc.llama_sampler_init_dist(seed & 0xFFFFFFFF))
    return chain


class GrammarBook:
    """Parsed decision grammars, one per allowed-action set; sequences get clones."""

    def __init__(self, model: Model) -> None:
        self._model = model
        self._protos: dict[frozenset[Action], Any] = {}

    def new_sampler(self, allowed: Iterable[Action]) -> Any:
        key = frozenset(allowed)
        proto = self._protos.get(key)
        if proto is None:
            text = decision_grammar(key).encode()
            proto = lc.llama_sampler_init_grammar(self._model.vocab, text, b"root")
            if not proto:
                raise DecodeFailure("llama.cpp rejected the decision grammar")
            self._protos[key] = proto
        return lc.llama_sampler_clone(proto)

    def close(self) -> None:
        for proto in self._protos.values():
            lc.llama_sampler_free(proto)
        self._protos.clear()


class SequenceSampler:
    """The sampler chain (and grammar, when constrained) of one sequence."""

    def __init__(
        self,
        ctx: Context,
        *,
        params: SamplingParams,
        seed: int,
        grammar: Any | None,
        scratch: np.ndarray,
        stats: SamplerStats,
    ) -> None:
        self._ctx = ctx
        self._chain: Any = new_chain(params, seed)
        self._grammar = grammar
        self._scratch = scratch  # TOKEN_DATA[n_vocab], shared by all sequences
        self._stats = stats
        self._one = np.zeros(1, dtype=TOKEN_DATA)
        self._one_array = token_array(self._one)
        self.rng = np.random.default_rng(seed)  # the batch draw's generator for this one

    def constrain(self, token: int, index: int) -> int:
        """`token` (drawn from batch output `index`) or the grammar's nearest choice."""
        if self._grammar is None:
            self._stats.unconstrained += 1
            return token
        if self._allows(token):
            self._stats.first_accepted += 1
        else:
            logits = self._ctx.logits(index)
            picked = self._pick(self._candidates(logits))
            if picked is not None:
                self._stats.candidate_accepted += 1
            else:
                self._stats.full_vocab += 1
                self._scratch["id"] = np.arange(len(self._scratch), dtype=np.int32)
                self._scratch["logit"] = logits
                picked = self._pick(self._scratch)
                if picked is None:
                    raise DecodeFailure("the grammar admits no token here")
            token = picked
        lc.llama_sampler_accept(self._grammar, token)
        return token

    def admit(self, token: int) -> bool:
        """Advance the grammar past a token chosen for the model (a forced one) if the
        grammar allows it; a disallowed token must never reach llama.cpp's accept,
        which aborts the process on an empty grammar stack."""
        if self._grammar is None:
            return True
        if not self._allows(token):
            return False
        lc.llama_sampler_accept(self._grammar, token)
        return True

    def advance(self, tokens: Sequence[int]) -> None:
        """Move the grammar past tokens already in the prompt (the response primer)."""
        if self._grammar is not None:
            for token in tokens:
                lc.llama_sampler_accept(self._grammar, token)

    def _allows(self, token: int) -> bool:
        self._one[0] = (token, 0.0, 0.0)
        self._one_array.size, self._one_array.selected = 1, -1
        lc.llama_sampler_apply(self._grammar, ctypes.byref(self._one_array))
        return bool(np.isfinite(self._one["logit"][0]))

    @staticmethod
    def _candidates(logits: np.ndarray) -> np.ndarray:
        ids = np.flatnonzero(logits >= logits.max() - CANDIDATE_WINDOW)
        if len(ids) > MAX_CANDIDATES:
            ids = ids[np.argpartition(logits[ids], -MAX_CANDIDATES)[-MAX_CANDIDATES:]]
        out = np.zeros(len(ids), dtype=TOKEN_DATA)
        out["id"], out["logit"] = ids, logits[ids]
        return out

    def _pick(self, data: np.ndarray) -> int | None:
        """Grammar, then the chain, over `data`; None when the grammar rejects all."""
        array = token_array(data)
        lc.llama_sampler_apply(self._grammar, ctypes.byref(array))
        if not np.isfinite(data["logit"]).any():
            return None
        lc.llama_sampler_apply(self._chain, ctypes.byref(array))
        chosen = array.data[array.selected]
        return int(chosen.id) if np.isfinite(chosen.logit) else None

    def close(self) -> None:
        if self._chain is not None:
            lc.llama_sampler_free(self._chain)
            self._chain = None
        if self._grammar is not None:
            lc.llama_sampler_free(self._grammar)
            self._grammar = None
