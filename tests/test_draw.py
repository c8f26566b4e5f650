"""The batch draw keeps exactly the tokens llama.cpp's top-k/min-p chain keeps."""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.llm.draw import BLOCK, BatchDraw
from models.llm.sampler import SamplingParams


def chain_survivors(row: np.ndarray, params: SamplingParams) -> set[int]:
    """top-k, then min-p against the best logit, by sorting the whole row."""
    order = np.argsort(-row, kind="stable")
    kept = order[: params.top_k] if params.top_k > 0 else order
    floor = row.max() + math.log(params.min_p) if params.min_p > 0 else -math.inf
    return {int(i) for i in kept if row[i] >= floor}


@pytest.mark.parametrize("n_vocab", [300, 4 * BLOCK, 262_144, 128_256])
@pytest.mark.parametrize("spread", [0.3, 3.0, 40.0])
def test_survivors_match_the_chain(n_vocab: int, spread: float) -> None:
    rng = np.random.default_rng(n_vocab)
    rows = (rng.standard_normal((6, n_vocab)) * spread).astype(np.float32)
    rows[1, -1] = rows[1].max() + 1.0  # the best token in the tail past the last block
    rows[2, :5] = rows[2].max() + 0.5  # ties at the top
    for params in (
        SamplingParams(),
        SamplingParams(top_k=0, min_p=0.05),
        SamplingParams(top_k=5, min_p=0.0),
    ):
        draw = BatchDraw(params, n_vocab)
        maxima = draw.block_maxima(rows)
        for row, row_maxima in zip(rows, maxima, strict=True):
            got = {int(i) for i in draw.survivors(row, row_maxima)}
            want = chain_survivors(row, params)
            if params.top_k and len(want) == params.top_k:
                # ties at the k-th logit may keep either token; the values must agree
                assert sorted(row[list(got)]) == sorted(row[list(want)])
            else:
                assert got == want


def test_draws_follow_the_tempered_distribution() -> None:
    row = np.full(1024, -50.0, dtype=np.float32)
    row[[3, 700]] = [1.0, 1.0 + math.log(3.0) * 0.7]  # at T = 0.7, token 700 is 3x as likely
    draw = BatchDraw(SamplingParams(temperature=0.7, top_k=40, min_p=0.05), len(row))
    rng = np.random.default_rng(0)
    picks = [draw.draw(row[None, :], [rng])[0] for _ in range(4000)]
    assert set(picks) == {3, 700}
    assert picks.count(700) / picks.count(3) == pytest.approx(3.0, rel=0.12)


def test_greedy_is_argmax_and_seeded_draws_repeat() -> None:
    rows = np.random.default_rng(1).standard_normal((4, 5000)).astype(np.float32)
    greedy = BatchDraw(SamplingParams(temperature=0.0), 5000)
    assert greedy.draw(rows, [np.random.default_rng(0)] * 4) == list(rows.argmax(axis=1))
    sampled = BatchDraw(SamplingParams(), 5000)
    first = sampled.draw(rows, [np.random.default_rng(s) for s in range(4)])
    again = sampled.draw(rows, [np.random.default_rng(s) for s in range(4)])
    assert first == again
