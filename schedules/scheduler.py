"""The scheduler process: lease, due-sweep and tick-config reload, driven by APScheduler.

Every scheduler renews or contends for the lease; only the leader sweeps. The active
tick configuration is shared through Redis so every scheduler (and `ticks show`) sees
the same one: a scheduler adopts the active copy at start (publishing its file only
when there is none, so a restart never undoes `npcfarm ticks reload`), publishes its
file when the file changes or on SIGHUP, and adopts any newer copy in Redis. A bad
file is reported and ignored; every reload is audited.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from types import FrameType

import redis
from apscheduler.schedulers.background import BackgroundScheduler

from npcfarm import audit
from npcfarm.domain import TIER_ORDER, Tier
from npcfarm.errors import ConfigError, NpcFarmError
from npcfarm.keys import Keys, dramatiq_queue_key, queue_key
from npcfarm.relations import fade_bonded
from npcfarm.settings import Settings, get_settings
from schedules.config import TicksConfig, digest, load_ticks, parse_ticks
from schedules.conversations import ConversationCloser, PublishSummary
from schedules.leader import LeaderLease
from schedules.sweep import DueSweep, PublishBatch
from schedules.tier_manager import TierManager

FADE_EVERY_S = 30.0  # how often the leader lets faded relationships off the bond floor

log = logging.getLogger(__name__)

# A sweep outlasting its interval is normal under load; APScheduler would warn each time.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)  # a line per sweep

LEASE_EVERY_S = 0.5  # lease renewal period; well under the lease TTL
CONFIG_EVERY_S = 1.0  # how often the file and the Redis copy are checked
TIERS_EVERY_S = 1.0  # activation tiers are recomputed this often
CONVERSATIONS_EVERY_S = 5.0  # ended conversations are looked for this often
LOWER_TIER_CHUNKS = 4  # sweep calls per cycle for Silver and Bronze; Gold always finishes


def publish_ticks_config(client: redis.Redis, keys: Keys, text: str, *, source: str) -> str:
    """Validate and make `text` the active tick configuration of the farm."""
    parse_ticks(text, origin=source)
    version = digest(text)
    client.hset(
        keys.ticks_config,
        mapping={"toml": text, "version": version, "source": source, "at": time.time()},
    )
    return version


class Scheduler:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        settings: Settings,
        *,
        publish: PublishBatch,
        ticks_path: Path | None = None,
        publish_summary: PublishSummary | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._publish = publish
        self._interval = settings.sweep_interval_s
        self._path = ticks_path or settings.ticks_file
        self.lease = LeaderLease(client, keys.leader, ttl_s=settings.lease_ttl_s)
        queue_of = dramatiq_queue_key if settings.task_queue == "dramatiq" else queue_key
        self._sweep = DueSweep(client, keys, limit=settings.sweep_limit, queue_of=queue_of)
        self._tiers = TierManager(client, keys)
        self._faded_at = 0.0
        self._closer = (
            ConversationCloser(client, keys, publish_summary) if publish_summary else None
        )
        self.config, text = load_ticks(self._path)
        self.version = digest(text)
        self._mtime = self._path.stat().st_mtime
        self._aps = BackgroundScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self.sweeps = 0

    # -- jobs -------------------------------------------------------------------
    def lease_job(self) -> None:
        self.lease.tick()

    def sweep_job(self) -> None:
        if not self.lease.is_leader:
            return
        config = self.config
        for tier in TIER_ORDER:
            try:
                result = self._sweep.sweep_tier(
                    tier,
                    config[tier],
                    token=self.lease.token,
                    publish=self._publish,
                    max_chunks=None if tier is Tier.GOLD else LOWER_TIER_CHUNKS,
                )
            except (redis.RedisError, NpcFarmError, OSError) as exc:
                log.error("sweep of %s failed (will retry): %s", tier, exc)
                return
            except Exception:
                log.exception("sweep of %s failed unexpectedly (will retry)", tier)
                return
            if result.not_leader:
                self.lease.is_leader = False
                return
        self.sweeps += 1

    def tiers_job(self) -> None:
        """Recompute the tiers of every live world (leader only); now and then, first
        let faded relationships go from the bond floor."""
        if not self.lease.is_leader:
            return
        try:
            if time.monotonic() - self._faded_at > FADE_EVERY_S:
                self._faded_at = time.monotonic()
                half_life = get_settings().relationship_half_life_h * 3600
                fade_bonded(self._client, self._keys, half_life_s=half_life)
            reports = self._tiers.recompute_all(self.config, self.config.activation.policy())
        except (redis.RedisError, ValueError) as exc:
            log.error("tier recompute failed (will retry): %s", exc)
            return
        for report in reports:
            if report.promoted or report.demoted:
                log.info(
                    "tiers %s: +%d -%d in %.0f ms (gold/silver/bronze %s)",
                    report.world,
                    report.promoted,
                    report.demoted,
                    report.seconds * 1000,
                    "/".join(map(str, report.counts)),
                )

    def conversations_job(self) -> None:
        """Publish summary jobs for conversations that ended (leader only)."""
        if not self.lease.is_leader or self._closer is None:
            return
        try:
            taken = self._closer.run(time.time())
        except (redis.RedisError, OSError) as exc:
            log.error("closing conversations failed (will retry): %s", exc)
            return
        if taken:
            log.info("%d ended conversations sent for summary", taken)

    def config_job(self) -> None:
        try:
            mtime = self._path.stat().st_mtime
            if mtime != self._mtime:
                self._mtime = mtime
                self.reload_file()
            version, toml = self._client.hmget(self._keys.ticks_config, ["version", "toml"])
            if version and toml and version != self.version:
                self._apply(parse_ticks(str(toml), origin="redis"), str(version))
        except (ConfigError, OSError) as exc:
            log.error("tick configuration not reloaded: %s", exc)
        except redis.RedisError as exc:
            log.warning("tick configuration check failed: %s", exc)

    # -- reload -----------------------------------------------------------------
    def reload_file(self, *, reason: str = "file") -> None:
        """Read the file, and if it is valid make it the farm's active configuration."""
        config, text = load_ticks(self._path)
        version = publish_ticks_config(self._client, self._keys, text, source=str(self._path))
        if version != self.version or reason == "first start":
            audit.record(
                self._client,
                self._keys,
                "ticks.reload",
                file=str(self._path),
                version=version,
                by=f"scheduler ({reason})",
            )
        self._apply(config, version)

    def adopt_active(self) -> None:
        """At start: run on the farm's active configuration, or publish ours if none."""
        version, toml = self._client.hmget(self._keys.ticks_config, ["version", "toml"])
        if not (version and toml):
            self.reload_file(reason="first start")
            return
        if version != self.version:
            log.warning(
                "running on the active tick configuration %s, not %s from %s: "
                "`npcfarm ticks reload` makes the file active",
                version,
                self.version,
                self._path,
            )
        self._apply(parse_ticks(str(toml), origin="redis"), str(version))

    def _apply(self, config: TicksConfig, version: str) -> None:
        if version != self.version:
            log.info("tick configuration %s -> %s", self.version, version)
        self.config, self.version = config, version

    def _on_sighup(self, _signum: int, _frame: FrameType | None) -> None:
        try:
            self.reload_file(reason="SIGHUP")
        except (ConfigError, OSError, redis.RedisError) as exc:
            log.error("SIGHUP reload failed, keeping %s: %s", self.version, exc)

    # -- lifecycle --------------------------------------------------------------
    def start(self, *, handle_signals: bool = False) -> None:
        try:
            self.adopt_active()
        except (redis.RedisError, ConfigError) as exc:
            log.warning(
                "could not read the active tick configuration, using %s: %s", self._path, exc
            )
        if handle_signals:
            signal.signal(signal.SIGHUP, self._on_sighup)
        self.lease.tick()
        self._aps.add_job(self.lease_job, "interval", seconds=LEASE_EVERY_S, id="lease")
        self._aps.add_job(self.sweep_job, "interval", seconds=self._interval, id="sweep")
        self._aps.add_job(self.config_job, "interval", seconds=CONFIG_EVERY_S, id="config")
        self._aps.add_job(self.tiers_job, "interval", seconds=TIERS_EVERY_S, id="tiers")
        self._aps.add_job(
            self.conversations_job, "interval", seconds=CONVERSATIONS_EVERY_S, id="conversations"
        )
        self._aps.start()
        log.info("scheduler %s started (leader: %s)", self.lease.token, self.lease.is_leader)

    def stop(self, *, release: bool = True) -> None:
        """Stop sweeping; `release=False` leaves the lease to lapse (as a crash would)."""
        self._aps.shutdown(wait=True)
        if release:
            self.lease.release()
        log.info("scheduler %s stopped", self.lease.token)
