"""`npcfarm archive migrate|status` and the archiver process's clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from npcfarm.errors import TransientError
from npcfarm.keys import Keys
from npcfarm.settings import get_settings
from ops.cli.archive import archive_app
from ops.cli.main import app
from tests.archive_events import one_of_each, produce, stats
from tests.conftest import _free_port, wait_for

runner = CliRunner()


@pytest.fixture
def archive_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings read again with the archive URL a test sets (and restored after)."""
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def said(result: object) -> str:
    """Output with Rich's line wrapping undone."""
    return " ".join(str(getattr(result, "output", "")).split())


def use_archive(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("NPCFARM_ARCHIVE_URL", url)
    get_settings.cache_clear()


def test_migrate_then_status_reports_revision_rows_and_backlog(
    archive_env: pytest.MonkeyPatch, empty_database_url: str, client: redis.Redis, keys: Keys
) -> None:
    use_archive(archive_env, empty_database_url)
    before = runner.invoke(archive_app, ["status"])
    assert before.exit_code == 0, before.output
    assert "revision none (needs `npcfarm archive migrate` to 0002)" in said(before)
    migrated = runner.invoke(archive_app, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert "is at revision 0002" in said(migrated)
    produce(client, keys, one_of_each("q"))
    status = runner.invoke(archive_app, ["status"])
    assert status.exit_code == 0, status.output
    assert "revision 0002 (current)" in said(status)
    assert "memories" in said(status) and "audit_log" in said(status)
    assert "backlog: 5 in the stream, 0 in flight; 0 dead letters" in said(status)
    assert "archiver: no batch written yet" in said(status)


def test_an_unreachable_database_is_a_clear_error(
    archive_env: pytest.MonkeyPatch, client: redis.Redis
) -> None:
    use_archive(archive_env, f"postgresql://npc:secret@127.0.0.1:{_free_port()}/farm")
    for command in (["archive", "migrate"], ["npc", "sync"], ["memory", "restore"]):
        result = runner.invoke(app, command)
        assert isinstance(result.exception, TransientError), command
        message = str(result.exception)
        assert "archive database postgresql://npc:***@127.0.0.1" in message
        assert "NPCFARM_ARCHIVE_URL" in message and "secret" not in message


@pytest.mark.slow
def test_the_archiver_process_migrates_archives_and_stops_on_sigterm(
    empty_database_url: str, client: redis.Redis, keys: Keys, tmp_path: Path
) -> None:
    produce(client, keys, one_of_each("p"))
    with (tmp_path / "archiver.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ops.archive", "--consumer", "p1"],
            env={**os.environ, "NPCFARM_ARCHIVE_URL": empty_database_url},
            stdout=log,
            stderr=log,
        )
        try:
            wait_for(
                lambda: stats(client, keys).get("archived") == 5,
                timeout=60,
                what="the archiver to write the batch",
            )
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "at revision 0002; Ctrl-C stops" in " ".join(
        (tmp_path / "archiver.log").read_text().split()
    )
