"""The widget and the agent console in Debian's Chromium, driven by Playwright, against a real uvicorn server.

Set SHOPASSIST_SCREENSHOTS=docs to refresh the README's pictures (``make screenshots``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.service import ShopService
from connectors.web import BackgroundServer
from tests.conftest import AGENT_TOKEN

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make setup)")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("SHOPASSIST_SCREENSHOTS") or tmp_path)


def _send(page: sync_api.Page, text: str) -> sync_api.Locator:
    """Type a message, wait for the answer, return the assistant's reply bubble."""
    replies = page.locator(".sa-msg.sa-assistant")
    before = replies.count()
    page.get_by_label("Message").fill(text)
    page.get_by_label("Message").press("Enter")
    sync_api.expect(replies).to_have_count(before + 1, timeout=30_000)
    return replies.nth(before)


def _prices(reply: sync_api.Locator) -> list[float]:
    texts = reply.locator(".sa-price").all_inner_texts()
    return [float(text.replace("$", "").replace(",", "")) for text in texts]


def test_customer_chat_click_faq_handoff_and_agent_reply(
    browser: sync_api.Browser, web_server: BackgroundServer, service: ShopService, shots: Path
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(web_server.url + "/")
    bubble = page.get_by_role("button", name="Open the shopping assistant")
    bubble.click()
    panel = page.get_by_role("dialog", name="Shopping assistant")
    sync_api.expect(panel).to_be_visible()
    sync_api.expect(page.get_by_label("Message")).to_be_focused()

    first = _send(page, "a laptop under $800")
    sync_api.expect(first.locator(".sa-card").first).to_be_visible()
    assert 3 <= first.locator(".sa-card").count() <= 5
    assert max(_prices(first)) <= 800
    sync_api.expect(page.locator(".sa-constraint", has_text="under $800")).to_be_visible()

    cheaper = _send(page, "cheaper")
    assert cheaper.locator(".sa-card").count() >= 1
    assert max(_prices(cheaper)) < min(_prices(first))

    view = cheaper.locator(".sa-card").first.get_by_role("button", name="View:")
    view.click()
    sync_api.expect(view).to_have_attribute("aria-pressed", "true")
    clicked = [row for row in service.events.rows() if row["click"]]
    assert len(clicked) == 1 and clicked[0]["channel"] == "web" and clicked[0]["position"] == 1
    cart = cheaper.locator(".sa-card").first.get_by_role("button", name="Add to cart:")
    cart.click()
    sync_api.expect(cart).to_have_text("Added ✓")

    faq = _send(page, "what is your return policy?")
    sync_api.expect(faq).to_contain_text("return")
    assert faq.locator(".sa-card").count() == 0
    page.screenshot(path=str(shots / "widget.png"))

    page.get_by_role("button", name="Talk to a person").click()
    sync_api.expect(page.locator(".sa-msg.sa-assistant").last).to_contain_text("person")
    sync_api.expect(page.get_by_role("button", name="Talk to a person")).to_be_disabled()
    assert any(entry.session_id.startswith("web:") for entry in service.queue().entries)

    agent = browser.new_page(viewport={"width": 1400, "height": 860})
    agent.goto(f"{web_server.url}/agent")
    agent.get_by_label("Agent token (SHOPASSIST_AGENT_TOKEN)").fill(AGENT_TOKEN)
    agent.get_by_role("button", name="Open").click()
    agent.locator("#queue button").first.click()
    sync_api.expect(agent.locator("#transcript")).to_contain_text("a laptop under $800")
    reply_box = agent.get_by_label("Reply to send (editable)")
    sync_api.expect(reply_box).to_have_value(
        "Hi, I'm from the support team and I've read our conversation so far. How can I help?"
    )
    agent.locator(".faq button").first.click()  # insert an FAQ snippet
    reply_box.fill("Hi, Sam from support here. Returns are free within 30 days.")
    agent.screenshot(path=str(shots / "agent-console.png"))
    agent.get_by_role("button", name="Send to customer").click()
    sync_api.expect(page.locator(".sa-msg.sa-agent")).to_contain_text("Sam from support", timeout=15_000)
    (feedback,) = service.events.feedback()
    assert feedback["verdict"] == "accepted"

    page.keyboard.press("Escape")
    sync_api.expect(panel).to_be_hidden()
    sync_api.expect(bubble).to_be_focused()


def test_agent_console_without_token_asks_for_it(browser: sync_api.Browser, web_server: BackgroundServer) -> None:
    page = browser.new_page()
    page.goto(f"{web_server.url}/agent#token={AGENT_TOKEN}")  # a token in the URL is not read
    sync_api.expect(page.get_by_label("Agent token (SHOPASSIST_AGENT_TOKEN)")).to_be_visible()
    sync_api.expect(page.locator("#console")).to_be_hidden()
    page.get_by_label("Agent token (SHOPASSIST_AGENT_TOKEN)").fill("wrong")
    page.get_by_role("button", name="Open").click()
    sync_api.expect(page.locator("#login")).to_be_visible()


def test_widget_fills_a_phone_screen_and_clarifies_with_chips(
    browser: sync_api.Browser, web_server: BackgroundServer
) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 800})
    page.goto(web_server.url + "/")
    page.get_by_role("button", name="Open the shopping assistant").click()
    panel = page.get_by_role("dialog", name="Shopping assistant")
    box = panel.bounding_box()
    assert box is not None and box["width"] == 390
    _send(page, "I need a gift")
    chips = page.get_by_role("group", name="Suggested replies").get_by_role("button")
    assert chips.count() >= 2
    chips.first.focus()
    page.keyboard.press("ArrowRight")
    sync_api.expect(chips.nth(1)).to_be_focused()
    replies = page.locator(".sa-msg.sa-assistant")
    before = replies.count()
    page.keyboard.press("Enter")
    sync_api.expect(replies).to_have_count(before + 1, timeout=30_000)
    sync_api.expect(replies.last.locator(".sa-card").first).to_be_visible()


def test_widget_swaps_a_session_id_the_server_never_issued_and_the_policy_blocks_nothing(
    browser: sync_api.Browser, web_server: BackgroundServer
) -> None:
    page = browser.new_page()
    blocked: list[str] = []

    def note_violation(message: sync_api.ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:  # Chromium's words for what the policy refused
            blocked.append(message.text)

    page.on("console", note_violation)
    page.goto(web_server.url + "/")
    page.evaluate('sessionStorage.setItem("shopassist-session", "aaaaaaaaaaaaaaaa")')  # made up by the client
    page.reload()
    page.get_by_role("button", name="Open the shopping assistant").click()
    sync_api.expect(page.locator(".sa-msg.sa-assistant").first).to_contain_text("What are you shopping for")
    sync_api.expect(_send(page, "a laptop").locator(".sa-card").first).to_be_visible()
    issued = page.evaluate('sessionStorage.getItem("shopassist-session")')
    assert issued != "aaaaaaaaaaaaaaaa" and len(issued) >= 32
    page.reload()  # the issued session goes on: the transcript comes back
    page.get_by_role("button", name="Open the shopping assistant").click()
    sync_api.expect(page.locator(".sa-msg.sa-customer")).to_contain_text("a laptop")
    assert blocked == []


def test_agent_console_token_is_entered_once_per_tab(browser: sync_api.Browser, web_server: BackgroundServer) -> None:
    page = browser.new_page()
    page.goto(web_server.url + "/agent")
    page.get_by_label("Agent token (SHOPASSIST_AGENT_TOKEN)").fill(AGENT_TOKEN)
    page.get_by_role("button", name="Open").click()
    sync_api.expect(page.locator("#console")).to_be_visible()
    assert AGENT_TOKEN not in page.url
    page.reload()
    sync_api.expect(page.locator("#console")).to_be_visible()
    sync_api.expect(page.locator("#queue-empty")).to_be_visible()
