"""Red-flag triage: rules fire on combinations, and the measured vignette figures."""

import pytest

from agent.extract import PhraseTable, extract
from agent.knowledge import default_pack
from agent.triage import screen
from training.labelled import VIGNETTES, VIGNETTES_FRESH, read_jsonl, score_triage

PACK = default_pack()


def test_a_combination_fires_and_its_parts_alone_do_not():
    rule = next(r for r in PACK.red_flags.values() if r.any_of and len(r.all_of) == 1)
    assert not screen(rule.all_of, PACK) or any(
        len(h.findings) == 1 for h in screen(rule.all_of, PACK)
    )
    hits = screen([*rule.all_of, rule.any_of[0]], PACK)
    assert rule.id in {h.rule for h in hits}


def test_ordinary_complaints_do_not_escalate():
    for ordinary in (["fever"], ["headache"], ["cough", "sore_throat"], ["diarrhea"]):
        assert screen(ordinary, PACK) == [], ordinary


def test_every_hit_says_why_and_what_to_do():
    hits = screen(["suicidal_intent"], PACK)
    assert hits and hits[0].advice and hits[0].reason


@pytest.mark.parametrize("path", [VIGNETTES, VIGNETTES_FRESH], ids=["first", "fresh"])
def test_vignettes_are_measured(path):
    rows = read_jsonl(path)
    assert sum(r["label"] == "emergency" for r in rows) >= 60
    assert sum(r["label"] == "non_urgent" for r in rows) >= 60
    assert len({r["id"] for r in rows}) == len(rows)
    table = PhraseTable.from_pack(PACK)

    def is_emergency(text: str) -> bool:
        present = {o.finding for o in extract(text, table).observations if o.present}
        return bool(screen(present, PACK))

    scores = score_triage(rows, is_emergency)
    assert scores["false_escalation_rate"] <= 0.10
    assert scores["recall"] >= RECALL_FLOOR


def test_the_fresh_vignettes_share_no_message_with_any_other_set():
    from agent.emergency import load_statements
    from training.labelled import EVERYDAY

    fresh = {r["text"].lower() for r in read_jsonl(VIGNETTES_FRESH)}
    others = [*load_statements(), *read_jsonl(VIGNETTES), *read_jsonl(EVERYDAY)]
    assert not fresh & {r["text"].lower() for r in others}


# Lexical rules alone: recall 0.352 on the first set and 0.287 on the fresh one.
RECALL_FLOOR = 0.25
