"""The content team's dashboard in Chromium and over HTTP, against a real server whose index folder
gets a new build while it serves the old one: the waiting build and its changes, a question tried on
it, the release, the unanswered questions as a to-do list, and the CSVs, without meeting a 429."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import KNOWLEDGE, LiveServer, make_settings
from playwright.sync_api import Browser, Page, expect
from test_pages import CONTRAST_JS, DESKTOP, PHONE, screenshot
from test_reload import add_aftercare

from bot.content.checks import build
from bot.embedding import SentenceTransformerEmbedder
from bot.index import Manifest
from bot.settings import Settings

TOKEN = "dashboard-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
OLD_WORDS = "Chronic abuse can lead to bladder problems"
NEW_WORDS = "Chronic abuse can lead to kidney and bladder problems"
DRIVE = "Can I drive home after my infusion?"
PREGNANT = ("Can I take ketamine while pregnant?", "is it ok while pregnant")
ANSWERED = "What are the short-term side effects of ketamine?"


class Waiting:
    """A server, its folders, and the build waiting in its index folder."""

    def __init__(self, live: LiveServer, index: Path, served: dict[str, str], built: Manifest) -> None:
        self.live, self.index, self.built = live, index, built
        self.served, self.served_at = served["index_version"], served["built_at"]


@contextlib.contextmanager
def serve_with_a_waiting_build(tmp: Path, index_dir: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Waiting]:
    """A server on a copy of the project's index, with the admin limit at its default; visitors have asked
    what it cannot answer, and voted; then an editor adds a file, changes two words, and builds."""
    knowledge, index = tmp / "knowledge", tmp / "index"
    shutil.copytree(KNOWLEDGE, knowledge)
    shutil.copytree(index_dir, index)
    default_limit = Settings.model_fields["admin_rate_limit"].default
    settings = make_settings(tmp, index, knowledge, admin_token=TOKEN, admin_rate_limit=default_limit)
    with LiveServer(settings, embedder) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        served = http.get("/admin/index", headers=BEARER).json()
        for question in (*PREGNANT, DRIVE, DRIVE):
            assert http.post("/api/chat", json={"message": question}).json()["matched"] is False
        answer = http.post("/api/chat", json={"message": ANSWERED}).json()["answers"][0]["id"]
        for helpful in (True, False, False):
            assert http.post("/api/feedback", json={"answer_id": answer, "helpful": helpful}).status_code == 204
        add_aftercare(knowledge)
        document = knowledge / "ketamine-therapy.md"
        document.write_text(document.read_text(encoding="utf-8").replace(OLD_WORDS, NEW_WORDS), encoding="utf-8")
        built = build(knowledge, index, embedder)
        yield Waiting(live, index, served, built)


@pytest.fixture
def waiting(tmp_path: Path, index_dir: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Waiting]:
    with serve_with_a_waiting_build(tmp_path, index_dir, embedder) as server:
        yield server


@pytest.fixture(scope="module")
def still_waiting(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[Waiting]:
    """The same, for tests that only look (nothing is released)."""
    with serve_with_a_waiting_build(tmp_path_factory.mktemp("looks"), index_dir, embedder) as server:
        yield server


def sign_in(page: Page) -> None:
    page.goto("/admin")
    page.fill("#token", TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="What visitors get")).to_be_visible()


def test_an_editor_sees_the_waiting_build_tries_it_releases_it_and_works_through_the_list(
    waiting: Waiting, browser: Browser
) -> None:
    live = waiting.live
    context = browser.new_context(base_url=live.url, accept_downloads=True)
    page = context.new_page()
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status))
    sign_in(page)

    # The dashboard says in words which build visitors get, and that a newer one waits.
    served = page.locator(".served")
    expect(served).to_contain_text(f"version {waiting.served[:7]}")
    assert re.search(r"Serving the build of \d{1,2} [A-Z][a-z]+, \d\d:\d\d", served.inner_text())
    stamp = served.locator("time").get_attribute("datetime")  # the exact time, for machines
    assert stamp is not None
    assert dt.datetime.fromisoformat(stamp) == dt.datetime.fromisoformat(waiting.served_at)
    box = page.locator("#waiting")
    expect(box).to_contain_text("A newer build is waiting")
    expect(box).to_contain_text(f"version {waiting.built.index_version[:7]}")
    expect(box).to_contain_text("1 passage added, 0 removed, 1 changed")

    # Today's bars, and their numbers in the table a screen reader reads instead of the picture.
    for name, today in (("asked", "5"), ("unanswered", "80%"), ("helpful", "33%")):
        chart = page.locator(f"#trend-{name}")
        expect(chart.locator("svg")).to_have_attribute("aria-hidden", "true")
        expect(chart.locator("svg rect")).to_have_count(1)
        expect(chart.locator("tbody tr")).to_have_count(30)
        expect(chart.locator("tbody tr").last.locator("td").last).to_have_text(today)

    # The unhelpful answer by its section and first words, not by its id alone.
    unhelpful = page.locator("#unhelpful-heading + p + table tbody tr").first
    expect(unhelpful).to_contain_text("Short-Term Side Effects")
    expect(unhelpful.locator(".opening")).to_contain_text("…")

    # Its changes, with the changed words marked.
    page.get_by_role("link", name="See the changes and try a question").click()
    expect(page.get_by_role("heading", name="Waiting build", level=1)).to_be_visible()
    added = page.locator(".change.added")
    expect(added).to_contain_text("Getting Home After an Infusion")
    changed = page.locator(".change.changed")
    expect(changed).to_contain_text("Long-Term Side Effects")
    assert changed.locator("ins").all_inner_texts() == ["kidney and "]
    assert changed.locator("del").count() == 0

    # A question tried on it: answered by the waiting build, not by the one served, each labelled.
    page.fill("#q", DRIVE)
    page.get_by_role("button", name="Try it").click()
    trial = page.locator(".reply-box.trial")
    expect(trial.get_by_role("heading", level=3)).to_have_text(
        f"Waiting build version {waiting.built.index_version[:7]}"
    )
    expect(trial.locator(".answer-section")).to_contain_text("Getting Home After an Infusion")
    expect(page.locator(".reply-box.served-now")).to_contain_text("No vetted answer")
    assert page.url.endswith("q=Can+I+drive+home+after+my+infusion%3F#try-heading")
    with httpx.Client(base_url=live.url) as http:
        assert http.get("/readyz").json()["index_version"] == waiting.served  # trying released nothing

    # Released with the reload: back on the dashboard, which says so once, in words.
    page.get_by_role("button", name="Release the waiting build").click()
    assert page.url == f"{live.url}/admin"
    status = page.get_by_role("status")
    expect(status).to_contain_text("Visitors now get the build of")
    expect(status).to_contain_text(f"(version {waiting.built.index_version[:7]})")
    expect(page.locator("#waiting")).to_have_count(0)
    with httpx.Client(base_url=live.url) as http:
        assert http.get("/readyz").json()["index_version"] == waiting.built.index_version

    # The unanswered questions: one topic for both pregnancy wordings, and why; the drive question is
    # answered now. Marking it handled moves it to the handled list, with who and when.
    todo = page.locator("#todo .topic")
    pregnant = todo.filter(has_text="pregnant")
    expect(pregnant).to_have_count(1)
    expect(pregnant.locator(".topic-count")).to_contain_text("2 times")
    expect(pregnant.locator(".why")).to_contain_text("Closer to the out-of-scope topic")
    drive = todo.filter(has_text=DRIVE)
    expect(drive.locator(".why")).to_contain_text("The served index answers it now")
    drive.get_by_placeholder("Your name").fill("Ana Editor")
    drive.get_by_role("button", name="Mark handled").click()
    expect(page.get_by_role("status")).to_have_text("Marked handled by Ana Editor.")
    expect(page.locator("#todo")).not_to_contain_text(DRIVE)
    page.locator("#done summary").click()
    done = page.locator("#done li").filter(has_text=DRIVE)
    expect(done).to_contain_text("handled by Ana Editor")
    assert done.locator("time").get_attribute("datetime")
    # The name is remembered for the next one.
    expect(pregnant.get_by_placeholder("Your name")).to_have_value("Ana Editor")

    for name in ("files", "unanswered", "unhelpful", "crisis"):
        with page.expect_download() as download:
            page.click(f"a[href='/admin/export/{name}.csv']")
        assert download.value.suggested_filename == f"faqbot-{name}.csv"
    assert 429 not in statuses
    context.close()


def test_a_question_asked_again_after_it_was_handled_is_back_on_the_list(waiting: Waiting) -> None:
    with httpx.Client(base_url=waiting.live.url, headers=BEARER, timeout=60) as http:
        page = http.get("/admin").text
        keys = re.findall(r'name="key" value="([^"]+)"', page.split("pregnant", 1)[1].split("</form>", 1)[0])
        assert keys
        marked = http.post("/admin/handled", data={"key": keys, "editor": "  Sam   Lee "})
        assert marked.status_code == 303
        assert marked.headers["location"] == "/admin#unanswered-heading"
        handled = http.get("/admin").text
        assert "handled by Sam Lee" in handled
        assert "pregnant" not in handled.split('id="todo"', 1)[1].split("</ol>", 1)[0]
        http.post("/api/chat", json={"message": PREGNANT[0]})
        again = http.get("/admin").text
        assert "pregnant" in again.split('id="todo"', 1)[1].split("</ol>", 1)[0]


def test_bad_input_on_the_dashboard_gets_a_clear_4xx(waiting: Waiting) -> None:
    with httpx.Client(base_url=waiting.live.url, timeout=60) as http:
        assert http.get("/admin/waiting").status_code == 401  # the sign-in page
        assert http.post("/admin/handled", data={"key": "x", "editor": "A"}).status_code == 401
        http.headers.update(BEARER)
        long = http.get("/admin/waiting", params={"q": "x" * 501})
        assert long.status_code == 422
        assert "500 characters" in long.text
        no_name = http.post("/admin/handled", data={"key": "pregnant", "editor": "   "})
        assert no_name.status_code == 303
        assert "Type your name" in http.get("/admin").text
        assert http.post("/admin/handled", data={"editor": "Ana"}).status_code == 422
        too_many = http.post("/admin/handled", data={"key": [str(i) for i in range(201)], "editor": "Ana"})
        assert too_many.status_code == 422
        # A broken waiting build: trying it says why a release would refuse it, and visitors keep theirs.
        faiss_file = waiting.index / "vectors.faiss"
        faiss_file.write_bytes(faiss_file.read_bytes()[:100])
        refused = http.get("/admin/waiting", params={"q": DRIVE})
        assert refused.status_code == 409
        assert "does not match the manifest" in refused.text
        assert http.get("/readyz").json()["index_version"] == waiting.served


@pytest.mark.parametrize(
    ("scheme", "viewport"), [("light", DESKTOP), ("dark", DESKTOP), ("light", PHONE), ("dark", PHONE)]
)
def test_the_dashboard_reads_well_light_and_dark_on_a_desktop_and_a_phone(
    still_waiting: Waiting, browser: Browser, scheme: str, viewport: dict[str, int]
) -> None:
    """The visitor pages' palette and dark mode: every text passes WCAG AA, nothing runs off a phone's
    screen, and no script or stylesheet comes from elsewhere (the CSP would refuse it and log an error)."""
    context = browser.new_context(base_url=still_waiting.live.url, viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    sign_in(page)  # the sign-in page itself answers 401, which the console reports
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    expect(page.locator("link[rel=stylesheet]")).to_have_attribute("href", "/static/site.css")
    width = "desktop" if viewport == DESKTOP else "phone"
    for path, name in (("/admin", "dashboard"), (f"/admin/waiting?q={DRIVE}", "waiting")):
        page.goto(path)
        assert page.evaluate(CONTRAST_JS) == []
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        if name == "dashboard" or (width, scheme) in (("desktop", "light"), ("phone", "dark")):
            screenshot(page, f"{name}-{width}-{scheme}.png", full_page=True)
    assert errors == []
    context.close()
