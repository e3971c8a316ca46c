"""Harvest: consented sessions become scrubbed SFT rows, preference pairs and a data card."""

from __future__ import annotations

import json

import pytest

from agent.consultation import AgentConfig, Notice
from agent.extract import PhraseTable
from agent.knowledge import default_pack
from agent.planner import PlannerConfig
from agent.prompts import render
from agent.resources import Resources
from agent.sessionlog import SessionLog
from training.harvest import HarvestConfig, harvest
from ui.cli import harvest as harvest_cli

SORE_THROAT = [
    "Hi, I'm Sarah Collins (sarah.collins@example.com), sore throat and runny nose since Monday",
    "no",
    "no, and Sarah is my name if you need it",
    "no",
]
CHEST = "crushing chest pain spreading to my left arm and I am sweating, call 07700 900461"
CORRECTION = "You should first ask whether she has a fever"


@pytest.fixture(scope="module")
def resources() -> Resources:
    pack = default_pack()
    return Resources(pack, PhraseTable.from_pack(pack))


def run(log: SessionLog, sid: str | None, consultation, lines: list[str]) -> None:  # noqa: ANN001
    for line in lines:
        for _ in log.record(sid, line, consultation.respond(line)):
            pass


@pytest.fixture
def database(data_home, resources):
    """Six sessions: a full consultation with feedback, an emergency followed by a new
    consultation, one rated down without a correction, one with consent withdrawn, one with
    no turns, and one whose only turn was cut short."""
    data_home.mkdir(parents=True, exist_ok=True)
    log = SessionLog(data_home / "sessions.db")
    config = AgentConfig(planner=PlannerConfig(max_questions=3))

    def start() -> tuple[str, object]:
        c = resources.consultation(config)
        return log.start(policy="planner", config=config.model_dump(), consent=True), c

    sid, c = start()
    run(log, sid, c, SORE_THROAT)
    log.feedback(sid, 2, rating=-1)
    log.feedback(sid, 2, comment=CORRECTION)
    log.feedback(sid, 3, rating=1)

    sid, c = start()
    run(log, sid, c, [CHEST, "My son Kit has a cough"])

    sid, c = start()
    run(log, sid, c, ["I have a headache"])
    log.feedback(sid, 1, rating=-1, comment="bad")

    sid, c = start()
    run(log, sid, c, ["I have a rash on my arm"])
    log._db.execute("UPDATE sessions SET consent = 0 WHERE id = ?", (sid,))

    start()

    sid, _ = start()
    for _ in log.record(sid, "my ear hurts", iter([Notice("a", "b"), Notice("c", "d")])):
        break
    log.close()
    return data_home / "sessions.db"


def read(path) -> list[dict]:  # noqa: ANN001
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_harvest_writes_scrubbed_sft_preferences_and_a_card(database, tmp_path):
    out = tmp_path / "harvest"
    with SessionLog(database) as log:
        record = log.session(log.sessions()[-1].id)  # the first session
        card = harvest(log, out, command="anamnesis harvest --out X")
    sft, prefs = read(out / "sft.jsonl"), read(out / "preferences.jsonl")
    system = render("llm_policy.system", passages=[])

    # one example per doctor turn: 4 + 2 + 0 (rated down), less the rated-down turn 2 and the
    # escalation (the rules decide it, not the policy)
    assert len(sft) == 4 and card["counts"]["sft_examples"] == 4
    for row in sft:
        roles = [m["role"] for m in row["messages"]]
        assert row["messages"][0] == {"role": "system", "content": system}
        assert roles[1:] == ["user", "assistant"] * ((len(roles) - 1) // 2)
    assert [len(r["messages"]) for r in sft] == [3, 7, 9, 3]  # the emergency ends a history
    assert sft[2]["messages"][-1]["content"] == "CONCLUDE"  # the policy's decision, not the report
    assert "turns skipped: escalation (the rules decide)" in card["counts"]["turns_by_outcome"]

    with SessionLog(database) as log:  # replies as the patient saw them
        harvest(log, tmp_path / "as-seen", HarvestConfig(policy_format=False))
    seen = read(tmp_path / "as-seen" / "sft.jsonl")
    assert [len(r["messages"]) for r in seen] == [3, 7, 9, 3, 3]
    assert seen[3]["messages"][-1]["content"].startswith("Call emergency services")
    assert "Why:" in seen[3]["messages"][-1]["content"]
    assert seen[2]["messages"][-1]["content"].startswith("Here is what your answers suggest")

    [pair] = prefs
    assert pair["chosen"] == [{"role": "assistant", "content": CORRECTION}]
    rejected = record.turns[1].steps[-1].text
    assert pair["rejected"] == [{"role": "assistant", "content": rejected}]
    assert pair["prompt"][0]["role"] == "system" and pair["prompt"][-1]["role"] == "user"
    assert len(pair["prompt"]) == 4

    text = (out / "sft.jsonl").read_text() + (out / "preferences.jsonl").read_text()
    text += (tmp_path / "as-seen" / "sft.jsonl").read_text()
    for secret in ("Sarah", "Collins", "sarah.collins@example.com", "07700 900461", "Kit"):
        assert secret not in text
    assert "[NAME]" in text and "[EMAIL]" in text and "[PHONE]" in text

    counts = card["counts"]
    assert (counts["sessions"], counts["sessions_used"]) == (6, 2)
    assert counts["sessions_skipped"] == {
        "no consent": 1,
        "no turns": 1,
        "no usable turn": 2,
    }
    assert counts["turns_by_outcome"]["turns skipped: cut short"] == 1
    assert counts["turns_by_outcome"]["thumbs down without a usable correction"] == 1
    scrubber = card["scrubber"]
    assert scrubber["replacements"]["NAME"] >= 3 and scrubber["replacements"]["EMAIL"] == 1
    assert scrubber["residual_detections"] == 0
    assert scrubber["measured"]["typed"]["recall"] > 0.8
    assert card["source"]["database"] == str(database.resolve())
    assert json.loads((out / "card.json").read_text()) == card
    markdown = (out / "card.md").read_text()
    assert "Sessions skipped, no consent: 1" in markdown and "anamnesis harvest --out X" in markdown
    assert "at least 3 words" in markdown and "| [NAME] |" in markdown


def test_harvest_rows_are_what_trl_reads(database, tmp_path):
    from trl.data_utils import is_conversational

    with SessionLog(database) as log:
        harvest(log, tmp_path)
    rows = read(tmp_path / "sft.jsonl") + read(tmp_path / "preferences.jsonl")
    assert rows and all(is_conversational(r) for r in rows)


def test_an_earlier_harvest_is_not_overwritten_without_asking(database, tmp_path):
    with SessionLog(database) as log:
        harvest(log, tmp_path)
        with pytest.raises(ValueError, match="already holds"):
            harvest(log, tmp_path)
        card = harvest(log, tmp_path, HarvestConfig(min_correction_words=20), overwrite=True)
    assert card["counts"]["preference_pairs"] == 0


def test_harvest_command(database, tmp_path, capsys):
    out = tmp_path / "h"
    assert harvest_cli.main(["--out", str(out)]) == 0
    assert "Harvested 4 SFT examples and 1 preference pairs from 2 of 6" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["command"] == f"anamnesis harvest --out {out}"
    assert harvest_cli.main(["--out", str(out)]) == 2
    assert "already holds" in capsys.readouterr().err
    assert harvest_cli.main(["--out", str(out), "--database", str(tmp_path / "none.db")]) == 2
    assert "no session database" in capsys.readouterr().err
