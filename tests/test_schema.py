"""The schema comes from the migrations alone, on SQLite and on a real PostgreSQL: what they make is
exactly what the code declares, a shared database older than the code stops a replica at start with one
line, and ``faqbot migrate`` brings it up to date."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.ops.localservices import PostgresServer
from bot.ops.server import free_port
from bot.schema import alembic_config, current, declared, head, migrate
from bot.settings import PROJECT_ROOT
from bot.storage import Storage, create_engine


def faqbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env}
    command_line = [sys.executable, "-m", "bot", *args]
    return subprocess.run(command_line, capture_output=True, text=True, env=environment, timeout=300, check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.database()


def test_the_migrations_make_exactly_the_tables_the_code_declares(empty_database: str) -> None:
    engine = create_engine(empty_database)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), declared())
    engine.dispose()
    assert differences == [], "a table or column changed without a revision in bot/migrations/versions"


def test_every_table_is_declared_on_the_one_metadata_the_migrations_compare_with() -> None:
    # A module with a MetaData of its own would keep its tables out of the comparison above.
    others = [
        path.relative_to(PROJECT_ROOT)
        for path in (PROJECT_ROOT / "bot").rglob("*.py")
        if path.name != "schema.py" and re.search(r"\bMetaData\(", path.read_text(encoding="utf-8"))
    ]
    assert others == []


def test_an_sqlite_file_made_before_migrations_keeps_its_rows_and_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        # The tables as the code made them before migrations, with a vote in them.
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(sa.text("DROP TABLE alembic_version"))
        vote = "INSERT INTO feedback (answer_id, helpful, index_version, created_at) VALUES ('a', 0, 'v', '2026-01-01')"
        connection.execute(sa.text(vote))
    engine.dispose()
    storage = Storage(str(path))
    assert [r.answer_id for r in storage.ratings()] == ["a"]
    with storage.engine.connect() as connection:
        assert current(connection) == head()
    storage.close()


@pytest.mark.slow
def test_a_replica_will_not_start_on_a_database_older_than_its_code_until_migrate(
    postgres: PostgresServer, index_dir: Path
) -> None:
    url = postgres.database()
    # The revision before this code's head, as a database the previous version of the code migrated.
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head()).down_revision
    assert previous is None or isinstance(previous, str)
    if previous:
        engine = create_engine(url)
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), previous)
        engine.dispose()
    env = {"FAQBOT_DATABASE": url, "FAQBOT_INDEX_DIR": str(index_dir)}

    refused = faqbot("serve", "--port", str(free_port()), **env)
    assert refused.returncode == 1
    where = f"at revision {previous}" if previous else "empty"
    assert refused.stderr.strip().splitlines() == [
        f"error: the database schema is {where}, older than this code needs ({head()}): run 'faqbot migrate'"
    ]

    migrated = faqbot("migrate", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from {'revision ' + previous if previous else 'an empty schema'} to {head()}" in migrated.stdout
    assert "up to date" in faqbot("migrate", **env).stdout
    storage = Storage(url)  # what serve does at start: no longer refused
    storage.add_crisis_event()
    assert sum(storage.crisis_counts().values()) == 1
    storage.close()


def test_migrate_on_a_database_it_cannot_reach_is_one_line() -> None:
    result = faqbot("migrate", FAQBOT_DATABASE=f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot use the database postgresql+psycopg://nobody@127.0.0.1:")
