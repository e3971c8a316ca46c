"""Self-play: planner turns in the llm policy's prompt format, worse replies, data and card."""

import dataclasses
import json
import random

import pytest

from agent.consultation import AgentConfig
from agent.extract import PhraseTable
from agent.knowledge import default_pack
from agent.planner import ranked_asks
from agent.resources import Resources
from training.cases import synthetic_cases
from training.datasets import CONCLUDE, check_conversation, read_rows
from training.patient import Measurement, SimulatedPatient
from training.selfplay import Turn, choose, consult, rejections
from training.trainconfig import SelfPlayConfig
from ui.cli.train import main

PACK = default_pack()
CONFIG = SelfPlayConfig(cases=3)


@pytest.fixture(scope="module")
def resources():
    """Lexical reading only: the embedding matcher takes long to build, and the logic under
    test does not depend on how findings are read. The command below is handed these too."""
    return Resources(PACK, PhraseTable.from_pack(PACK))


@pytest.fixture(scope="module")
def played(resources, tiny_index):
    resources = dataclasses.replace(resources, index=tiny_index)
    out = []
    for case in synthetic_cases(PACK, 2, seed=1, split="train"):
        c = resources.consultation(AgentConfig(planner=CONFIG.planner))
        patient = SimulatedPatient(case, PACK, resources.table)
        items = list(consult(case, c, patient, Measurement(case, PACK), 3, 30))
        out.append((case, c, items))
    return out


def test_each_doctor_turn_is_the_llm_prompt_and_the_planners_reply(played):
    for case, c, items in played:
        *turns, ending = items
        assert ending in ("assessment", "escalation") and all(isinstance(t, Turn) for t in turns)
        doctor = [text for role, text in c.transcript if role == "doctor"]
        for n, turn in enumerate(turns):
            check_conversation(turn.prompt, last="user")
            assert "Background passages" in turn.prompt[0]["content"]  # the tiny index answered
            assert turn.prompt[1]["content"] == case.opening
            assert [m["content"] for m in turn.prompt if m["role"] == "assistant"] == doctor[:n]
            assert turn.reply == (doctor[n] if n < len(doctor) else CONCLUDE)
            assert len(turn.state.asked) == n
        if ending == "assessment":
            assert turns[-1].reply == CONCLUDE and turns[-1].kind == "conclude"
        assert len(set(doctor)) == len(doctor)


def test_rejected_replies_are_worse_in_the_way_they_say(played):
    rng = random.Random(0)
    seen = set()
    for _, _, items in played:
        for turn in items[:-1]:
            found = rejections(turn, PACK, CONFIG.planner, CONFIG, rng)
            assert turn.reply not in found.values()
            seen |= set(found)
            if "premature" in found:
                assert found["premature"] == CONCLUDE and len(turn.state.asked) < 3
            if "repeated" in found:
                assert found["repeated"] in turn.asked
            ranked = ranked_asks(turn.state, PACK, CONFIG.planner, n=40)
            if "low_gain" in found:
                position = [a.question for a in ranked].index(found["low_gain"])
                assert position >= CONFIG.low_gain_rank - 1
                assert ranked[position].gain <= ranked[0].gain
            if "missed_red_flag" in found:
                assert turn.kind == "red_flag" and found["missed_red_flag"] == ranked[0].question
    assert {"premature", "repeated", "low_gain"} <= seen


def test_choose_keeps_the_important_kinds_first():
    found = {"low_gain": "a?", "repeated": "b?", "premature": CONCLUDE, "missed_red_flag": "c?"}
    picked = choose(found, 2, random.Random(0))
    assert [k for k, _ in picked] == ["missed_red_flag", "premature"]
    assert len(choose(found, 4, random.Random(0))) == 4 and choose(found, 0, random.Random(0)) == []


def test_the_command_writes_train_split_data_with_its_card(
    resources, tmp_path, capsys, monkeypatch
):
    loaded = []
    monkeypatch.setattr(
        Resources, "load", classmethod(lambda cls, app, **kw: loaded.append(kw) or resources)
    )
    out = tmp_path / "selfplay"
    args = ["selfplay", "--cases", "2", "--out", str(out), "--no-retrieval", "--seed", "3"]
    assert main(args) == 0
    assert "Self-play data in" in capsys.readouterr().out
    assert loaded == [{"model": False, "index": False, "embeddings": True, "emergency": False}]
    sft, pairs = read_rows([out], "sft"), read_rows([out], "preference")
    card = json.loads((out / "card.json").read_text())
    assert card["counts"]["sft_rows"] == len(sft) and card["counts"]["preference_pairs"] == len(
        pairs
    )
    assert card["seeds"]["cases"] == 3 and card["command"].startswith("anamnesis train selfplay")
    assert {r["meta"]["case"].split(":")[1] for r in sft + pairs} == {"train"}
    assert {p["meta"]["rejection"] for p in pairs} <= {
        "low_gain",
        "repeated",
        "premature",
        "missed_red_flag",
    }
    assert "Background passages" not in sft[0]["messages"][0]["content"]
    assert (
        sum(r["messages"][-1]["content"] == CONCLUDE for r in sft)
        == card["counts"]["sft_conclude_rows"]
    )
