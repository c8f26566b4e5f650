"""Turning prompt text into tokens in the model's chat format.

The system prompt becomes the shared prefix (BOS, the format's system opening, the
text, its closing) and is cached per text, since every request of an archetype repeats
it. Marker strings are tokenized with special tokens on and prompt text with them off,
so text can never smuggle in a turn marker. The suffix ends with the response primer
(models/grammar.py), which the engine also feeds to the grammar and the text scanner.
"""

from __future__ import annotations

from models.grammar import RESPONSE_PRIMER
from models.llm.native import Model
from models.prompts import chat_format

PREFIX_CACHE_SIZE = 64  # tokenized system prompts remembered per engine


class Framer:
    def __init__(self, model: Model, chat_template: str | None) -> None:
        self._model = model
        self.format = chat_format(chat_template, model.chat_template, model.arch)
        self._prefixes: dict[str, tuple[int, ...]] = {}
        self.primer = tuple(model.tokenize(RESPONSE_PRIMER, special=False))

    def prefix(self, system: str) -> tuple[int, ...]:
        cached = self._prefixes.get(system)
        if cached is None:
            fmt, model = self.format, self._model
            tokens = [model.bos] if model.add_bos else []
            tokens += model.tokenize(fmt.system_open, special=True)
            tokens += model.tokenize(system, special=False)
            tokens += model.tokenize(fmt.system_close, special=True)
            if len(self._prefixes) >= PREFIX_CACHE_SIZE:
                self._prefixes.clear()
            cached = self._prefixes[system] = tuple(tokens)
        return cached

    def suffix(self, prompt: str) -> list[int]:
        fmt, model = self.format, self._model
        return (
            model.tokenize(fmt.user_open, special=True)
            + model.tokenize(prompt, special=False)
            + model.tokenize(fmt.user_close, special=True)
            + list(self.primer)
        )
