"""The operators' commands: ``migrate`` the shared database, ``publish`` a release to it, ``rollback``
to an earlier one and ``prune`` old ones (``bot.release_store``), and ``bench``. ``bot.cli`` registers them."""

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
from bot.release_store import ReleaseStore, StoredRelease
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
            previous = store.current()
            if previous != manifest.index_version:
                store.make_current(manifest.index_version, "publish")  # refused only if pruned meanwhile
        except IndexRefused as error:
            fail(f"not published: {error}")
    note = "already current" if previous == manifest.index_version else f"now current (was {previous or 'none'})"
    typer.echo(f"release {manifest.index_version}: {len(retriever.index.passages)} passages, {note}", err=True)
    typer.echo(manifest.index_version)


def rollback(version: Annotated[str, typer.Argument(help="The index_version to make current again.")]) -> None:
    """Make an earlier release current again; replicas following the database switch to it."""
    settings = Settings()
    with release_store(settings) as store:
        previous = store.current()
        if previous == version:
            typer.echo(f"release {version} is already current")
            return
        try:
            store.make_current(version, "rollback")
        except IndexRefused as error:  # never published, or pruned
            fail(str(error))
    typer.echo(f"release {version} is current again (was {previous})")


def _described(release: StoredRelease) -> str:
    return f"{release.index_version}  published {release.published_at:%Y-%m-%d %H:%M} UTC  {_megabytes(release.size)}"


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def prune(
    keep: Annotated[
        int, typer.Option("--keep", min=1, help="Keep the N releases most recently made current (publish, rollback).")
    ] = 10,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be deleted; delete nothing.")] = False,
) -> None:
    """Delete old releases from the database: all but the current one, the N most recently made current and
    any that a replica seen in the last day serves. The history of publishes and rollbacks stays."""
    with release_store(Settings()) as store:
        pruning = store.prune(keep, dry_run)
    deleted, kept, freed = ("would delete", "would keep", "would free") if dry_run else ("deleted", "kept", "freed")
    for release in pruning.deleted:
        typer.echo(f"{deleted} {_described(release)}")
    for keeping in pruning.kept:
        typer.echo(f"{kept} {_described(keeping.release)}  ({keeping.why})")
    if not pruning.deleted:
        typer.echo(f"nothing to prune: the {len(pruning.kept)} release(s) stored are all kept")
        return
    note = "; nothing was deleted (--dry-run)" if dry_run else ""
    typer.echo(f"{freed} {_megabytes(pruning.freed)}: {len(pruning.deleted)} release(s){note}")


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
