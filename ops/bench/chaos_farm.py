"""The chaos benchmark's farm: real processes on a private append-only Redis, killable.

Every process is started the way an operator starts it (`npcfarm worker`, `scheduler`,
`ingest`, `archiver`, run here as `python -m ops.cli`, the same command without the
console script) in a session of its own, its output appended to a log under the run's
folder. The farm is also their supervisor: a process that exits although nobody killed
it is counted and started again at once (what systemd's `Restart=always` does), so a
crash shows in the report instead of stalling the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from npcfarm.keys import QUEUE_ORDER, Keys
from npcfarm.settings import Settings
from ops.archive.archiver import GROUP as ARCHIVER_GROUP
from ops.bench.harness import free_port
from ops.servers.embedded_redis import EmbeddedRedis
from workers.launch import ALL_QUEUES

READY_TIMEOUT_S = 60.0  # a process not ready by then has failed to start
STOP_TIMEOUT_S = 20.0  # SIGTERM grace (a worker's warm shutdown), then SIGKILL
VISIBILITY_TIMEOUT_S = 10  # a dead worker's late-acked job is redelivered after this
UNACKED = "unacked"  # kombu's hash of late-acked messages in flight (not prefixed)
TOKEN = re.compile(r"scheduler (\S+) started")  # a scheduler's lease token, from its log


def _exited(pid: int) -> bool:
    """True once our child `pid` has exited, without reaping it (its Popen still will)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


@dataclass
class Member:
    """One farm process: how it is started, how it shows it is ready, what befell it."""

    name: str
    args: list[str]
    log: Path
    ready_mark: str | None = None  # text its log prints once it serves; None: at once
    proc: subprocess.Popen[bytes] | None = None
    offset: int = 0  # log size when the current process started
    starts: int = 0
    crashes: list[str] = field(default_factory=list)  # exits nobody asked for
    expected_exit: bool = False  # killed or stopped on purpose

    def since_start(self) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as fh:
            fh.seek(self.offset)
            return fh.read().decode(errors="replace")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Farm:
    """Redis, the archive database and the processes, with the means to kill each."""

    def __init__(self, root: Path, *, workers: int, concurrency: int, fsync: str) -> None:
        self.root = root
        self.redis = EmbeddedRedis(data_dir=root / "redis", port=free_port(), fsync=fsync)
        self.archive_url = f"sqlite:///{(root / 'archive.db').resolve()}"
        self.keys = Keys()
        # The processes run on the farm's defaults: no NPCFARM_* setting of this shell
        # reaches them, only the ones below.
        self.archive_tiers: list[str] = Settings.model_fields["archive_tiers"].default
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("NPCFARM_")}
        self.env = {
            **inherited,
            "NPCFARM_REDIS_URL": self.redis.url,
            "NPCFARM_ARCHIVE_URL": self.archive_url,
            "NPCFARM_DATA_DIR": str(root / "farm"),
            "NPCFARM_ENGINE_ENABLED": "false",  # the rules path: the farm, not a model, is tested
            "NPCFARM_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
            "NPCFARM_STREAM_MAXLEN": "5000000",  # keep every decision for the final count
            "NPCFARM_LOG_LEVEL": "INFO",
        }
        node = socket.gethostname()
        worker_args = ["worker", "--queues", ALL_QUEUES, "--pool", "prefork", "--loglevel", "INFO"]
        self.members: dict[str, Member] = {}
        for i in range(1, workers + 1):
            self._add(
                f"worker-{i}",
                [*worker_args, "--concurrency", str(concurrency), "--hostname", f"chaos{i}@%h"],
                ready=f"chaos{i}@{node} ready.",
            )
        for i in (1, 2):  # a leader and a hot standby
            self._add(f"scheduler-{i}", ["scheduler"], ready="started (leader:")
        self._add("ingest", ["ingest", "--consumer", "chaos-ingest"])
        self._add("archiver", ["archiver", "--consumer", "chaos-archiver"], ready="Ctrl-C stops")

    def _add(self, name: str, args: list[str], *, ready: str | None = None) -> None:
        self.members[name] = Member(name, args, self.root / f"{name}.log", ready)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.redis.url, decode_responses=True, socket_timeout=5, socket_connect_timeout=1
        )

    def command(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """A one-off `npcfarm` command against this farm (seeding, migrating)."""
        return subprocess.run(
            [sys.executable, "-m", "ops.cli", *args],
            env=self.env,
            capture_output=True,
            check=True,
            timeout=120,
        )

    # -- lifecycle ----------------------------------------------------------------
    def start(self, *, npcs: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.command("world", "demo", "--npcs", str(npcs))
        self.command("archive", "migrate")
        for member in self.members.values():
            self.spawn(member)
        for member in self.members.values():
            self.wait_ready(member)

    def spawn(self, member: Member) -> float:
        member.offset = member.log.stat().st_size if member.log.exists() else 0
        with member.log.open("ab") as out:
            member.proc = subprocess.Popen(
                [sys.executable, "-m", "ops.cli", *member.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a kill takes its children
            )
        member.starts += 1
        member.expected_exit = False
        return time.time()

    def wait_ready(self, member: Member, timeout: float = READY_TIMEOUT_S) -> float:
        deadline = time.monotonic() + timeout
        while member.ready_mark and member.ready_mark not in member.since_start():
            if not member.running():
                raise RuntimeError(
                    f"{member.name} exited at start:\n{member.since_start()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"{member.name} not ready in {timeout:g} s")
            time.sleep(0.05)
        return time.time()

    def kill(self, name: str) -> float:
        """SIGKILL to the process and its children (a worker's pool) at once."""
        member = self.members[name]
        member.expected_exit = True
        if member.proc is not None and member.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(member.proc.pid, signal.SIGKILL)
            member.proc.wait()
        return time.time()

    def restart(self, name: str) -> tuple[float, float]:
        """Start a killed process again; returns when it started and when it was ready."""
        member = self.members[name]
        started = self.spawn(member)
        return started, self.wait_ready(member)

    def supervise(self) -> None:
        """Start again what exited unasked, noting how it ended (exit code, last lines)."""
        for member in self.members.values():
            if member.proc is None or member.expected_exit or member.running():
                continue
            tail = member.since_start().strip().splitlines()[-3:]
            member.crashes.append(f"exit {member.proc.returncode}: {' | '.join(tail)[-300:]}")
            self.spawn(member)

    def leader(self) -> str | None:
        """The scheduler holding the lease, found by the token its log printed at start."""
        try:
            with self.client() as client:
                token = client.get(self.keys.leader)
        except redis.RedisError:
            return None
        for member in self.members.values():
            found = TOKEN.findall(member.since_start()) if member.name.startswith("sched") else []
            if token and found and found[-1] == token:
                return member.name
        return None

    def stop(self, *names: str) -> None:
        """SIGTERM (a clean stop), then SIGKILL after the grace period."""
        chosen = [self.members[n] for n in names] if names else list(self.members.values())
        for member in chosen:
            member.expected_exit = True
            if member.proc is not None and member.running():
                member.proc.terminate()
        for member in chosen:
            if member.proc is None:
                continue
            try:
                member.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill(member.name)

    def close(self) -> None:
        """Everything down, whatever state the run left it in (never raises)."""
        with contextlib.suppress(Exception):
            self.stop()
        for member in self.members.values():
            with contextlib.suppress(Exception):
                self.kill(member.name)
        with contextlib.suppress(Exception):  # Redis may be down already
            self.redis_down(clean=True)
        self.redis.stop()

    # -- draining -------------------------------------------------------------------
    def queues_empty(self, client: redis.Redis) -> bool:
        """No message waits in a queue nor is in a worker's hands."""
        try:
            waiting = sum(int(client.llen(q)) for q in QUEUE_ORDER)
            return waiting == 0 and int(client.hlen(UNACKED)) == 0
        except redis.RedisError:
            return False

    def archive_caught_up(self, client: redis.Redis) -> bool:
        """The archivers have read and acknowledged every archive event."""
        try:
            stream = client.xinfo_stream(self.keys.archive)
            groups = client.xinfo_groups(self.keys.archive)
        except redis.RedisError:
            return False
        group = next((g for g in groups if g["name"] == ARCHIVER_GROUP), None)
        last = stream["last-generated-id"]
        return group is not None and not group["pending"] and group["last-delivered-id"] == last

    # -- Redis ----------------------------------------------------------------------
    def redis_down(self, *, clean: bool) -> float:
        """SHUTDOWN (the AOF flushed and fsynced), or SIGKILL to redis-server."""
        # One attempt: redis-py retries a command on a connection error by default, and a
        # SHUTDOWN repeated against a closed port would only delay the restart.
        with redis.Redis(port=self.redis.port, retry=Retry(NoBackoff(), 0)) as client:
            pid = int(client.info("server")["process_id"])
            down = time.time()
            if clean:
                with contextlib.suppress(redis.ConnectionError):  # the server hangs up
                    client.shutdown()
            else:
                os.kill(pid, signal.SIGKILL)
        while not _exited(pid):
            time.sleep(0.01)
        self.redis.stop()  # the process has exited: only reaps it
        return down

    def redis_up(self) -> float:
        """A new redis-server on the same port and data directory: it loads the AOF."""
        self.redis.start()
        return time.time()
