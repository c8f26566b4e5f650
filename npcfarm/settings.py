"""The one typed settings object, read once from the environment and an optional TOML file.

Environment variables are `NPCFARM_<FIELD>`; a TOML file named by `NPCFARM_CONFIG`
supplies the same fields in lowercase. Secrets (Redis password inside the URL, the
Flower password) are accepted only from the environment, never from the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from npcfarm.errors import ConfigError

SECRET_FIELDS = ("redis_url", "archive_url", "flower_password")  # never read from the TOML file
PACKAGED_TICKS = Path(__file__).resolve().parent.parent / "schedules" / "ticks.toml"


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    """The TOML source, refusing secrets so they never end up in a committed file."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        leaked = [name for name in SECRET_FIELDS if name in data]
        if leaked:
            raise ConfigError(
                f"{', '.join(leaked)} may only come from the environment "
                f"(NPCFARM_{leaked[0].upper()}), not from the config file"
            )
        return data


class Settings(BaseSettings):
    """Everything configurable, with its default and why it is that default."""

    model_config = SettingsConfigDict(env_prefix="NPCFARM_", extra="forbid")

    # Redis: None means "the embedded server" started by `npcfarm up` on loopback.
    redis_url: str | None = None
    embedded_redis_port: int = Field(6390, ge=1, le=65535)  # off 6379 to avoid a system Redis
    key_prefix: str = Field("npcfarm", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    data_dir: Path = Path(".npcfarm")  # embedded Redis data, logs, worker state

    # Scheduling.
    ticks_file: Path = PACKAGED_TICKS
    sweep_interval_s: float = Field(0.1, gt=0, le=5)  # how often due NPCs are collected
    sweep_limit: int = Field(500, ge=1)  # NPCs per sweep script call (bounds Redis blocking)
    lease_ttl_s: float = Field(3.0, gt=0.5, le=60)  # a dead leader is replaced after this

    # Results.
    stream_maxlen: int = Field(100_000, ge=1_000)  # approximate cap per world stream
    published_ttl_s: int = Field(3_600, ge=60)  # idempotency window for late-acked jobs
    latency_samples: int = Field(2_000, ge=10)  # kept per tier for p50/p95 in `status`

    # Workers.
    worker_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    visibility_timeout_s: int = Field(300, ge=10)  # unacked jobs are redelivered after this
    rules_seed: int = 0  # fixes the rules brain's tie-breaking noise

    # Language-model engine (tiers whose brain is "llm"; rules brain when off or failing).
    engine_enabled: bool = True  # load a model in each worker process serving Gold/Silver
    engine_base: str | None = None  # base model from models/catalogue.toml; None: its default
    model_catalogue: Path | None = None  # another catalogue TOML (tests, production bases)
    engine_time_limit_s: float = Field(15.0, gt=0)  # per decision; slower ones fall back
    engine_max_tokens: int = Field(96, ge=16, le=1024)  # per decision
    engine_load_wait_s: float = Field(30.0, ge=0)  # a fresh worker's first task waits this long
    # A tick or job that already waited this long in its queue is decided by the rules
    # brain (reason `llm_backlog`): a model slower than the demand would otherwise let the
    # Gold queue, and every answer's latency, grow without bound. 0: always ask the model.
    engine_queue_budget_s: float = Field(4.0, ge=0)
    engine_breaker_threshold: int = Field(3, ge=1)  # consecutive failed batches to open
    engine_breaker_cooldown_s: float = Field(30.0, gt=0)  # before a probe batch
    response_cache_ttl_s: int = Field(60, ge=0)  # repeat identical prompts from cache; 0: off

    # Memory (Redis): hot turns and cards, the 30-day nearline window.
    memory_turns: int = Field(20, ge=12, le=20)  # recent turns kept per NPC
    memory_card_bytes: int = Field(2_048, ge=256, le=2_048)  # per card (relationship, quest)
    memory_facts: int = Field(10, ge=5, le=10)  # salient facts kept per NPC
    memory_summaries: int = Field(12, ge=1, le=50)  # session summaries kept per NPC
    memory_window_days: float = Field(30.0, gt=0, le=365)  # nearline expiry
    conversation_gap_s: float = Field(60.0, gt=0)  # silence that ends a conversation
    # Memory in a decision prompt, in tokens per tier (about 4 characters each).
    memory_prompt_tokens: dict[str, int] = {"gold": 300, "silver": 100, "bronze": 0}

    # Archive: PostgreSQL in production; None means SQLite under data_dir (embedded run).
    archive_url: str | None = None
    archive_tiers: list[str] = ["gold", "silver"]  # whose decisions are archived
    archive_stream_max: int = Field(2_000_000, ge=10_000)  # Redis safety cap on the backlog
    archive_batch: int = Field(100, ge=1, le=1_000)  # events per transaction
    archive_wait_ms: int = Field(100, ge=1, le=10_000)  # longest a partial batch waits

    # Flower.
    flower_address: str = "127.0.0.1"
    flower_port: int = 5555
    flower_user: str | None = None
    flower_password: SecretStr | None = None

    log_level: str = "INFO"

    @field_validator("redis_url")
    @classmethod
    def _known_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://")):
            raise ValueError("must start with redis:// or rediss:// (TLS)")
        return url

    @field_validator("archive_url")
    @classmethod
    def _known_database(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql", "sqlite")):
            raise ValueError("must be a postgresql+psycopg:// or sqlite:/// URL")
        return url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("NPCFARM_CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise ConfigError(f"NPCFARM_CONFIG names {path}, which is not a file")
            sources.append(_TomlWithoutSecrets(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def embedded(self) -> bool:
        """True when no Redis URL is configured and the embedded server is meant."""
        return self.redis_url is None

    @property
    def resolved_redis_url(self) -> str:
        """The URL every client uses: the configured one, or the embedded server's."""
        return self.redis_url or f"redis://127.0.0.1:{self.embedded_redis_port}/0"

    @property
    def resolved_archive_url(self) -> str:
        """The archive's SQLAlchemy URL: the configured one, or SQLite under data_dir."""
        return self.archive_url or f"sqlite:///{(self.data_dir / 'archive.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process (tests clear the cache to re-read)."""
    try:
        return Settings()
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ConfigError(f"invalid settings: {exc}") from exc
