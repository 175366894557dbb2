"""What monitoring sees: /metrics in the Prometheus text format that moves when a post is
sent, /healthz that says whether the database answers, LEADERBOT_HOST, JSON log lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.runtime import serving
from bot.services.ask import ask_and_deliver
from bot.services.inbound import Inbound
from bot.store.db import Database
from tests.conftest import LEADERS


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return found.value
    return 0.0


async def get(port: int, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}{path}") as response,
    ):
        return response.status, await response.text()


async def test_metrics_parse_and_move_when_a_post_is_sent(
    slack_context: Any, sqlite_url: str
) -> None:
    ctx = await slack_context(sqlite_url, SLACK_SIGNING_SECRET="s")
    async with serving(ctx, Inbound(ctx), host="127.0.0.1", port=0) as server:
        assert server.port is not None
        status, before = await get(server.port, "/metrics")
        assert status == 200
        sent_before = sample(before, "leaderbot_posts_total", platform="slack", outcome="sent")

        assert (await ask_and_deliver(ctx, LEADERS)).delivered
        _, after = await get(server.port, "/metrics")

    assert sample(after, "leaderbot_posts_total", platform="slack", outcome="sent") == (
        sent_before + 1
    )
    assert sample(after, "leaderbot_outbox_backlog") == 0
    assert sample(after, "leaderbot_http_request_seconds_count", route="/metrics") >= 1


async def test_health_says_whether_the_database_answers(
    slack_context: Any, sqlite_url: str, tmp_path: Path
) -> None:
    ctx = await slack_context(sqlite_url, SLACK_SIGNING_SECRET="s")
    async with serving(ctx, Inbound(ctx), host="127.0.0.1", port=0) as server:
        assert server.port is not None
        status, body = await get(server.port, "/healthz")
        assert status == 200 and json.loads(body)["database"] == {"ok": True}

        working = ctx.db
        # A database file in a directory that is gone: nothing can open it.
        ctx.db = Database(f"sqlite+aiosqlite:///{tmp_path}/gone/leaderbot.db")
        try:
            status, body = await get(server.port, "/healthz")
        finally:
            await ctx.db.dispose()
            ctx.db = working
    assert status == 503
    health = json.loads(body)
    assert health["ok"] is False and health["database"]["ok"] is False


async def test_the_server_binds_the_address_leaderbot_host_names(
    slack_context: Any, sqlite_url: str
) -> None:
    ctx = await slack_context(sqlite_url, SLACK_SIGNING_SECRET="s", LEADERBOT_HOST="127.0.0.1")
    ctx.settings = ctx.settings.model_copy(update={"port": 0})
    async with serving(ctx, Inbound(ctx)) as server:
        assert server._runner is not None
        assert {address[0] for address in server._runner.addresses} == {"127.0.0.1"}


def test_json_log_lines_are_one_object_each(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "LEADERBOT_"))}
    env |= {
        "LEADERBOT_LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "-v", "schedules"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, "at -v something is logged"
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry)
