"""Typed wrappers over the llama.cpp C API that llama-cpp-python exposes through ctypes.

The rest of the engine talks to these few classes, never to raw pointers: ownership
(which object frees which pointer) is in one place, errors come back as EngineError
subclasses, and ctypes' looseness stops at this module. ctypes releases the GIL
during foreign calls, so a decode does not stall other Python threads of a worker.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np

from npcfarm.errors import DecodeFailure, ModelLoadFailed, ModelMissing

log = logging.getLogger(__name__)
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}  # ggml WARN, ERROR; the rest dropped
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


@lc.llama_log_callback  # type: ignore[untyped-decorator]
def _forward_log(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
    python_level = _LOG_LEVELS.get(level)
    if python_level is not None and text:
        log.log(python_level, "llama.cpp: %s", text.decode("utf-8", "replace").rstrip())


@functools.cache
def init_backend() -> None:
    """Initialise llama.cpp once per process and route its log into `logging`."""
    lc.llama_log_set(_forward_log, ctypes.c_void_p(0))
    lc.llama_backend_init()


def supports_gpu_offload() -> bool:
    return bool(lc.llama_supports_gpu_offload())


def system_info() -> str:
    return bytes(lc.llama_print_system_info()).decode("utf-8", "replace").strip()


def max_sequences() -> int:
    return int(lc.llama_max_parallel_sequences())


def token_array(data: np.ndarray) -> Any:
    """A llama_token_data_array over a TOKEN_DATA numpy array (no copy)."""
    return lc.llama_token_data_array(
        data=data.ctypes.data_as(lc.llama_token_data_p),
        size=len(data),
        selected=-1,
        sorted=False,
    )


class Model:
    """A loaded GGUF model and its vocabulary."""

    def __init__(self, path: Path, *, n_gpu_layers: int) -> None:
        init_backend()
        if not path.is_file():
            raise ModelMissing(f"model file {path} does not exist")
        params = lc.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers if n_gpu_layers >= 0 else 10_000
        ptr = lc.llama_model_load_from_file(str(path).encode(), params)
        if not ptr:
            raise ModelLoadFailed(f"llama.cpp could not load {path} (see the log for why)")
        self.ptr: Any = ptr
        self.path = path
        self.vocab: Any = lc.llama_model_get_vocab(ptr)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self.vocab))
        self.n_layer = int(lc.llama_model_n_layer(ptr))
        self.add_bos = bool(lc.llama_vocab_get_add_bos(self.vocab))
        self.bos = int(lc.llama_vocab_bos(self.vocab))
        template = lc.llama_model_chat_template(ptr, None)
        self.chat_template: str | None = template.decode("utf-8", "replace") if template else None
        self.arch = self.meta("general.architecture") or ""
        self._pieces: dict[int, bytes] = {}
        self._adapters: list[Any] = []

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as text, or None when the file does not have it."""
        buf = ctypes.create_string_buffer(256)
        n = lc.llama_model_meta_val_str(self.ptr, key.encode(), buf, 256)
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        """Tokens of `text`, no BOS; `special` parses control-token markers."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buf = (lc.llama_token * capacity)()
        n = lc.llama_tokenize(self.vocab, data, len(data), buf, capacity, False, special)
        if n < 0:
            buf = (lc.llama_token * -n)()
            n = lc.llama_tokenize(self.vocab, data, len(data), buf, -n, False, special)
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (control tokens render as nothing); cached."""
        cached = self._pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(64)
            n = lc.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = lc.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
            cached = self._pieces[token] = buf.raw[:n]
        return cached

    def is_eog(self, token: int) -> bool:
        return bool(lc.llama_vocab_is_eog(self.vocab, token))

    def load_adapter(self, path: Path) -> Any:
        """Load a LoRA adapter (freed with the model); ModelMissing / ModelLoadFailed."""
        if not path.is_file():
            raise ModelMissing(f"LoRA adapter {path} does not exist")
        ptr = lc.llama_adapter_lora_init(self.ptr, str(path).encode())
        if not ptr:
            raise ModelLoadFailed(f"llama.cpp could not load LoRA {path} for {self.path.name}")
        self._adapters.append(ptr)
        return ptr

    def close(self) -> None:
        if self.ptr:
            for adapter in self._adapters:
                lc.llama_adapter_lora_free(adapter)
            self._adapters.clear()
            lc.llama_model_free(self.ptr)
            self.ptr = None


class Batch:
    """A reusable llama_batch; tokens carry one sequence id each."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw: Any = lc.llama_batch_init(capacity, 0, 1)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        """Append one token; returns its index (the output row when `logits`)."""
        i, raw = self.n, self.raw
        if i >= self.capacity:  # the C arrays end there: never write past them
            raise IndexError(f"batch full ({self.capacity} tokens)")
        raw.token[i] = token
        raw.pos[i] = pos
        raw.n_seq_id[i] = 1
        raw.seq_id[i][0] = seq_id
        raw.logits[i] = logits
        self.n = i + 1
        return i

    def close(self) -> None:
        if self.raw is not None:
            lc.llama_batch_free(self.raw)
            self.raw = None


class Context:
    """One llama_context: a unified KV cache shared by up to `n_seq_max` sequences."""

    def __init__(
        self,
        model: Model,
        *,
        n_ctx: int,
        n_seq_max: int,
        n_batch: int,
        n_threads: int,
        flash_attn: bool | None = None,
    ) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = n_seq_max
        params.n_outputs_max = n_seq_max  # one logits row per sequence and batch, at most:
        # without this llama.cpp sizes its output buffer for n_batch rows (512 x vocab)
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.kv_unified = True  # prefix cells are tagged with many sequences, not copied
        params.no_perf = True
        if flash_attn is not None:  # None: llama.cpp decides (on for CPU builds today)
            params.flash_attn_type = int(flash_attn)
        ptr = lc.llama_init_from_model(model.ptr, params)
        if not ptr:
            raise ModelLoadFailed(f"could not create a context (n_ctx={n_ctx}) for {model.path}")
        self.ptr: Any = ptr
        self.model = model
        self.memory: Any = lc.llama_get_memory(ptr)
        self.n_ctx = int(lc.llama_n_ctx(ptr))
        self._adapters: tuple[tuple[int, float], ...] = ()

    def decode(self, batch: Batch) -> None:
        batch.raw.n_tokens = batch.n
        rc = int(lc.llama_decode(self.ptr, batch.raw))
        if rc != 0:
            raise DecodeFailure(f"llama_decode returned {rc} for {batch.n} tokens")

    def logits(self, index: int) -> np.ndarray:
        """The logits row of batch token `index` (a view, valid until the next decode)."""
        ptr = lc.llama_get_logits_ith(self.ptr, index)
        if not ptr:
            raise DecodeFailure(f"no logits for batch index {index}")
        return np.ctypeslib.as_array(ptr, shape=(self.model.n_vocab,))

    def output_rows(self, indices: Sequence[int]) -> np.ndarray:
        """The logits rows of batch tokens `indices` (ascending), as one (n, n_vocab)
        matrix: a view of llama.cpp's output buffer, valid until the next decode.

        llama.cpp stores a batch's outputs in batch order, so ascending indices own rows
        0..n-1; the first and last row are checked against that, and any other layout
        is gathered row by row instead.
        """
        n_vocab = self.model.n_vocab
        if not indices:
            return np.zeros((0, n_vocab), dtype=np.float32)
        base = self._address(lc.llama_get_logits(self.ptr), indices[0])
        row_bytes = 4 * n_vocab
        every = np.ctypeslib.as_array(
            ctypes.cast(base, ctypes.POINTER(ctypes.c_float)), shape=(len(indices), n_vocab)
        )
        first = self._address(lc.llama_get_logits_ith(self.ptr, indices[0]), indices[0])
        last = self._address(lc.llama_get_logits_ith(self.ptr, indices[-1]), indices[-1])
        if first == base and last == base + (len(indices) - 1) * row_bytes:
            return every
        return np.stack([self.logits(i) for i in indices])

    @staticmethod
    def _address(ptr: Any, index: int) -> int:
        at = ctypes.cast(ptr, ctypes.c_void_p).value
        if not at:
            raise DecodeFailure(f"no logits for batch index {index}")
        return at

    def seq_copy(self, src: int, dst: int) -> None:
        lc.llama_memory_seq_cp(self.memory, src, dst, -1, -1)

    def seq_remove(self, seq_id: int) -> None:
        lc.llama_memory_seq_rm(self.memory, seq_id, -1, -1)

    def set_adapters(self, adapters: Sequence[tuple[Any, float]]) -> bool:
        """Apply a LoRA set to the next decodes; returns whether it changed."""
        key = tuple((ctypes.cast(a, ctypes.c_void_p).value or 0, s) for a, s in adapters)
        if key == self._adapters:
            return False
        n = len(adapters)
        ptrs = (lc.llama_adapter_lora_p_ctypes * max(n, 1))(*(a for a, _ in adapters))
        scales = (ctypes.c_float * max(n, 1))(*(s for _, s in adapters))
        rc = int(
            lc.llama_set_adapters_lora(self.ptr, ptrs if n else None, n, scales if n else None)
        )
        if rc != 0:
            raise DecodeFailure(f"llama_set_adapters_lora returned {rc}")
        self._adapters = key
        return True

    def close(self) -> None:
        if self.ptr:
            lc.llama_free(self.ptr)
            self.ptr = None
