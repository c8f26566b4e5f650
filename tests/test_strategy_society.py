"""Alliances, messages and the marketplace of the strategy game, through `Game`."""

from __future__ import annotations

import math

import pytest

from ops.games.strategy import Code, Game
from tests.test_strategy_game import HOUR, grant, refused, resources, stock


def test_alliances_need_embassies_and_have_room_by_the_leaders_embassy() -> None:
    game = Game(players=6, seed=1)
    with refused(Code.EMBASSY_REQUIRED):
        game.create_alliance(1, "Wolves")
    grant(game, 1, embassy=1)
    alliance = game.create_alliance(1, "Wolves")["alliance"]
    with refused(Code.ALREADY_IN_ALLIANCE):
        game.create_alliance(1, "Bears")
    grant(game, 2, embassy=1)
    with refused(Code.NAME_TAKEN):
        game.create_alliance(2, "wolves")
    with refused(Code.NOT_MEMBER):
        game.invite(2, alliance, 3)
    with refused(Code.NO_INVITE):
        game.accept_invite(2, alliance)
    game.invite(1, alliance, 2)
    game.invite(1, alliance, 3)
    assert game.state_of(2)["player"]["invites"] == [
        {"alliance": alliance, "name": "Wolves", "from": 1}
    ]
    game.accept_invite(2, alliance)
    with refused(Code.EMBASSY_REQUIRED):
        game.accept_invite(3, alliance)
    grant(game, 3, embassy=1)
    game.accept_invite(3, alliance)  # three members: a level-1 embassy's room
    view = game.state_of(3)["alliance"]
    assert view["members"] == [1, 2, 3] and view["capacity"] == 3 and view["leader"] == 1
    with refused(Code.ALLIANCE_FULL):
        game.invite(2, alliance, 4)
    assert game.allied(2, 3) and not game.allied(2, 4)
    game.leave_alliance(1)
    assert game.state_of(2)["alliance"]["leader"] == 2
    game.leave_alliance(2)
    assert game.leave_alliance(3)["dissolved"] is True
    with refused(Code.NOT_IN_ALLIANCE):
        game.leave_alliance(3)
    with refused(Code.UNKNOWN_ALLIANCE):
        game.accept_invite(4, alliance)


def test_messages_are_bounded_and_read_by_cursor() -> None:
    game = Game(players=3, seed=1)
    first = game.send_message(1, 2, "hello")["message"]
    game.send_message(3, 2, "hi from 3")
    page = game.messages_of(2)
    assert [(m["from"], m["text"]) for m in page["messages"]] == [(1, "hello"), (3, "hi from 3")]
    later = game.state_of(2, messages_after=first)
    assert [m["text"] for m in later["messages"]] == ["hi from 3"]
    assert later["messages_cursor"] == page["cursor"]
    assert game.messages_of(1)["messages"] == []
    with refused(Code.BAD_REQUEST):
        game.send_message(1, 2, "x" * 1001)
    with refused(Code.BAD_REQUEST):
        game.send_message(1, 2, "   ")
    with refused(Code.UNKNOWN_PLAYER):
        game.send_message(1, 42, "anyone?")


def test_trade_moves_goods_by_merchant_after_the_trip() -> None:
    game = Game(players=2, seed=1)
    with refused(Code.MARKETPLACE_REQUIRED):
        game.create_offer(1, 1, give="wood", give_amount=400, want="clay", want_amount=400)
    for v in (1, 2):
        grant(game, v, marketplace=1)
        stock(game, v, 500)
    with refused(Code.BAD_RATIO):
        game.create_offer(1, 1, give="wood", give_amount=100, want="clay", want_amount=300)
    with refused(Code.NO_MERCHANTS):  # one merchant carries 500
        game.create_offer(1, 1, give="wood", give_amount=501, want="clay", want_amount=400)
    offer = game.create_offer(1, 1, give="wood", give_amount=400, want="clay", want_amount=300)
    assert resources(game, 1)["wood"] == 100
    with refused(Code.OWN_OFFER):
        game.accept_offer(1, offer["offer"])
    assert game.state_of(2)["trade"]["market"][0]["give"] == {"resource": "wood", "amount": 400}
    deal = game.accept_offer(2, offer["offer"])
    with refused(Code.UNKNOWN_OFFER):
        game.accept_offer(2, offer["offer"])
    trip = math.dist(*((game.villages[v].x, game.villages[v].y) for v in (1, 2))) / 16 * HOUR
    assert deal["arrives_at"] == pytest.approx(trip)
    assert resources(game, 2)["clay"] == 200
    assert game.state_of(2)["movements"]["incoming"][0]["kind"] == "trade"
    game.advance(trip)
    assert resources(game, 1)["clay"] == 800  # 500 + 300, at the cap
    assert resources(game, 2)["wood"] == pytest.approx(800)
    assert game.state_of(1)["villages"][0]["merchants"]["free"] == 0  # still walking home
    game.advance(trip)
    assert game.state_of(1)["villages"][0]["merchants"]["free"] == 1
    again = game.create_offer(1, 1, give="crop", give_amount=100, want="iron", want_amount=100)
    game.cancel_offer(1, again["offer"])
    assert game.state_of(1)["trade"]["own"] == []
