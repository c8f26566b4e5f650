"""Why an order is refused: a closed list of stable codes clients switch on.

`reason` is for people and may change; `code` may not. Each code has one HTTP status,
so the plain-Python game and the HTTP server refuse an order the same way.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    BAD_REQUEST = "bad_request"  # malformed body, query or path; a negative or huge number
    UNAUTHORIZED = "unauthorized"  # no or wrong operator token
    RATE_LIMITED = "rate_limited"  # the token's bucket is empty; see Retry-After
    NOT_FOUND = "not_found"  # no such route
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BODY_TOO_LARGE = "body_too_large"
    INTERNAL = "internal"  # a bug in the server; never expected, reported as 500
    CLOCK_RUNNING = "clock_running"  # POST /api/clock/advance on a real-time server
    UNKNOWN_PLAYER = "unknown_player"
    UNKNOWN_VILLAGE = "unknown_village"
    UNKNOWN_BUILDING = "unknown_building"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_ALLIANCE = "unknown_alliance"
    UNKNOWN_OFFER = "unknown_offer"
    NOT_OWNER = "not_owner"  # the village or offer belongs to someone else
    NOT_MEMBER = "not_member"  # inviting to an alliance one is not in
    NOT_ALLIED = "not_allied"  # reinforcing a player of another (or no) alliance
    ALLIED_TARGET = "allied_target"  # attacking, raiding or scouting an ally
    OWN_VILLAGE = "own_village"  # attacking oneself, or sending to the same village
    INSUFFICIENT_RESOURCES = "insufficient_resources"
    STORAGE_TOO_SMALL = "storage_too_small"  # the cost is over the warehouse or granary
    QUEUE_BUSY = "queue_busy"  # a construction is already running in the village
    BUILDING_MAX_LEVEL = "building_max_level"
    BARRACKS_REQUIRED = "barracks_required"  # none, or too low a level for the unit
    TRAINING_QUEUE_FULL = "training_queue_full"
    NO_TROOPS = "no_troops"  # not that many at home (or none stationed there to recall)
    SCOUTS_ONLY = "scouts_only"  # a scouting mission with other units
    EMBASSY_REQUIRED = "embassy_required"
    ALREADY_IN_ALLIANCE = "already_in_alliance"
    NOT_IN_ALLIANCE = "not_in_alliance"
    NO_INVITE = "no_invite"
    ALLIANCE_FULL = "alliance_full"
    NAME_TAKEN = "name_taken"
    MARKETPLACE_REQUIRED = "marketplace_required"
    NO_MERCHANTS = "no_merchants"
    BAD_RATIO = "bad_ratio"  # an offer's want/give outside [1/2, 2]
    OWN_OFFER = "own_offer"
    TOO_MANY_OFFERS = "too_many_offers"


STATUS: dict[Code, int] = {
    Code.BAD_REQUEST: 400,
    Code.UNAUTHORIZED: 401,
    Code.RATE_LIMITED: 429,
    Code.NOT_FOUND: 404,
    Code.METHOD_NOT_ALLOWED: 405,
    Code.BODY_TOO_LARGE: 413,
    Code.INTERNAL: 500,
    Code.NOT_OWNER: 403,
    Code.NOT_MEMBER: 403,
    Code.NOT_ALLIED: 403,
    **{c: 404 for c in Code if c.value.startswith("unknown_")},
}


def status_of(code: Code) -> int:
    """404 for unknown ids, 403 for someone else's things, 409 for the game's refusals."""
    return STATUS.get(code, 409)


class Refused(Exception):
    """An order the game will not carry out; nothing was changed."""

    def __init__(self, code: Code, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason

    @property
    def status(self) -> int:
        return status_of(self.code)
