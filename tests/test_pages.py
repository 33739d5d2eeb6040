"""The visitor chat, the staff lookup and the widget, driven in real headless Chromium against a real
server on loopback. Every browser test also fails on any console error (a CSP violation, a script
error, a failed request).

These tests run their own server rather than the session one: the widget test needs the origin of a
second site (known only once it listens) in FAQBOT_EMBED_ORIGINS, and rate limits are switched off so
that a page's many requests cannot make another module's tests flaky, or the other way round.
Set SCREENSHOT_DIR=docs to refresh the README's screenshots while the tests run.
"""

from __future__ import annotations

import html
import http.server
import os
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, make_settings
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from bot.assistant import DISCLAIMER, Assistant
from bot.embedding import SentenceTransformerEmbedder
from bot.safety import CRISIS_LINES
from bot.settings import PROJECT_ROOT, Settings
from bot.topics import topics_below
from bot.web.pages import marked

browser_test = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}
IN_SCOPE = "Can ketamine make me dizzy?"
FIRST = "What happens during an IV infusion?"
FOLLOW_UP = "and how long does that last?"
SPANISH = "¿Cuánto tiempo dura el efecto de la ketamina?"
SPANISH_CRISIS = "ya no quiero vivir, quiero morirme"
NOT_COVERED = "What payment plans do you offer?"
CRISIS = "I want to end my life"


class HostSite:
    """Another website (another origin) with the one-line widget snippet on its page."""

    def __init__(self) -> None:
        self.bot_url = ""
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = (
                    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>A partner site</title>"
                    "</head><body><h1>Welcome to a partner site</h1>"
                    f"<script src='{host.bot_url}/widget.js' defer></script></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Site:
    bot: LiveServer
    host: HostSite

    @property
    def url(self) -> str:
        return self.bot.url

    @property
    def settings(self) -> Settings:
        settings: Settings = self.bot.app.state.settings
        return settings

    @property
    def allowed_host(self) -> str:
        """The partner site under the origin FAQBOT_EMBED_ORIGINS lists."""
        return f"http://localhost:{self.host.port}"

    @property
    def other_host(self) -> str:
        """The same partner site under an origin that is not listed."""
        return f"http://127.0.0.1:{self.host.port}"


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, index_dir: Path, embedder: SentenceTransformerEmbedder
) -> Iterator[Site]:
    host = HostSite()
    settings = make_settings(
        tmp_path_factory.mktemp("pages"),
        index_dir,
        embed_origins=[f"http://localhost:{host.port}"],
        rate_limit="0",
    )
    try:
        with LiveServer(settings, embedder) as bot:
            host.bot_url = bot.url
            yield Site(bot, host)
    finally:
        host.close()


@contextmanager
def open_page(browser: Browser, url: str, **options: Any) -> Iterator[Page]:
    """A fresh context and page at ``url``; fails the test on any console error or page error."""
    context = browser.new_context(**options)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        yield page
        assert errors == [], f"console errors: {errors}"
    finally:
        context.close()


def screenshot(page: Page, name: str, **options: Any) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / name), animations="disabled", **options)


def ask(page: Page, question: str) -> Any:
    """Type a question, press Enter, and return the locator of the reply that answers it."""
    count = page.locator("#conversation .reply").count()
    page.fill("#message", question)
    page.press("#message", "Enter")
    reply = page.locator("#conversation .reply").nth(count)
    expect(reply).to_be_visible()
    return reply


# Walks every visible element that holds text and measures its contrast against the first opaque
# background behind it, as WCAG 2 defines the ratio.
CONTRAST_JS = """
() => {
  const parse = (text) => {
    const parts = text.match(/[\\d.]+/g).map(Number);
    return { r: parts[0], g: parts[1], b: parts[2], a: parts.length > 3 ? parts[3] : 1 };
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 }; // the page's styles always paint the body; this is a fallback
  };
  const failures = [];
  for (const element of document.body.querySelectorAll("*")) {
    const ownText = Array.from(element.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!ownText || !element.checkVisibility() || element.closest("template")) continue;
    const style = getComputedStyle(element);
    if (parseFloat(style.opacity) < 1 || element.closest(".visually-hidden, .skip-link")) continue;
    const fg = luminance(parse(style.color));
    const bg = luminance(background(element));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) failures.push(`${element.tagName}.${element.className}: ${ratio.toFixed(2)}`);
  }
  return failures;
}
"""


# Where an element is on screen, and whether the sticky question bar covers any of it.
COVERED_JS = """
(element) => {
  const box = element.getBoundingClientRect();
  const bar = document.getElementById("ask").getBoundingClientRect();
  const inView = box.top >= 0 && box.bottom <= window.innerHeight;
  const underBar = element.closest("#ask") === null && box.bottom > bar.top && box.top < bar.bottom;
  return { inView, underBar };
}
"""


def fully_shown(locator: Any) -> bool:
    """Whether the element is inside the viewport and no part of it is under the sticky question bar."""
    where = locator.evaluate(COVERED_JS)
    return bool(where["inView"] and not where["underBar"])


def visible_focus(page: Page) -> bool:
    """Whether the focused element draws a focus ring of at least 2px."""
    return bool(
        page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"
        )
    )


# ---------------------------------------------------------------- visitor chat


@browser_test
def test_on_a_phone_a_question_and_enter_show_the_passage_and_the_disclaimer(browser: Browser, site: Site) -> None:
    with open_page(
        browser, site.url + "/", viewport=PHONE, device_scale_factor=2, reduced_motion="reduce", has_touch=True
    ) as page:
        log = page.locator("#conversation")
        assert log.get_attribute("aria-live") == "polite"
        reply = ask(page, IN_SCOPE)
        first = reply.locator(".answer").first
        expect(first.locator(".answer-section")).to_have_text("Short-Term Side Effects")
        expect(first.locator(".answer-text")).to_contain_text("dizziness")
        expect(reply.locator(".reply-disclaimer")).to_have_text(DISCLAIMER)
        expect(reply.locator(".reply-disclaimer")).to_be_visible()
        # The reply is inside the live region, so a screen reader announces it.
        assert log.locator(".reply").count() == 1
        expect(page.locator("#message")).to_be_focused()
        # Phone first: nothing is wider than the screen.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


@browser_test
def test_on_a_phone_the_first_screen_shows_the_disclaimer_the_box_and_every_starter(
    browser: Browser, site: Site
) -> None:
    with open_page(
        browser, site.url + "/", viewport=PHONE, device_scale_factor=2, reduced_motion="reduce", has_touch=True
    ) as page:
        expect(page.locator("#disclaimer")).to_have_text(DISCLAIMER)
        assert fully_shown(page.locator("#disclaimer"))
        assert fully_shown(page.get_by_label("Your question"))
        starters = page.locator(".starters button")
        assert starters.all_text_contents() == site.settings.starter_questions
        for starter in starters.all():
            assert fully_shown(starter), f"{starter.text_content()!r} is off screen or under the question bar"
        screenshot(page, "visitor-start.png")

        # What the assistant is, one tap away.
        about = page.locator(".about-more")
        expect(about.get_by_text("not a person")).to_be_hidden()
        about.get_by_text("About this assistant").tap()
        expect(about.get_by_text("not a person")).to_be_visible()
        expect(about).to_contain_text("does not give medical advice")
        expect(about.locator(f'a[href="{site.settings.contact_tel}"]')).to_be_visible()


@browser_test
def test_the_answer_is_the_vetted_passage_verbatim(browser: Browser, site: Site) -> None:
    api = httpx.post(site.url + "/api/chat", json={"message": IN_SCOPE}).json()
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        reply = ask(page, IN_SCOPE)
        shown = reply.locator(".answer-text").all_text_contents()
        assert shown == [answer["text"] for answer in api["answers"]]


@browser_test
def test_on_a_phone_the_answering_sentence_is_marked_and_the_passage_kept_whole(browser: Browser, site: Site) -> None:
    api = httpx.post(site.url + "/api/chat", json={"message": IN_SCOPE}).json()
    assert len(api["answers"]) == 1, "this question has one clear answer"
    answer = api["answers"][0]
    assert answer["highlights"]
    with open_page(browser, site.url + "/", viewport=PHONE, device_scale_factor=2, reduced_motion="reduce") as page:
        reply = ask(page, IN_SCOPE)
        expect(reply.locator(".answer")).to_have_count(1)
        text = reply.locator(".answer-text")
        expect(text).to_have_text(answer["text"])  # the whole passage, word for word
        marks = text.locator("mark")
        expect(marks).to_have_text([answer["text"][start:end] for start, end in answer["highlights"]])
        mark = marks.first
        expect(mark).to_be_in_viewport()
        # A screen reader hears where the marked sentence starts and ends; the text is not touched.
        spoken = mark.evaluate(
            "(m) => [getComputedStyle(m, '::before').content, getComputedStyle(m, '::after').content]"
        )
        assert spoken == ['"answering sentence: "', '" (end of answering sentence)"']
        assert mark.evaluate("(m) => getComputedStyle(m).backgroundColor") != text.evaluate(
            "(t) => getComputedStyle(t).backgroundColor"
        )
        screenshot(page, "visitor.png")  # the reply was scrolled to the top of the screen


def test_marked_cuts_the_text_and_never_changes_it() -> None:
    text = "One. Two three. Four."
    assert marked(text, [[5, 15]]) == [("One. ", False), ("Two three.", True), (" Four.", False)]
    assert marked(text, [[0, 4], [16, 21]]) == [("One.", True), (" Two three. ", False), ("Four.", True)]
    assert marked(text, []) == [(text, False)]
    # Out of order, out of range or empty spans are left unmarked; the text always joins back whole.
    for spans in ([[5, 15], [0, 4]], [[10, 99]], [[3, 3]], [[-1, 4]]):
        assert "".join(piece for piece, _ in marked(text, spans)) == text
    assert marked("", []) == [("", False)]


def test_the_page_without_javascript_marks_the_answering_sentence(site: Site) -> None:
    answer = httpx.post(site.url + "/api/chat", json={"message": IN_SCOPE}).json()["answers"][0]
    start, end = answer["highlights"][0]
    page = httpx.post(site.url + "/", data={"message": IN_SCOPE}).text.split("<template", 1)[0]
    assert f"<mark>{html.escape(answer['text'][start:end], quote=False)}</mark>" in page


@browser_test
def test_a_follow_up_is_sent_with_the_earlier_questions_and_answered_in_context(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        with page.expect_request("**/api/chat") as first:
            ask(page, FIRST)
        assert first.value.post_data_json == {"message": FIRST, "history": []}
        with page.expect_request("**/api/chat") as second:
            reply = ask(page, FOLLOW_UP)
        assert second.value.post_data_json == {"message": FOLLOW_UP, "history": [FIRST]}
        # Read with the question before it, the follow-up gets the infusion's passage, not the fallback.
        expected = httpx.post(site.url + "/api/chat", json={"message": FOLLOW_UP, "history": [FIRST]}).json()
        assert expected["matched"]
        expect(reply.locator(".answer-section").first).to_have_text(expected["answers"][0]["section"])
        expect(reply.locator(".fallback")).to_have_count(0)

        # Only the last three questions go along, and nothing is kept once the page is gone.
        for question in ("Is ketamine addictive?", "Can I drive home afterwards?"):
            ask(page, question)
        with page.expect_request("**/api/chat") as fifth:
            ask(page, IN_SCOPE)
        assert fifth.value.post_data_json["history"] == [
            FOLLOW_UP,
            "Is ketamine addictive?",
            "Can I drive home afterwards?",
        ]
        kept = page.evaluate("() => [localStorage.length, sessionStorage.length, document.cookie]")
        assert kept == [0, 0, ""]


def test_without_javascript_the_form_carries_the_earlier_questions(site: Site) -> None:
    first = httpx.post(site.url + "/", data={"message": FIRST}).text
    assert f'<input type="hidden" name="history" value="{FIRST}">' in first
    follow_up = httpx.post(site.url + "/", data={"message": FOLLOW_UP, "history": [FIRST]})
    expected = httpx.post(site.url + "/api/chat", json={"message": FOLLOW_UP, "history": [FIRST]}).json()
    assert f'<h3 class="answer-section">{html.escape(expected["answers"][0]["section"])}</h3>' in follow_up.text
    assert follow_up.text.count('name="history"') == 2  # both questions go along with the next one


@browser_test
def test_a_question_in_spanish_gets_the_line_in_spanish_on_top_of_the_reply(browser: Browser, site: Site) -> None:
    api = httpx.post(site.url + "/api/chat", json={"message": SPANISH}).json()
    assert "está en inglés" in api["language_notice"]
    crisis = httpx.post(site.url + "/api/chat", json={"message": SPANISH_CRISIS}).json()
    assert crisis["crisis"]
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        reply = ask(page, SPANISH)
        first = reply.locator(":scope > :first-child")
        expect(first).to_have_class("language-notice")
        expect(first).to_have_text(api["language_notice"])
        expect(first).to_be_in_viewport()
        # In crisis, the crisis card still comes first, the line right under it.
        reply = ask(page, SPANISH_CRISIS)
        expect(reply.locator(":scope > :first-child")).to_have_class(re.compile(r"\bcrisis\b"))
        expect(reply.locator(":scope > :nth-child(2)")).to_have_text(crisis["language_notice"])
    # The page without JavaScript says the same, in the same place.
    server = httpx.post(site.url + "/", data={"message": SPANISH}).text
    after = server.split('<div class="bubble bot reply">', 1)[1].lstrip()
    assert after.startswith(f'<p class="language-notice">{html.escape(api["language_notice"], quote=False)}</p>')


@browser_test
def test_a_question_without_a_vetted_answer_shows_the_fallback_and_a_phone_link(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        reply = ask(page, NOT_COVERED)
        expect(reply.locator(".fallback-notice")).to_contain_text(site.settings.contact_phone)
        call = reply.locator(f'.fallback a[href="{site.settings.contact_tel}"]')
        expect(call).to_be_visible()
        expect(call).to_contain_text(site.settings.contact_phone)
        assert site.settings.contact_tel == "tel:+18566662441"
        expect(reply.locator(".answer")).to_have_count(0)
        expect(reply.locator(".feedback")).to_have_count(0)  # nothing was shown to rate
        expect(reply.locator(".reply-disclaimer")).to_have_text(DISCLAIMER)
        # Nearby topics too, so that a phone number is not all the visitor is left with.
        topics = reply.locator(".related button")
        expect(topics.first).to_be_visible()
        assert 1 <= topics.count() <= 3


@browser_test
def test_a_crisis_message_shows_the_crisis_card_first_and_the_chat_goes_on(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE, device_scale_factor=2, reduced_motion="reduce") as page:
        reply = ask(page, CRISIS)
        card = reply.locator(":scope > :first-child")
        expect(card).to_have_class(re.compile(r"\bcrisis\b"))
        expect(card).to_be_in_viewport()
        for href in ("tel:988", "sms:988", "tel:911", "https://988lifeline.org/chat", "sms:741741?body=HOME"):
            expect(card.locator(f'a[href="{href}"]')).to_be_visible()
        expect(card).to_contain_text("press 2 for Spanish")
        expect(card).to_contain_text("text HOME to 741741")
        expect(card).to_contain_text("911")
        expect(reply.locator(".answer")).to_have_count(0)
        screenshot(page, "crisis.png")

        # The visitor can keep talking.
        expect(page.locator("#message")).to_be_enabled()
        after = ask(page, IN_SCOPE)
        expect(after.locator(".answer-text").first).to_contain_text("dizziness")


@browser_test
def test_related_topics_are_other_sections_and_ask_about_them(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        reply = ask(page, IN_SCOPE)
        topics = reply.locator(".related button")
        expect(topics.first).to_be_visible()
        labels = topics.all_text_contents()
        shown = set(reply.locator(".answer-section").all_text_contents())
        assert 1 <= len(labels) <= 3
        assert len(set(labels)) == len(labels)
        assert not shown & set(labels), "a related topic repeats a section already answered"

        topics.first.click()
        followup = page.locator("#conversation .reply").nth(1)
        expect(followup).to_be_visible()
        assert labels[0] in followup.locator(".answer-section").all_text_contents()


def focused_is(page: Page, locator: Any) -> bool:
    return bool(locator.evaluate("(element) => element === document.activeElement"))


@browser_test
def test_one_vote_per_reply_keeps_the_focus_and_can_be_changed_once(browser: Browser, site: Site) -> None:
    storage = site.bot.app.state.storage

    def counts(answer_id: str) -> tuple[int, int]:
        rating = {r.answer_id: r for r in storage.ratings()}.get(answer_id)
        return (rating.helpful, rating.unhelpful) if rating else (0, 0)

    first_id = httpx.post(site.url + "/api/chat", json={"message": IN_SCOPE}).json()["answers"][0]["id"]
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        reply = ask(page, IN_SCOPE)
        # One question for the whole reply, however many passages it shows; it records the first.
        expect(reply.locator(".feedback")).to_have_count(1)
        expect(reply.get_by_text("Was this helpful?")).to_have_count(1)
        assert reply.locator(".feedback input[name=answer_id]").input_value() == first_id
        status = reply.locator(".feedback-status")
        assert status.get_attribute("role") == "status"  # announced by screen readers
        yes = reply.get_by_role("button", name="Yes")
        no = reply.get_by_role("button", name="No")
        helpful, unhelpful = counts(first_id)
        votes = storage.recent_votes(first_id, 3600)

        no.focus()
        page.keyboard.press("Enter")
        expect(status).to_have_text("Thank you for telling us.")
        expect(no).to_have_attribute("aria-pressed", "true")
        expect(yes).to_have_attribute("aria-pressed", "false")
        assert focused_is(page, no), "the focus left the button the visitor pressed"
        assert counts(first_id) == (helpful, unhelpful + 1)
        # The "No" carried the question it answered, for the content team (redacted, beside the answer).
        assert IN_SCOPE in [group.text for group in storage.questions.unhelpful_groups(first_id)]

        # Changed their mind: the second vote posts the other value, and the focus follows it.
        page.keyboard.press("Shift+Tab")
        assert focused_is(page, yes)
        page.keyboard.press("Enter")
        expect(status).to_have_text("Changed to “Yes”. Thank you for telling us.")
        expect(yes).to_have_attribute("aria-pressed", "true")
        expect(no).to_have_attribute("aria-pressed", "false")
        assert focused_is(page, yes)
        # The change replaced the first vote: no unhelpful vote more, and one vote in all.
        assert counts(first_id)[1] == unhelpful
        assert storage.recent_votes(first_id, 3600) == votes + 1

        # Only once: a third press records nothing and says nothing new.
        expect(no).to_be_disabled()  # aria-disabled: it keeps its place in the Tab order
        page.keyboard.press("Tab")
        assert focused_is(page, no)
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        expect(yes).to_have_attribute("aria-pressed", "true")
        expect(status).to_have_text("Changed to “Yes”. Thank you for telling us.")
        assert counts(first_id)[1] == unhelpful
        assert storage.recent_votes(first_id, 3600) == votes + 1


@browser_test
def test_a_focused_element_is_never_hidden_under_the_question_bar(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE, reduced_motion="reduce") as page:
        reply = ask(page, IN_SCOPE)
        last_topic = reply.locator(".related button").last
        expect(last_topic).to_be_visible()
        # Scroll so the last related topic sits under the sticky bar, as it does after a short reply,
        # then Shift+Tab from the question box to it.
        page.evaluate(
            """(topic) => {
              const bar = document.getElementById("ask").getBoundingClientRect();
              window.scrollBy(0, topic.getBoundingClientRect().top - bar.top + 10);
            }""",
            last_topic.element_handle(),
        )
        assert not fully_shown(last_topic)
        page.locator("#message").focus()
        page.keyboard.press("Shift+Tab")
        assert focused_is(page, last_topic)
        assert fully_shown(last_topic), "the focused topic is hidden under the question bar"
        # And on up through the reply: every stop is in full view.
        for _ in range(6):
            page.keyboard.press("Shift+Tab")
            assert fully_shown(page.locator(":focus")), page.locator(":focus").evaluate("e => e.outerHTML")


@browser_test
def test_the_chat_works_from_the_keyboard_alone_with_a_visible_focus(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE) as page:
        page.keyboard.press("Tab")
        expect(page.locator(".skip-link")).to_be_focused()
        assert visible_focus(page)
        page.keyboard.press("Enter")
        expect(page.locator("#message")).to_be_focused()
        assert visible_focus(page)
        page.keyboard.type(IN_SCOPE)
        page.keyboard.press("Enter")
        expect(page.locator(".answer").first).to_be_visible()

        # Shift+Tab back up into the reply until a "Yes" button has the focus, then press it.
        for _ in range(40):
            page.keyboard.press("Shift+Tab")
            if page.evaluate("() => document.activeElement.matches('button.vote[value=true]')"):
                break
        else:
            pytest.fail("no feedback button could be reached with the keyboard")
        assert visible_focus(page)
        page.keyboard.press("Enter")
        expect(page.locator(".feedback-status").filter(has_text="Thank you")).to_have_count(1)


@browser_test
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_passes_wcag_aa(browser: Browser, site: Site, scheme: str) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE, color_scheme=scheme) as page:
        page.get_by_text("About this assistant").click()
        answered = ask(page, IN_SCOPE)
        answered.get_by_role("button", name="No").click()
        expect(answered.locator(".feedback-status")).to_have_text("Thank you for telling us.")
        answered.get_by_role("button", name="Yes").click()  # both votes used: "No" is drawn as locked
        expect(answered.locator(".feedback-status")).to_contain_text("Changed")
        ask(page, NOT_COVERED)
        ask(page, SPANISH)
        ask(page, CRISIS)
        assert page.evaluate(CONTRAST_JS) == []
    with open_page(browser, site.url + "/staff?q=dizzy", viewport=DESKTOP, color_scheme=scheme) as page:
        page.locator(".result").first.focus()
        assert page.evaluate(CONTRAST_JS) == []
        page.get_by_text("Read this with every answer").click()  # folded, it shows a note instead
        assert page.evaluate(CONTRAST_JS) == []
    with open_page(browser, site.url + "/staff?q=" + NOT_COVERED, viewport=DESKTOP, color_scheme=scheme) as page:
        expect(page.locator("#no-answer")).to_be_visible()
        expect(page.locator(".result.unshown").first).to_be_visible()
        assert page.evaluate(CONTRAST_JS) == []


@browser_test
def test_without_javascript_the_form_posts_and_the_server_renders_the_answer(browser: Browser, site: Site) -> None:
    with open_page(browser, site.url + "/", viewport=PHONE, java_script_enabled=False) as page:
        page.fill("#message", IN_SCOPE)
        page.press("#message", "Enter")
        page.wait_for_url(site.url + "/")
        reply = page.locator("#conversation .reply")
        expect(reply.locator(".answer-text").first).to_contain_text("dizziness")
        expect(reply.locator(".reply-disclaimer")).to_have_text(DISCLAIMER)
        expect(page.locator(".question-text")).to_have_text(IN_SCOPE)

        # Related topics are small forms: they work without scripts too.
        label = reply.locator(".related button").first.text_content()
        reply.locator(".related button").first.click()
        expect(page.locator("#conversation .reply .answer-section").filter(has_text=label or "?")).not_to_have_count(0)

        # And so does feedback: one question for the reply.
        expect(reply.locator(".feedback")).to_have_count(1)
        reply.get_by_role("button", name="Yes").click()
        expect(page.get_by_role("heading", name="Thank you")).to_be_visible()

        page.goto(site.url + "/")
        page.fill("#message", CRISIS)
        page.press("#message", "Enter")
        card = page.locator("#conversation .reply > :first-child")
        expect(card).to_have_class(re.compile(r"\bcrisis\b"))
        expect(card.locator('a[href="tel:988"]')).to_be_visible()

        page.goto(site.url + "/")
        page.fill("#message", NOT_COVERED)
        page.press("#message", "Enter")
        expect(page.locator(f'.reply a[href="{site.settings.contact_tel}"]')).to_be_visible()


def test_a_posted_form_without_a_question_gets_a_clear_error(site: Site) -> None:
    empty = httpx.post(site.url + "/", data={"message": "   "})
    assert empty.status_code == 422
    assert "Please type a question" in empty.text
    long = httpx.post(site.url + "/", data={"message": "why " * 200})
    assert long.status_code == 422
    assert "at most 500 characters" in long.text
    assert (
        httpx.post(site.url + "/feedback", data={"answer_id": "no-such-answer", "helpful": "true"}).status_code == 404
    )


def test_without_javascript_a_no_vote_carries_its_question_to_the_content_team(site: Site) -> None:
    page = httpx.post(site.url + "/", data={"message": IN_SCOPE})
    assert f'<input type="hidden" name="question" value="{IN_SCOPE}">' in page.text
    answer = httpx.post(site.url + "/api/chat", json={"message": IN_SCOPE}).json()["answers"][0]["id"]
    asked = "Does the dizziness come back the next day?"
    vote = {"answer_id": answer, "helpful": "false", "question": asked}
    assert httpx.post(site.url + "/feedback", data=vote).status_code == 200
    assert asked in [group.text for group in site.bot.app.state.storage.questions.unhelpful_groups(answer)]


def test_text_reaches_the_page_escaped(site: Site) -> None:
    page = httpx.post(site.url + "/", data={"message": "<script>alert(1)</script> ketamine dizzy"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


# ---------------------------------------------------------------- crisis lines

NUMBER = re.compile(r"\b\d{3,}\b")  # a crisis line's number; the "2" pressed for Spanish is too short


def section(page: str, start: str) -> str:
    """The element that opens with ``start``, up to its first closing tag of the same name."""
    tag = start.split()[0].removeprefix("<")
    return page[page.index(start) :].split(f"</{tag}>", 1)[0]


def test_every_page_gives_the_same_crisis_numbers_as_the_api_notice(site: Site) -> None:
    notice = httpx.post(site.url + "/api/chat", json={"message": CRISIS}).json()["notice"]
    posted = httpx.post(site.url + "/", data={"message": CRISIS}).text
    card = section(posted.split("<template", 1)[0], '<section class="crisis"')
    numbers = {line.number for line in CRISIS_LINES}
    assert set(NUMBER.findall(notice)) == numbers
    # The card's buttons call and text the numbers the notice gives, and say the number they dial.
    links = {(href.split("?")[0], label) for href, label in re.findall(r'href="(?:tel|sms):([^"]+)">([^<]+)<', card)}
    assert {number for number, _ in links} == numbers
    assert all(NUMBER.findall(label) == [number] for number, label in links)
    assert CRISIS_LINES.lifeline.chat_site in notice
    assert f'href="{CRISIS_LINES.lifeline.chat}"' in card
    # The script shows the same card, from the copy kept in a <template> on the chat page.
    chat = httpx.get(site.url + "/").text
    assert section(chat.split('<template id="tpl-crisis">', 1)[1], '<section class="crisis"') == card
    assert set(NUMBER.findall(section(chat, '<p class="help-line">'))) <= numbers
    staff = httpx.get(site.url + "/staff").text
    assert set(NUMBER.findall(section(staff, '<p class="readout-crisis">'))) == numbers


def test_no_crisis_number_is_written_out_in_the_pages_or_scripts() -> None:
    """Templates and scripts take the numbers from CRISIS_LINES, so a changed number changes everywhere."""
    facts = [CRISIS_LINES.lifeline.chat_site, *(line.number for line in CRISIS_LINES)]
    # Not part of a longer name or number: "crisis-911" is a style, "0.988" a figure.
    written = re.compile("|".join(rf"(?<![\w.#-]){re.escape(fact)}(?!\w)" for fact in facts))
    found = [
        f"{path.relative_to(PROJECT_ROOT)}: {match.group()}"
        for path in sorted((PROJECT_ROOT / "web").rglob("*"))
        if path.suffix in {".html", ".js", ".css"}
        for match in written.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


# ---------------------------------------------------------------- related topics and starters


def test_the_related_endpoint_returns_topics_and_refuses_an_empty_question(site: Site, assistant: Assistant) -> None:
    reply = assistant.chat(IN_SCOPE)
    below = topics_below(reply.ranking, assistant.retriever.index.passages, shown=len(reply.answers))
    expected = [{"section": t.section, "question": t.question} for t in below]
    good = httpx.get(site.url + "/api/related", params={"q": IN_SCOPE})
    assert good.status_code == 200
    assert 1 <= len(good.json()["topics"]) <= 3
    assert good.json()["topics"] == expected
    # As the page asks: right after the chat answered, from the reply's own ranking.
    assert httpx.post(site.url + "/api/chat", json={"message": IN_SCOPE}).json()["matched"]
    assert httpx.get(site.url + "/api/related", params={"q": IN_SCOPE}).json()["topics"] == expected
    empty = httpx.get(site.url + "/api/related", params={"q": " "})
    assert empty.status_code == 422
    assert "q:" in empty.json()["detail"]

    # A follow-up's topics come from the reply it got with the questions before it.
    chat = httpx.post(site.url + "/api/chat", json={"message": FOLLOW_UP, "history": [FIRST]}).json()
    follow_up = httpx.get(site.url + "/api/related", params={"q": FOLLOW_UP, "history": [FIRST]}).json()["topics"]
    assert 1 <= len(follow_up) <= 3
    assert not {a["section"] for a in chat["answers"]} & {t["section"] for t in follow_up}
    too_many = httpx.get(site.url + "/api/related", params={"q": IN_SCOPE, "history": ["a", "b", "c", "d"]})
    assert too_many.status_code == 422
    blank = httpx.get(site.url + "/api/related", params={"q": IN_SCOPE, "history": [" "]})
    assert blank.status_code == 422
    assert blank.json()["detail"].startswith("history:")


def test_every_starter_question_has_a_vetted_answer(assistant: Assistant) -> None:
    for question in Settings(_env_file=None).starter_questions:  # type: ignore[call-arg]
        assert assistant.chat(question).matched, question


# ---------------------------------------------------------------- staff lookup


def staff_page(browser: Browser, url: str) -> AbstractContextManager[Page]:
    """The staff page on a desktop, allowed to use the clipboard as the copy buttons do."""
    return open_page(browser, url, viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])


@browser_test
def test_staff_type_arrow_down_enter_copies_the_passage_and_disclaimer(browser: Browser, site: Site) -> None:
    with staff_page(browser, site.url + "/staff") as page:
        expect(page.locator("#disclaimer")).to_have_text(DISCLAIMER)
        expect(page.locator("#q")).to_be_focused()
        page.keyboard.type("dizziness and nausea")
        results = page.locator("#results .result")
        expect(results.first).to_be_visible()
        expect(page.locator("#status")).to_contain_text("for “dizziness and nausea”")
        first = results.first
        expect(first.locator(".result-section")).to_have_text("Short-Term Side Effects")
        expect(first.locator(".result-score")).to_have_text(re.compile(r"^0\.\d\d$"))
        expect(first.locator(".result-id")).to_have_text(re.compile(r"^ketamine-therapy#"))
        expect(first.locator(".result-title")).to_have_text("Ketamine Therapy for Mental Health Recovery")
        assert "q=dizziness+and+nausea" in page.url or "q=dizziness%20and%20nausea" in page.url

        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        second = results.nth(1)
        expect(second).to_be_focused()
        assert visible_focus(page)
        page.keyboard.press("Enter")
        expect(page.locator("#status")).to_have_text("Copied passage 2 and the disclaimer.")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        # The whole passage as written, its marked sentence no different from the rest.
        api = httpx.get(site.url + "/api/search", params={"q": "dizziness and nausea"}).json()
        assert copied == api["results"][1]["text"] + "\n\n" + DISCLAIMER
        screenshot(page, "staff.png")

        # Up from the first result goes back to the search box.
        page.keyboard.press("ArrowUp")
        page.keyboard.press("ArrowUp")
        expect(page.locator("#q")).to_be_focused()


@browser_test
def test_staff_copy_button_and_slash_shortcut(browser: Browser, site: Site) -> None:
    with staff_page(browser, site.url + "/staff?q=ketamine+nasal+spray") as page:
        third = page.locator("#results .result").nth(2)
        third.get_by_role("button", name="Copy with disclaimer").click()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied.startswith(third.locator(".result-text").text_content() or "?")
        assert copied.endswith(DISCLAIMER)

        page.locator(".readout").click()
        page.keyboard.press("/")
        expect(page.locator("#q")).to_be_focused()
        expect(page.locator("#q")).to_have_value("ketamine nasal spray")  # the "/" is not typed in


@browser_test
def test_staff_can_fold_the_disclaimer_to_fit_more_and_copy_still_includes_it(browser: Browser, site: Site) -> None:
    with staff_page(browser, site.url + "/staff?q=how+long+does+treatment+take") as page:
        results = page.locator("#results .result")
        expect(page.locator("#disclaimer")).to_be_visible()
        top_before = results.first.bounding_box()

        page.get_by_text("Read this with every answer").click()
        expect(page.locator("#disclaimer")).to_be_hidden()
        expect(page.locator(".readout")).to_contain_text("still copied with every passage")
        expect(page.locator(".readout-crisis")).to_be_visible()  # the crisis numbers never fold away
        top_after = results.first.bounding_box()
        assert top_before is not None
        assert top_after is not None
        assert top_after["y"] < top_before["y"] - 40, "folding made no room for results"

        second = results.nth(1)
        second.get_by_role("button", name="Copy with disclaimer").click()
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == second.locator(".result-text").text_content() + "\n\n" + DISCLAIMER

        # It stays folded for the next search in this browser, and unfolds again.
        page.reload()
        expect(page.locator("#disclaimer")).to_be_hidden()
        page.get_by_text("Read this with every answer").click()
        expect(page.locator("#disclaimer")).to_have_text(DISCLAIMER)


@browser_test
def test_staff_see_a_banner_when_the_visitor_page_would_not_answer(browser: Browser, site: Site) -> None:
    api = httpx.get(site.url + "/api/search", params={"q": NOT_COVERED}).json()
    assert api["matched"] is False
    with open_page(browser, site.url + "/staff", viewport=DESKTOP) as page:
        banner = page.locator("#no-answer")
        page.keyboard.type(NOT_COVERED)
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("No vetted answer: tell the caller")
        expect(banner).to_contain_text(site.settings.contact_phone)
        expect(page.locator("#status")).to_contain_text("No vetted answer.")
        # The passages are there to read, greyed: the visitor page would show none of them.
        results = page.locator("#results .result")
        expect(results).to_have_count(len(api["results"]))
        expect(page.locator("#results .result.unshown")).to_have_count(len(api["results"]))
        expect(results.first.locator(".result-unshown")).to_have_text("not shown to visitors")
        screenshot(page, "staff-no-answer.png")

        # A question the visitor page answers: no banner, and the passage it shows is not greyed.
        page.fill("#q", IN_SCOPE)
        expect(banner).to_be_hidden()
        expect(page.locator("#status")).to_have_text(re.compile(r"^\d+ results? for “"))
        expect(results.first).not_to_have_class(re.compile(r"\bunshown\b"))
        found = httpx.get(site.url + "/api/search", params={"q": IN_SCOPE}).json()["results"][0]
        expect(results.first.locator("mark")).to_have_text([found["text"][a:b] for a, b in found["highlights"]])
        expect(results.first.locator(".result-unshown")).to_be_hidden()

    # The server renders the same for a shared link.
    rendered = httpx.get(site.url + "/staff", params={"q": NOT_COVERED}).text.split("<template", 1)[0]
    assert '<div class="no-answer" id="no-answer">' in rendered
    assert rendered.count('<li class="result unshown"') == len(api["results"])


def test_staff_query_in_the_url_renders_on_the_server(site: Site) -> None:
    page = httpx.get(site.url + "/staff", params={"q": "ketamine nasal spray"})
    assert page.status_code == 200
    rendered = page.text.split("<template", 1)[0]  # not the empty copy kept for the script
    assert rendered.count('<li class="result') == 10
    assert 'id="no-answer" hidden' in rendered
    assert "Intranasal Administration of Ketamine" in page.text
    assert 'value="ketamine nasal spray"' in page.text
    assert DISCLAIMER in page.text


@browser_test
def test_staff_results_show_without_javascript(browser: Browser, site: Site) -> None:
    url = site.url + "/staff?q=how+long+does+treatment+take"
    with open_page(browser, url, viewport=DESKTOP, java_script_enabled=False) as page:
        expect(page.locator("#results .result")).to_have_count(10)
        expect(page.locator(".copy-button").first).to_be_hidden()  # it needs a script to copy
        page.fill("#q", "intranasal")
        page.press("#q", "Enter")
        expect(page.locator("#results .result-section").first).to_have_text("Intranasal Administration of Ketamine")


# ---------------------------------------------------------------- embeddable widget


@browser_test
def test_the_widget_opens_the_chat_on_an_allowed_site(browser: Browser, site: Site) -> None:
    with open_page(browser, site.allowed_host + "/", viewport=DESKTOP) as page:
        launcher = page.get_by_role("button", name="Questions? Ask us")
        expect(launcher).to_have_attribute("aria-expanded", "false")
        launcher.click()
        expect(launcher).to_have_attribute("aria-expanded", "true")
        frame = page.frame_locator("iframe[title='Chat with our FAQ assistant']")
        expect(frame.locator("#disclaimer")).to_have_text(DISCLAIMER)
        frame.locator("#message").fill(IN_SCOPE)
        frame.locator("#message").press("Enter")
        expect(frame.locator(".answer-text").first).to_contain_text("dizziness")
        page.get_by_role("button", name="Close the chat").click()
        expect(page.locator("#faqbot-panel")).to_be_hidden()
        expect(launcher).to_be_focused()


@browser_test
def test_the_chat_cannot_be_framed_by_a_site_that_is_not_listed(browser: Browser, site: Site) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(site.other_host + "/")
        with page.expect_console_message(lambda m: "frame-ancestors" in m.text):
            page.get_by_role("button", name="Questions? Ask us").click()
        frame = next(f for f in page.frames if f != page.main_frame)
        assert frame.query_selector("#message") is None
    finally:
        context.close()


def test_embed_origins_go_into_frame_ancestors(site: Site) -> None:
    embed = httpx.get(site.url + "/embed")
    assert embed.status_code == 200
    assert f"frame-ancestors {site.allowed_host}" in embed.headers["content-security-policy"]
    assert "x-frame-options" not in embed.headers
    home = httpx.get(site.url + "/")
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    widget = httpx.get(site.url + "/widget.js")
    assert widget.status_code == 200
    assert widget.headers["content-type"].startswith("text/javascript")
    assert "/embed" in widget.text


def test_embed_origins_must_be_bare_origins() -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(embed_origins="https://ok.example, https://bad.example; script-src *", _env_file=None)  # type: ignore[call-arg]
    ok = Settings(embed_origins="https://a.example, http://localhost:8080/", _env_file=None)  # type: ignore[call-arg]
    assert ok.embed_origins == ["https://a.example", "http://localhost:8080"]
