"""The operators' commands: ``migrate`` the shared database, ``publish`` a release to it and ``rollback``
to an earlier one (``bot.release_store``), and ``bench``. ``bot.cli`` registers them."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.console import fail
from bot.index import IndexRefused
from bot.release_store import ReleaseStore
from bot.schema import SchemaOutdated, prepare
from bot.schema import migrate as upgrade
from bot.settings import Settings
from bot.storage import create_engine


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
        fail(unreachable(engine, error))
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
        fail(str(error))
    except SQLAlchemyError as error:
        fail(unreachable(engine, error))
    finally:
        engine.dispose()


def fetch_release(settings: Settings) -> None:
    """Before serving with ``FAQBOT_RELEASES=database``: the current release into ``FAQBOT_INDEX_DIR``."""
    from bot.release_follower import fetch_current

    with release_store(settings) as store:
        try:
            fetch_current(settings, store)
        except (IndexRefused, OSError) as error:
            fail(str(error))


def _build(settings: Settings, folder: Path) -> None:
    from bot.content.checks import build_from, read_content
    from bot.embedding import SentenceTransformerEmbedder

    content = read_content(settings.knowledge_dir)
    if content.errors:
        for problem in content.errors:
            typer.echo(str(problem), err=True)
        fail(f"{len(content.errors)} error(s) in the knowledge files; nothing was published")
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
    from bot.reload import check_release

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
            fail(f"not published: {error}")
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
            fail(f"no release {version!r} in the database; published (newest first): {listed}")
        previous = store.current()
        if previous == version:
            typer.echo(f"release {version} is already current")
            return
        store.make_current(version, "rollback")
    typer.echo(f"release {version} is current again (was {previous})")


def bench(
    compare_naive: Annotated[
        bool, typer.Option("--compare-naive", help="Also serve through the plain per-request path; print ratios.")
    ] = False,
    scale: Annotated[
        int | None, typer.Option("--scale", min=1, max=1_000_000, help="Build and serve N synthetic passages.")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, max=100_000, help="Requests per phase, at most.")] = 400,
    seconds: Annotated[float, typer.Option(min=1, max=3600, help="Seconds per phase, at most.")] = 60.0,
    concurrency: Annotated[int, typer.Option(min=2, max=256, help="Clients in the concurrent phases.")] = 16,
    fleet: Annotated[
        int | None,
        typer.Option("--fleet", min=1, max=16, help="Fleets of 1 to N replicas behind HAProxy, and a release."),
    ] = None,
) -> None:
    """Start the real server on loopback and measure latency, throughput, errors and peak memory."""
    try:
        from bot.ops.bench import Load, run_bench
        from bot.ops.fleet_bench import run_fleet_bench
        from bot.ops.scale import run_scale
    except ModuleNotFoundError as error:  # installed without the operators' extra
        fail(f"the benchmark needs {error.name}: pip install 'faqbot[ops]'")

    settings = Settings()
    load = Load(requests=requests, seconds=seconds, concurrency=concurrency)
    try:
        if fleet is not None:
            run_fleet_bench(settings, fleet, load, typer.echo)
        elif scale is None:
            run_bench(settings, load, compare_naive, typer.echo)
        else:
            run_scale(settings, scale, load, typer.echo)
    except (RuntimeError, ValueError, OSError) as error:
        fail(str(error))
