"""Grounded answers: retrieval first, streamed tokens, invalid citations removed."""

from agent.answer import Answered, Retrieved, Token, answer
from agent.citations import clean_citations
from agent.lm import ScriptedModel
from retrieval.documents import Passage

P = [Passage(str(i), "d", f"T{i}", "S", "", "", "text") for i in range(3)]


def test_clean_citations_keeps_only_retrieved_numbers():
    text, cited = clean_citations("Flu causes fever [1]. Also [7]. Both [2, 9] and [3,1].", P)
    assert text == "Flu causes fever [1]. Also. Both [2] and [3, 1]."
    assert cited == [1, 2, 3]


def test_clean_citations_with_no_passages_removes_all():
    assert clean_citations("See [1].", []) == ("See.", [])


def test_answer_streams_grounded_steps(tiny_index):
    model = ScriptedModel(["Appendicitis pain moves to the lower right [1], see [5]."])
    steps = list(answer("pain moving to the lower right of my tummy", tiny_index, model, k=2))
    assert isinstance(steps[0], Retrieved) and len(steps[0].passages) == 2
    assert steps[0].passages[0].title == "Appendicitis"
    assert any(isinstance(s, Token) for s in steps)
    final = steps[-1]
    assert isinstance(final, Answered)
    assert "[5]" not in final.text and [n for n, _ in final.cited] == [1]
    system = model.calls[0][0]["content"]
    assert "[1] Appendicitis" in system and "[2]" in system


def test_huge_question_is_truncated_not_refused(tiny_index):
    model = ScriptedModel(["ok"])
    steps = list(answer("cough " * 5000, tiny_index, model))
    assert steps[-1].text == "ok"
    assert len(model.calls[0][-1]["content"]) <= 2000


def test_an_emergency_is_answered_with_advice_only(tiny_index):
    from agent.answer import Escalated
    from agent.extract import PhraseTable
    from agent.knowledge import default_pack

    pack = default_pack()
    model = ScriptedModel(["should not be used"])
    steps = list(
        answer(
            "I am going to kill myself tonight, I have a plan",
            tiny_index,
            model,
            triage=(pack, PhraseTable.from_pack(pack), None),
        )
    )
    assert len(steps) == 1 and isinstance(steps[0], Escalated)
    assert model.calls == []
