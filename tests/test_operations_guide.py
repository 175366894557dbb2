"""docs/operations.md cannot drift: every command in it is run here, or by the container script.

Each fenced `sh` block of the guide is preceded by a marker, `<!-- ops-test: … -->`:

- `[id=NAME] run [postgres] [bot|bots=N]`: the block runs with bash (`-euo pipefail`) in a
  temporary directory shared by the blocks of its database, in the guide's order: on SQLite,
  or on a scratch PostgreSQL database (created by the guide's own `createdb`, dropped here;
  skipped without LEADERBOT_TEST_POSTGRES_URL) with libpq's PG* variables naming it. `bot`
  starts `leaderbot run` (Slack in HTTP mode on the fake Slack) on the same database for the
  block, `bots=N` N of them; LEADERBOT_PORT is the first one's port. Blocks with an id get
  set-up and checks of their own below (a backup is restored and the data is checked).
- `script PATH`: every command is one the script runs (docker's build and run are buildah's
  there, the same Dockerfile and image: no container daemon runs on these machines).
- `not-run REASON`: only the programs in NOT_RUN_PROGRAMS may appear (compose, the systemd
  install); the files they use are checked below instead.

Any other block (no marker, or a marker this file does not know) fails the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from bot import metrics
from tests.conftest import POSTGRES_ENV, POSTGRES_URL
from tests.fakes import eventually

REPO = Path(__file__).resolve().parent.parent
GUIDE = REPO / "docs" / "operations.md"
CONTAINER_SCRIPT = REPO / "deploy" / "container-check.sh"
DOCKERFILE = REPO / "Dockerfile"
ALERTS = REPO / "deploy" / "prometheus-alerts.yaml"
BIN = Path(sys.executable).parent
BLOCK_TIMEOUT_S = 120

# Programs a `not-run` block may hold: they need a container daemon, root or systemd.
NOT_RUN_PROGRAMS = {
    "docker": {"compose"},
    "cp": None,
    "useradd": None,
    "install": None,
    "python3": {"-m"},
    "/opt/leaderbot/.venv/bin/pip": {"install"},
    "systemctl": None,
    "journalctl": None,
}
# What the container script runs in docker's place (same Dockerfile, same image).
DOCKER_EQUIVALENT = {"build": "buildah build", "run": "buildah run"}
# PromQL's keywords and aggregation operators (`sum by (…) (…)`): not series.
PROMQL_WORDS = {
    *("by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"),
    *("and", "or", "unless", "sum", "min", "max", "avg", "count", "group", "stddev"),
    *("stdvar", "topk", "bottomk", "quantile", "count_values"),
}
# Prometheus's own series, not leaderbot's.
PROMETHEUS_SERIES = {"up"}


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    text: str
    marker: str | None

    @property
    def words(self) -> list[str]:
        return (self.marker or "").split()

    @property
    def kind(self) -> str | None:
        words = [w for w in self.words if not w.startswith("id=")]
        return words[0] if words else None

    @property
    def id(self) -> str | None:
        return next((w[3:] for w in self.words if w.startswith("id=")), None)

    @property
    def postgres(self) -> bool:
        return "postgres" in self.words

    @property
    def bots(self) -> int:
        if "bot" in self.words:
            return 1
        return next((int(w[5:]) for w in self.words if w.startswith("bots=")), 0)

    def where(self) -> str:
        return f"docs/operations.md:{self.line} ({self.id or self.kind})"


def guide_blocks() -> list[Block]:
    text = GUIDE.read_text()
    blocks = []
    # Fences may be indented (inside a list item): the body loses the same indent.
    for match in re.finditer(r"^( *)```(\S*)\n(.*?)^\1```", text, re.S | re.M):
        indent, lang, body = match.groups()
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = re.fullmatch(r"<!-- ops-test: (.*?) -->", before.strip())
        blocks.append(
            Block(
                line=text.count("\n", 0, match.start()) + 1,
                lang=lang,
                text="".join(line.removeprefix(indent) for line in body.splitlines(True)),
                marker=marker.group(1) if marker else None,
            )
        )
    return blocks


def commands(block_text: str) -> list[list[str]]:
    """The block's commands, as words: continuation lines joined, comments dropped, `&&`
    splitting one line into two."""
    joined = block_text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1 :]
    return [c for c in out if c]


def test_every_block_of_the_guide_is_marked_with_how_it_is_checked() -> None:
    blocks = guide_blocks()
    assert len([b for b in blocks if b.kind == "run"]) >= 8
    for block in blocks:
        if block.lang not in ("sh", "bash", "console", ""):
            continue  # yaml, ini, json: files, not commands
        assert block.lang == "sh", f"{block.where()}: commands go in ```sh blocks"
        assert block.kind in ("run", "script", "not-run"), (
            f"{block.where()}: no `<!-- ops-test: run|script|not-run … -->` marker before it"
        )
    ids = [b.id for b in blocks if b.id]
    assert len(ids) == len(set(ids)), "block ids are unique"
    assert set(SETUP) | set(CHECKS) <= set(ids), "every id this test knows is in the guide"


def test_the_not_run_blocks_hold_only_what_cannot_run_here() -> None:
    for block in guide_blocks():
        if block.kind != "not-run":
            continue
        assert len(block.words) > 1, f"{block.where()}: say why it is not run"
        for words in commands(block.text):
            assert words[0] in NOT_RUN_PROGRAMS, f"{block.where()}: {words[0]} can run here"
            allowed = NOT_RUN_PROGRAMS[words[0]]
            assert allowed is None or words[1] in allowed, f"{block.where()}: {' '.join(words)}"


def test_the_script_blocks_are_commands_the_container_script_runs() -> None:
    script = CONTAINER_SCRIPT.read_text()
    lines = script.splitlines()
    checked = 0
    for block in guide_blocks():
        if block.kind != "script":
            continue
        assert block.words[1] == "deploy/container-check.sh", block.where()
        for words in commands(block.text):
            words = [w.strip("[]") for w in words]
            if re.match(r"^\w+=\$\(", words[0]):  # ctr=$(buildah from …)
                words = [words[0].split("$(", 1)[1], *words[1:]]
            program, sub = words[0], words[1]
            docker = program == "docker"
            if docker:
                assert sub in DOCKER_EQUIVALENT, f"{block.where()}: docker {sub}"
                program, sub = DOCKER_EQUIVALENT[sub].split()
                _check_docker_options(words, block)
            # The program with its subcommand, on one line of the script.
            pattern = re.compile(rf"\b{re.escape(program)}\b.*\b{re.escape(sub)}\b")
            if not sub.startswith("-"):
                assert any(pattern.search(line) for line in lines), (
                    f"{block.where()}: the script never runs `{program} {sub}`"
                )
            for word in [] if docker else words:  # docker's options: _check_docker_options
                if word.startswith("--"):
                    flag = word.split("=", 1)[0]
                    assert flag in script, f"{block.where()}: the script never passes {flag}"
            # `… leaderbot questions`: the image's entrypoint with that command; nothing
            # after the image: its CMD.
            if sub == "run" and "leaderbot" in words[2:]:
                tail = words[len(words) - words[::-1].index("leaderbot") :]
                if not tail or tail[0] == "run":  # the image's CMD
                    expected = '"${entrypoint[@]}" "${cmd[@]}"'
                    assert 'CMD ["run"]' in DOCKERFILE.read_text()
                else:
                    expected = f'"${{entrypoint[@]}}" {tail[0]}'
                assert expected in script, f"{block.where()}: the script never runs {expected}"
            checked += 1
    assert checked >= 8


def _check_docker_options(words: list[str], block: Block) -> None:
    """docker's own options mean what the image says: a volume where it declares one, a
    port it exposes."""
    dockerfile = DOCKERFILE.read_text()
    for option, value in itertools.pairwise(words):
        if option == "-v":
            path = value.split(":")[1]
            assert f'VOLUME ["{path}"]' in dockerfile, f"{block.where()}: no VOLUME {path}"
        if option == "-p":
            port = value.rsplit(":", 1)[1]
            assert f"EXPOSE {port}" in dockerfile, f"{block.where()}: no EXPOSE {port}"


# ---------------------------------------------------------------------------- run blocks

# Set-up before a block (CLI arguments) and what its output must show, by block id.
SETUP: dict[str, list[list[str]]] = {
    "sqlite-backup": [["schedule", "--channel", "C0KEPT", "--day", "mon", "--time", "09:00"]],
    "sqlite-restore": [["schedule", "--channel", "C0LATER", "--day", "tue", "--time", "09:00"]],
    "pg-backup": [["schedule", "--channel", "C0KEPT", "--day", "mon", "--time", "09:00"]],
    "pg-restore": [["schedule", "--channel", "C0LATER", "--day", "tue", "--time", "09:00"]],
}


def _check_restored(out: str, cli: Any) -> None:
    listing = cli("schedules")
    assert "C0KEPT" in listing and "C0LATER" not in listing, listing


def _check_tables(out: str, cli: Any) -> None:
    assert out.splitlines()[0] == "database is up to date", out
    assert int(out.splitlines()[-1]) >= 10, out


def _check_two_live(out: str, cli: Any) -> None:
    assert "(2 rows)" in out, out


def _check_dump(out: str, cli: Any) -> None:
    assert int(out.strip()) >= 10, out


def _check_upgrade(out: str, cli: Any) -> None:
    assert "database is up to date" in out and '"ok": true' in out, out


def _check_json_logs(out: str, cli: Any) -> None:
    lines = out.splitlines()
    assert 1 <= len(lines) <= 3, out
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(json.loads(line))


def _check_metrics(out: str, cli: Any) -> None:
    assert re.search(r"^leaderbot_outbox_backlog \d", out, re.M), out
    assert re.search(r"^leaderbot_outbox_oldest_due_age_seconds \d", out, re.M), out


def _check_privacy(out: str, cli: Any) -> None:
    assert "erased 0 replies of U0123ABCD" in out, out


def _check_fernet_key(out: str, cli: Any) -> None:
    from cryptography.fernet import Fernet

    Fernet(out.strip().encode())  # raises unless it is a key


CHECKS = {
    "secret-key": _check_fernet_key,
    "pg-create": _check_tables,
    "replicas": _check_two_live,
    "sqlite-restore": _check_restored,
    "pg-backup": _check_dump,
    "pg-restore": _check_restored,
    "upgrade": _check_upgrade,
    "logs": _check_json_logs,
    "metrics": _check_metrics,
    "privacy": _check_privacy,
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TEAMS_", "LEADERBOT_", "DATABASE_URL", "PG"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env | extra


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def running_bot(env: dict[str, str], cwd: Path, fake: Any, n: int) -> AsyncIterator[int]:
    """`leaderbot run` (Slack in HTTP mode, on the fake) for the block; yields its port."""
    log = cwd / f"bot-{uuid.uuid4().hex[:6]}.log"
    port = _free_port()
    bot_env = env | {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_SIGNING_SECRET": "guide-signing-secret",
        "SLACK_API_URL": fake.url,
        "LEADERBOT_HOST": "127.0.0.1",
        "LEADERBOT_PORT": str(port),
    }
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            BIN / "leaderbot", "run", env=bot_env, cwd=cwd, stdout=sink, stderr=sink
        )
    try:
        async with aiohttp.ClientSession() as http:

            async def healthy() -> bool:
                assert process.returncode is None, f"leaderbot run exited: {log.read_text()}"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(healthy, within=60, every=0.2, what=f"/healthz of bot {n}")
        yield port
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _bash(block: Block, env: dict[str, str], cwd: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        block.text,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), BLOCK_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{block.where()}: still running after {BLOCK_TIMEOUT_S} s") from None
    assert process.returncode == 0, (
        f"{block.where()} failed (exit {process.returncode}):\n{block.text}\n"
        f"stdout: {out.decode()}\nstderr: {err.decode()}"
    )
    return out.decode()


async def run_the_guide(postgres: bool, env: dict[str, str], cwd: Path, fake: Any) -> list[str]:
    """Run the guide's run blocks of one database, in order; the ids run."""

    def cli(*args: str) -> str:
        result = subprocess.run(
            [BIN / "leaderbot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"leaderbot {' '.join(args)}: {result.stderr}"
        return result.stdout

    done = []
    for block in guide_blocks():
        if block.kind != "run" or block.postgres != postgres:
            continue
        for args in SETUP.get(block.id or "", []):
            cli(*args)
        async with AsyncExitStack() as stack:
            ports = [
                await stack.enter_async_context(running_bot(env, cwd, fake, n))
                for n in range(block.bots)
            ]
            block_env = env | ({"LEADERBOT_PORT": str(ports[0])} if ports else {})
            out = await _bash(block, block_env, cwd)
        if block.id in CHECKS:
            CHECKS[block.id](out, cli)
        done.append(block.id or f"line {block.line}")
    return done


async def test_the_guide_s_sqlite_commands_run(tmp_path: Path, fake: Any) -> None:
    env = _clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db")
    done = await run_the_guide(False, env, tmp_path, fake)
    assert {"sqlite-backup", "sqlite-restore", "logs", "metrics", "privacy", "secret-key"} <= set(
        done
    )
    assert json.loads((tmp_path / "U0123ABCD.json").read_text())["user"] == "U0123ABCD"


async def test_the_guide_s_postgres_commands_run(tmp_path: Path, fake: Any) -> None:
    if not POSTGRES_URL:
        pytest.skip(f"set {POSTGRES_ENV} to run against PostgreSQL")
    if not (shutil.which("pg_dump") and shutil.which("psql") and shutil.which("createdb")):
        pytest.skip("the PostgreSQL client programs are not installed")
    import asyncpg

    server = make_url(POSTGRES_URL)
    name = f"leaderbot_guide_{uuid.uuid4().hex[:10]}"
    env = _clean_env(
        DATABASE_URL=server.set(database=name).render_as_string(hide_password=False),
        PGHOST=server.host or "127.0.0.1",
        PGPORT=str(server.port or 5432),
        PGUSER=server.username or "postgres",
        PGDATABASE=name,
        **({"PGPASSWORD": server.password} if server.password else {}),
    )
    try:
        done = await run_the_guide(True, env, tmp_path, fake)
    finally:
        admin = await asyncpg.connect(POSTGRES_URL.replace("postgresql+asyncpg", "postgresql"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    assert {"pg-create", "replicas", "pg-backup", "pg-restore", "upgrade"} <= set(done)


# ------------------------------------------------------------- files the guide points at


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    unit = (REPO / "deploy" / "leaderbot.service").read_text()
    assert "ExecStart=/opt/leaderbot/.venv/bin/leaderbot run" in unit
    # The guide installs the package at /opt/leaderbot/.venv; here it is this venv.
    (tmp_path / "leaderbot.service").write_text(
        unit.replace("/opt/leaderbot/.venv/bin/leaderbot", str(BIN / "leaderbot"))
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "leaderbot.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "leaderbot.service" not in result.stderr, result.stderr  # no warning about it


def test_the_compose_file_wires_the_bot_to_its_database_as_the_guide_says() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    db, bot = compose["services"]["db"], compose["services"]["bot"]
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"] and "pgdata" in compose["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert bot["build"] == {"context": "..", "dockerfile": "Dockerfile"}
    assert bot["env_file"] == "leaderbot.env"
    url = make_url(
        bot["environment"]["DATABASE_URL"].replace("${POSTGRES_PASSWORD:-", "").replace("}", "")
    )
    assert (url.host, url.database, url.username) == (
        "db",
        db["environment"]["POSTGRES_DB"],
        db["environment"]["POSTGRES_USER"],
    )
    assert bot["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert bot["ports"] == ["127.0.0.1:3000:3000"]


# ------------------------------------------------------------------------- alert rules


def _exported(metrics_text: str) -> dict[str, set[str]]:
    """Series names /metrics exports, with their label names (histograms' `le` included)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
    }
    # Label names from the metrics' definitions: a labelled metric with no sample yet shows
    # only its HELP and TYPE lines.
    by_family = {
        metric._name: set(metric._labelnames)
        for metric in vars(metrics).values()
        if isinstance(metric, Counter | Gauge | Histogram)
    }
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics_text):
        assert family.type in suffixes, f"{family.name}: a {family.type}"
        for suffix in suffixes[family.type]:
            names = set(by_family.get(family.name, set()))
            if suffix == "_bucket":
                names.add("le")
            out[family.name + suffix] = names
    return out


def _selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The series an expression selects, each with the label names its matchers use."""
    found = []
    for match in re.finditer(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?(\s*\()?", expr):
        name, matchers, call = match.groups()
        if call or name in PROMQL_WORDS:
            continue
        # Inside `by (…)`, a range `[5m]` or a string: not a series.
        before = expr[: match.start()]
        if re.search(r"\b(by|without)\s*\([^)]*$", before) or before.count('"') % 2:
            continue
        if re.search(r"\[[^\]]*$", before):
            continue
        labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers or ""))
        found.append((name, labels))
    return found


async def test_the_alert_rules_use_only_what_metrics_exports(tmp_path: Path, fake: Any) -> None:
    env = _clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/leaderbot.db")
    async with (
        running_bot(env, tmp_path, fake, 0) as port,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        exported = _exported(await response.text())
    assert "leaderbot_posts_total" in exported and "leaderbot_outbox_backlog" in exported

    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert len(rules) >= 4
    used = set()
    for rule in rules:
        assert rule["alert"] and rule["annotations"]["summary"], rule
        selectors = _selectors(rule["expr"])
        assert selectors, rule["alert"]
        for name, labels in selectors:
            if name in PROMETHEUS_SERIES:
                continue
            assert name in exported, f"{rule['alert']}: /metrics has no {name}"
            assert labels <= exported[name], f"{rule['alert']}: {name} has no {labels}"
            used.add(name)
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", rule["expr"]):
            names = {label.strip() for label in group.split(",")}
            known = set().union(*(exported.get(n, set()) for n, _ in selectors))
            assert names <= known, f"{rule['alert']}: grouped by {names - known}"
    assert len(used) >= 4
