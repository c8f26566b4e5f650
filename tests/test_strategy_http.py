"""The strategy game server over real HTTP: uvicorn on a free port, httpx as client.

Most servers here run a manual clock (moved with `POST /api/clock/advance`), so the
tests decide when game time passes; one runs the real-time clock to see it tick.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from ops.games.strategy import Code, Game
from ops.games.strategy.app import create_app
from ops.games.strategy.models import MessagePage, PlayerState, ReportPage, World

TOKEN = "test-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(game: Game, **options: Any) -> Iterator[httpx.Client]:
    """A uvicorn server for `game` until the block ends, and a client with the token."""
    options.setdefault("realtime", False)
    app = create_app(game, token=TOKEN, **options)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=10) as c:
            yield c
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def game() -> Game:
    game = Game(players=6, seed=7)
    for v in game.villages.values():  # scenario set-up: every village is well stocked
        v.levels.update(warehouse=8, granary=8, barracks=3, embassy=1, marketplace=1)
        game.refresh(v)
        v.stock = list(v.cap)
    return game


@pytest.fixture
def client(game: Game) -> Iterator[httpx.Client]:
    with serve(game) as c:
        yield c


def advance(client: httpx.Client, seconds: float) -> None:
    answer = client.post("/api/clock/advance", json={"seconds": seconds})
    assert answer.status_code == 200, answer.text


def test_world_players_map_and_rules(client: httpx.Client, game: Game) -> None:
    world = World.model_validate(client.get("/api/world").json())
    assert (world.players, world.size, world.clock) == (6, game.size, "manual")
    players = client.get("/api/players").json()
    assert [p["id"] for p in players] == list(range(1, 7))
    v = game.villages[1]
    near = client.get("/api/map", params={"x": v.x, "y": v.y, "radius": 50}).json()
    assert near[0]["village"] == 1 and near[0]["distance"] == 0
    assert len(near) == 6 and near == sorted(near, key=lambda r: (r["distance"], r["village"]))
    rules = client.get("/api/rules").json()
    assert rules["units"]["cavalry"]["speed"] == 14
    assert rules["constants"]["COST_GROWTH"] == 1.28


def test_orders_answer_accepted_with_details_or_a_coded_refusal(client: httpx.Client) -> None:
    built = client.post("/api/players/1/villages/1/build", json={"building": "wall"})
    assert built.status_code == 200
    assert built.json()["accepted"] is True and built.json()["level"] == 1
    busy = client.post("/api/players/1/villages/1/build", json={"building": "wall"})
    assert busy.status_code == 409
    assert busy.json() == {"accepted": False, "code": "queue_busy", "reason": busy.json()["reason"]}
    trained = client.post(
        "/api/players/1/villages/1/train", json={"unit": "axeman", "count": 3}
    ).json()
    assert trained["finishes_at"] == pytest.approx(3 * 1000 * 0.9**2)
    assert (
        client.post("/api/players/1/villages/1/train", json={"unit": "cavalry", "count": 1}).json()[
            "code"
        ]
        == "barracks_required"
    )
    advance(client, trained["finishes_at"])
    sent = client.post(
        "/api/players/1/villages/1/send",
        json={"to": 2, "kind": "raid", "troops": {"axeman": 3}},
    ).json()
    assert sent["accepted"] and sent["movement"] >= 1 and sent["arrives_at"] > 0
    incoming = client.get("/api/players/2/state").json()["movements"]["incoming"]
    assert incoming[0]["kind"] == "hostile" and incoming[0]["arrives_at"] == sent["arrives_at"]
    advance(client, sent["arrives_at"])
    page = ReportPage.model_validate(client.get("/api/players/1/reports").json())
    assert page.reports[0].mission == "raid" and sum(page.reports[0].loot.model_dump().values())
    after = client.get("/api/players/1/reports", params={"after": page.cursor}).json()
    assert after == {"reports": [], "cursor": page.cursor, "more": False}


def test_alliance_messages_and_trade_over_http(client: httpx.Client) -> None:
    made = client.post("/api/players/1/alliances", json={"name": "Owls"}).json()
    assert made["accepted"]
    alliance = made["alliance"]
    assert client.post(f"/api/players/1/alliances/{alliance}/invite", json={"player": 2}).json()[
        "accepted"
    ]
    assert client.post(f"/api/players/2/alliances/{alliance}/accept").json()["members"] == [1, 2]
    assert client.post("/api/players/3/alliances/leave").json()["code"] == "not_in_alliance"
    said = client.post("/api/players/2/messages", json={"to": 1, "text": "to arms"}).json()
    messages = MessagePage.model_validate(client.get("/api/players/1/messages").json())
    assert [(m.id, m.from_, m.text) for m in messages.messages] == [(said["message"], 2, "to arms")]
    offer = client.post(
        "/api/players/1/trade/offers",
        json={
            "village": 1,
            "give": {"resource": "iron", "amount": 300},
            "want": {"resource": "wood", "amount": 200},
        },
    ).json()
    assert offer["accepted"]
    listed = client.get("/api/trade/offers").json()
    assert listed[0]["id"] == offer["offer"] and listed[0]["want"]["amount"] == 200
    deal = client.post(f"/api/players/3/trade/offers/{offer['offer']}/accept").json()
    assert deal["accepted"] and deal["arrives_at"] > 0
    assert (
        client.post(f"/api/players/3/trade/offers/{offer['offer']}/cancel").json()["code"]
        == "unknown_offer"
    )


def test_state_has_an_etag_that_holds_while_only_the_clock_moves(client: httpx.Client) -> None:
    first = client.get("/api/players/1/state")
    assert first.status_code == 200
    body = PlayerState.model_validate(first.json())
    assert first.headers["etag"] == f'"{body.version}"'
    same = client.get("/api/players/1/state", headers={"If-None-Match": first.headers["etag"]})
    assert same.status_code == 304 and same.content == b""
    advance(client, 60)  # resources grow, nothing happens
    later = client.get("/api/players/1/state", headers={"If-None-Match": first.headers["etag"]})
    assert later.status_code == 304
    assert float(later.headers["x-game-time"]) == pytest.approx(60)
    client.post("/api/players/1/villages/1/build", json={"building": "granary"})
    changed = client.get("/api/players/1/state", headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    assert changed.json()["villages"][0]["construction"]["building"] == "granary"


def test_the_token_is_required(client: httpx.Client) -> None:
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        answer = client.get("/api/world", headers=headers)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthorized"
    assert client.get("/healthz", headers={"Authorization": ""}).json() == {"ok": True}


def test_the_rate_limit_answers_429_with_retry_after(game: Game) -> None:
    with serve(game, rate=0.5, burst=3) as client:
        codes = [client.get("/api/world").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/world")
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1


HOSTILE: list[tuple[str, str, Any]] = [
    ("POST", "/api/players/1/villages/1/train", {"unit": "spearman", "count": -5}),
    ("POST", "/api/players/1/villages/1/train", {"unit": "spearman", "count": "5"}),
    ("POST", "/api/players/1/villages/1/train", {"unit": "spearman", "count": 10**40}),
    ("POST", "/api/players/1/villages/1/train", {"unit": "spearman", "count": 1.5}),
    ("POST", "/api/players/1/villages/1/train", {"unit": ["x"], "count": 1}),
    ("POST", "/api/players/1/villages/1/train", {"unit": "spearman", "count": 10**5}),
    ("POST", "/api/players/1/villages/1/build", {"building": "x" * 10_000}),
    ("POST", "/api/players/1/villages/1/build", {"building": "wall", "extra": 1}),
    ("POST", "/api/players/1/villages/1/build", "not an object"),
    ("POST", "/api/players/1/villages/1/build", None),
    ("POST", "/api/players/abc/villages/1/build", {"building": "wall"}),
    ("POST", "/api/players/99999999999999999999999/villages/1/build", {"building": "wall"}),
    ("POST", "/api/players/-1/villages/1/build", {"building": "wall"}),
    ("POST", "/api/players/1/villages/2/build", {"building": "wall"}),
    ("POST", "/api/players/42/villages/1/build", {"building": "wall"}),
    ("POST", "/api/players/1/villages/1/send", {"to": 2, "kind": "nuke", "troops": {}}),
    ("POST", "/api/players/1/villages/1/send", {"to": 2, "kind": "attack", "troops": {"a": 1}}),
    ("POST", "/api/players/1/villages/1/send", {"to": 1, "kind": "attack", "troops": {"scout": 1}}),
    ("POST", "/api/players/1/villages/1/send", {"to": 2, "kind": "raid", "troops": {"axeman": 9}}),
    ("POST", "/api/players/1/villages/1/recall", {"at": 2}),
    ("POST", "/api/players/1/trade/offers/999/accept", None),
    ("POST", "/api/players/1/alliances/999/invite", {"player": 2}),
    ("POST", "/api/players/1/alliances", {"name": ""}),
    ("POST", "/api/players/1/messages", {"to": 2, "text": "x" * 5000}),
    ("POST", "/api/players/1/messages", {"to": 2.5, "text": "hi"}),
    ("POST", "/api/clock/advance", {"seconds": -1}),
    ("POST", "/api/clock/advance", {"seconds": "NaN"}),
    ("GET", "/api/players/1/state?reports_after=-4", None),
    ("GET", "/api/map?x=1e308&y=0", None),
    ("GET", "/api/players/77/state", None),
    ("GET", "/api/nowhere", None),
    ("DELETE", "/api/world", None),
]


def test_hostile_requests_get_a_coded_refusal_never_a_500(client: httpx.Client) -> None:
    known = {code.value for code in Code}
    for method, path, body in HOSTILE:
        answer = client.request(method, path, json=body)
        assert 400 <= answer.status_code < 500, (method, path, answer.status_code, answer.text)
        refusal = answer.json()
        assert refusal["accepted"] is False and refusal["code"] in known, (path, refusal)
        assert refusal["reason"], path
    garbled = client.post(
        "/api/players/1/villages/1/build",
        content=b"\xff{not json",
        headers={"Content-Type": "application/json"},
    )
    assert garbled.status_code == 400 and garbled.json()["code"] == "bad_request"
    huge = client.post("/api/players/1/messages", content=b"x" * 70_000)
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    streamed = client.post(  # no Content-Length: counted as it arrives
        "/api/players/1/messages",
        content=iter([b'{"to": 2, "text": "', b"x" * 40_000, b"x" * 40_000, b'"}']),
        headers={"Content-Type": "application/json"},
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"


def test_a_realtime_server_moves_its_clock_by_speed(game: Game) -> None:
    tick = 0.05
    with serve(game, realtime=True, tick_s=tick) as client:
        refused = client.post("/api/clock/advance", json={"seconds": 10})
        assert refused.status_code == 409 and refused.json()["code"] == "clock_running"
        outer = time.monotonic()
        start = client.get("/api/world").json()["game_time"]
        inner = time.monotonic()
        time.sleep(0.3)
        inner = time.monotonic() - inner
        later = client.get("/api/world").json()
        outer = time.monotonic() - outer
        assert later["clock"] == "realtime"
        moved = later["game_time"] - start
        assert game.speed * (inner - 2 * tick) <= moved <= game.speed * (outer + 2 * tick)


def test_the_command_line_serves_a_game_and_prints_its_token() -> None:
    port = _free_port()
    command = [sys.executable, "-m", "ops.games.strategy", "--port", str(port)]
    command += ["--players", "12", "--seed", "3", "--speed", "600", "--token", "cli-token"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "operator token: cli-token"
            url, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer cli-token"}
            deadline = time.monotonic() + 20
            while True:
                try:
                    world = httpx.get(f"{url}/api/world", headers=headers).json()
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not answer"
                    time.sleep(0.05)
            assert (world["players"], world["seed"], world["speed"]) == (12, 3, 600)
            assert world["clock"] == "realtime"
        finally:
            proc.terminate()
            proc.wait(10)
