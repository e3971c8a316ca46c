"""Training rows: the llm policy's exact prompt, trl-shaped rows, clear errors, data cards."""

import json

import pytest

from agent.consultation import AgentConfig, Consultation
from agent.extract import PhraseTable
from agent.knowledge import default_pack
from agent.lm import ScriptedModel
from agent.prompts import policy_messages
from training.datasets import (
    Card,
    RowError,
    preference_row,
    read_rows,
    sft_row,
    to_trl_preferences,
    to_trl_sft,
    validate_preference_row,
    validate_sft_row,
    write_card,
    write_jsonl,
)

SYSTEM = {"role": "system", "content": "Ask one question."}
USER = {"role": "user", "content": "I have a cough."}
DOCTOR = {"role": "assistant", "content": "How long has it lasted?"}


def test_policy_messages_are_what_the_llm_policy_sends(tiny_index):
    pack = default_pack()
    model = ScriptedModel(["Do you have a fever?", "CONCLUDE"])
    c = Consultation(
        pack, PhraseTable.from_pack(pack), AgentConfig(policy="llm"), model=model, index=tiny_index
    )
    list(c.respond("I have a cough and a fever"))
    list(c.respond("yes, since yesterday"))
    passages = [h.passage for h in tiny_index.search(c.state.chief_complaint, 3)]
    transcript = [("patient", "I have a cough and a fever"), ("doctor", "Do you have a fever?")]
    assert model.calls[0] == policy_messages(passages, transcript[:1])
    transcript.append(("patient", "yes, since yesterday"))
    assert model.calls[1] == policy_messages(passages, transcript)
    assert "Background passages" in model.calls[0][0]["content"]


def test_rows_have_the_shapes_trl_expects():
    row = sft_row([SYSTEM, USER], "How long has it lasted?", case="c1")
    assert row["messages"][-1] == DOCTOR and row["meta"] == {"case": "c1"}
    pair = preference_row([SYSTEM, USER], "How long has it lasted?", "CONCLUDE", kind="premature")
    assert pair["chosen"] == [DOCTOR] and pair["rejected"][0]["content"] == "CONCLUDE"
    (trl_sft,) = to_trl_sft([row])
    assert trl_sft == {"prompt": [SYSTEM, USER], "completion": [DOCTOR]}
    assert to_trl_sft([row], completion_only=False) == [{"messages": row["messages"]}]
    assert set(to_trl_preferences([pair])[0]) == {"prompt", "chosen", "rejected"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"messages": []}, "non-empty list"),
        ({"messages": [SYSTEM]}, "only a system message"),
        ({"messages": [SYSTEM, USER]}, "must end with an assistant"),
        ({"messages": [SYSTEM, DOCTOR]}, "expected a user message"),
        ({"messages": [USER, USER, DOCTOR]}, "messages[1]: expected an assistant"),
        ({"messages": [USER, {"role": "assistant", "content": " "}]}, "empty content"),
        ({"messages": [USER, {"role": "doctor", "content": "Hi?"}]}, "not one of"),
        ({"messages": [USER, DOCTOR], "kind": "x"}, "unexpected key"),
        ({"text": "hello"}, "missing key"),
    ],
)
def test_a_bad_sft_row_says_what_is_wrong(row, message):
    with pytest.raises(RowError, match=message.replace("[", r"\[").replace("]", r"\]")):
        validate_sft_row(row)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt": [SYSTEM, USER, DOCTOR]}, "must end with a user"),
        ({"chosen": [DOCTOR, DOCTOR]}, "exactly one assistant"),
        ({"rejected": [USER]}, "must be an assistant"),
        ({"rejected": [DOCTOR]}, "the same reply"),
        ({"meta": "premature"}, "'meta' must be an object"),
    ],
)
def test_a_bad_preference_row_says_what_is_wrong(change, message):
    good = preference_row([SYSTEM, USER], DOCTOR["content"], "CONCLUDE")
    validate_preference_row(good)
    with pytest.raises(RowError, match=message):
        validate_preference_row({**good, **change})


def test_files_round_trip_and_a_bad_line_is_named(tmp_path):
    rows = [sft_row([SYSTEM, USER], f"Question {i}?") for i in range(3)]
    assert write_jsonl(tmp_path / "data" / "sft.jsonl", rows, "sft") == 3
    assert read_rows([tmp_path / "data"], "sft") == rows  # a folder means its sft.jsonl
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n" + json.dumps({"messages": [USER]}) + "\n")
    with pytest.raises(RowError, match=r"bad.jsonl:2: messages: must end with an assistant"):
        read_rows([bad], "sft")
    with pytest.raises(RowError, match="row 1"):
        write_jsonl(tmp_path / "x.jsonl", [{"messages": [USER]}], "sft")
    with pytest.raises(FileNotFoundError, match="no preference data"):
        read_rows([tmp_path / "data"], "preference")


def test_the_card_records_how_the_data_was_made(tmp_path):
    card = Card(
        title="Self-play",
        summary="Rows.",
        sources=["synthetic cases"],
        counts={"sft": 3},
        seeds={"cases": 7},
        config={"cases": 2},
        command="anamnesis train selfplay --cases 2",
    )
    md, js = write_card(tmp_path, card)
    data = json.loads(js.read_text())
    assert data["counts"] == {"sft": 3} and data["seeds"] == {"cases": 7}
    assert data["command"] == "anamnesis train selfplay --cases 2"
    text = md.read_text()
    assert "anamnesis train selfplay --cases 2" in text and "- sft: 3" in text
