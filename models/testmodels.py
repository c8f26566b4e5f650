"""Tiny random-weight GGUF models and LoRA adapters, written in milliseconds.

Tests need real llama.cpp loading, batching, KV sharing and adapters, not a stub of
them; a 2-layer, 64-wide llama with a ~500-token SentencePiece-style vocabulary runs
all of those in a fraction of a second on a CPU. Output-layer weights are large so
that logits have clear gaps: greedy choices then do not flip between batch sizes on
floating-point noise, which the batching-equals-sequential test relies on.

The vocabulary is byte-fallback SPM: 256 byte tokens make every string encodable,
printable ASCII and the prefixes of a few JSON and game words give short encodings,
and ChatML markers are control tokens matching the embedded chat template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from npcfarm.domain import Action, Emotion

ARCH = "llama"
SPACE = "\u2581"  # SentencePiece's visible space
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CONTROL = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
_WORDS = (
    '"action"',
    '"target"',
    '"emotion"',
    '"speech"',
    "null",
    *(f'"{a.value}"' for a in Action),
    *(f'"{e.value}"' for e in Emotion),
    *(
        f"{SPACE}{w}"
        for w in ("the", "you", "and", "night", "blood", "brains", "friend", "village")
    ),
)
_TOKEN_NORMAL, _TOKEN_UNKNOWN, _TOKEN_CONTROL, _TOKEN_UNUSED, _TOKEN_BYTE = 1, 2, 3, 5, 6  # gguf


@dataclass(frozen=True, slots=True)
class TinyShape:
    """Hyper-parameters of the tiny model; the defaults load and run in milliseconds."""

    n_embd: int = 64
    n_head: int = 4
    n_head_kv: int = 2
    n_layer: int = 2
    n_ff: int = 128
    n_ctx_train: int = 4096
    n_vocab: int = 0  # pad the vocabulary to this many tokens (0: the tokenizer's own)
    weight_scale: float = 1.0  # shrinks hidden-layer weights of wide models


# Benchmark shapes: the vocabulary of a real model, the width of a tiny or a real one.
GEMMA_VOCAB_TINY = TinyShape(n_vocab=262_144)  # host time per token at Gemma's vocabulary
LLAMA3_8B = TinyShape(
    n_embd=4096,
    n_head=32,
    n_head_kv=8,
    n_layer=32,
    n_ff=14336,
    n_ctx_train=8192,
    n_vocab=128_256,
    weight_scale=0.125,
)
LLAMA3_VOCAB_SMALL = TinyShape(
    n_embd=256, n_head=8, n_head_kv=4, n_layer=4, n_ff=512, n_vocab=128_256, weight_scale=0.5
)


def vocabulary(n_vocab: int = 0) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the tiny tokenizer, padded with unused tokens
    to `n_vocab` (they never tokenize; a random model may still generate them)."""
    tokens, scores, types = list(_CONTROL), [0.0] * len(_CONTROL), [_TOKEN_UNKNOWN]
    types += [_TOKEN_CONTROL] * (len(_CONTROL) - 1)
    for byte in range(256):
        tokens.append(f"<0x{byte:02X}>")
        scores.append(0.0)
        types.append(_TOKEN_BYTE)
    pieces: dict[str, None] = {}
    for code in range(0x20, 0x7F):
        pieces[SPACE if code == 0x20 else chr(code)] = None
    for word in _WORDS:
        for end in range(2, len(word) + 1):
            pieces[word[:end]] = None
    for piece in pieces:
        tokens.append(piece)
        scores.append(float(len(piece)))
        types.append(_TOKEN_NORMAL)
    for i in range(max(0, n_vocab - len(tokens))):
        tokens.append(f"<unused{i}>")
        scores.append(-1e9)
        types.append(_TOKEN_UNUSED)
    return tokens, scores, types


def _random(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float32)


class _Pool:
    """Random weights cut from one pool of normal draws.

    Drawing 8 billion normals takes minutes; a random benchmark model needs values of the
    right scale, not independent ones, so wide shapes reuse one pool of draws (at most
    POOL values, scaled per tensor). Shapes that fit the pool get fresh values each.
    """

    POOL = 1 << 26

    def __init__(self, rng: np.random.Generator, dtype: str) -> None:
        self._rng = rng
        self._dtype = np.float32 if dtype == "f32" else np.float16
        self._pool: np.ndarray | None = None

    def take(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        size = int(np.prod(shape))
        if size <= self.POOL // 8:
            return _random(self._rng, shape, std).astype(self._dtype, copy=False)
        if self._pool is None:
            self._pool = self._rng.standard_normal(self.POOL).astype(np.float32)
        reps = -(-size // self.POOL)
        flat = np.tile(self._pool, reps)[:size] if reps > 1 else self._pool[:size]
        return (flat * std).astype(self._dtype).reshape(shape)


def write_tiny_model(
    path: Path, *, seed: int = 0, shape: TinyShape = TinyShape(), dtype: str = "f32"
) -> Path:
    """Write a random-weight llama GGUF with a chat template; returns `path`. `dtype`
    "f16" halves the file (an 8B shape is 16 GB in f16, ready for llama-quantize)."""
    import gguf  # noqa: PLC0415  (a test-time dependency; keeps `models` importable without it)

    tokens, scores, types = vocabulary(shape.n_vocab)
    n_vocab, d = len(tokens), shape.n_embd
    head_dim = d // shape.n_head
    pool, k = _Pool(np.random.default_rng(seed), dtype), shape.weight_scale
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_name("npcfarm-tiny-random")
    writer.add_context_length(shape.n_ctx_train)
    writer.add_embedding_length(d)
    writer.add_block_count(shape.n_layer)
    writer.add_feed_forward_length(shape.n_ff)
    writer.add_head_count(shape.n_head)
    writer.add_head_count_kv(shape.n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(
        gguf.LlamaFileType.ALL_F32 if dtype == "f32" else gguf.LlamaFileType.MOSTLY_F16
    )
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.add_tensor("token_embd.weight", pool.take((n_vocab, d), 1.0))
    writer.add_tensor("output_norm.weight", np.ones(d, dtype=np.float32))
    writer.add_tensor("output.weight", pool.take((n_vocab, d), 2.0))
    kv = head_dim * shape.n_head_kv
    for i in range(shape.n_layer):
        block = f"blk.{i}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(d, dtype=np.float32))
        writer.add_tensor(f"{block}.attn_q.weight", pool.take((d, d), 0.2 * k))
        writer.add_tensor(f"{block}.attn_k.weight", pool.take((kv, d), 0.2 * k))
        writer.add_tensor(f"{block}.attn_v.weight", pool.take((kv, d), 0.2 * k))
        writer.add_tensor(f"{block}.attn_output.weight", pool.take((d, d), 0.1 * k))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(d, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", pool.take((shape.n_ff, d), 0.1 * k))
        writer.add_tensor(f"{block}.ffn_up.weight", pool.take((shape.n_ff, d), 0.1 * k))
        writer.add_tensor(f"{block}.ffn_down.weight", pool.take((d, shape.n_ff), 0.1 * k))
    _finish(writer)
    return path


def write_tiny_lora(
    path: Path,
    *,
    seed: int = 1,
    rank: int = 4,
    strength: float = 0.5,
    shape: TinyShape = TinyShape(),
) -> Path:
    """Write a random LoRA adapter for `write_tiny_model`'s shape; returns `path`.

    It adapts every layer's attention query and value and the feed-forward up
    projection; `strength` scales the random factors, so a visible change in greedy
    output is easy to get.
    """
    import gguf  # noqa: PLC0415

    d, head_dim = shape.n_embd, shape.n_embd // shape.n_head
    targets = {
        "attn_q": (d, d),
        "attn_v": (d, head_dim * shape.n_head_kv),
        "ffn_up": (d, shape.n_ff),
    }  # tensor -> (inputs, outputs)
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    for i in range(shape.n_layer):
        for name, (n_in, n_out) in targets.items():
            base = f"blk.{i}.{name}.weight"
            writer.add_tensor(f"{base}.lora_a", _random(rng, (rank, n_in), strength))
            writer.add_tensor(f"{base}.lora_b", _random(rng, (n_out, rank), strength))
    _finish(writer)
    return path


def write_random_lora(
    base: Path,
    path: Path,
    *,
    targets: tuple[str, ...] = ("attn_q", "attn_v"),
    rank: int = 8,
    strength: float = 0.02,
    seed: int = 1,
) -> Path:
    """A random LoRA for any GGUF base (shapes read from it): adapter plumbing and
    switch timing on a real model without a trained adapter. Returns `path`."""
    import gguf  # noqa: PLC0415

    reader = gguf.GGUFReader(str(base))
    arch = str(reader.fields["general.architecture"].contents())
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(rank))
    for tensor in reader.tensors:
        parts = tensor.name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[2] in targets:
            n_in, n_out = (int(n) for n in tensor.shape[:2])
            writer.add_tensor(f"{tensor.name}.lora_a", _random(rng, (rank, n_in), strength))
            writer.add_tensor(f"{tensor.name}.lora_b", _random(rng, (n_out, rank), strength))
    _finish(writer)
    return path


def _finish(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@dataclass(frozen=True, slots=True)
class TinyKit:
    """A tiny model and two different random adapters for it, in one directory."""

    model: Path
    lora_a: Path
    lora_b: Path


def write_tiny_kit(directory: Path, *, seed: int = 0) -> TinyKit:
    directory.mkdir(parents=True, exist_ok=True)
    return TinyKit(
        model=write_tiny_model(directory / "tiny.gguf", seed=seed),
        lora_a=write_tiny_lora(directory / "lora-a.gguf", seed=seed + 1),
        lora_b=write_tiny_lora(directory / "lora-b.gguf", seed=seed + 2, strength=0.8),
    )
