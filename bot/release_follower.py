"""A replica that follows the current release in the database (``FAQBOT_RELEASES=database``).

At start, ``fetch_current`` puts the current release in ``FAQBOT_INDEX_DIR``, which is then only a
local cache (nothing is downloaded when it already holds that version). While serving,
``ReleaseFollower`` hears of a new current release through PostgreSQL's LISTEN/NOTIFY, and polls every
``FAQBOT_WATCH_INTERVAL`` seconds as well (the only way on SQLite, and the fallback while notifications
cannot be had). A new release is downloaded into a folder of its own, checked fully as
``/admin/reload`` checks, and swapped in; only then does it replace the cache. A release that fails its
checks is refused on this replica, recorded in the database with the reason, and not tried again: the
old one keeps serving. A database that cannot be reached only delays the next look.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from bot.index import IndexRefused, read_manifest, swap_in
from bot.release_store import CHANNEL, ReleaseStore
from bot.reload import Release, ReloadResult
from bot.settings import Settings

log = logging.getLogger("bot.reload")


def _staging(index_dir: Path) -> Path:
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{index_dir.name}.release-", dir=index_dir.parent))


def fetch_current(settings: Settings, store: ReleaseStore) -> str:
    """Make ``FAQBOT_INDEX_DIR`` hold the current release; returns its version. Raises ``IndexRefused``."""
    version = store.current()
    if version is None:
        raise IndexRefused("no release has been published to the database yet: run 'faqbot publish'")
    try:
        if read_manifest(settings.index_dir).index_version == version:
            return version  # the cache holds it; loading checks it all the same
    except IndexRefused:
        pass  # no cache yet, or a damaged one: download
    staging = _staging(settings.index_dir)
    try:
        store.download(version, staging)
        _into_cache(staging, settings.index_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version


def _into_cache(staging: Path, index_dir: Path) -> None:
    """Make ``staging`` the cache. With several workers, another may be doing the same at the same moment:
    then its copy wins, which is as good (any release in the cache is checked fully when it is loaded)."""
    try:
        swap_in(staging, index_dir)
    except OSError as error:
        log.info("another worker updated the release cache in %s first (%s)", index_dir, error)


def listen_url(engine: sa.Engine) -> str | None:
    """The libpq address to LISTEN on, for PostgreSQL; None elsewhere."""
    if engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class ReleaseFollower:
    """Swaps in each new current release on this replica, and records what it serves or refuses."""

    def __init__(self, release: Release, store: ReleaseStore, name: str, interval: float) -> None:
        self.release = release
        self.store = store
        self.name = name
        self.interval = interval
        self.refused: set[str] = set()

    @property
    def settings(self) -> Settings:
        return self.release.assistant.settings

    def follow(self) -> ReloadResult | None:
        """One look at the database: swap in the current release if it is new here."""
        served = self.release.assistant.retriever.version
        version = self.store.current()
        if version is None or version == served or version in self.refused:
            self.store.seen(self.name, served)
            return None
        index_dir = self.settings.index_dir
        staging = _staging(index_dir)
        try:
            self.store.download(version, staging)
            result = self.release.reload(staging)
        except IndexRefused as error:
            shutil.rmtree(staging, ignore_errors=True)
            self.refused.add(version)
            reason = str(error).replace(f"{staging}/", "")  # the file's name in the release, not its scratch path
            log.warning("release %s refused on %s, still serving %s: %s", version, self.name, served, reason)
            self.store.refuse(self.name, version, reason)
            self.store.seen(self.name, served)
            return None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _into_cache(staging, index_dir)  # the cache now holds what is served
        shutil.rmtree(staging, ignore_errors=True)  # left only when another worker's copy won
        self.store.serving(self.name, version)
        log.info("release %s is now served on %s (was %s)", version, self.name, served)
        return result

    async def _follow(self) -> None:
        try:
            await asyncio.to_thread(self.follow)
        except SQLAlchemyError as error:
            log.warning("cannot read releases from the database (%s); trying again", str(error).splitlines()[0])
        except Exception:  # the follower must outlive any surprise; the server keeps serving
            log.exception("following the releases failed; trying again at the next poll")

    async def _listen(self, url: str) -> psycopg.AsyncConnection[tuple[object, ...]] | None:
        try:
            connection = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
            await connection.execute(f"LISTEN {CHANNEL}")
            return connection
        except (psycopg.Error, OSError) as error:
            log.warning("release notifications unavailable (%s); polling every %ss", error, self.interval)
            return None

    async def run(self) -> None:
        """Look now, then at each notification or after ``interval`` seconds, for as long as the server runs."""
        url = listen_url(self.store.engine)
        connection = None
        try:
            while True:
                if connection is None and url is not None:
                    connection = await self._listen(url)
                await self._follow()
                if connection is None:
                    await asyncio.sleep(self.interval)
                    continue
                try:
                    async for _ in connection.notifies(timeout=self.interval, stop_after=1):
                        pass
                except (psycopg.Error, OSError):
                    await connection.close()
                    connection = None
                    await asyncio.sleep(self.interval)
        finally:
            if connection is not None:
                await connection.close()
