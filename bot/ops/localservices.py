"""PostgreSQL and Redis on loopback, each in a temporary folder on a free port, for the fleet tests and
``bench --fleet``; stopped afterwards, and no system service is touched.

``PostgresServer`` runs Debian's PostgreSQL binaries (``initdb``, ``pg_ctl``) as the ``postgres`` user
when run as root (PostgreSQL refuses to run as root), in a folder that user owns, listening on 127.0.0.1
only and with no Unix socket. ``RedisServer`` runs ``redis-server`` the same way, keeping nothing on disk.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bot.ops.server import free_port, terminate

POSTGRES_USER = "postgres"


def postgres_bin() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: on PATH, or where Debian puts them (the newest version)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for folder in folders:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; as any other user it runs as that user.
    return ["runuser", "-u", POSTGRES_USER, "--", *command] if os.geteuid() == 0 else command


class PostgresServer:
    """A throwaway PostgreSQL cluster; ``database()`` hands out a fresh, empty database per caller."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="faqbot-postgres-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.root, POSTGRES_USER, POSTGRES_USER)
        self._names = itertools.count(1)

    def _run(self, *args: str) -> None:
        result = subprocess.run(_as_postgres(list(args)), capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stderr.strip()} {log}")

    def init(self) -> PostgresServer:
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", POSTGRES_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        return self.start()

    def start(self) -> PostgresServer:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        return self

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new empty database on this server, as a ``FAQBOT_DATABASE`` URL."""
        import psycopg

        name = f"faqbot_{next(self._names)}"
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """``redis-server`` on 127.0.0.1 and a free port, in ``folder``; ``stop()`` and ``start()`` again keep the port."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        import redis

        command = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.folder)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "redis.log"]
        self.process = subprocess.Popen(command, cwd=self.folder)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start; see {self.folder / 'redis.log'}") from None
                time.sleep(0.05)
        client.close()
        return self

    def stop(self) -> None:
        terminate(self.process, 20)
        self.process = None
