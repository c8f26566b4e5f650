"""Session summaries: what a finished conversation leaves behind (300-600 characters).

The deterministic summary is built from the record itself (who, when, how long, what
was said and done, how the NPC's mood moved, where the relationship stands), so it is
never wrong about facts. Where a model is loaded, the summary task adds the NPC's own
one-line reflection in its voice (see tasks/memory.py).
"""

from __future__ import annotations

import json
import time

from npcfarm.memory.records import SUMMARY_MAX, HotMemory, Memory, Recall, Session
from npcfarm.memory.render import bond_line

IMPORTANCE = {"help": 0.9, "attack": 0.8, "gift": 0.6, "trade": 0.4, "talk": 0.3}


def due_sessions(hot: HotMemory, now: float, gap_s: float) -> list[Session]:
    """Ended sessions: closed ones, and the open one once it has been silent long enough."""
    done = list(hot.closed)
    if hot.session and now - hot.session.last >= gap_s:
        done.append(hot.session)
    return done


def _quote(text: str, limit: int) -> str:
    """Words as a JSON string (data, whatever quotes they hold), clipped."""
    flat = " ".join(text.split())
    return json.dumps(flat[: limit - 1] + "…" if len(flat) > limit else flat, ensure_ascii=False)


def deterministic_summary(session: Session, hot: HotMemory, recall: Recall) -> str:
    turns = [t for t in hot.turns if t.session == session.id]
    said = [t.text for t in turns if t.who == session.player_id and not t.text.startswith("(")]
    replies = [t.text for t in turns if t.who == "self" and not t.text.startswith("(")]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(session.started))
    minutes = max(1, round((session.last - session.started) / 60))
    acts = [k for k in session.kinds if k != "talk"]
    parts = [
        f"On {when} {session.player_id} spoke with me for about {minutes} min "
        f"({session.turns} turn{'' if session.turns == 1 else 's'})."
    ]
    if acts:
        parts.append(f"They {', '.join(_acted(k) for k in acts)}.")
    if said:
        parts.append("They said " + ", then ".join(_quote(s, 90) for s in said[-3:]) + ".")
    if replies:
        parts.append("I answered " + ", then ".join(_quote(r, 70) for r in replies[-2:]) + ".")
    moods = [p.emotion for p in recall.mood if session.started <= p.ts <= session.last + 1]
    if moods:
        arc = [session.mood_from or moods[0]]
        for mood in moods:
            if mood != arc[-1]:
                arc.append(mood)
        parts.append(f"My mood went {' -> '.join(map(str, arc[:5]))}.")
    earlier = [
        f.text for f in recall.facts if f.player_id == session.player_id and f.ts < session.started
    ]
    if earlier:
        parts.append("Before that I knew: " + "; ".join(earlier[-2:]) + ".")
    bond = hot.rel.players.get(session.player_id)
    if bond is not None:
        parts.append(bond_line(session.player_id, bond).replace("You and", "Between me and"))
    return _fit(" ".join(parts))


def _acted(kind: str) -> str:
    return {
        "gift": "gave me a gift",
        "attack": "attacked me",
        "trade": "traded with me",
        "help": "saved my life",
    }.get(kind, kind)


def _fit(text: str) -> str:
    if len(text) <= SUMMARY_MAX:
        return text
    return text[: SUMMARY_MAX - 1].rsplit(" ", 1)[0] + "…"


def summary_memory(session: Session, text: str, *, source: str) -> Memory:
    importance = max((IMPORTANCE.get(k, 0.3) for k in session.kinds), default=0.3)
    importance = min(1.0, importance + 0.02 * min(session.turns, 10))
    return Memory(
        id=session.id,
        kind="summary",
        ts=session.last,
        text=_fit(text),
        importance=importance,
        player_id=session.player_id,
        source=source,
    )
