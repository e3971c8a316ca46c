"""The learned emergency classifier: its split, its training path, and its place in a turn."""

import json
from dataclasses import dataclass

import pytest

from agent.consultation import Consultation, Escalation, Question
from agent.emergency import (
    SHIPPED,
    EmergencyClassifier,
    EmergencyConfig,
    calibrate,
    fit,
    load_statements,
    split_by_rule,
)
from agent.extract import PhraseTable
from agent.knowledge import default_pack

PACK = default_pack()


def test_statements_are_labelled_and_never_the_vignettes():
    from training.labelled import VIGNETTES, read_jsonl

    rows = load_statements()
    assert sum(r["label"] == "emergency" for r in rows) >= 500
    assert sum(r["label"] == "non_urgent" for r in rows) >= 500
    assert {r["rule"] for r in rows if r.get("rule")} <= set(PACK.red_flags)
    held_out = {r["text"].lower() for r in read_jsonl(VIGNETTES)}
    assert not held_out & {r["text"].lower() for r in rows}


def test_everyday_messages_are_plain_and_independent_of_the_statements():
    from training.labelled import EVERYDAY, VIGNETTES, read_jsonl

    rows = read_jsonl(EVERYDAY)
    assert len(rows) >= 100 and len({r["id"] for r in rows}) == len(rows)
    assert all(r["label"] == "non_urgent" and len(r["text"].split()) >= 6 for r in rows)
    seen = {r["text"].lower() for r in [*load_statements(), *read_jsonl(VIGNETTES)]}
    assert not seen & {r["text"].lower() for r in rows}


def test_whole_rules_are_held_out_to_choose_the_threshold():
    rows = load_statements()
    train, test = split_by_rule(rows, 0.2, seed=0)
    assert not set(train) & set(test) and len(train) + len(test) == len(rows)
    train_rules = {rows[i]["rule"] for i in train if rows[i].get("rule")}
    test_rules = {rows[i]["rule"] for i in test if rows[i].get("rule")}
    assert test_rules and not train_rules & test_rules


def test_fit_trains_an_adapter_that_loads_back(tmp_path):
    import torch

    rows = load_statements()
    few = [r for r in rows if r.get("rule")][:12] + [r for r in rows if not r.get("rule")][-12:]
    config = EmergencyConfig(
        members=("minilm",), epochs=1, batch_size=8, held_out_share=0.25, lora_r=2
    )
    report = fit(tmp_path / "clf", config, few)
    assert 0 <= report["threshold"] <= 1 and "held_out" in report
    assert report["members"] == ["minilm"] and (tmp_path / "clf" / "minilm").is_dir()
    classifier = EmergencyClassifier.load(tmp_path / "clf")
    p = classifier.probabilities(["I can't breathe", "a mild cold"])
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()
    assert classifier.flags("about three days") == (False, 0.0)  # short answers: rules only
    trained = {
        n: w
        for model, _ in classifier.members
        for n, w in model.named_parameters()
        if "lora_B" in n or "modules_to_save" in n
    }
    assert trained and any(torch.count_nonzero(w) for w in trained.values())
    report = calibrate(tmp_path / "clf", few, target_recall=0.9)
    assert report["messages"] == 24 and report["recall"] >= 0.9
    card = json.loads((tmp_path / "clf" / "emergency.json").read_text())
    assert card["threshold"] == report["threshold"] and "held_out" in card
    assert EmergencyClassifier.load(tmp_path / "clf").threshold == report["threshold"]


def test_members_are_combined_by_their_geometric_mean():
    import numpy as np

    from agent.emergency import combine

    p = combine([np.array([0.9, 0.5, 0.0]), np.array([0.1, 0.5, 0.8])])
    assert np.allclose(p[:2], [0.3, 0.5])  # one member's confident "no" damps the other's "yes"
    assert p[2] < 1e-4  # a zero is clipped, not a log error


def test_the_config_switches_the_classifier_and_an_explicit_choice_wins(monkeypatch):
    from agent.config import AppConfig, TriageConfig
    from agent.resources import Resources

    loaded = []
    monkeypatch.setattr(
        EmergencyClassifier, "load", classmethod(lambda cls, *a, **k: loaded.append(a) or "clf")
    )
    bare = {"model": False, "index": False, "embeddings": False}
    assert Resources.load(AppConfig(), **bare).emergency == "clf"  # on by default
    off = AppConfig(triage=TriageConfig(classifier=False))
    assert Resources.load(off, **bare).emergency is None
    assert Resources.load(AppConfig(), **bare, emergency=False).emergency is None
    assert Resources.load(off, **bare, emergency=True).emergency == "clf"
    assert len(loaded) == 2


@dataclass
class FakeClassifier:
    flagged: str
    threshold: float = 0.5

    def flags(self, text: str) -> tuple[bool, float]:
        p = 0.9 if self.flagged in text else 0.1
        return p >= self.threshold, p


def test_the_classifier_escalates_what_no_rule_caught():
    text = "my grandad has gone a funny grey colour and is not making sense"
    quiet = Consultation(PACK, PhraseTable.from_pack(PACK))
    assert not any(isinstance(s, Escalation) for s in quiet.respond(text))
    c = Consultation(PACK, PhraseTable.from_pack(PACK), emergency=FakeClassifier("grey"))
    (step,) = list(c.respond(text))
    assert isinstance(step, Escalation) and step.rules == ("learned_classifier",)
    assert "emergency" in step.advice.lower() and "90%" in step.reason
    calm = Consultation(PACK, PhraseTable.from_pack(PACK), emergency=FakeClassifier("grey"))
    assert isinstance(next(iter(calm.respond("I have a runny nose"))), Question)


@pytest.mark.skipif(not (SHIPPED / "emergency.json").exists(), reason="no shipped classifier")
def test_shipped_classifier_on_the_held_out_vignettes(embedder, prepared_home):
    from agent.answer import red_flags
    from agent.extract import EmbeddingMatcher
    from training.labelled import EVERYDAY, VIGNETTES, VIGNETTES_FRESH, read_jsonl, score_triage

    classifier = EmergencyClassifier.load(models_dir=prepared_home / "models")
    assert len(classifier.members) == 2  # MiniLM and the embedded model
    assert "calibration" in json.loads((SHIPPED / "emergency.json").read_text())
    table, matcher = PhraseTable.from_pack(PACK), EmbeddingMatcher(PACK, embedder)

    def escalates(text: str) -> bool:
        return red_flags(text, PACK, table, matcher, classifier) is not None

    for path, ceiling in ((VIGNETTES, LOOK_ALIKE_CEILING), (VIGNETTES_FRESH, FRESH_CEILING)):
        scores = score_triage(read_jsonl(path), escalates)
        assert scores["recall"] >= RECALL_FLOOR
        assert scores["false_escalation_rate"] <= ceiling
    everyday = score_triage(read_jsonl(EVERYDAY), escalates)
    assert everyday["false_escalation_rate"] <= EVERYDAY_CEILING


# The target itself (README, "Red flags"): with the rules, recall 1.000 on both vignette sets
# and false escalations 0.057 and 0.088 on their look-alikes; 0.050 on the everyday messages.
# The weakest fresh emergency the rules miss scores 0.137 against the 0.127 threshold.
RECALL_FLOOR = 1.0
LOOK_ALIKE_CEILING = 0.10
FRESH_CEILING = 0.10
EVERYDAY_CEILING = 0.08
