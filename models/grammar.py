"""The decision schema as a GBNF grammar, and the parser that checks model output again.

The grammar is what llama.cpp's grammar sampler enforces token by token; the parser is
what stands between the model and the game: nothing reaches a `Decision` that it has
not validated, even when the grammar was on (defence in depth, and the unconstrained
benchmark path needs it anyway).

Replies are primed: the prompt ends with RESPONSE_PRIMER, so the model continues a
decision object instead of deciding whether to write one (a 270M model often does not,
unprimed), and the primer's tokens are prompt tokens, decoded in one batched pass
rather than one generation step each.

Field order is fixed as action, target, emotion, speech: the action is decided first,
and when a token budget or time limit cuts generation short inside the speech string
(the only unbounded-looking part), `salvage` closes the string and the decision still
stands. Every string in the grammar has a length bound and whitespace is at most one
space, so even a random-weight model must finish within a known number of characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from npcfarm.domain import MAX_SPEECH_CHARS, Action, Emotion, clip_speech

MAX_TARGET_CHARS = 64  # the Decision.target bound
RESPONSE_PRIMER = '{"action": "'  # the model's reply starts with this, already decoded
FIELDS = ("action", "target", "emotion", "speech")  # the order the grammar imposes

_OPEN, _QUOTE, _BACKSLASH, _CLOSE = ord("{"), ord('"'), ord("\\"), ord("}")


class DecisionFormatError(ValueError):
    """Model output that is not a valid decision object (unconstrained path only)."""


@dataclass(frozen=True, slots=True)
class ParsedDecision:
    action: Action
    target: str | None
    emotion: Emotion
    speech: str | None


def _alternatives(values: Iterable[str]) -> str:
    return " | ".join(f'"\\"{value}\\""' for value in values)


def decision_grammar(allowed: Iterable[Action]) -> str:
    """GBNF for one decision object whose action is one of `allowed`."""
    actions = sorted({Action(a).value for a in allowed})
    if not actions:
        raise ValueError("a decision grammar needs at least one allowed action")
    return "\n".join(
        (
            'root ::= "{" sp "\\"action\\":" sp action "," sp "\\"target\\":" sp target ","'
            ' sp "\\"emotion\\":" sp emotion "," sp "\\"speech\\":" sp speech sp "}"',
            f"action ::= {_alternatives(actions)}",
            f"emotion ::= {_alternatives(e.value for e in Emotion)}",
            f'target ::= "null" | "\\"" tchar{{1,{MAX_TARGET_CHARS}}} "\\""',
            f'speech ::= "null" | "\\"" schar{{1,{MAX_SPEECH_CHARS}}} "\\""',
            'tchar ::= [^"\\\\\\x00-\\x1f]',
            'schar ::= [^"\\\\\\x00-\\x1f] | "\\\\" ["\\\\/nt]',
            'sp ::= " "?',
        )
    )


class ObjectScanner:
    """Finds where the first top-level JSON object in a byte stream ends.

    Works on raw bytes because the structural characters are ASCII, which never occur
    inside a multi-byte UTF-8 sequence; so no partial-character decoding is needed.
    """

    __slots__ = ("_depth", "_escape", "_in_string", "done", "started")

    def __init__(self) -> None:
        self._depth = 0
        self._in_string = False
        self._escape = False
        self.started = False
        self.done = False

    @property
    def in_string(self) -> bool:
        return self._in_string

    def feed(self, data: bytes) -> int | None:
        """Consume bytes; returns how many of them belong to the object when it closes."""
        if self.done:
            return None
        for index, byte in enumerate(data):
            if self._step(byte):
                self.done = True
                return index + 1
        return None

    def _step(self, byte: int) -> bool:
        if not self.started:
            if byte == _OPEN:
                self.started, self._depth = True, 1
        elif self._in_string:
            if self._escape:
                self._escape = False
            elif byte == _BACKSLASH:
                self._escape = True
            elif byte == _QUOTE:
                self._in_string = False
        elif byte == _QUOTE:
            self._in_string = True
        elif byte == _OPEN:
            self._depth += 1
        elif byte == _CLOSE:
            self._depth -= 1
            return self._depth == 0
        return False


def _optional_text(value: object, name: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecisionFormatError(f"{name} must be a string or null")
    text = " ".join(value.split())
    if not text:
        return None
    if name == "speech":
        return clip_speech(text)
    if len(text) > limit:
        raise DecisionFormatError(f"{name} longer than {limit} characters")
    return text


def parse_decision(text: str, allowed: Iterable[Action]) -> ParsedDecision:
    """Validate one decision object (surrounding text ignored); DecisionFormatError if not."""
    start = text.find("{")
    if start < 0:
        raise DecisionFormatError("no JSON object in the output")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError as exc:
        raise DecisionFormatError(f"not JSON: {exc.msg}") from None
    if not isinstance(value, dict) or set(value) != set(FIELDS):
        raise DecisionFormatError(f"expected exactly the keys {', '.join(FIELDS)}")
    allowed_values = {Action(a).value for a in allowed}
    action = value["action"]
    if not isinstance(action, str) or action not in allowed_values:
        raise DecisionFormatError(f"action {action!r} is not allowed here")
    emotion = value["emotion"]
    if not isinstance(emotion, str) or emotion not in {e.value for e in Emotion}:
        raise DecisionFormatError(f"unknown emotion {emotion!r}")
    return ParsedDecision(
        action=Action(action),
        target=_optional_text(value["target"], "target", MAX_TARGET_CHARS),
        emotion=Emotion(emotion),
        speech=_optional_text(value["speech"], "speech", MAX_SPEECH_CHARS),
    )


SPEECH_KEY = '"speech":'  # once generated, action, target and emotion are complete


def parse_head(text: str, allowed: Iterable[Action]) -> ParsedDecision | None:
    """Action, target and emotion as soon as the speech key begins (speech None), else
    None. The grammar orders the fields, and a target cannot hold a quote, so the key
    cannot appear earlier."""
    at = text.find(SPEECH_KEY)
    if at < 0:
        return None
    try:
        return parse_decision(text[:at] + SPEECH_KEY + " null}", allowed)
    except DecisionFormatError:
        return None


_TARGET_KEY, _EMOTION_KEY = '"target":', '"emotion":'


def forced_continuation(text: str, allowed: Iterable[Action]) -> str:
    """What must follow `text` (a reply begun with RESPONSE_PRIMER) at the decision's
    fixed joints, so it can be decoded in one batched pass ("jump-forward") instead of
    one generation step per token: the target key after a complete action name, the
    emotion key after a complete target, the speech key after a complete emotion name.

    Empty where the model still has a choice. A joint stops at its colon: the space
    after it is left to the model, whose tokenizer writes it together with the value
    (a lone space token there derails a small model). The text the model chose is never
    changed: where it wrote a joint differently (the grammar allows a missing space),
    nothing is forced.
    """
    if SPEECH_KEY in text or not text.startswith(RESPONSE_PRIMER):
        return ""
    if (at := text.find(_EMOTION_KEY)) >= 0:
        value = _value(text[at + len(_EMOTION_KEY) :])
        if not value.startswith('"'):
            return ""
        return _after_name(value[1:], [e.value for e in Emotion], '", ' + SPEECH_KEY)
    if (at := text.find(_TARGET_KEY)) >= 0:
        value = _value(text[at + len(_TARGET_KEY) :])
        if value.startswith("null"):
            return _rest("null, " + _EMOTION_KEY, value, len("null"))
        close = value.find('"', 1)  # a target holds no quote, so the next one closes it
        if value.startswith('"') and close > 0:
            return _rest(value[: close + 1] + ", " + _EMOTION_KEY, value, close + 1)
        return ""
    names = [Action(a).value for a in allowed]
    return _after_name(text[len(RESPONSE_PRIMER) :], names, '", ' + _TARGET_KEY)


def _value(after_key: str) -> str:
    return after_key[1:] if after_key.startswith(" ") else after_key


def _after_name(written: str, names: Sequence[str], joint: str) -> str:
    """The rest of `name + joint` once `written` holds one whole name unambiguously."""
    for name in names:
        if not written.startswith(name):
            continue
        longer = any(other != name and other.startswith(name) for other in names)
        if len(written) == len(name) and longer:
            return ""  # "attack" could still become "attack_all"
        if rest := _rest(name + joint, written, len(name)):
            return rest
    return ""


def _rest(literal: str, written: str, at_least: int) -> str:
    return (
        literal[len(written) :] if len(written) >= at_least and literal.startswith(written) else ""
    )


def salvage(text: str, allowed: Iterable[Action]) -> ParsedDecision | None:
    """A decision from output cut short inside its last field (speech), else None."""
    allowed = tuple(allowed)
    body = text[:-1] if text.endswith("\\") and not text.endswith("\\\\") else text
    for ending in ('"}', "}", "null}", ":null}", '":null}'):
        try:
            return parse_decision(body + ending, allowed)
        except DecisionFormatError:
            continue
    return None
