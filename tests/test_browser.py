"""The web app in a real browser: headless Debian Chromium driven by Playwright.

Holds a short consultation with consent ticked, rates a reply with a comment, and checks the
SQLite session log. Set ANAMNESIS_SCREENSHOTS=DIR to save screenshots there (docs/screenshots).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
OPENING = "I have had a bad headache and a fever for two days"
EMERGENCY = "crushing chest pain spreading to my left arm and I am sweating"
WAIT_MS = 20_000

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_index, tmp_path_factory: pytest.TempPathFactory):
    """The app with no model over the five-document index, logging to a temp database."""
    from agent.consultation import AgentConfig
    from agent.extract import PhraseTable
    from agent.knowledge import default_pack
    from agent.planner import PlannerConfig
    from agent.resources import Resources
    from agent.sessionlog import SessionLog
    from ui.web.app import WebConfig, build_app, launch

    pack = default_pack()
    resources = Resources(pack, PhraseTable.from_pack(pack), index=tiny_index)
    database = tmp_path_factory.mktemp("web") / "sessions.db"
    log = SessionLog(database)
    config = WebConfig(port=free_port())
    app = build_app(resources, log, AgentConfig(planner=PlannerConfig(max_questions=2)), config)
    url = launch(app, config, block=False)
    yield url, database
    app.close(verbose=False)
    log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(server[0])
    page.wait_for_selector("#message textarea")
    yield page
    context.close()


def say(page, text: str) -> None:  # noqa: ANN001
    """Send a message and wait until its reply has begun to arrive."""
    page.fill("#message textarea", text)
    page.keyboard.press("Enter")
    page.wait_for_function(
        """text => {
            const users = document.querySelectorAll('#chat [data-testid=user]');
            const bots = document.querySelectorAll('#chat [data-testid=bot]');
            const last = bots.length ? bots[bots.length - 1].innerText.trim() : '';
            return users.length && users[users.length - 1].innerText.trim() === text
                && bots.length === users.length && !['...', '\u2026', ''].includes(last);
        }""",
        arg=text,
    )


def screenshot(page, name: str) -> None:  # noqa: ANN001
    folder = os.environ.get("ANAMNESIS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_a_consented_consultation_with_a_thumbs_down_is_in_the_log(page, server):
    expect = sync_api.expect
    url, database = server
    expect(page.locator("#disclaimer")).to_contain_text("not a doctor")
    page.check("#consent input[type=checkbox]")
    expect(page.locator("#status")).to_contain_text("will be stored")

    say(page, OPENING)
    bot = page.locator("#chat [data-testid=bot]")
    expect(bot.last).to_contain_text("Why this question")
    expect(page.locator("#differential")).to_contain_text("%")
    screenshot(page, "question.png")

    say(page, "no")
    expect(bot.last).to_contain_text("Why this question")
    say(page, "no")  # the question budget of two is spent: the assessment follows
    expect(bot.last).to_contain_text("not a diagnosis")
    expect(page.locator("#status")).to_contain_text("ended")
    sources = page.locator("#sources")
    expect(sources).to_contain_text("[1]")
    expect(sources.locator("a[href^='https://example.org/']").first).to_be_visible()
    chart = page.locator("#differential").inner_text()
    assert "%" in chart and any(c.isalpha() for c in chart.replace("likelihood", ""))

    page.fill("#comment textarea", "It should have asked about a stiff neck.")
    page.get_by_label("Dislike").last.click()
    expect(page.locator("#status")).to_contain_text("were stored")
    screenshot(page, "assessment.png")

    with sqlite3.connect(database) as db:
        turns = db.execute("SELECT session, n, patient_text FROM turns ORDER BY n").fetchall()
        steps = {r[0] for r in db.execute("SELECT type FROM steps")}
        feedback = db.execute("SELECT session, turn, rating, comment FROM feedback").fetchall()
    assert turns[0][2] == OPENING and len({t[0] for t in turns}) == 1
    assert {"question", "retrieval", "assessment"} <= steps
    last = turns[-1]
    assert feedback == [(last[0], last[1], -1, "It should have asked about a stiff neck.")]


def test_an_emergency_shows_the_red_flag_banner_and_consent_off_stores_nothing(page, server):
    expect = sync_api.expect
    with sqlite3.connect(server[1]) as db:
        before = db.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
    say(page, EMERGENCY)
    banner = page.locator("#red-flag")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("emergency")
    expect(banner).to_contain_text("Why:")
    screenshot(page, "red_flag.png")
    with sqlite3.connect(server[1]) as db:
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == before
