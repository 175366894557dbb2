"""The migrations form one line (one head, so `db upgrade` never stops at a fork), and every
one of them can be undone and redone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from bot.store.db import alembic_config


def test_the_migrations_have_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several heads: {heads}: chain the newest after the others"


def test_every_migration_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/leaderbot.db")
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
        tables = set(inspect(connection).get_table_names())
        command.downgrade(cfg, "base")
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        command.upgrade(cfg, "head")
        assert set(inspect(connection).get_table_names()) == tables
    engine.dispose()
