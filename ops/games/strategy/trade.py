"""The marketplace: one resource offered for another, goods carried by merchants.

An offer takes its goods and merchants out of the village at once (so it can always
be honoured); accepting sends both loads on their way, and the merchants come back
after the same trip again. Offers per player are capped, so the market stays small.
"""

from __future__ import annotations

from typing import Any

from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.rules import (
    MERCHANT_SPEED,
    MERCHANTS_PER_LEVEL,
    OFFERS_PER_PLAYER_MAX,
    RESOURCES,
    TRADE_RATIO_MAX,
    merchants_for,
    travel_time,
)
from ops.games.strategy.state import GameState
from ops.games.strategy.world import Movement, Offer, Village, distance

MAX_AMOUNT = 1_000_000  # of one resource in one offer


class TradeOrders(GameState):
    def create_offer(
        self, player: int, village: int, *, give: str, give_amount: int, want: str, want_amount: int
    ) -> dict[str, Any]:
        v = self.village_of(player, village)
        gi, wi = _resource(give), _resource(want)
        if gi == wi:
            raise Refused(Code.BAD_REQUEST, "give and want must be different resources")
        for amount in (give_amount, want_amount):
            if not 1 <= amount <= MAX_AMOUNT:
                raise Refused(Code.BAD_REQUEST, f"an amount must be 1..{MAX_AMOUNT}")
        ratio = want_amount / give_amount
        if not 1 / TRADE_RATIO_MAX <= ratio <= TRADE_RATIO_MAX:
            raise Refused(Code.BAD_RATIO, f"want/give is {ratio:.2f}, allowed 0.5..2")
        p = self.players[player]
        if len(p.offers) >= OFFERS_PER_PLAYER_MAX:
            raise Refused(Code.TOO_MANY_OFFERS, f"{OFFERS_PER_PLAYER_MAX} offers are open")
        merchants = self._merchants(v, give_amount)
        cost = [0.0] * 4
        cost[gi] = float(give_amount)
        self.pay(v, (cost[0], cost[1], cost[2], cost[3]))
        v.merchants_busy += merchants
        offer = Offer(
            self.new_id("offer"),
            player,
            v.id,
            (gi, give_amount),
            (wi, want_amount),
            merchants,
            self.now,
        )
        self.offers[offer.id] = offer
        p.offers.add(offer.id)
        return {"offer": offer.id, "merchants": merchants}

    def accept_offer(self, player: int, offer: int, village: int | None = None) -> dict[str, Any]:
        o = self._offer(offer)
        p = self.player(player)
        if o.owner == player:
            raise Refused(Code.OWN_OFFER, "an offer cannot be accepted by its maker")
        v = self.village_of(player, p.villages[0] if village is None else village)
        wi, want_amount = o.want
        merchants = self._merchants(v, want_amount)
        cost = [0.0] * 4
        cost[wi] = float(want_amount)
        self.pay(v, (cost[0], cost[1], cost[2], cost[3]))
        v.merchants_busy += merchants
        seller = self.villages[o.village]
        del self.offers[o.id]
        self.players[o.owner].offers.discard(o.id)
        goods = [0.0] * 4
        goods[o.give[0]] = float(o.give[1])
        to_buyer = self._ship(seller, v, goods, o.merchants)
        to_seller = self._ship(v, seller, cost, merchants)
        return {
            "offer": o.id,
            "arrives_at": to_buyer.arrives_at,
            "movements": [to_buyer.id, to_seller.id],
        }

    def cancel_offer(self, player: int, offer: int) -> dict[str, Any]:
        o = self._offer(offer)
        if o.owner != player:
            raise Refused(Code.NOT_OWNER, f"offer {o.id} belongs to player {o.owner}")
        v = self.villages[o.village]
        del self.offers[o.id]
        self.players[o.owner].offers.discard(o.id)
        v.settle(self.now)
        refund = [0.0] * 4
        refund[o.give[0]] = float(o.give[1])
        v.add(refund)
        v.merchants_busy -= o.merchants
        return {"offer": o.id, "cancelled": True}

    def _merchants(self, v: Village, amount: int) -> int:
        total = v.levels["marketplace"] * MERCHANTS_PER_LEVEL
        if total < 1:
            raise Refused(Code.MARKETPLACE_REQUIRED, "a marketplace (level 1 or more) is needed")
        need = merchants_for(amount)
        free = total - v.merchants_busy
        if need > free:
            raise Refused(Code.NO_MERCHANTS, f"{need} merchants needed, {free} free")
        return need

    def _ship(self, source: Village, target: Village, goods: list[float], n: int) -> Movement:
        trip = travel_time(distance(source, target), MERCHANT_SPEED)
        movement = Movement(
            self.new_id("movement"),
            "trade",
            "trade",
            source.owner,
            source.id,
            source.id,
            target.id,
            {},
            self.now,
            self.now + trip,
            cargo=goods,
            merchants=n,
        )
        self.start_movement(movement)
        return movement

    def _offer(self, offer: int) -> Offer:
        found = self.offers.get(offer)
        if found is None:
            raise Refused(Code.UNKNOWN_OFFER, f"no open offer {offer}")
        return found


def _resource(name: str) -> int:
    if name not in RESOURCES:
        raise Refused(Code.BAD_REQUEST, f"a resource is one of {', '.join(RESOURCES)}")
    return RESOURCES.index(name)
