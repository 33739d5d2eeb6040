"""A fleet on one machine: replicas (``bot.ops.server.Server``) behind HAProxy, all on loopback.

``bench --fleet`` measures it and the fleet tests drive it. The balancer runs the configuration
rendered from ``deploy/haproxy.cfg.j2`` (without the system service's lines), so what they measure and
test is what ships.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.ops.deploy import render_haproxy
from bot.ops.server import answers, free_port, terminate, wait_until

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CHECK_INTERVAL = "500ms"  # the health check's pace on loopback: a dead replica is out within about 1 s


class Balancer:
    """HAProxy on 127.0.0.1 in ``folder``, in front of ``replicas`` (``host:port`` each)."""

    def __init__(self, replicas: Sequence[str], folder: Path, tls_certificate: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"{'https' if tls_certificate else 'http'}://127.0.0.1:{self.port}"
        self.http_url = f"http://127.0.0.1:{free_port()}"  # with TLS: where plain HTTP is sent to HTTPS
        self.folder = folder
        self.config = folder / "haproxy.cfg"
        self.config.write_text(
            render_haproxy(
                replicas,
                bind=f"127.0.0.1:{self.port}",
                http_bind=self.http_url.removeprefix("http://"),
                tls_certificate=str(tls_certificate) if tls_certificate else None,
                system=False,
                check_interval=CHECK_INTERVAL,
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Balancer:
        with (self.folder / "haproxy.log").open("ab") as log:
            # -db: stay in the foreground, so that this process is HAProxy itself.
            command = [HAPROXY, "-db", "-f", str(self.config)]
            self.process = subprocess.Popen(command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: answers(self.url + "/readyz"), "HAProxy with a ready replica", 60, self.process)
        return self

    def stop(self) -> None:
        terminate(self.process, 20)
        self.process = None


@dataclass(frozen=True)
class Outcome:
    """One request of a load: its status (0 when no answer came), the index version it carried, when it
    started (seconds into the load) and how long it took."""

    status: int
    index_version: str | None
    started: float
    latency_ms: float


@dataclass
class Load:
    """Chat requests from ``concurrency`` clients on one connection each, until ``requests`` were sent,
    ``seconds`` passed or ``stop`` was set; ``outcomes`` fills as they come back. ``rate`` (requests a
    second, all clients together) paces them; 0 sends as fast as answers come."""

    url: str
    questions: Sequence[str]
    concurrency: int = 12
    requests: int = 3000
    seconds: float = 120.0
    source: str = "127.0.0.1"  # the visitors' address: any 127.x.y.z, so tests can be several visitors
    rate: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self) -> list[Outcome]:
        asyncio.run(self._drive())
        return self.outcomes

    def start(self) -> threading.Thread:
        """Run in a thread of its own, so that the caller can publish, kill or measure meanwhile."""
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    async def _drive(self) -> None:
        started = time.perf_counter()
        deadline = started + self.seconds
        questions = itertools.cycle(self.questions)
        sent = 0

        async def client_loop(client: aiohttp.ClientSession, offset: int) -> None:
            nonlocal sent
            interval = self.concurrency / self.rate if self.rate else 0.0
            slot = started + offset * interval / self.concurrency
            while sent < self.requests and time.perf_counter() < deadline and not self.stop.is_set():
                sent += 1
                await asyncio.sleep(max(0.0, slot - time.perf_counter()))
                slot += interval
                begun = time.perf_counter()
                status, version = 0, None
                try:
                    async with client.post("/api/chat", json={"message": next(questions)}) as response:
                        status = response.status
                        if status == 200:
                            version = (await response.json())["index_version"]
                        else:
                            await response.read()
                except (aiohttp.ClientError, TimeoutError, ValueError):
                    pass
                done = time.perf_counter()
                self.outcomes.append(Outcome(status, version, begun - started, (done - begun) * 1000))

        connector = aiohttp.TCPConnector(limit=self.concurrency, local_addr=(self.source, 0))
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(self.url, connector=connector, timeout=timeout) as client:
            await asyncio.gather(*(client_loop(client, n) for n in range(self.concurrency)))
