"""The rules brain: invariants as properties over random NPCs, plus behavioural checks."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.archetypes import archetype_names, get_archetype
from models.rules import RuleChoice, decide_batch
from npcfarm.domain import (
    MAX_SPEECH_CHARS,
    NPC,
    Action,
    Emotion,
    Nearby,
    NPCState,
    Personality,
    clip_speech,
)
from npcfarm.errors import InvalidInput

SOCIAL = {Action.SPEAK, Action.TRADE, Action.FOLLOW, Action.QUEST, Action.EMOTE}
PROPS = settings(max_examples=150, deadline=None)
BATCH_PROPS = settings(max_examples=100, deadline=None)

unit = st.floats(0.0, 1.0)
ID_CHARS = "ABCXYZabcxyz0123456789_.:-"  # a sample of the NpcId alphabet
ids = st.text(ID_CHARS, min_size=1, max_size=64)
nearby = st.builds(Nearby, id=ids, distance=st.floats(0.0, 1e6), hostile=st.booleans())
personalities = st.builds(
    Personality,
    openness=unit,
    conscientiousness=unit,
    extraversion=unit,
    agreeableness=unit,
    neuroticism=unit,
)
states = st.builds(
    NPCState,
    health=unit,
    hunger=unit,
    time_of_day=st.floats(0.0, 24.0, exclude_max=True),
    nearby_players=st.lists(nearby, max_size=4),
    nearby_npcs=st.lists(nearby, max_size=4),
)
npcs = st.builds(
    NPC,
    id=ids,
    name=st.just("Npc"),
    archetype=st.sampled_from(archetype_names()),
    personality=personalities,
    state=states,
)
keys = st.text(max_size=64)
seeds = st.integers(-(2**63), 2**64)
batches = st.lists(st.tuples(npcs, keys), min_size=1, max_size=12)


def make(
    archetype: str,
    *,
    personality: Personality | None = None,
    players: list[Nearby] | None = None,
    others: list[Nearby] | None = None,
    npc_id: str = "npc-1",
    **state: float,
) -> NPC:
    return NPC(
        id=npc_id,
        name="Npc",
        archetype=archetype,
        personality=personality or Personality(),
        state=NPCState(nearby_players=players or [], nearby_npcs=others or [], **state),
    )


def decide_one(npc: NPC, key: str = "tick", seed: int = 0) -> RuleChoice:
    return decide_batch([npc], [key], seed=seed)[0]


@BATCH_PROPS
@given(batch=batches, seed=seeds)
def test_choices_are_well_formed(batch: list[tuple[NPC, str]], seed: int) -> None:
    choices = decide_batch([n for n, _ in batch], [k for _, k in batch], seed=seed)
    assert len(choices) == len(batch)
    for (npc, _), choice in zip(batch, choices, strict=True):
        arch = get_archetype(npc.archetype)
        assert choice.action in arch.allowed_actions
        assert isinstance(choice.emotion, Emotion)
        seen = {e.id for e in npc.state.nearby_players + npc.state.nearby_npcs}
        assert choice.target is None or choice.target in seen
        if choice.speech is not None:
            assert len(choice.speech) <= MAX_SPEECH_CHARS
            assert choice.speech == clip_speech(choice.speech)
            assert choice.speech in arch.barks_for(choice.emotion)
            assert npc.state.nearby_players  # only talks with an audience


@BATCH_PROPS
@given(batch=batches, seed=seeds)
def test_deterministic(batch: list[tuple[NPC, str]], seed: int) -> None:
    people, tick_keys = [n for n, _ in batch], [k for _, k in batch]
    assert decide_batch(people, tick_keys, seed=seed) == decide_batch(people, tick_keys, seed=seed)


@BATCH_PROPS
@given(batch=batches, seed=seeds, rnd=st.randoms(use_true_random=False))
def test_batch_independence(batch: list[tuple[NPC, str]], seed: int, rnd: random.Random) -> None:
    alone = [decide_one(npc, key, seed) for npc, key in batch]
    order = list(range(len(batch)))
    rnd.shuffle(order)
    shuffled = decide_batch([batch[i][0] for i in order], [batch[i][1] for i in order], seed=seed)
    assert [shuffled[order.index(i)] for i in range(len(batch))] == alone


@PROPS
@given(npc=npcs, key=keys, seed=seeds)
def test_targets_follow_the_action(npc: NPC, key: str, seed: int) -> None:
    choice = decide_one(npc, key, seed)
    players, others = npc.state.nearby_players, npc.state.nearby_npcs
    hostiles = [e for e in players + others if e.hostile]
    if choice.action in SOCIAL:
        assert choice.target in {
            p.id for p in players if p.distance == min(q.distance for q in players)
        }
    elif choice.action in {Action.ATTACK, Action.FLEE} and hostiles:
        nearest = min(h.distance for h in hostiles)
        assert choice.target in {h.id for h in hostiles if h.distance == nearest}
    elif choice.action not in {Action.ATTACK, Action.FLEE, Action.MOVE_TO, Action.GUARD}:
        assert choice.target is None


@PROPS
@given(npc=npcs, key=keys, seed=seeds)
def test_emotion_matches_action(npc: NPC, key: str, seed: int) -> None:
    choice = decide_one(npc, key, seed)
    expected = {Action.FLEE: Emotion.AFRAID, Action.ATTACK: Emotion.ANGRY}
    expected[Action.FEED] = Emotion.HUNGRY
    if choice.action in expected:
        assert choice.emotion is expected[choice.action]


@PROPS
@given(npc=npcs, key=keys, seed=seeds)
def test_alone_no_one_speaks_or_attacks(npc: NPC, key: str, seed: int) -> None:
    alone = npc.model_copy(
        update={"state": npc.state.model_copy(update={"nearby_players": [], "nearby_npcs": []})}
    )
    choice = decide_one(alone, key, seed)
    assert choice.action not in SOCIAL | {Action.ATTACK, Action.FLEE}
    assert choice.speech is None
    assert choice.target is None


def test_hurt_neurotic_human_flees_from_close_hostile() -> None:
    rnd = random.Random(42)
    actions: Counter[Action] = Counter()
    for i in range(400):
        threat = [Nearby(id="wolf-1", distance=2.0, hostile=True)]
        as_player = i % 2 == 0
        npc = make(
            "human",
            npc_id=f"human-{i}",
            personality=Personality(
                openness=rnd.random(),
                conscientiousness=rnd.random(),
                extraversion=rnd.random(),
                agreeableness=rnd.random(),
                neuroticism=rnd.uniform(0.8, 1.0),
            ),
            players=threat if as_player else [],
            others=[] if as_player else threat,
            health=rnd.uniform(0.0, 0.2),
            hunger=rnd.random(),
            time_of_day=rnd.uniform(0.0, 23.9),
        )
        choice = decide_one(npc, f"t{i}", seed=rnd.randrange(2**32))
        actions[choice.action] += 1
        if choice.action is Action.FLEE:
            assert choice.target == "wolf-1"
            assert choice.emotion is Emotion.AFRAID
    assert actions[Action.FLEE] >= 0.8 * sum(actions.values()), actions


@PROPS
@given(p=personalities, hour=st.floats(0.0, 23.9), hunger=st.floats(0.95, 1.0), seed=seeds)
def test_starving_zombie_feeds(p: Personality, hour: float, hunger: float, seed: int) -> None:
    player = [Nearby(id="p1", distance=3.0)]
    npc = make("zombie", personality=p, players=player, hunger=hunger, time_of_day=hour)
    choice = decide_one(npc, seed=seed)
    assert choice.action is Action.FEED
    assert choice.emotion is Emotion.HUNGRY


@PROPS
@given(p=personalities, seed=seeds)
def test_vampire_shuns_daylight(p: Personality, seed: int) -> None:
    npc = make("vampire", personality=p, time_of_day=12.0, health=1.0, hunger=0.0)
    assert decide_one(npc, seed=seed).action in {Action.HIDE, Action.REST}


def test_aggressive_werewolf_attacks_at_night() -> None:
    brute = Personality(agreeableness=0.05, neuroticism=0.9, extraversion=0.8)
    prey = [Nearby(id="hunter", distance=1.5, hostile=True)]
    for i in range(50):
        npc = make("werewolf", personality=brute, players=prey, time_of_day=23.0)
        choice = decide_one(npc, f"t{i}", seed=i)
        assert choice.action is Action.ATTACK
        assert choice.target == "hunter"
        assert choice.emotion is Emotion.ANGRY


def test_sociable_human_talks_to_a_close_player() -> None:
    friendly = Personality(extraversion=0.95, agreeableness=0.9, neuroticism=0.1)
    player = [Nearby(id="far", distance=30.0), Nearby(id="near", distance=3.0)]
    for i in range(50):
        npc = make("human", personality=friendly, players=player, time_of_day=11.0)
        choice = decide_one(npc, f"t{i}", seed=i)
        assert choice.action in {Action.SPEAK, Action.TRADE, Action.EMOTE}
        assert choice.target == "near"
        assert choice.speech in get_archetype("human").barks_for(choice.emotion)
        assert choice.emotion in {Emotion.HAPPY, Emotion.CURIOUS}


def test_noise_and_barks_vary_with_the_tick() -> None:
    player = [Nearby(id="p", distance=2.0)]
    npc = make("vampire", personality=Personality(extraversion=1.0), players=player)
    lines = {decide_one(npc, f"t{i}").speech for i in range(64)}
    assert len(lines) >= 2


def test_unknown_archetype_is_named() -> None:
    batch = [make("human"), make("dragon", npc_id="npc-2"), make("kraken", npc_id="npc-3")]
    with pytest.raises(InvalidInput, match="dragon, kraken"):
        decide_batch(batch, ["a", "b", "c"])


def test_mismatched_lengths() -> None:
    with pytest.raises(InvalidInput, match="tick keys"):
        decide_batch([make("human")], [])


def test_empty_batch() -> None:
    assert decide_batch([], []) == []


def test_any_tick_key_text() -> None:
    choice = decide_one(make("ghoul"), "\ud800 \x00 ünïcode")
    assert choice.action in get_archetype("ghoul").allowed_actions


@PROPS
@given(o=unit, a=unit, hour=st.floats(8.0, 16.0), seed=seeds)
def test_alone_by_day_conscientiousness_decides(o: float, a: float, hour: float, seed: int) -> None:
    steady = Personality(openness=o, agreeableness=a, conscientiousness=0.95, neuroticism=0.1)
    restless = Personality(openness=o, agreeableness=a, conscientiousness=0.05, extraversion=0.9)
    stays = decide_one(make("human", personality=steady, time_of_day=hour), seed=seed)
    roams = decide_one(make("human", personality=restless, time_of_day=hour), seed=seed)
    assert stays.action in {Action.IDLE, Action.GUARD, Action.REST, Action.USE}
    assert roams.action in {Action.WANDER, Action.MOVE_TO}
