"""``faqbot serve`` in a subprocess on a free loopback port: the one way the operators' tools and the tests
start a real server, wait until it is ready, and stop it."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

HOST = "127.0.0.1"  # the tools only ever drive servers they started themselves, on loopback
READY_SECONDS = 180.0
# A balancer on loopback may present the tests' own self-signed certificate.
_LOOPBACK_TLS = ssl.create_default_context()
_LOOPBACK_TLS.check_hostname = False
_LOOPBACK_TLS.verify_mode = ssl.CERT_NONE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def terminate(process: subprocess.Popen[bytes] | None, seconds: float) -> None:
    """SIGTERM, and SIGKILL if the process has not exited within ``seconds``."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until(
    ready: Callable[[], bool],
    what: str,
    seconds: float,
    alive: subprocess.Popen[bytes] | None = None,
    pause: float = 0.1,
) -> None:
    """Poll ``ready()`` until it is true; fail after ``seconds`` or when ``alive`` has exited."""
    deadline = time.monotonic() + seconds
    while not ready():
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{what} exited with status {alive.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {seconds:.0f} s")
        time.sleep(pause)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 within two seconds."""
    try:
        with urllib.request.urlopen(url, timeout=2, context=_LOOPBACK_TLS) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def served_version(url: str) -> str | None:
    """The index version a server's ``/readyz`` names; None while it is not ready or cannot be reached."""
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2, context=_LOOPBACK_TLS) as response:
            version = json.load(response).get("index_version")
            return str(version) if version else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


class Server:
    """One ``python -m bot serve`` process on 127.0.0.1, its settings from ``environment``.

    ``with Server(...) as server`` starts it and waits for ``/readyz``; leaving the block stops it."""

    def __init__(self, environment: Mapping[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.address = f"{HOST}:{self.port}"
        self.url = f"http://{self.address}"
        self.environment = {**os.environ, **environment}
        self.log = log
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds = float("nan")  # from start to the first 200 from /readyz
        self._started = 0.0

    def start(self) -> Server:
        command = [sys.executable, "-m", "bot", "serve", "--host", HOST, "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        self._started = time.perf_counter()
        with self.log.open("ab") as log:
            # Its own session, so that kill() reaches the workers too.
            self.process = subprocess.Popen(
                command, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self, seconds: float = READY_SECONDS) -> Server:
        try:
            wait_until(self.is_ready, f"the server on {self.address}", seconds, self.process, pause=0.02)
        except RuntimeError as error:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-5:]
            raise RuntimeError("\n".join([str(error), *tail])) from None
        self.ready_seconds = time.perf_counter() - self._started
        return self

    def is_ready(self) -> bool:
        return answers(self.url + "/readyz")

    def served_version(self) -> str | None:
        return served_version(self.url)

    def kill(self) -> None:
        """SIGKILL to the server and its workers: it dies as a crashed machine would, requests in flight."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: requests in flight finish, then the process exits."""
        terminate(self.process, 40)

    def __enter__(self) -> Server:
        self.start()
        try:
            return self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
