"""The reference deployment: the HAProxy configuration in ``deploy/`` as shipped, run for real on loopback
in front of a replica that trusts only it."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_settings
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.embedding import SentenceTransformerEmbedder
from bot.ops.deploy import DEPLOY_DIR, DeployError, render_haproxy
from bot.ops.localfleet import HAPROXY, Balancer

pytestmark = pytest.mark.skipif(
    not Path(HAPROXY).exists(), reason="no haproxy: apt-get install -y haproxy (.ci/run does)"
)
TOKEN = "deploy-admin-token"


def self_signed(folder: Path) -> Path:
    """A certificate and key in one PEM file, as HAProxy reads them."""
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a test certificate")
    key, cert = folder / "key.pem", folder / "cert.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
    subprocess.run(
        [*request, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    pem = folder / "faqbot.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    return pem


@pytest.fixture(scope="module")
def replica(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[LiveServer]:
    # As deploy/faqbot.env sets it up: the balancer (here 127.0.0.1) is the only trusted proxy.
    settings = make_settings(
        tmp_path_factory.mktemp("replica"),
        index_dir,
        admin_token=TOKEN,
        search_rate_limit="3/minute",
        trusted_proxies=["127.0.0.1"],
    )
    with LiveServer(settings, embedder) as live:
        yield live


@pytest.fixture(scope="module")
def balancer(tmp_path_factory: pytest.TempPathFactory, replica: LiveServer) -> Iterator[Balancer]:
    folder = tmp_path_factory.mktemp("haproxy")
    running = Balancer([f"127.0.0.1:{replica.port}"], folder, tls_certificate=self_signed(folder)).start()
    yield running
    running.stop()


def test_the_shipped_configuration_is_valid_haproxy(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    rendered = render_haproxy(["10.0.0.11:8000", "10.0.0.12:8000"], tls_certificate=str(self_signed(tmp_path)))
    config.write_text(rendered)
    checked = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "server replica2 10.0.0.12:8000" in rendered
    assert "http-check send meth GET uri /readyz" in rendered
    assert "user haproxy" in rendered  # the system service's lines are in what operators install


def test_haproxy_config_prints_the_configuration_and_refuses_a_bad_address() -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["haproxy-config", "10.0.0.11:8000", "10.0.0.12:8000"])
    assert printed.exit_code == 0, printed.output
    assert printed.output == render_haproxy(["10.0.0.11:8000", "10.0.0.12:8000"])
    refused = runner.invoke(cli, ["haproxy-config", "10.0.0.11"])
    assert refused.exit_code != 0
    assert "is not an address like 10.0.0.11:8000" in refused.output
    assert "Traceback" not in refused.output
    with pytest.raises(DeployError):
        render_haproxy([])


def test_deploy_folder_holds_the_unit_and_the_environment_file() -> None:
    unit = (DEPLOY_DIR / "faqbot.service").read_text()
    assert "EnvironmentFile=/etc/faqbot/faqbot.env" in unit
    assert "faqbot serve" in unit
    environment = (DEPLOY_DIR / "faqbot.env").read_text()
    for name in ("FAQBOT_DATABASE", "FAQBOT_RATE_LIMIT_STORAGE", "FAQBOT_TRUSTED_PROXIES", "FAQBOT_RELEASES"):
        assert f"\n{name}=" in environment


def test_a_visitor_is_answered_through_the_balancer_over_tls(balancer: Balancer) -> None:
    with httpx.Client(base_url=balancer.url, verify=False, timeout=30) as visitor:
        reply = visitor.post("/api/chat", json={"message": "Can ketamine make me dizzy?"})
    assert reply.status_code == 200
    assert reply.json()["matched"] is True
    assert reply.headers["strict-transport-security"].startswith("max-age=")


def test_plain_http_is_sent_to_https(balancer: Balancer) -> None:
    config = balancer.config.read_text()
    http_bind = next(
        line.split()[1] for line in config.splitlines() if line.strip().startswith("bind") and "ssl" not in line
    )
    redirected = httpx.get(f"http://{http_bind}/staff?q=dose", timeout=10)
    assert redirected.status_code == 301
    assert redirected.headers["location"].startswith("https://")


def test_the_replica_sees_the_visitors_address_and_a_forged_one_changes_nothing(balancer: Balancer) -> None:
    # Every visitor here comes from 127.0.0.1: a fresh X-Forwarded-For on each request must not buy a
    # fresh allowance, since the balancer replaces the header with the address it sees.
    with httpx.Client(base_url=balancer.url, verify=False, timeout=30) as visitor:
        statuses = [
            visitor.get(
                "/api/search",
                params={"q": "nasal spray"},
                headers={"x-forwarded-for": f"203.0.113.{n}", "forwarded": f"for=203.0.113.{n}"},
            ).status_code
            for n in range(4)
        ]
    assert statuses == [200, 200, 200, 429]


def test_the_session_cookie_is_secure_behind_tls_whatever_the_client_claims(balancer: Balancer) -> None:
    # The replica learns the scheme from X-Forwarded-Proto, which only the balancer may set.
    with httpx.Client(base_url=balancer.url, verify=False, timeout=30) as editor:
        signed_in = editor.post("/admin/login", data={"token": TOKEN}, headers={"x-forwarded-proto": "http"})
    assert signed_in.status_code == 303
    assert "secure" in signed_in.headers["set-cookie"].lower()


def test_a_body_over_16_kib_is_refused_at_the_balancer_with_json(balancer: Balancer) -> None:
    body = b'{"message": "' + b"a" * 20_000 + b'"}'
    with httpx.Client(base_url=balancer.url, verify=False, timeout=30) as visitor:
        refused = visitor.post("/api/chat", content=body, headers={"content-type": "application/json"})
    assert refused.status_code == 413
    assert "larger than 16384 bytes" in refused.json()["detail"]
