"""``python -m bot serve`` as an operator runs it: graceful shutdown, and several workers that all
take a release. Each test starts the real command on loopback and stops it."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.content.checks import build
from bot.embedding import SentenceTransformerEmbedder
from bot.ops.server import Server

pytestmark = pytest.mark.slow
NEW_FILE = """---
title: Parking
status: approved
reviewed_on: 2025-01-01
---

# Parking at the clinic

Patients who come for a ketamine session can park in the clinic's own car park, which is free for the
whole visit; someone else must drive you home afterwards, so ask them to wait for you or to come back.
"""


def serve(tmp: Path, index_dir: Path, knowledge_dir: Path, workers: int = 1, **env: str) -> Server:
    environment = {
        "HF_HUB_OFFLINE": "1",
        "FAQBOT_INDEX_DIR": str(index_dir),
        "FAQBOT_KNOWLEDGE_DIR": str(knowledge_dir),
        "FAQBOT_DATABASE": f"sqlite:///{tmp / 'serve.sqlite3'}",
        "FAQBOT_RATE_LIMIT": "0",
        **env,
    }
    return Server(environment, tmp / "serve.log", workers).start()


@pytest.fixture
def index_copy(tmp_path: Path, index_dir: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(index_dir, target)
    return target


@pytest.fixture
def stopper() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for served in started:
        served.stop()  # SIGTERM, as an operator stops it: SIGKILL would leave `--workers` children serving on


def test_shutdown_finishes_the_request_in_flight(
    tmp_path: Path, index_copy: Path, knowledge_copy: Path, stopper: list[Server]
) -> None:
    served = serve(tmp_path, index_copy, knowledge_copy)
    stopper.append(served)
    served.wait_ready(300)
    body = json.dumps({"message": "Can ketamine make me dizzy?"}).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as sock:
        head = (
            f"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        )
        # Half the body: the request is in flight when the server is told to stop.
        sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body[:10])
        time.sleep(1)
        served.process.send_signal(signal.SIGTERM)
        time.sleep(1)
        assert served.process.poll() is None, "the server quit with a request in flight"
        sock.sendall(body[10:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status, _, rest = reply.decode().partition("\r\n")
    assert status == "HTTP/1.1 200 OK"
    assert json.loads(rest.split("\r\n\r\n", 1)[1])["matched"] is True
    # uvicorn exits through the signal it caught, once the requests in flight are done.
    assert served.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Traceback" not in served.log.read_text()


def test_every_worker_serves_the_new_version_after_a_release(
    tmp_path: Path,
    index_copy: Path,
    knowledge_copy: Path,
    embedder: SentenceTransformerEmbedder,
    stopper: list[Server],
) -> None:
    served = serve(
        tmp_path,
        index_copy,
        knowledge_copy,
        workers=2,
        FAQBOT_WATCH_INDEX="true",
        FAQBOT_WATCH_INTERVAL="1",
    )
    stopper.append(served)
    old = served.wait_ready(300).served_version()
    (knowledge_copy / "parking.md").write_text(NEW_FILE, encoding="utf-8")
    new = build(knowledge_copy, index_copy, embedder).index_version
    assert new != old

    # Each request opens a new connection, which the kernel hands to either worker: twenty new
    # answers in a row cannot all come from one worker by chance (one in a million).
    streak, deadline = 0, time.monotonic() + 240
    while streak < 20:
        assert time.monotonic() < deadline, "not every worker took the new index"
        with httpx.Client(base_url=served.url, timeout=30) as http:
            version = http.get("/readyz").json()["index_version"]
        assert version in (old, new)
        streak = streak + 1 if version == new else 0
        if version != new:
            time.sleep(0.5)
    with httpx.Client(base_url=served.url, timeout=30) as http:
        found = http.get("/api/search", params={"q": "parking at the clinic car park", "k": 5}).json()
    assert found["index_version"] == new
    assert any("car park" in r["text"] for r in found["results"])
