"""How the real server reads requests (``bot.serving``): oversized and endless headers, too many
headers, requests that stall, and too many connections, each sent over a raw socket to a live server
on loopback. Every socket has a timeout, so a limit that is missing fails the test instead of hanging."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings

from bot.embedding import SentenceTransformerEmbedder
from bot.serving import MAX_HEADER_BYTES, MAX_HEADERS

WAIT = 15.0  # seconds a socket waits for the server before the test fails
DEADLINE = 1.0  # FAQBOT_REQUEST_TIMEOUT in these tests
CONNECTIONS = 6  # FAQBOT_MAX_CONNECTIONS in these tests


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("server"), index_dir, request_timeout=DEADLINE, max_connections=CONNECTIONS
    )
    with LiveServer(settings, embedder) as live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def send_until_refused(sock: socket.socket, total: int) -> int:
    """Send up to ``total`` bytes of header; how many went before the server closed the connection."""
    sent, chunk = 0, b"a" * 65536
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def still_serves(server: LiveServer) -> bool:
    return httpx.get(f"{server.url}/healthz", timeout=WAIT).status_code == 200


def test_an_endless_header_is_cut_off_with_431(guarded: LiveServer) -> None:
    """A header that never ends: the server answers 431 and closes long before 32 MiB have gone."""
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: ")
        assert send_until_refused(sock, 32 * 1024 * 1024) < 32 * 1024 * 1024
    with connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * (MAX_HEADER_BYTES + 10))
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"larger than" in answer
    assert still_serves(guarded)


def test_headers_within_the_limit_are_served(guarded: LiveServer) -> None:
    padding = "a" * (MAX_HEADER_BYTES - 1024)
    response = httpx.get(f"{guarded.url}/healthz", headers={"X-Padding": padding}, timeout=WAIT)
    assert response.status_code == 200


def test_too_many_headers_get_431(guarded: LiveServer) -> None:
    headers = "".join(f"X-H{n}: {n}\r\n" for n in range(MAX_HEADERS + 1))
    with connect(guarded) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode())
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert f"more than {MAX_HEADERS} headers".encode() in answer


@pytest.mark.parametrize(
    "partial",
    [
        b"",  # a connection that never says anything
        b"GET /healthz HTTP/1.1\r\nHost: local",  # headers that stop half-way
        b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"mes',  # a body that stops half-way
    ],
    ids=["silent", "half a header", "half a body"],
)
def test_a_request_that_stalls_is_closed_at_the_deadline(guarded: LiveServer, partial: bytes) -> None:
    with connect(guarded) as sock:
        sock.sendall(partial)
        answer = read_all(sock)  # returns once the server closes; the socket's timeout fails the test
    if not partial.endswith(b"\r\n\r\n" + b'{"mes'):
        assert answer.startswith(b"HTTP/1.1 408 ")
    assert still_serves(guarded)


def test_past_the_connection_cap_a_request_gets_503_at_once(guarded: LiveServer) -> None:
    with ExitStack() as held:
        for _ in range(CONNECTIONS):
            sock = held.enter_context(connect(guarded))
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # held open, unfinished
        with connect(guarded) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = read_all(sock)
        assert answer.startswith(b"HTTP/1.1 503 ")
    # Once the held connections are gone, their slots are free again.
    assert still_serves(guarded)
