"""Alliances (an embassy to found or join, capacity from the leader's embassy) and
player-to-player messages (bounded in length and in how many an inbox keeps)."""

from __future__ import annotations

from typing import Any

from ops.games.strategy.errors import Code, Refused
from ops.games.strategy.state import GameState
from ops.games.strategy.world import Alliance, Player

NAME_MIN, NAME_MAX = 3, 32  # alliance name length
MESSAGE_MAX = 1000  # characters in one message
INVITES_MAX = 50  # open invitations per alliance


class Diplomacy(GameState):
    def create_alliance(self, player: int, name: str) -> dict[str, Any]:
        p = self.player(player)
        name = name.strip()
        if not NAME_MIN <= len(name) <= NAME_MAX:
            raise Refused(Code.BAD_REQUEST, f"a name has {NAME_MIN}..{NAME_MAX} characters")
        if p.alliance is not None:
            raise Refused(Code.ALREADY_IN_ALLIANCE, f"already in alliance {p.alliance}")
        self._need_embassy(p)
        if any(a.name.casefold() == name.casefold() for a in self.alliances.values()):
            raise Refused(Code.NAME_TAKEN, f"an alliance is already called {name!r}")
        alliance = Alliance(self.new_id("alliance"), name, p.id, [p.id])
        self.alliances[alliance.id] = alliance
        self._join(p, alliance)
        return {"alliance": alliance.id, "name": name}

    def invite(self, player: int, alliance: int, invitee: int) -> dict[str, Any]:
        p, a = self.player(player), self._alliance(alliance)
        if p.id not in a.members:
            raise Refused(Code.NOT_MEMBER, f"player {p.id} is not in alliance {a.id}")
        guest = self.player(invitee)
        if guest.id in a.members:
            raise Refused(Code.ALREADY_IN_ALLIANCE, f"player {guest.id} is a member already")
        if len(a.members) >= self.capacity(a) or len(a.invited) >= INVITES_MAX:
            raise Refused(Code.ALLIANCE_FULL, f"alliance {a.id} has no room to invite")
        a.invited.add(guest.id)
        guest.invites[a.id] = p.id
        return {"alliance": a.id, "invited": guest.id}

    def accept_invite(self, player: int, alliance: int) -> dict[str, Any]:
        p, a = self.player(player), self._alliance(alliance)
        if a.id not in p.invites:
            raise Refused(Code.NO_INVITE, f"no invitation from alliance {a.id}")
        if p.alliance is not None:
            raise Refused(Code.ALREADY_IN_ALLIANCE, f"already in alliance {p.alliance}")
        self._need_embassy(p)
        if len(a.members) >= self.capacity(a):
            raise Refused(Code.ALLIANCE_FULL, f"alliance {a.id} is full")
        a.members.append(p.id)
        self._join(p, a)
        return {"alliance": a.id, "members": list(a.members)}

    def leave_alliance(self, player: int) -> dict[str, Any]:
        p = self.player(player)
        if p.alliance is None:
            raise Refused(Code.NOT_IN_ALLIANCE, "not in an alliance")
        a = self.alliances[p.alliance]
        a.members.remove(p.id)
        p.alliance = None
        if not a.members:  # the last one out closes it
            for guest in a.invited:
                self.players[guest].invites.pop(a.id, None)
            del self.alliances[a.id]
        elif a.leader == p.id:
            a.leader = a.members[0]  # the longest-standing member leads
        return {"left": a.id, "dissolved": not a.members}

    def send_message(self, player: int, to: int, text: str) -> dict[str, Any]:
        sender, recipient = self.player(player), self.player(to)
        if not 1 <= len(text) <= MESSAGE_MAX or not text.strip():
            raise Refused(Code.BAD_REQUEST, f"a message has 1..{MESSAGE_MAX} characters")
        message = {
            "id": self.new_id("message"),
            "time": self.now,
            "from": sender.id,
            "from_name": sender.name,
            "to": recipient.id,
            "text": text,
        }
        recipient.messages.append(message)
        return {"message": message["id"], "to": recipient.id}

    def _alliance(self, alliance: int) -> Alliance:
        found = self.alliances.get(alliance)
        if found is None:
            raise Refused(Code.UNKNOWN_ALLIANCE, f"no alliance {alliance}")
        return found

    def _need_embassy(self, p: Player) -> None:
        if self.embassy(p) < 1:
            raise Refused(Code.EMBASSY_REQUIRED, "an embassy (level 1 or more) is needed")

    def _join(self, p: Player, a: Alliance) -> None:
        p.alliance = a.id
        for other in p.invites:
            if other in self.alliances:
                self.alliances[other].invited.discard(p.id)
        p.invites.clear()
