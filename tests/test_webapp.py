"""The web app: the step-to-screen adapter, the host/auth rule, and consent off stores nothing."""

from __future__ import annotations

import socket

import pytest

from agent.consultation import (
    AgentConfig,
    Assessment,
    Escalation,
    Notice,
    Question,
    Retrieval,
    Token,
)
from agent.planner import PlannerConfig
from retrieval.documents import Passage
from ui.web.view import (
    LOOKING_UP,
    SOURCES_PLACEHOLDER,
    View,
    advance,
    banner_html,
    differential_value,
    reply_markdown,
    sources_markdown,
)

OPENING = "I have had a bad headache and a fever for two days"
DIFF = (("Migraine", 0.5), ("Influenza", 0.3), ("Tension headache", 0.2))
P1 = Passage("p1", "d1", "Migraine", "Test", "https://example.org/m", "", "Throbbing headache.")
P2 = Passage("p2", "d2", "Influenza", "Test", "", "", "Fever and aches. " * 100)


def fold(*steps: object, view: View | None = None) -> View:
    view = view or View()
    for step in steps:
        view = advance(view, step)
    return view


def test_a_question_shows_its_text_its_reason_and_the_differential():
    v = fold(Question("Is light painful?", "photophobia", "finding", "splits migraine", DIFF))
    shown = reply_markdown(v)
    assert shown.startswith("Is light painful?")
    assert "Why this question: splits migraine" in shown
    assert differential_value(v.differential) == {
        "Migraine": 0.5,
        "Influenza": 0.3,
        "Tension headache": 0.2,
    }
    assert not v.finished and v.escalation is None


def test_tokens_stream_into_a_draft_that_the_final_assessment_replaces():
    v = fold(Retrieval("migraine", (P1, P2), "passages"))
    assert reply_markdown(v) == LOOKING_UP
    v = fold(Token("Migr"), Token("aine is"), view=v)
    assert reply_markdown(v) == "Migraine is"
    v = fold(Assessment("FINAL REPORT", DIFF, ((1, P1),), "same_day", "budget"), view=v)
    assert reply_markdown(v) == "FINAL REPORT"
    assert v.finished and v.cited == frozenset({1}) and v.passages == (P1, P2)


def test_a_notice_comes_before_the_reply_and_unknown_steps_are_ignored():
    v = fold(Notice("Your message was long.", "message truncated"), object(), "text")
    v = fold(Question("How long?", "duration", "history", "timing", DIFF), view=v)
    assert reply_markdown(v).startswith("_Your message was long._\n\nHow long?")
    assert reply_markdown(View()) == "..."


def test_an_escalation_fills_the_banner_escaped_and_the_reply():
    step = Escalation("Call 999 <now>", "chest pain & sweating", ("rule",), ("Chest pain",))
    v = fold(Question("Q?", "x", "finding", "r", DIFF), view=View())
    v = fold(step, view=v.new_turn())
    assert "Call 999 <now>" in reply_markdown(v) and v.finished
    html = banner_html(v.escalation)
    assert "Call 999 &lt;now&gt;" in html and "chest pain &amp; sweating" in html
    assert banner_html(None) == ""
    assert v.differential == DIFF  # the chart keeps the last differential


def test_a_new_turn_keeps_the_panels_and_empties_the_reply():
    v = fold(Question("Q?", "x", "finding", "r", DIFF), Retrieval("q", (P1,), "r"))
    nxt = v.new_turn()
    assert nxt.parts == () and nxt.draft == "" and not nxt.retrieving
    assert nxt.differential == DIFF and nxt.passages == (P1,)


def test_sources_are_numbered_linked_only_with_a_url_marked_when_cited_and_shortened():
    md = sources_markdown((P1, P2), frozenset({2}), chars=100)
    first, second = md.split("**[2]")
    assert "**[1] Migraine**" in first and "[link](https://example.org/m)" in first
    assert "cited" not in first and "> Throbbing headache." in first
    assert "link" not in second and "**cited**" in second
    quoted = [line for line in second.splitlines() if line.startswith("> ")][0]
    assert len(quoted) <= 2 + 100 and quoted.endswith("...")
    assert sources_markdown(()) == SOURCES_PLACEHOLDER


def test_the_chart_shows_the_top_n_most_likely():
    assert differential_value((("a", 0.1), ("b", 0.6), ("c", 0.3)), n=2) == {"b": 0.6, "c": 0.3}
    assert differential_value(()) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_localhost_needs_no_password(host):
    from ui.web.app import WebConfig, exposure_problem

    assert exposure_problem(host, None, False) is None
    assert WebConfig(host=host).host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_beyond_localhost_needs_auth_or_an_explicit_open_server(host):
    from ui.web.app import WebConfig, exposure_problem

    assert "--auth" in exposure_problem(host, None, False)
    assert exposure_problem(host, ("u", "p"), False) is None
    assert exposure_problem(host, None, True) is None
    with pytest.raises(ValueError, match="--open-server"):
        WebConfig(host=host)


def test_auth_must_be_user_colon_password():
    from ui.web.app import parse_auth

    assert parse_auth("ann:se:cret") == ("ann", "se:cret")
    assert parse_auth(None) is None
    for bad in ["ann", "ann:", ":pw"]:
        with pytest.raises(ValueError, match="USER:PASS"):
            parse_auth(bad)


def test_the_chat_command_refuses_an_open_host_or_a_taken_port_before_loading(capsys):
    from ui.cli.chat import main

    assert main(["--host", "0.0.0.0", "--no-model"]) == 2
    err = capsys.readouterr().err
    assert "--auth" in err and "--open-server" in err
    assert main(["--host", "0.0.0.0", "--auth", "nopassword"]) == 2
    assert "USER:PASS" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["--no-model", "--port", str(taken.getsockname()[1])]) == 2
    assert "in use" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve():
    """Serve an app on a free localhost port: ``serve(model=..., index=...) -> (url, log)``."""
    from agent.config import load_config
    from agent.extract import PhraseTable
    from agent.knowledge import default_pack
    from agent.resources import Resources
    from agent.sessionlog import SessionLog
    from ui.web.app import WebConfig, build_app, launch

    apps = []

    def start(model=None, index=None):  # noqa: ANN001, ANN202
        pack = default_pack()
        resources = Resources(pack, PhraseTable.from_pack(pack), model=model, index=index)
        log = SessionLog.default(load_config())  # in the test's temp data folder
        config = WebConfig(port=free_port())
        agent = AgentConfig(planner=PlannerConfig(max_questions=2))
        apps.append(build_app(resources, log, agent, config))
        return launch(apps[-1], config, block=False), log

    yield start
    for app in apps:
        app.close(verbose=False)


@pytest.fixture
def served(serve):
    """A no-model app with no index, and its log."""
    return serve()


def test_the_reply_streams_token_by_token_then_shows_the_final_assessment(serve, tiny_index):
    from gradio_client import Client

    from agent.lm import ScriptedModel

    model = ScriptedModel(default="Scarlet fever fits the fever and headache best [1].")
    url, _ = serve(model=model, index=tiny_index)
    client = Client(url, verbose=False)
    for text in [OPENING, "no"]:
        client.predict(text, False, api_name="/chat")
    job = client.submit("no", False, api_name="/chat")
    job.result()
    bubbles = [str(out[0][-1]["content"]) for out in job.outputs()]
    drafts = [b for b in bubbles if "fits the fever" in b and "not a diagnosis" not in b]
    assert drafts, bubbles  # the summary was shown while it was being written
    assert len({len(d) for d in drafts}) > 1  # and it grew piece by piece
    assert "not a diagnosis" in bubbles[-1] and "**[1] Influenza**" in job.outputs()[-1][2]


def test_consent_off_stores_nothing_and_on_stores_each_turn(served):
    from gradio_client import Client

    url, log = served
    off, on = Client(url, verbose=False), Client(url, verbose=False)
    for text in [OPENING, "no"]:
        chat, *_ = off.predict(text, False, api_name="/chat")
        on.predict(text, True, api_name="/chat")
    assert chat[-1]["role"] == "assistant" and "Why this question" in str(chat[-1]["content"])
    (stored,) = log.sessions()  # the consented session only
    record = log.session(stored.id)
    assert [t.patient_text for t in record.turns] == [OPENING, "no"]
    assert [t.steps[-1].type for t in record.turns] == ["question", "question"]


def test_consent_withdrawn_mid_consultation_deletes_it_and_stores_no_more(served):
    from gradio_client import Client

    url, log = served
    client = Client(url, verbose=False)
    client.predict(OPENING, True, api_name="/chat")
    assert len(log.sessions()) == 1
    assert "deleted" in client.predict(False, api_name="/consent")
    client.predict("no", False, api_name="/chat")
    assert log.sessions() == []


def test_an_empty_message_gets_a_notice_and_a_huge_one_is_cut_with_a_notice(served):
    from gradio_client import Client

    url, log = served
    client = Client(url, verbose=False)
    chat, chart, _, banner, status, box = client.predict("   ", True, api_name="/chat")
    assert chat == [] and banner == "" and "your own words" in status and box == ""
    assert log.sessions() == []  # nothing was started or stored
    chat, *_ = client.predict("I have a headache. " * 500, False, api_name="/chat")
    assert "_Your message was long" in str(chat[-1]["content"])
    assert "Why this question" in str(chat[-1]["content"])


def test_the_load_benchmark_drives_concurrent_sessions(served):
    from ui.web.load import percentile, run_load

    url, _ = served
    result = run_load(url, sessions=3, turns=2)
    assert result["errors"] == 0, result["error_examples"]
    assert result["turns_ok"] == 6 and 0 < result["p50_ms"] <= result["p95_ms"]
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
