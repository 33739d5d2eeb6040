"""The operators' commands for a fleet: ``migrate`` the shared database, ``publish`` a release to it and
``rollback`` to an earlier one (``bot.release_store``). ``bot.cli`` registers them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.index import IndexRefused
from bot.release_store import ReleaseStore
from bot.schema import SchemaOutdated, prepare
from bot.schema import migrate as upgrade
from bot.settings import Settings
from bot.storage import create_engine


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def unreachable(engine: sa.Engine, error: SQLAlchemyError) -> str:
    """A database error in one line: which database, and the driver's first line."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return f"cannot use the database {engine.url.render_as_string(hide_password=True)}: {reason}"


def check_database(settings: Settings) -> None:
    """Before serving: the schema must be this code's (an SQLite file is migrated in place)."""
    with release_store(settings):
        pass


def migrate() -> None:
    """Bring the database's schema (FAQBOT_DATABASE) up to this code's; run once per new version of the code."""
    engine = create_engine(Settings().database)
    try:
        before, after = upgrade(engine)
    except SQLAlchemyError as error:
        raise _fail(unreachable(engine, error)) from error
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        typer.echo(f"{where} is up to date (revision {after})")
    else:
        typer.echo(f"{where} migrated from {'an empty schema' if before is None else 'revision ' + before} to {after}")


@contextmanager
def release_store(settings: Settings) -> Iterator[ReleaseStore]:
    """The releases in ``FAQBOT_DATABASE``, whose schema must be this code's (an SQLite file is migrated in
    place); errors are one line."""
    engine = create_engine(settings.database)
    try:
        prepare(engine)
        yield ReleaseStore(engine)
    except SchemaOutdated as error:
        raise _fail(str(error)) from error
    except SQLAlchemyError as error:
        raise _fail(unreachable(engine, error)) from error
    finally:
        engine.dispose()


def fetch_release(settings: Settings) -> None:
    """Before serving with ``FAQBOT_RELEASES=database``: the current release into ``FAQBOT_INDEX_DIR``."""
    from bot.release_follower import fetch_current

    with release_store(settings) as store:
        try:
            fetch_current(settings, store)
        except (IndexRefused, OSError) as error:
            raise _fail(str(error)) from error


def _build(settings: Settings, folder: Path) -> None:
    from bot.content import build_from, read_content
    from bot.embedding import SentenceTransformerEmbedder

    content = read_content(settings.knowledge_dir)
    if content.errors:
        for problem in content.errors:
            typer.echo(str(problem), err=True)
        raise _fail(f"{len(content.errors)} error(s) in the knowledge files; nothing was published")
    build_from(content, folder, SentenceTransformerEmbedder(settings.model))


def publish(
    index: Annotated[
        Path | None,
        typer.Option("--index", help="A built index folder to publish, instead of building the knowledge files."),
    ] = None,
) -> None:
    """Store a checked release in the database (FAQBOT_DATABASE), make it current, and print its index_version.

    Replicas with FAQBOT_RELEASES=database download it, check it and serve it."""
    from bot.embedding import SentenceTransformerEmbedder
    from bot.release import check_release

    settings = Settings()
    with release_store(settings) as store, tempfile.TemporaryDirectory(prefix="faqbot-publish-") as scratch:
        folder = index or Path(scratch) / "index"
        if index is None:
            _build(settings, folder)
        try:
            # Every check a replica will make, here first: a release that cannot be served is not published.
            retriever, _ = check_release(settings, SentenceTransformerEmbedder(settings.model), folder)
            manifest = store.store(folder)
        except IndexRefused as error:
            raise _fail(f"not published: {error}") from error
        previous = store.current()
        if previous != manifest.index_version:
            store.make_current(manifest.index_version, "publish")
    note = "already current" if previous == manifest.index_version else f"now current (was {previous or 'none'})"
    typer.echo(f"release {manifest.index_version}: {len(retriever.index.passages)} passages, {note}", err=True)
    typer.echo(manifest.index_version)


def rollback(version: Annotated[str, typer.Argument(help="The index_version to make current again.")]) -> None:
    """Make an earlier release current again; replicas following the database switch to it."""
    settings = Settings()
    with release_store(settings) as store:
        stored = [r.index_version for r in store.stored()]
        if version not in stored:
            listed = ", ".join(stored[:10]) or "none"
            raise _fail(f"no release {version!r} in the database; published (newest first): {listed}")
        previous = store.current()
        if previous == version:
            typer.echo(f"release {version} is already current")
            return
        store.make_current(version, "rollback")
    typer.echo(f"release {version} is current again (was {previous})")
