"""Activation tiers as a pure computation: grid distances, hysteresis, floors, caps."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from schedules.tiers import BRONZE, GOLD, SILVER, TierPolicy, TierState, assign, nearest_players

POLICY = TierPolicy(cooldown_s=5.0, gold_cap=200, silver_cap=400)
coords = arrays(
    np.float64,
    st.tuples(st.integers(0, 60), st.just(2)),
    elements=st.floats(-500, 500, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(npcs=coords, players=coords, radius=st.floats(1, 200))
@example(  # exactly one radius apart in floats, but two cells apart with cell == radius
    npcs=np.array([[1.0, 1.0]]), players=np.array([[-7.65470856e-35, 1.0]]), radius=1.0
)
def test_grid_matches_brute_force(npcs: np.ndarray, players: np.ndarray, radius: float) -> None:
    got, who = nearest_players(npcs, players, radius=radius)
    for i, (x, y) in enumerate(npcs):
        d = np.hypot(players[:, 0] - x, players[:, 1] - y) if len(players) else np.array([])
        best = d.min() if len(d) else np.inf
        expect = best if best <= radius else np.inf
        assert got[i] == expect or np.isclose(got[i], expect)
        if np.isfinite(expect):
            assert np.isclose(d[who[i]], expect)


def _fresh(n: int) -> TierState:
    return TierState(
        tier=np.full(n, BRONZE, np.int8),
        last_gold=np.full(n, -np.inf),
        last_silver=np.full(n, -np.inf),
    )


def test_walking_back_and_forth_across_a_radius_does_not_flap() -> None:
    state, tiers = _fresh(1), []
    # A player paces 20 m <-> 30 m from the NPC every second for a minute.
    for second in range(60):
        distance = np.array([20.0 if second % 2 == 0 else 30.0])
        state, _ = assign(distance, state, np.zeros(1, bool), float(second), POLICY)
        tiers.append(int(state.tier[0]))
    assert tiers == [GOLD] * 60
    # Then leaves for good: Gold holds through the cool-down, then Silver, then Bronze.
    for second in range(60, 80):
        state, _ = assign(np.array([100.0]), state, np.zeros(1, bool), float(second), POLICY)
        tiers.append(int(state.tier[0]))
    # The cool-down runs from the last second in range (59): Gold holds 60..63.
    assert tiers[60:64] == [GOLD] * 4
    assert tiers[64:] == [BRONZE] * 16  # beyond the silver radius too: both cool-downs over


def test_silver_band_and_promotion_thresholds() -> None:
    d = np.array([24.9, 25.1, 59.9, 60.1, np.inf])
    state, _ = assign(d, _fresh(5), np.zeros(5, bool), 0.0, POLICY)
    assert state.tier.tolist() == [GOLD, SILVER, SILVER, BRONZE, BRONZE]


def test_quest_and_relationship_floors_keep_silver() -> None:
    floored = np.array([True, False])
    state, _ = assign(np.array([np.inf, np.inf]), _fresh(2), floored, 0.0, POLICY)
    assert state.tier.tolist() == [SILVER, BRONZE]
    state, _ = assign(np.array([np.inf, np.inf]), state, np.zeros(2, bool), 100.0, POLICY)
    assert state.tier.tolist() == [BRONZE, BRONZE]  # the flag was cleared


def test_caps_keep_the_closest_and_queue_the_rest_for_the_tier_below() -> None:
    policy = TierPolicy(gold_cap=3, silver_cap=2)
    d = np.array([10.0, 1.0, 5.0, 20.0, 15.0, 40.0, 50.0])
    floored = np.array([False, False, False, False, False, False, True])
    state, capped = assign(d, _fresh(7), floored, 0.0, policy)
    # Gold keeps the 3 closest; Silver keeps the floored one first, then the closest.
    assert state.tier.tolist() == [GOLD, GOLD, GOLD, BRONZE, SILVER, BRONZE, SILVER]
    assert capped.tolist() == [False, False, False, True, True, True, False]
    # Floored NPCs win over passers-by at nearly the same distance.
    tie = np.array([40.0, 40.2])
    state, _ = assign(
        tie, _fresh(2), np.array([False, True]), 0.0, TierPolicy(gold_cap=0, silver_cap=1)
    )
    assert state.tier.tolist() == [BRONZE, SILVER]


def test_radii_must_grow() -> None:
    import pytest  # noqa: PLC0415

    with pytest.raises(ValueError, match="radii must grow"):
        TierPolicy(gold_promote_m=40, gold_demote_m=35)
