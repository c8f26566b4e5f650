"""Inbox entries as they arrive: bytes from Redis to an event or a coded refusal.

Nothing a bridge writes may stop the ingest. Three inputs used to: a reply holding
bytes that are not UTF-8 made redis-py's own decoding raise before the ingest saw the
entry, JSON nested a thousand levels deep made `json.loads` raise RecursionError, and
`NaN` passed the parser only to be refused later with a misleading reason. So entries
are read as bytes and decoded here, one by one; nesting is bounded before parsing; and
every failure of any kind becomes an `EventRefused` with a `DeadCode`, so the rest of
the batch is applied and the bad entry is dead-lettered with its reason, raw text kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from npcfarm.errors import EventRefused, first_problem
from npcfarm.events import EVENTS, MAX_EVENT_BYTES, MAX_EVENT_DEPTH, BridgeEvent, DeadCode

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SOURCE = re.compile(rb"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Entry:
    """One inbox entry: its id, its `event` text (escaped where it was not UTF-8), and
    why it cannot be read at all, if so."""

    entry_id: str
    raw: str
    refused: EventRefused | None = None
    source: str | None = None  # the bridge's name: its receipt goes to receipts:{source}


def decode(rows: Iterable[tuple[bytes, Mapping[bytes, bytes] | None]]) -> list[Entry]:
    """Entries of an XREADGROUP / XAUTOCLAIM reply of a bytes client."""
    out = []
    for entry_id, fields in rows:
        ident = entry_id.decode("ascii")
        source = _source((fields or {}).get(b"source"))
        if fields is None:  # trimmed away between delivery and a takeover
            gone = EventRefused(DeadCode.NOT_JSON, "the entry was trimmed before it was read")
            out.append(Entry(ident, "", gone, source))
            continue
        if b"event" not in fields:  # keep what it did hold, for the operator
            kept = {
                k.decode("utf-8", "backslashreplace"): v.decode("utf-8", "backslashreplace")
                for k, v in fields.items()
            }
            names = ", ".join(sorted(kept))
            missing = EventRefused(
                DeadCode.NOT_JSON, f"no `event` field (the entry holds: {names})"
            )
            out.append(Entry(ident, json.dumps(kept, ensure_ascii=False), missing, source))
            continue
        data = fields[b"event"]
        try:
            out.append(Entry(ident, data.decode("utf-8"), source=source))
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1].hex()
            reason = f"not UTF-8: byte 0x{bad} at offset {exc.start}"
            text = data.decode("utf-8", "backslashreplace")
            out.append(Entry(ident, text, EventRefused(DeadCode.NOT_UTF8, reason), source))
    return out


def parse(raw: str) -> BridgeEvent:
    """The event in `raw`, or EventRefused with its code (never any other exception)."""
    try:
        return _parse(raw)
    except EventRefused:
        raise
    except Exception as exc:  # a parser or validator failure nobody foresaw: refuse it
        raise EventRefused(DeadCode.INVALID_EVENT, f"unreadable: {type(exc).__name__}") from exc


def _parse(raw: str) -> BridgeEvent:
    if len(raw.encode()) > MAX_EVENT_BYTES:
        raise EventRefused(DeadCode.TOO_LARGE, f"event larger than {MAX_EVENT_BYTES} bytes")
    if too_deep(raw):
        raise EventRefused(
            DeadCode.TOO_DEEP, f"arrays or objects nested deeper than {MAX_EVENT_DEPTH} levels"
        )
    try:
        data = json.loads(raw, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise EventRefused(DeadCode.NOT_JSON, f"not JSON: {exc.msg} at {exc.pos}") from exc
    except ValueError as exc:  # from _not_json
        raise EventRefused(DeadCode.NOT_JSON, str(exc)) from exc
    try:
        return EVENTS.validate_python(data)
    except ValidationError as exc:
        raise EventRefused(DeadCode.INVALID_EVENT, first_problem(exc, subject="event")) from exc


def too_deep(raw: str) -> bool:
    """Whether arrays and objects nest deeper than MAX_EVENT_DEPTH in `raw` (brackets
    inside strings ignored).

    Ordinary events hold a handful of brackets, so counting them settles almost every
    entry without a scan; only an entry with more brackets than the limit is scanned.
    """
    if raw.count("[") + raw.count("{") <= MAX_EVENT_DEPTH:
        return False
    level = 0
    for char in _STRING.sub('""', raw):
        if char in "[{":
            level += 1
            if level > MAX_EVENT_DEPTH:
                return True
        elif char in "]}":
            level -= 1
    return False


def _source(value: bytes | None) -> str | None:
    """A well-formed `source` field, else None (no receipt; the event still applies)."""
    return value.decode("ascii") if value and _SOURCE.match(value) else None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON (only finite numbers are)")
