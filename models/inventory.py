"""What is configured, what is on disk, and whether this llama.cpp can use a GPU.

Backs `npcfarm models list|check`: `list` is cheap (no hashing, no model load);
`check` also verifies a packaged model's sha256 and asks llama.cpp to load every base
and adapter, which is what a worker would hit first at startup.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from models import packaged
from models.archetypes import default_catalogue
from models.catalogue import (
    ModelCatalogue,
    base_of,
    default_model_catalogue,
    expected_path,
    resolve,
)
from npcfarm.errors import EngineError


@dataclass(frozen=True, slots=True)
class BaseReport:
    name: str
    source: str
    path: str
    present: bool  # the GGUF file is there
    available: bool  # present, or a packaged model that can be assembled on first use
    size_bytes: int | None
    n_ctx: int
    n_seq_max: int
    n_gpu_layers: int
    chat_template: str | None
    problem: str | None = None  # set by a check that failed


@dataclass(frozen=True, slots=True)
class AdapterReport:
    archetype: str
    base: str
    path: str
    scale: float
    present: bool
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class InventoryReport:
    llama_cpp_version: str | None
    gpu_offload: bool | None  # None: llama-cpp-python is not importable
    bases: list[BaseReport] = field(default_factory=list)
    adapters: list[AdapterReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(b.available and not b.problem for b in self.bases) and all(
            a.present and not a.problem for a in self.adapters
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


def _llama() -> tuple[str | None, bool | None]:
    try:
        version = importlib.metadata.version("llama-cpp-python")
        from models.llm.native import supports_gpu_offload  # noqa: PLC0415 (loads libllama)

        return version, supports_gpu_offload()
    except (ImportError, OSError, importlib.metadata.PackageNotFoundError):
        return None, None


def _installed(package: str) -> bool:
    try:
        packaged.describe(package)
    except EngineError:
        return False
    return True


def _base_problem(path: Path, package: str | None, check: bool) -> str | None:
    if not check:
        return None
    try:
        if package is not None:
            digest = packaged.describe(package).sha256
            if path.is_file() and packaged.sha256_file(path) != digest:
                return "sha256 mismatch"
        if path.is_file():
            from models.llm.native import Model  # noqa: PLC0415

            Model(path, n_gpu_layers=0).close()
    except EngineError as exc:
        return str(exc)
    return None


def inventory(
    data_dir: Path, *, catalogue: ModelCatalogue | None = None, check: bool = False
) -> InventoryReport:
    """Report the catalogue against the data dir; `check` hashes and test-loads too."""
    catalogue = catalogue or default_model_catalogue()
    version, gpu = _llama()
    report = InventoryReport(llama_cpp_version=version, gpu_offload=gpu)
    for name, spec in catalogue.bases.items():
        path = expected_path(spec, data_dir)
        present = path.is_file()
        available = present or (spec.package is not None and _installed(spec.package))
        report.bases.append(
            BaseReport(
                name=name,
                source=spec.source,
                path=str(path),
                present=present,
                available=available,
                size_bytes=path.stat().st_size if present else None,
                n_ctx=spec.n_ctx,
                n_seq_max=spec.n_seq_max,
                n_gpu_layers=spec.n_gpu_layers,
                chat_template=spec.chat_template,
                problem=_base_problem(path, spec.package, check and version is not None),
            )
        )
    for archetype in default_catalogue().values():
        for adapter in archetype.adapters:
            path = resolve(data_dir, adapter.path)
            report.adapters.append(
                AdapterReport(
                    archetype=archetype.name,
                    base=base_of(archetype, catalogue),
                    path=str(path),
                    scale=adapter.scale,
                    present=path.is_file(),
                )
            )
    return report


def render(report: InventoryReport) -> Table:
    """The report as a rich table (one row per base, then per adapter)."""
    gpu = {True: "yes", False: "no (CPU build)", None: "llama-cpp-python missing"}
    table = Table(
        title=f"models (llama-cpp-python {report.llama_cpp_version or '-'}, "
        f"GPU offload: {gpu[report.gpu_offload]})"
    )
    for column in ("kind", "name", "source / archetype", "path", "present", "settings"):
        table.add_column(column)
    for b in report.bases:
        size = f"{b.size_bytes / 1e6:.0f} MB" if b.size_bytes else "missing"
        size = "on first use" if b.available and not b.present else size
        settings = f"n_ctx={b.n_ctx} seqs={b.n_seq_max} gpu_layers={b.n_gpu_layers}"
        state = f"[red]{b.problem}[/]" if b.problem else size
        table.add_row("base", b.name, b.source, b.path, state, settings)
    for a in report.adapters:
        state = "yes" if a.present else "[red]missing[/]"
        table.add_row("lora", a.base, a.archetype, a.path, state, f"scale={a.scale:g}")
    return table
