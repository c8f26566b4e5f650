"""The one typed settings object, read once from the environment and an optional TOML file.

Environment variables are `NPCFARM_<FIELD>`; a TOML file named by `NPCFARM_CONFIG`
supplies the same fields in lowercase. Secrets (Redis password inside the URL, the
Flower password) are accepted only from the environment, never from the file.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.config import JsonDict
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from npcfarm.errors import ConfigError

SECRET_FIELDS = ("redis_url", "archive_url", "flower_password")  # never read from the TOML file
_FLOWER: JsonDict = {"used_by": "`flower`"}  # where the Flower settings are read
_GATEWAY: JsonDict = {"used_by": "`gateway`"}
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
    redis_url: str | None = Field(
        None,
        description=(
            "the shared Redis: broker and state. Password inside the URL. `rediss://` verifies the"
            " server certificate. Env only."
        ),
        json_schema_extra={
            "used_by": "all",
            "default_doc": "unset = embedded, `redis://127.0.0.1:<embedded_redis_port>/0`",
            "bounds_doc": (
                "`redis://` or `rediss://` only; any other scheme (`unix://` included) stops every"
                " command at start with `error: invalid settings: ... must start with redis:// or "
                "rediss:// (TLS)`"
            ),
        },
    )
    embedded_redis_port: int = Field(
        6390,
        ge=1,
        le=65535,
        description="port of the embedded server (off 6379 to avoid a system Redis)",
        json_schema_extra={"used_by": "`up`, `redis`, default URL"},
    )
    key_prefix: str = Field(
        "npcfarm",
        pattern=r"^[A-Za-z0-9_.-]{1,32}$",
        description="prefix of every farm key (not of Celery's queues)",
        json_schema_extra={"used_by": "all"},
    )
    data_dir: Path = Field(
        Path(".npcfarm"),
        description=(
            "embedded Redis data (`redis/`), `worker.log` of `up`, the SQLite archive `archive.db`"
            " when `NPCFARM_ARCHIVE_URL` is unset"
        ),
        json_schema_extra={
            "used_by": "`up`, `redis`, default archive",
            "default_doc": "`.npcfarm` (relative to the working directory)",
            "bounds_doc": "path",
        },
    )

    # Scheduling.
    ticks_file: Path = Field(
        PACKAGED_TICKS,
        description="the tick configuration file",
        json_schema_extra={
            "used_by": "scheduler, `npc import`, `world demo`, `ticks reload`, `ticks show`, `up`",
            "default_doc": "the packaged `schedules/ticks.toml`",
            "bounds_doc": "path",
        },
    )
    sweep_interval_s: float = Field(
        0.1,
        gt=0,
        le=5,
        description="how often the leader sweeps the due sets",
        json_schema_extra={"used_by": "scheduler"},
    )
    sweep_limit: int = Field(
        500,
        ge=1,
        description=(
            "NPCs per sweep script call (bounds how long one call blocks Redis). Every sweep cycle"
            " takes Gold completely, in as many calls as it needs, then Silver and Bronze in at "
            "most 4 calls each (2,000 NPCs by default); the rest stay due for the next cycle, so a"
            " large lower tier never delays Gold's sweep."
        ),
        json_schema_extra={"used_by": "scheduler"},
    )
    lease_ttl_s: float = Field(
        1.5,
        gt=0.5,
        le=60,
        description="leader lease TTL: a dead leader is replaced after this",
        json_schema_extra={"used_by": "scheduler"},
    )

    # Results.
    stream_maxlen: int = Field(
        100_000,
        ge=1_000,
        description="approximate cap of each world's results stream",
        json_schema_extra={"used_by": "workers"},
    )
    published_ttl_s: int = Field(
        3_600,
        ge=60,
        description='idempotency window of jobs (seconds an NPC\'s job tick id stays "published")',
        json_schema_extra={"used_by": "workers"},
    )
    latency_samples: int = Field(
        2_000,
        ge=10,
        description="latencies kept per tier for the p50/p95 of `status`",
        json_schema_extra={"used_by": "workers"},
    )

    # Workers.
    task_queue: Literal["celery", "dramatiq"] = Field(
        "celery",
        description=(
            "the task queue workers consume and the scheduler and ingest publish to "
            "([dramatiq](#the-dramatiq-worker-path)); every process of a farm must agree"
        ),
        json_schema_extra={"used_by": "workers, scheduler, ingest, `up`, `enqueue`"},
    )
    worker_concurrency: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description=(
            "default pool size of `npcfarm worker` (`--concurrency` overrides; `up` uses its own "
            "`--concurrency`, default 2)"
        ),
        json_schema_extra={"used_by": "workers", "default_doc": "CPU count"},
    )
    visibility_timeout_s: int = Field(
        60,
        ge=10,
        description=(
            "an unacknowledged job (its worker died, or its Redis restarted) is redelivered "
            "after this; keep it above the longest job (model time limit and its queue)"
        ),
        json_schema_extra={"used_by": "workers, broker"},
    )
    rules_seed: int = Field(
        0,
        description=(
            "seed of the rules brain's tie-breaking noise and bark choice (same seed, NPC and tick"
            " id → same decision)"
        ),
        json_schema_extra={"used_by": "workers"},
    )

    # Language-model engine (tiers whose brain is "llm"; rules brain when off or failing).
    engine_enabled: bool = Field(
        True,
        description=(
            "load a language model in each worker process that serves Gold or Silver (Bronze-only "
            "workers load one only if a job asks); `false`: the rules brain decides everything "
            "(`reason` = `engine_off`)"
        ),
        json_schema_extra={"used_by": "workers"},
    )
    engine_base: str | None = Field(
        None,
        description="which base model the engine loads",
        json_schema_extra={
            "used_by": "workers, `models`, `eval`",
            "default_doc": "unset = the catalogue's `default_base`",
            "bounds_doc": "a base of the catalogue",
        },
    )
    model_catalogue: Path | None = Field(
        None,
        description="another model catalogue (production bases, adapters)",
        json_schema_extra={
            "used_by": "workers, `models`, `eval`",
            "default_doc": "unset = the packaged `models/catalogue.toml`",
            "bounds_doc": "path",
        },
    )
    engine_time_limit_s: float = Field(
        15.0,
        gt=0,
        description=(
            "longest one model decision may take; a slower one is decided by rules (`timeout`)"
        ),
        json_schema_extra={"used_by": "workers"},
    )
    engine_max_tokens: int = Field(
        96,
        ge=16,
        le=1024,
        description="tokens one decision may generate (`token_budget` past it)",
        json_schema_extra={"used_by": "workers"},
    )
    engine_load_wait_s: float = Field(
        0.0,
        ge=0,
        description=(
            "how long a model task may wait for an engine still loading before the rules "
            "brain decides it (`engine_loading`); 0: never wait, so no slot stalls while a "
            "model loads (tests and benchmarks wait for a loaded engine this way)"
        ),
        json_schema_extra={"used_by": "workers"},
    )
    # A tick or job that already waited this long in its queue is decided by the rules
    # brain (reason `llm_backlog`): a model slower than the demand would otherwise let the
    # Gold queue, and every answer's latency, grow without bound. 0: always ask the model.
    engine_queue_budget_s: float = Field(
        4.0,
        ge=0,
        description=(
            "a tick or job that already waited this long in its queue is decided by the rules "
            "brain (`llm_backlog`): when the model is slower than the demand, the backlog drains "
            "at rules speed and every answer stays within about this budget instead of growing "
            "without bound. 0 = always ask the model"
        ),
        json_schema_extra={"used_by": "workers"},
    )
    engine_breaker_threshold: int = Field(
        3,
        ge=1,
        description=(
            "consecutive failed model batches that open the circuit (`engine_circuit_open`: rules "
            "only)"
        ),
        json_schema_extra={"used_by": "workers"},
    )
    engine_breaker_cooldown_s: float = Field(
        30.0,
        gt=0,
        description="how long an open circuit waits before one probe batch",
        json_schema_extra={"used_by": "workers"},
    )
    response_cache_ttl_s: int = Field(
        60,
        ge=0,
        description=(
            "a model answer is reused for the same situation (volatile numbers bucketed: "
            "tasks/response_cache.py) within this many seconds, before the model is asked "
            "and while it is unavailable (`source` = `cache`); 0 = off"
        ),
        json_schema_extra={"used_by": "workers"},
    )

    # Memory (Redis): hot turns and cards, the 30-day nearline window.
    memory_turns: int = Field(
        20,
        ge=12,
        le=20,
        description="conversation turns kept per NPC (hot memory); older ones are dropped",
        json_schema_extra={"used_by": "ingest, workers, `memory restore`"},
    )
    memory_card_bytes: int = Field(
        2_048,
        ge=256,
        le=2_048,
        description=(
            "size cap of each card (relationship, quest) as JSON; over it the least salient player"
            " or the oldest finished quest leaves"
        ),
        json_schema_extra={"used_by": "ingest, workers, `memory restore`"},
    )
    memory_facts: int = Field(
        10,
        ge=5,
        le=10,
        description="salient facts kept per NPC",
        json_schema_extra={"used_by": "ingest, workers, `memory restore`"},
    )
    memory_summaries: int = Field(
        12,
        ge=1,
        le=50,
        description="conversation summaries kept per NPC",
        json_schema_extra={"used_by": "ingest, workers, `memory restore`"},
    )
    memory_window_days: float = Field(
        30.0,
        gt=0,
        le=365,
        description=(
            "the nearline window: facts, summaries and mood older than this are forgotten (the "
            "recall hash's TTL)"
        ),
        json_schema_extra={"used_by": "ingest, workers, `memory show`, `memory restore`"},
    )
    conversation_gap_s: float = Field(
        60.0,
        gt=0,
        description="silence that ends a conversation (its summary follows)",
        json_schema_extra={
            "used_by": "ingest, workers",
            "default_doc": "`60` (`up`: 20 unless set)",
        },
    )
    # Memory in a decision prompt, in tokens per tier (about 4 characters each).
    memory_prompt_tokens: dict[str, int] = Field(
        {"gold": 300, "silver": 100, "bronze": 0},
        description="memory in a model prompt, per tier ([budgets](#memory-in-prompts)); 0 = none",
        json_schema_extra={
            "used_by": "workers",
            "bounds_doc": (
                "JSON object (in the environment) or TOML table; tier → tokens (about 4 characters"
                " each); a tier left out gets 0"
            ),
        },
    )

    # Model cost: accounted per world, tier and archetype; budgets per world and tier.
    gpu_cost_per_hour: float = Field(
        0.0,
        ge=0,
        description=(
            "what one hour of model decode time costs (your GPU's price, any currency); "
            "0 = costs are reported in GPU-seconds and budgets cannot be set"
        ),
        json_schema_extra={"used_by": "workers, `status`, `metrics`"},
    )
    budgets: dict[str, float] = Field(
        {},
        description=(
            "daily model budgets ([budgets](#model-cost-and-budgets)): `world/tier` → the most "
            "a UTC day may cost; `*/tier` applies to every world without its own"
        ),
        json_schema_extra={
            "used_by": "workers, `status`, `metrics`",
            "bounds_doc": (
                "JSON object (in the environment) or TOML table; tiers gold, silver or bronze; "
                "needs `gpu_cost_per_hour` > 0"
            ),
        },
    )

    # Traces (OpenTelemetry): off unless an OTLP endpoint is given.
    otlp_endpoint: str | None = Field(
        None,
        description=(
            "OTLP/HTTP collector for traces, e.g. `http://127.0.0.1:4318` "
            "([traces](#traces)); unset = no tracing, no cost"
        ),
        json_schema_extra={"used_by": "workers, ingest, scheduler, gateway, `up`"},
    )
    trace_sample_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="share of new traces kept (a bridge's sampled trace is always followed)",
        json_schema_extra={"used_by": "workers, ingest, scheduler, gateway, `up`"},
    )

    # Archive: PostgreSQL in production; None means SQLite under data_dir (embedded run).
    archive_url: str | None = Field(
        None,
        description="the archive database. Password inside the URL; printed without it. Env only.",
        json_schema_extra={
            "used_by": "archiver, `up`, `archive`, `npc sync`, `memory restore`",
            "default_doc": "unset = SQLite, `sqlite:///<data_dir>/archive.db` (absolute path)",
            "bounds_doc": (
                "`postgresql://` (psycopg 3; `postgresql+psycopg://` alike) or `sqlite:///`; any "
                "other scheme stops every command at start (`must be a postgresql+psycopg:// or "
                "sqlite:/// URL`)"
            ),
        },
    )
    archive_tiers: list[str] = Field(
        ["gold", "silver"],
        description="tiers whose decisions are archived (answers to interactions are Gold)",
        json_schema_extra={
            "used_by": "workers",
            "bounds_doc": "JSON list (in the environment) or TOML array of tier names",
        },
    )
    archive_stream_max: int = Field(
        2_000_000,
        ge=10_000,
        description=(
            "approximate cap of the archive stream: how much backlog Redis holds while the "
            "database is away ([outages](#when-the-database-is-down))"
        ),
        json_schema_extra={"used_by": "ingest, workers"},
    )
    archive_batch: int = Field(
        100,
        ge=1,
        le=1_000,
        description="events per database transaction (`npcfarm archiver --batch` overrides)",
        json_schema_extra={"used_by": "archiver, `up`"},
    )
    archive_wait_ms: int = Field(
        100,
        ge=1,
        le=10_000,
        description="longest a partial batch waits for more events after its first",
        json_schema_extra={"used_by": "archiver, `up`"},
    )

    # Flower.
    flower_address: str = Field(
        "127.0.0.1", description="address Flower listens on", json_schema_extra=_FLOWER
    )
    flower_port: int = Field(
        5555, ge=1, le=65535, description="port Flower listens on", json_schema_extra=_FLOWER
    )
    flower_user: str | None = Field(None, description="basic-auth user", json_schema_extra=_FLOWER)
    flower_password: SecretStr | None = Field(
        None, description="basic-auth password. Env only.", json_schema_extra=_FLOWER
    )

    relationship_half_life_h: float = Field(
        168.0,
        ge=0,
        description=(
            "hours in which a player's relationship score with an NPC halves without "
            "contact (0: never fades); an NPC leaves the bond floor once it fades below "
            "the bond threshold"
        ),
        json_schema_extra={"used_by": "ingest, scheduler"},
    )

    metrics_user: str | None = Field(
        None,
        description="basic-auth user of `npcfarm metrics` (with the password: scrapes need both)",
        json_schema_extra={"used_by": "`metrics`"},
    )
    metrics_password: SecretStr | None = Field(
        None,
        description="basic-auth password of `npcfarm metrics`. Env only.",
        json_schema_extra={"used_by": "`metrics`"},
    )

    # HTTP gateway.
    gateway_address: str = Field(
        "127.0.0.1", description="address `npcfarm gateway` listens on", json_schema_extra=_GATEWAY
    )
    gateway_port: int = Field(
        8700,
        ge=1,
        le=65535,
        description="port `npcfarm gateway` listens on",
        json_schema_extra=_GATEWAY,
    )
    gateway_max_body_bytes: int = Field(
        65_536,
        ge=4096,
        le=16 * 1024 * 1024,
        description="largest request body the gateway reads (413 `body_too_large` past it)",
        json_schema_extra=_GATEWAY,
    )
    gateway_max_wait_ms: int = Field(
        30_000,
        ge=0,
        le=120_000,
        description="longest a request may wait (`wait_ms`) for an answer or a long-poll",
        json_schema_extra=_GATEWAY,
    )

    log_level: str = Field(
        "INFO",
        description=(
            "log level of `npcfarm scheduler`, `npcfarm ingest` and `npcfarm archiver` (workers "
            "use `--loglevel`; `up` logs warnings only)"
        ),
        json_schema_extra={
            "used_by": "`scheduler`, `ingest`, `archiver`",
            "bounds_doc": "a `logging` level name",
        },
    )

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

    @field_validator("budgets")
    @classmethod
    def _budget_names(cls, budgets: dict[str, float]) -> dict[str, float]:
        for name, limit in budgets.items():
            world, _, tier = name.partition("/")
            if not world or tier not in ("gold", "silver", "bronze"):
                raise ValueError(f"budget {name!r}: name it `world/tier` or `*/tier`")
            if not limit >= 0:
                raise ValueError(f"budget {name!r}: the limit must be >= 0")
        return budgets

    @model_validator(mode="after")
    def _budgets_need_a_rate(self) -> Settings:
        if self.budgets and self.gpu_cost_per_hour <= 0:
            raise ValueError("budgets need gpu_cost_per_hour > 0 (what a GPU-hour costs)")
        return self

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
