"""The admin area against a real server: closed without a token, Bearer and the login cookie, the
dashboard's lists, the report as JSON and CSV."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import KNOWLEDGE, LiveServer, make_settings
from playwright.sync_api import Browser, Response

from bot.embedding import SentenceTransformerEmbedder
from bot.settings import Settings

TOKEN = "admin-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
STALE = """---
title: Old Notes
status: draft
reviewed_on: 2020-01-01
---

# Old Section

A draft that nobody has reviewed in years, long enough to count as a passage of its own here.
"""


@pytest.fixture(scope="module")
def admin_server(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("admin")
    knowledge = tmp / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    (knowledge / "old-notes.md").write_text(STALE, encoding="utf-8")
    with LiveServer(make_settings(tmp, index_dir, knowledge, admin_token=TOKEN), embedder) as live:
        yield live


@pytest.fixture
def http(admin_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=admin_server.url, timeout=60) as client:
        yield client


def test_admin_is_closed_while_no_token_is_set(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    with LiveServer(make_settings(tmp_path, index_dir), embedder) as live, httpx.Client(base_url=live.url) as client:
        for method, path in [("GET", "/admin/report"), ("POST", "/admin/reload"), ("GET", "/admin/export/files.csv")]:
            response = client.request(method, path, headers={"Authorization": "Bearer anything"})
            assert response.status_code == 401
            assert "FAQBOT_ADMIN_TOKEN" in response.json()["detail"]
        page = client.get("/admin")
        assert page.status_code == 401
        assert "closed" in page.text
        assert client.post("/admin/login", data={"token": ""}).status_code == 401


@pytest.mark.parametrize("path", ["/admin/report", "/admin/index", "/admin/export/unanswered.csv"])
def test_admin_routes_need_the_token(http: httpx.Client, path: str) -> None:
    assert http.get(path).status_code == 401
    wrong = http.get(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert "Bearer" in wrong.json()["detail"]
    assert http.get(path, headers={"Cookie": "faqbot_admin=9999999999.forged"}).status_code == 401
    assert http.get(path, headers=BEARER).status_code == 200


def test_login_sets_a_strict_httponly_session_cookie(http: httpx.Client) -> None:
    page = http.get("/admin")
    assert page.status_code == 401
    assert 'name="token"' in page.text
    assert http.post("/admin/login", data={"token": "wrong"}).status_code == 401
    response = http.post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert TOKEN not in cookie
    assert response.cookies["faqbot_admin"]
    dashboard = http.get("/admin")  # the client sends the cookie back, as a browser would
    assert dashboard.status_code == 200
    version = http.get("/readyz").json()["index_version"]
    assert version in dashboard.text
    assert http.get("/admin/report").status_code == 200
    assert http.post("/admin/logout").status_code == 303
    assert http.get("/admin/report").status_code == 401


def test_report_and_dashboard_show_what_the_content_team_needs(http: httpx.Client) -> None:
    unanswered = "Do you validate parking? My name is Jane Doe"
    assert http.post("/api/chat", json={"message": "do you validate parking"}).json()["matched"] is False
    assert http.post("/api/chat", json={"message": unanswered}).json()["matched"] is False
    assert http.post("/api/chat", json={"message": '=HYPERLINK("x") is parking free'}).json()["matched"] is False
    crisis = http.post("/api/chat", json={"message": "I want to kill myself"}).json()
    assert crisis["crisis"] is True
    answered = http.post("/api/chat", json={"message": "What are the short-term side effects of ketamine?"}).json()
    answer_id = answered["answers"][0]["id"]
    assert http.post("/api/feedback", json={"answer_id": answer_id, "helpful": False}).status_code == 204

    report = http.get("/admin/report", headers=BEARER).json()
    assert report["index"]["passage_count"] > 0
    parking = next(g for g in report["unanswered"] if "parking" in g["question"].casefold() and g["count"] == 2)
    assert parking["question"] == "Do you validate parking? My name is [name]"  # the latest wording
    assert all("kill" not in g["question"] for g in report["unanswered"])  # crisis text is never kept
    assert all("side effects" not in g["question"] for g in report["unanswered"])  # answered: not kept
    assert sum(day["count"] for day in report["crisis_per_day"]) >= 1
    assert any(a["answer_id"] == answer_id and a["unhelpful"] >= 1 for a in report["unhelpful"])
    old = next(f for f in report["files"] if f["path"].endswith("old-notes.md"))
    assert (old["status"], old["stale"], old["reviewed_on"]) == ("draft", True, "2020-01-01")

    dashboard = http.get("/admin", headers=BEARER).text
    assert "[name]" in dashboard
    assert "stale" in dashboard
    assert "Jane" not in dashboard

    rows = list(csv.reader(io.StringIO(http.get("/admin/export/unanswered.csv", headers=BEARER).text)))
    assert rows[0] == ["question", "count", "first_seen", "last_seen"]
    assert any(row[0].startswith("'=HYPERLINK") for row in rows)  # a spreadsheet will not run it
    assert http.get("/admin/export/nothing.csv", headers=BEARER).status_code == 404
    for name in ("files", "unhelpful", "crisis"):
        export = http.get(f"/admin/export/{name}.csv", headers=BEARER)
        assert export.status_code == 200
        assert export.headers["content-type"].startswith("text/csv")


def test_an_editor_clicking_through_the_dashboard_never_meets_the_rate_limit(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder, browser: Browser
) -> None:
    """With the default admin limit: sign in (once wrongly), reload, download every CSV, come back a dozen
    times; no 429, and after Reload the address bar is /admin again. Guessing tokens still meets the limit,
    as a page that says when to try again."""
    default_limit = Settings.model_fields["admin_rate_limit"].default
    settings = make_settings(tmp_path, index_dir, admin_token=TOKEN, admin_rate_limit=default_limit)
    with LiveServer(settings, embedder) as live:
        context = browser.new_context(base_url=live.url, accept_downloads=True)
        page = context.new_page()
        statuses: list[int] = []
        page.on("response", lambda response: statuses.append(response.status))

        page.goto("/admin")
        sign_in = page.get_by_role("button", name="Sign in")
        page.fill("#token", "not the token")
        sign_in.click()
        assert page.get_by_role("alert").inner_text() == "That token is not right."
        page.fill("#token", TOKEN)
        sign_in.click()
        page.get_by_role("button", name="Reload the built index").click()
        assert page.url == f"{live.url}/admin"
        assert "was already being served" in page.get_by_role("status").inner_text()
        page.reload()  # shown once, and reloading the page does not post the form again
        assert page.get_by_role("status").count() == 0
        for name in ("files", "unanswered", "unhelpful", "crisis"):
            with page.expect_download() as download:
                page.click(f"a[href='/admin/export/{name}.csv']")
            assert download.value.suggested_filename == f"faqbot-{name}.csv"
        for _ in range(12):
            page.goto("/admin")
        assert page.locator("#index-version").is_visible()
        assert 429 not in statuses
        assert statuses.count(401) == 2  # the sign-in page and the wrong token: all that counted
        context.close()

        # Someone guessing: the allowance is per minute, and what is over it is a page, not JSON.
        guesser = browser.new_page(base_url=live.url)
        guesser.goto("/admin")
        last: Response | None = None
        for attempt in range(12):
            guesser.fill("#token", f"guess {attempt}")
            with guesser.expect_navigation() as navigation:
                guesser.get_by_role("button", name="Sign in").click()
            last = navigation.value
            assert last is not None
            if last.status == 429:
                break
        assert last is not None
        assert last.status == 429
        assert int(last.headers["retry-after"]) >= 1
        assert guesser.get_by_role("heading").inner_text() == "Too many tries"
        assert "Try again in" in guesser.get_by_role("alert").inner_text()
        assert guesser.locator("link[rel=stylesheet]").count() == 1
        guesser.close()


@pytest.mark.parametrize(
    "cookie",
    ["9" * 5000 + ".x", "\u00b9\u00b2\u00b3.abc", "12.\u00b9", ".", "a.b.c", "9999999999.forged"],
    ids=["5000 digits", "superscript digits", "superscript signature", "a dot", "letters", "forged"],
)
def test_a_malformed_session_cookie_is_simply_not_a_session(http: httpx.Client, cookie: str) -> None:
    headers = {b"Cookie": f"faqbot_admin={cookie}".encode()}  # as a browser may send it: UTF-8 bytes
    refused = http.get("/admin/report", headers=headers)
    assert refused.status_code == 401
    assert "Bearer" in refused.json()["detail"]
    assert http.get("/admin", headers=headers).status_code == 401  # the sign-in page
    assert http.post("/admin/reload", headers=headers).status_code == 401


def signed_in(client: httpx.Client) -> str:
    response = client.post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 303
    return response.cookies["faqbot_admin"]


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://attacker.example"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
    ids=["foreign Origin", "cross-site fetch", "opaque Origin"],
)
def test_state_changing_admin_requests_from_another_site_are_refused(
    admin_server: LiveServer, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=admin_server.url, timeout=60) as client:
        signed_in(client)
        for path, data in [("/admin/login", {"token": TOKEN}), ("/admin/reload", None), ("/admin/logout", None)]:
            refused = client.post(path, data=data, headers=headers)
            assert refused.status_code == 403, path
            assert "another site" in refused.json()["detail"]
        assert client.get("/admin/report").status_code == 200  # the cross-site logout did not sign out
        # The dashboard's own forms, as a browser sends them, still work.
        own = {"Origin": admin_server.url, "Sec-Fetch-Site": "same-origin"}
        assert client.post("/admin/reload", headers=own).status_code == 200
        assert client.post("/admin/logout", headers=own).status_code == 303


def test_logout_ends_the_session_on_every_replica(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Two servers on one database: a session opened on one works on the other, and signing out on one
    ends it on both, even for a copy of the cookie kept from before."""
    settings = make_settings(tmp_path, index_dir, admin_token=TOKEN)
    with LiveServer(settings, embedder) as first, LiveServer(settings, embedder) as second:
        with httpx.Client(base_url=first.url, timeout=60) as client:
            cookie = signed_in(client)
            kept = {"Cookie": f"faqbot_admin={cookie}"}
            assert httpx.get(f"{second.url}/admin/report", headers=kept, timeout=60).status_code == 200
            assert client.post("/admin/logout").status_code == 303
        assert httpx.get(f"{first.url}/admin/report", headers=kept, timeout=60).status_code == 401
        assert httpx.get(f"{second.url}/admin/report", headers=kept, timeout=60).status_code == 401


def test_the_session_cookie_is_secure_behind_an_https_proxy_or_when_forced(
    tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> None:
    proxied = make_settings(tmp_path / "proxied", index_dir, admin_token=TOKEN, trusted_proxies=["127.0.0.1"])
    forced = make_settings(tmp_path / "forced", index_dir, admin_token=TOKEN, secure_cookies=True)
    (tmp_path / "proxied").mkdir()
    (tmp_path / "forced").mkdir()
    with LiveServer(proxied, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        plain = client.post("/admin/login", data={"token": TOKEN})
        assert "secure" not in plain.headers["set-cookie"].casefold()
        tls = client.post("/admin/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
        assert "; secure" in tls.headers["set-cookie"].casefold()
    with LiveServer(forced, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        response = client.post("/admin/login", data={"token": TOKEN})
        assert "; secure" in response.headers["set-cookie"].casefold()
