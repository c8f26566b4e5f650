"""The HTTP gateway on a real uvicorn server, a real ingest and (where answers are
needed) a real Celery worker: what an rAthena-style game server would do over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn

from npcfarm import audit
from npcfarm.keys import Keys
from npcfarm.redisconn import entries
from npcfarm.settings import Settings
from ops.bridge.ingest import Ingest
from ops.gateway import apikeys
from ops.gateway.app import create_app
from tests.conftest import WorkerFactory, wait_for
from workers.app import app as celery_app
from workers.dispatch import publish_job

ROOT = Path(__file__).resolve().parent.parent
VLAD = {"id": "vlad", "name": "Vlad", "archetype": "vampire", "world": "castle"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def gateway_url(client: redis.Redis, keys: Keys, settings: Settings) -> Iterator[str]:
    """A gateway and an ingest, both running until the test ends."""
    stop = threading.Event()
    ingest = Ingest(
        client, keys, publish_job=lambda job: publish_job(celery_app, job), consumer="g"
    )
    ingest.ensure_group()
    ingest_thread = threading.Thread(target=ingest.serve, args=(stop,), kwargs={"block_ms": 50})
    ingest_thread.start()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    wait_for(lambda: server.started, timeout=10, what="the gateway to listen")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    stop.set()
    thread.join(10)
    ingest_thread.join(10)


def _key(client: redis.Redis, keys: Keys, *worlds: str, rate: float = 100, burst: int = 100) -> str:
    return apikeys.create(client, keys, worlds=worlds or ("castle",), rate=rate, burst=burst)[1]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _register(url: str, token: str, *records: Mapping[str, object]) -> httpx.Response:
    return httpx.post(f"{url}/ai/npc/register", json={"npcs": list(records)}, headers=_auth(token))


def test_no_key_wrong_key_revoked_key_and_other_worlds_are_refused(
    client: redis.Redis, keys: Keys, gateway_url: str
) -> None:
    token = _key(client, keys, "castle")
    other = _key(client, keys, "swamp")
    body = {"npcs": [VLAD]}
    bad = token[:-4] + "AAAA"
    for headers in ({}, {"Authorization": "Basic x"}, _auth("nfk_nope"), _auth(bad)):
        refused = httpx.post(f"{gateway_url}/ai/npc/register", json=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "unauthorized"
    forbidden = httpx.post(f"{gateway_url}/ai/npc/register", json=body, headers=_auth(other))
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden_world"
    assert client.xlen(keys.inbox) == 0  # nothing was applied
    assert _register(gateway_url, token, VLAD).status_code == 200
    key_id = apikeys.split_token(token)[0]  # type: ignore[index]
    assert apikeys.revoke(client, keys, key_id)
    assert _register(gateway_url, token, VLAD).status_code == 401
    actions = [e.what for e in audit.recent(client, keys)]
    assert "key.create" in actions and "key.revoke" in actions
    stored = client.hget(keys.api_keys, key_id) or ""
    assert token.split("_")[2] not in stored  # only the digest is kept


def test_register_receipts_and_remove(client: redis.Redis, keys: Keys, gateway_url: str) -> None:
    token = _key(client, keys)
    done = _register(gateway_url, token, VLAD, {**VLAD, "id": "igor", "archetype": "human"})
    assert done.status_code == 200, done.text
    assert [e["status"] for e in done.json()["entries"]] == ["applied", "applied"]
    assert client.sismember(keys.npcs, "vlad") and client.zscore(keys.due("bronze"), "vlad")  # type: ignore[arg-type]
    gone = httpx.delete(f"{gateway_url}/ai/npc/igor", headers=_auth(token))
    assert gone.status_code == 200 and gone.json()["entries"][0]["status"] == "applied"
    assert not client.sismember(keys.npcs, "igor")
    missing = httpx.delete(f"{gateway_url}/ai/npc/igor", headers=_auth(token))
    assert missing.status_code == 422 and missing.json()["code"] == "unknown_npc"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "not_json"),
        (b'{"type": "npc_state", "event_id": "a", "npc_id": "vlad", "health": NaN}', "not_json"),
        (
            b'{"type": "npc_state", "event_id": "a", "npc_id": "vlad", "flags": '
            + b"[" * 40
            + b"]" * 40
            + b"}",
            "too_deep",
        ),
        (b'{"type": "teleport", "event_id": "a"}', "invalid_event"),
        (
            b'{"type": "player_left", "event_id": "caf\xe9", "world": "castle", "player_id": "a"}',
            "not_utf8",
        ),
    ],
)
def test_a_bad_event_is_refused_with_the_ingest_code(
    client: redis.Redis, keys: Keys, gateway_url: str, body: bytes, code: str
) -> None:
    token = _key(client, keys)
    refused = httpx.post(f"{gateway_url}/ai/npc/event", content=body, headers=_auth(token))
    assert refused.status_code == 422 and refused.json()["code"] == code, refused.text
    assert client.xlen(keys.inbox) == 0


def test_rate_limits_and_body_caps(client: redis.Redis, keys: Keys, gateway_url: str) -> None:
    token = _key(client, keys, rate=0.5, burst=2)
    url = f"{gateway_url}/ai/world/castle/state"
    assert [httpx.get(url, headers=_auth(token)).status_code for _ in range(2)] == [200, 200]
    limited = httpx.get(url, headers=_auth(token))
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    big = _key(client, keys)
    huge = httpx.post(f"{gateway_url}/ai/npc/event", content=b"x" * 70_000, headers=_auth(big))
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"


def test_a_redis_bridge_gets_receipts_too(
    client: redis.Redis, keys: Keys, gateway_url: str
) -> None:
    good = json.dumps({"type": "npc_register", "event_id": "r1", "npc": VLAD})
    ok = client.xadd(keys.inbox, {"event": good, "source": "castle-bridge"})
    bad = client.xadd(keys.inbox, {"event": "{oops", "source": "castle-bridge"})
    wait_for(lambda: client.xlen(keys.receipts("castle-bridge")) == 2, timeout=10)
    got = {f["inbox_id"]: f for _, f in entries(client.xrange(keys.receipts("castle-bridge")))}
    assert got[str(ok)]["status"] == "applied" and got[str(ok)]["event_id"] == "r1"
    assert got[str(bad)]["status"] == "dead" and got[str(bad)]["code"] == "not_json"


def test_schemas_and_openapi_are_served(gateway_url: str) -> None:
    names = httpx.get(f"{gateway_url}/ai/schemas").json()["schemas"]
    assert {"decision", "receipt", "dead_letter", "event.interaction"} <= set(names)
    receipt = httpx.get(f"{gateway_url}/ai/schemas/receipt").json()
    on_disk = json.loads((ROOT / "docs" / "schemas" / "receipt.schema.json").read_text())
    assert receipt == on_disk
    paths = httpx.get(f"{gateway_url}/openapi.json").json()["paths"]
    assert "/ai/player/interaction" in paths and "/ai/npc/{npc_id}/action" in paths
    assert httpx.get(f"{gateway_url}/readyz").status_code == 200


@pytest.mark.slow
def test_register_interact_answer_and_stream(
    client: redis.Redis, keys: Keys, gateway_url: str, start_worker: WorkerFactory
) -> None:
    start_worker(pool="solo")
    token = _key(client, keys)
    assert _register(gateway_url, token, VLAD).status_code == 200
    asked = httpx.post(
        f"{gateway_url}/ai/player/interaction",
        json={"npc_id": "vlad", "player_id": "ann", "kind": "talk", "text": "Good evening."},
        params={"wait_ms": 10_000},
        headers=_auth(token),
        timeout=20,
    )
    assert asked.status_code == 200, asked.text
    decision = asked.json()["decision"]
    assert decision["tick_id"] == asked.json()["tick_id"] and decision["npc_id"] == "vlad"
    latest = httpx.get(f"{gateway_url}/ai/npc/vlad/action", headers=_auth(token))
    assert latest.status_code == 200 and latest.json()["seq"] >= decision["seq"]
    newer = httpx.get(
        f"{gateway_url}/ai/npc/vlad/action",
        params={"after_seq": latest.json()["seq"], "wait_ms": 200},
        headers=_auth(token),
    )
    assert newer.status_code in (200, 204)
    stream = httpx.get(f"{gateway_url}/ai/world/castle/decisions", headers=_auth(token)).json()
    assert any(e["decision"]["tick_id"] == decision["tick_id"] for e in stream["entries"])
    now = httpx.post(
        f"{gateway_url}/ai/npc/vlad/decide", headers=_auth(token), params={"wait_ms": 5000}
    )
    assert now.status_code == 200 and now.json()["entries"][0]["status"] == "applied"
    wait_for(
        lambda: '"tick_id":"now-' in str(client.hget(keys.latest("castle"), "vlad") or ""),
        timeout=10,
        what="the decide_now answer",
    )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the example client needs curl")
def test_the_curl_client_from_the_docs_runs(
    client: redis.Redis, keys: Keys, gateway_url: str, start_worker: WorkerFactory
) -> None:
    start_worker(pool="solo")
    token = _key(client, keys)
    script = ROOT / "examples" / "curl" / "client.sh"
    done = subprocess.run(
        ["bash", str(script)],
        env={"NPCFARM_GATEWAY": gateway_url, "NPCFARM_KEY": token, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "answer:" in done.stdout and "stream:" in done.stdout


@pytest.mark.slow
def test_a_redis_only_bridge_registers_interacts_and_reads_the_stream(
    client: redis.Redis, keys: Keys, gateway_url: str, start_worker: WorkerFactory
) -> None:
    """The same powers without HTTP: npc_register, an interaction, receipts, the stream."""
    start_worker(pool="solo")
    register = {"type": "npc_register", "event_id": "rr-1", "npc": {**VLAD, "id": "mina"}}
    talk = {
        "type": "interaction",
        "event_id": "rr-2",
        "npc_id": "mina",
        "player_id": "ann",
        "kind": "talk",
        "text": "Good evening.",
    }
    client.xadd(keys.inbox, {"event": json.dumps(register), "source": "castle-bridge"})
    wait_for(lambda: client.sismember(keys.npcs, "mina") == 1, timeout=10, what="registration")
    client.xadd(keys.inbox, {"event": json.dumps(talk), "source": "castle-bridge"})
    wait_for(
        lambda: any(
            '"tick_id":"ix-rr-2"' in f.get("d", "")
            for _, f in entries(client.xrange(keys.results("castle")))
        ),
        timeout=20,
        what="the answer on the world stream",
    )
    receipts = [f for _, f in entries(client.xrange(keys.receipts("castle-bridge")))]
    assert [(r["event_id"], r["status"]) for r in receipts] == [
        ("rr-1", "applied"),
        ("rr-2", "applied"),
    ]
