"""The decision grammar and the parser that re-checks every model output."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import llama_cpp as lc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.grammar import (
    MAX_TARGET_CHARS,
    RESPONSE_PRIMER,
    DecisionFormatError,
    ObjectScanner,
    _after_name,
    decision_grammar,
    forced_continuation,
    parse_decision,
    salvage,
)
from models.llm.native import Model
from models.testmodels import write_tiny_model
from npcfarm.domain import MAX_SPEECH_CHARS, Action, Emotion

ALLOWED = (Action.IDLE, Action.SPEAK)


def doc(**fields: object) -> str:
    base: dict[str, object] = {
        "action": "speak",
        "target": "p1",
        "emotion": "calm",
        "speech": "Hi.",
    }
    base.update(fields)
    return json.dumps(base)


def test_valid_decision_parses() -> None:
    parsed = parse_decision("noise before " + doc() + " and after", ALLOWED)
    assert (parsed.action, parsed.target, parsed.emotion, parsed.speech) == (
        Action.SPEAK,
        "p1",
        Emotion.CALM,
        "Hi.",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no object here", "no JSON object"),
        ('{"action": "speak",', "not JSON"),
        (doc(action="attack"), "not allowed"),
        (doc(emotion="smug"), "unknown emotion"),
        (doc(target=3), "target must be a string"),
        (doc(target="x" * (MAX_TARGET_CHARS + 1)), "longer than"),
        (json.dumps({"action": "idle"}), "exactly the keys"),
        (doc(extra=1), "exactly the keys"),
    ],
)
def test_invalid_decisions_are_rejected(text: str, message: str) -> None:
    with pytest.raises(DecisionFormatError, match=message):
        parse_decision(text, ALLOWED)


def test_speech_is_normalised_and_bounded() -> None:
    parsed = parse_decision(doc(speech="  many   spaces\n" + "word " * 100, target=""), ALLOWED)
    assert parsed.target is None
    assert parsed.speech is not None and len(parsed.speech) <= MAX_SPEECH_CHARS
    assert "  " not in parsed.speech


@given(st.text(max_size=300))
def test_parser_fails_only_with_its_own_error(text: str) -> None:
    with contextlib.suppress(DecisionFormatError):
        parse_decision(text, ALLOWED)


def test_salvage_closes_speech_but_not_earlier_fields() -> None:
    cut = RESPONSE_PRIMER + 'speak", "target": null, "emotion": "sad", "speech": "I remember wh'
    parsed = salvage(cut, ALLOWED)
    assert parsed is not None and parsed.speech == "I remember wh"
    assert salvage(RESPONSE_PRIMER + 'speak", "target": "p', ALLOWED) is None
    assert salvage(RESPONSE_PRIMER + "sp", ALLOWED) is None
    ended = RESPONSE_PRIMER + 'idle", "target": null, "emotion": "sad", "speech": '
    parsed = salvage(ended, ALLOWED)
    assert parsed is not None and parsed.speech is None


def test_object_scanner_respects_strings_and_escapes() -> None:
    scanner = ObjectScanner()
    assert scanner.feed(b'junk {"a": "} \\" {') is None
    assert scanner.in_string
    assert scanner.feed(b'", "b": {}} tail') == len(b'", "b": {}}')
    assert scanner.done and scanner.feed(b"}") is None


def test_grammar_names_only_allowed_actions() -> None:
    text = decision_grammar([Action.FEED, Action.IDLE])
    assert '"\\"feed\\""' in text and '"\\"idle\\""' in text and "attack" not in text
    with pytest.raises(ValueError, match="at least one"):
        decision_grammar([])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Model:
    return Model(write_tiny_model(tmp_path_factory.mktemp("g") / "tiny.gguf"), n_gpu_layers=0)


def _accepts(model: Model, allowed: tuple[Action, ...], text: str) -> bool:
    """Whether llama.cpp's grammar engine accepts `text` as a complete prefix, char by char."""
    grammar = lc.llama_sampler_init_grammar(
        model.vocab, decision_grammar(allowed).encode(), b"root"
    )
    assert grammar
    try:
        import numpy as np  # noqa: PLC0415

        from models.llm.native import TOKEN_DATA, token_array  # noqa: PLC0415

        for char in text:
            (token,) = model.tokenize(char, special=False)[-1:]
            data = np.zeros(1, dtype=TOKEN_DATA)
            data[0] = (token, 0.0, 0.0)
            array = token_array(data)
            lc.llama_sampler_apply(grammar, array)
            if not np.isfinite(data["logit"][0]):
                return False
            lc.llama_sampler_accept(grammar, token)
        return True
    finally:
        lc.llama_sampler_free(grammar)


def test_llama_cpp_accepts_what_the_grammar_means(tiny: Model) -> None:
    good = doc(action="idle", target=None, speech=None)
    assert _accepts(tiny, ALLOWED, good)
    assert _accepts(tiny, ALLOWED, RESPONSE_PRIMER)
    assert not _accepts(tiny, ALLOWED, doc(action="attack"))
    assert not _accepts(tiny, ALLOWED, '{"action":  "idle"')  # at most one space
    assert not _accepts(tiny, ALLOWED, doc(speech="x" * (MAX_SPEECH_CHARS + 1)))
    assert not _accepts(tiny, ALLOWED, '{"target": null')  # fixed field order


def test_model_file_is_written_fresh(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path / "m.gguf", seed=3)
    assert path.read_bytes()[:4] == b"GGUF"


@pytest.mark.parametrize(
    ("text", "forced"),
    [
        ('{"action": "', ""),
        ('{"action": "spea', ""),
        ('{"action": "speak', '", "target":'),
        ('{"action": "speak"', ', "target":'),
        ('{"action": "speak",', ' "target":'),
        ('{"action": "speak","target"', ""),  # the model wrote the joint its own way
        ('{"action": "speak", "target": nu', ""),
        ('{"action": "speak", "target": null', ', "emotion":'),
        ('{"action": "speak", "target":"p1"', ', "emotion":'),
        ('{"action": "speak", "target": "p1", "emotion": "calm', '", "speech":'),
        ('{"action": "speak", "target": "p1", "emotion": "calm", "speech":', ""),
    ],
)
def test_forced_continuation_at_the_fixed_joints(text: str, forced: str) -> None:
    assert forced_continuation(text, list(Action)) == forced


def test_a_name_that_begins_another_is_not_forced_early() -> None:
    names = ["attack", "attack_all"]
    assert _after_name("attack", names, '"') == ""  # could still become attack_all
    assert _after_name('attack"', names, '", ') == ", "
    assert _after_name("attack_all", names, '"') == '"'
