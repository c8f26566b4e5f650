"""No inbox entry can stop the ingest: a real ingest on a real Redis, fed hostile bytes.

Each case here once killed the ingest for good (it died before acknowledging anything,
and a restarted one claimed the same entry and died again). Now each bad entry is
dead-lettered with a stable code and the good entries read with it are applied.
"""

from __future__ import annotations

import json
from typing import Any

import hypothesis.strategies as st
import pytest
import redis
from hypothesis import HealthCheck, given, settings

from npcfarm.events import MAX_EVENT_DEPTH, DeadCode
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from npcfarm.registry import save_npcs
from ops.bridge.ingest import GROUP, Ingest
from tests.conftest import clean_farm
from tests.helpers import make_npc


def _ingest(client: redis.Redis, keys: Keys) -> Ingest:
    save_npcs(client, keys, [make_npc("vlad", archetype="vampire", world="castle")])
    service = Ingest(client, keys, publish_job=lambda job: None, consumer="t", claim_idle_ms=50)
    service.ensure_group()
    return service


def _position(player: str) -> bytes:
    event = {
        "type": "player_position",
        "event_id": f"pos-{player}",
        "world": "castle",
        "player_id": player,
        "position": {"x": 1, "y": 2, "z": 0},
    }
    return json.dumps(event).encode()


def _drain(service: Ingest) -> tuple[int, int]:
    applied = dead = 0
    while True:
        result = service.run_once(block_ms=1)
        if not result.applied and not result.dead:
            return applied, dead
        applied, dead = applied + result.applied, dead + result.dead


def _codes(client: redis.Redis, keys: Keys) -> list[str]:
    return [f["code"] for _, f in entries(client.xrange(keys.dead_letters))]


NESTED = json.dumps({"type": "npc_state", "event_id": "n1", "npc_id": "vlad", "flags": []})
NESTED = NESTED.replace("[]", "[" * 1000 + "]" * 1000)  # ~2 KB, under the size cap
LATIN1 = b'{"type": "interaction", "event_id": "l1", "npc_id": "vlad", "player_id": "ann", '
LATIN1 += b'"kind": "talk", "text": "caf\xe9"}'


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (NESTED.encode(), DeadCode.TOO_DEEP),
        (LATIN1, DeadCode.NOT_UTF8),
        (b'{"type": "npc_state", "event_id": "n2", "npc_id": "vlad", "health": NaN}', "not_json"),
        (b"\xff\xfe\x00", DeadCode.NOT_UTF8),
        (b"", DeadCode.NOT_JSON),
        (b'{"type": "npc_state", "event_id": "n3", "npc_id": "vlad"}' * 100, "too_large"),
        (b'{"type": ["interaction"]}', DeadCode.INVALID_EVENT),
    ],
)
def test_an_entry_that_once_stopped_the_ingest_is_dead_lettered(
    client: redis.Redis, keys: Keys, raw: bytes, code: str
) -> None:
    service = _ingest(client, keys)
    client.xadd(keys.inbox, {"event": _position("before")})
    client.xadd(keys.inbox, {"event": raw})
    client.xadd(keys.inbox, {"event": _position("after")})
    assert _drain(service) == (2, 1)
    assert _codes(client, keys) == [code]
    assert set(client.hkeys(keys.players("castle"))) == {"before", "after"}
    assert client.xpending(keys.inbox, GROUP)["pending"] == 0
    letter = entries(client.xrange(keys.dead_letters))[0][1]
    if code == DeadCode.NOT_UTF8:
        assert "\\x" in letter["raw"]  # the bytes kept, escaped, for the operator


def test_depth_inside_strings_does_not_count(client: redis.Redis, keys: Keys) -> None:
    service = _ingest(client, keys)
    text = "[" * (MAX_EVENT_DEPTH * 4)
    event = {
        "type": "interaction",
        "event_id": "s1",
        "npc_id": "vlad",
        "player_id": "ann",
        "kind": "talk",
        "text": text,
    }
    client.xadd(keys.inbox, {"event": json.dumps(event)})
    assert _drain(service) == (1, 0)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
SHAPED = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["npc_state", "player_position", "player_left", "interaction", "quest_flag"]
        ),
        "event_id": st.text(max_size=70) | JSON,
    },
    optional={
        name: JSON
        for name in ("npc_id", "world", "player_id", "position", "kind", "text", "flag", "set")
    },
)
ENTRY = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda value: json.dumps(value).encode()),
    SHAPED.map(lambda value: json.dumps(value).encode()),
    st.text(min_size=1, max_size=8, alphabet="abcdefgh").map(_position),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(ENTRY, min_size=1, max_size=30))
def test_arbitrary_entries_never_stop_the_ingest(
    client: redis.Redis, keys: Keys, batch: list[bytes]
) -> None:
    clean_farm(client, keys)
    service = _ingest(client, keys)
    good: set[str] = set()
    for raw in batch:
        client.xadd(keys.inbox, {"event": raw})
        try:
            event: Any = json.loads(raw)
        except ValueError:
            continue
        if isinstance(event, dict) and str(event.get("event_id", "")).startswith("pos-"):
            good.add(event["player_id"])
    applied, dead = _drain(service)
    assert applied + dead == len(batch)
    assert client.xpending(keys.inbox, GROUP)["pending"] == 0
    assert good <= set(client.hkeys(keys.players("castle")))
    assert set(_codes(client, keys)) <= {code.value for code in DeadCode} - {"internal"}


def test_an_entry_without_an_event_field_keeps_its_fields(client: redis.Redis, keys: Keys) -> None:
    service = _ingest(client, keys)
    client.xadd(keys.inbox, {"evnt": '{"type": "player_left"}', "source": "castle"})
    assert _drain(service) == (0, 1)
    letter = entries(client.xrange(keys.dead_letters))[0][1]
    assert letter["code"] == DeadCode.NOT_JSON and "no `event` field" in letter["reason"]
    assert json.loads(letter["raw"]) == {"evnt": '{"type": "player_left"}', "source": "castle"}
    receipt = entries(client.xrange(keys.receipts("castle")))[0][1]
    assert receipt["status"] == "dead" and receipt["code"] == "not_json"
