"""A soak test of a release under load: ``make soak`` or ``python -m bot.ops.soak``.

It serves a copy of the knowledge and index on loopback (``python -m bot serve``), keeps 16 clients
asking for two minutes, and half-way through adds a knowledge file, rebuilds the index and reloads
it. It passes when no request fails, every answer carries the old or the new ``index_version`` and
each client sees the version switch once, and the server's memory stays flat. Bounded in time and
in count, loopback only; it stops the server it started.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.ops.server import Server, served_version
from bot.settings import PROJECT_ROOT

QUESTIONS = [
    "Can ketamine make me dizzy?",
    "how long does a session last",
    "is ketamine addictive",
    "what are the side effects",
    "can I drive home after treatment",
    "does insurance cover it",
    "what is the weather like on mars",
    "how many sessions will I need",
]
NEW_FILE = """---
title: Soak test release
status: approved
reviewed_on: 2025-01-01
---

# Parking at the clinic

Patients who come for a ketamine session can park in the clinic's own car park, which is free for the
whole visit; someone else must drive you home afterwards, so ask them to wait for you or to come back.
"""
MAX_REQUESTS_PER_CLIENT = 20_000  # a bound in count as well as in time
MEMORY_GROWTH_LIMIT = 0.15  # more than this between warm-up and the end is not flat


@dataclass
class Client:
    versions: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def switches(self) -> int:
        return sum(1 for a, b in zip(self.versions, self.versions[1:], strict=False) if a != b)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and its children (the workers), from /proc."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pids += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total


async def ask(http: aiohttp.ClientSession, client: Client, number: int, deadline: list[float]) -> None:
    turn = number
    while time.monotonic() < deadline[0] and len(client.latencies) + len(client.errors) < MAX_REQUESTS_PER_CLIENT:
        question = QUESTIONS[turn % len(QUESTIONS)]
        turn += 1
        started = time.perf_counter()
        request = (
            http.post("/api/chat", json={"message": question})
            if turn % 3
            else http.get("/api/search", params={"q": question, "k": "5"})
        )
        try:
            async with request as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            client.errors.append(f"{type(error).__name__}: {error}")
            continue
        client.latencies.append(time.perf_counter() - started)
        if response.status != 200:
            client.errors.append(f"{response.status}: {body[:200].decode(errors='replace')}")
            continue
        client.versions.append(json.loads(body)["index_version"])


async def release(base: str, token: str, knowledge: Path, env: dict[str, str]) -> dict[str, object]:
    """Add a knowledge file, rebuild the index in a separate process, then reload the server."""
    (knowledge / "soak-release.md").write_text(NEW_FILE, encoding="utf-8")
    started = time.perf_counter()
    build = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "build", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await build.communicate()
    if build.returncode != 0:
        raise RuntimeError(f"build failed: {err.decode()[-500:]}")
    built = time.perf_counter() - started
    async with (
        aiohttp.ClientSession(base, timeout=aiohttp.ClientTimeout(total=60), raise_for_status=True) as http,
        http.post("/admin/reload", headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        reloaded = await response.json()
    return {"build_seconds": round(built, 1), "reload": reloaded}


async def soak(duration: float, clients: int, workers: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="faqbot-soak-"))
    knowledge = folder / "knowledge"
    shutil.copytree(PROJECT_ROOT / "knowledge", knowledge)
    token = secrets.token_urlsafe(16)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "FAQBOT_KNOWLEDGE_DIR": str(knowledge),
        "FAQBOT_INDEX_DIR": str(folder / "index"),
        "FAQBOT_DATABASE": f"sqlite:///{folder / 'soak.sqlite3'}",
        "FAQBOT_ADMIN_TOKEN": token,
        # Every soak client is on loopback: the per-client limits would only measure themselves.
        "FAQBOT_RATE_LIMIT": "0",
        "FAQBOT_SEARCH_RATE_LIMIT": "0",
        # With several workers, /admin/reload reaches one of them; the watcher brings the others along.
        "FAQBOT_WATCH_INDEX": "true" if workers > 1 else "false",
        "FAQBOT_WATCH_INTERVAL": "2",
    }
    subprocess.run([sys.executable, "-m", "bot", "build"], env=env, check=True, capture_output=True)
    # The server's log is kept beside the work folder, so that any error can be looked up by request id.
    log_path = folder.with_suffix(".log")
    server = Server(env, log_path, workers).start()
    base = server.url
    try:
        server.wait_ready(300)
        old_version = served_version(base)
        assert server.process is not None
        pid = server.process.pid

        memory: list[tuple[float, int]] = []
        start = time.monotonic()
        # Load runs for `duration`, and on for a while after the reload if the rebuild was slow, never
        # past three times `duration`: until the reload is in, only that cap holds, so that a rebuild slower
        # than the load still finds clients to see the new version.
        deadline = [start + 3 * duration]
        states = [Client() for _ in range(clients)]

        async def sample_memory() -> None:
            while time.monotonic() < deadline[0]:
                memory.append((round(time.monotonic() - start, 1), rss_bytes(pid)))
                await asyncio.sleep(5)

        async def release_midway() -> dict[str, object]:
            await asyncio.sleep(duration / 3)  # the rebuild itself takes a while under load
            done = await release(base, token, knowledge, env)
            deadline[0] = min(max(start + duration, time.monotonic() + duration / 4), start + 3 * duration)
            done["reloaded_at_s"] = round(time.monotonic() - start, 1)
            return done

        # One connection per client, kept alive, as a browser tab would.
        pools = [
            aiohttp.ClientSession(
                base, connector=aiohttp.TCPConnector(limit=1), timeout=aiohttp.ClientTimeout(total=60)
            )
            for _ in range(clients)
        ]
        try:
            results = await asyncio.gather(
                *(ask(pool, state, n, deadline) for n, (pool, state) in enumerate(zip(pools, states, strict=True))),
                sample_memory(),
                release_midway(),
            )
        finally:
            for pool in pools:
                await pool.close()
        released = results[-1]
        assert isinstance(released, dict)
        new_version = str(released["reload"]["index_version"])  # type: ignore[index]
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    latencies = sorted(t for s in states for t in s.latencies)
    versions = {v for s in states for v in s.versions}
    errors = [e for s in states for e in s.errors]
    warm = [rss for at, rss in memory if at >= 20] or [rss for _, rss in memory]
    growth = (warm[-1] - warm[0]) / warm[0] if warm else 0.0
    checks = {
        "no errors": not errors,
        "only the old and new versions": versions <= {old_version, new_version} and old_version != new_version,
        "each client switched once": all(s.switches == 1 for s in states),
        "memory flat": growth <= MEMORY_GROWTH_LIMIT,
    }
    return {
        "passed": all(checks.values()),
        "checks": checks,
        "duration_s": round(deadline[0] - start, 1),
        "clients": clients,
        "workers": workers,
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:5],
        "server_log": str(log_path),
        "requests_per_s": round(len(latencies) / (deadline[0] - start), 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p95": round(latencies[int(len(latencies) * 0.95)] * 1000, 1) if latencies else None,
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
        "versions": {"old": old_version, "new": new_version, "seen": sorted(versions)},
        "switches_per_client": sorted({s.switches for s in states}),
        "release": released,
        "memory_mb": {
            "after_warm_up": round(warm[0] / 2**20) if warm else None,
            "end": round(warm[-1] / 2**20) if warm else None,
            "max": round(max(warm) / 2**20) if warm else None,
            "growth_pct": round(growth * 100, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load (at most 600)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (at most 64)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = parser.parse_args()
    duration = min(max(args.duration, 10.0), 600.0)
    clients = min(max(args.clients, 1), 64)
    report = asyncio.run(soak(duration, clients, args.workers))
    print(json.dumps(report, indent=2))
    sys.exit(0 if report["passed"] else 1)


if __name__ == "__main__":
    main()
