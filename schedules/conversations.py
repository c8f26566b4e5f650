"""Ended conversations become summary jobs (the leading scheduler, every few seconds).

The memory writer keeps each NPC with an open or closed conversation in a sorted set,
scored by when it is due (the last turn plus the silence gap; 0 once closed). Taking
due NPCs pushes their score forward by a retry interval in the same script, so a lost
summary job comes back and two schedulers never take the same NPC twice.
"""

from __future__ import annotations

from collections.abc import Callable

import redis

from npcfarm.keys import Keys

RETRY_S = 300.0  # a summary job not done by then is published again
TAKE_LIMIT = 200  # NPCs per scheduler pass

# KEYS: conversations; ARGV: now, limit, retry_s
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, npc in ipairs(due) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), npc)
end
return due
"""

PublishSummary = Callable[[str], None]


class ConversationCloser:
    def __init__(self, client: redis.Redis, keys: Keys, publish: PublishSummary) -> None:
        self._keys = keys
        self._publish = publish
        self._take = client.register_script(_TAKE)

    def run(self, now: float, *, limit: int = TAKE_LIMIT) -> int:
        due = [
            str(n) for n in self._take(keys=[self._keys.conversations], args=[now, limit, RETRY_S])
        ]
        for npc_id in due:
            self._publish(npc_id)
        return len(due)
