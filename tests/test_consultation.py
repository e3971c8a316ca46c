"""The consultation loop with a scripted LM: steps, escalation, phrasing validation."""

from agent.consultation import (
    Assessment,
    Consultation,
    Escalation,
    Notice,
    Question,
    Retrieval,
    question_is_about,
)
from agent.extract import PhraseTable, content_words
from agent.knowledge import default_pack
from agent.lm import ScriptedModel
from agent.planner import PlannerConfig

PACK = default_pack()
TABLE = PhraseTable.from_pack(PACK)


def consult(**kw):
    return Consultation(PACK, TABLE, **kw)


def test_an_emergency_stops_the_history_at_once(embedder):
    from agent.extract import EmbeddingMatcher

    c = consult(matcher=EmbeddingMatcher(PACK, embedder))
    (step,) = list(c.respond("I want to kill myself and I have a plan to do it tonight"))
    assert isinstance(step, Escalation)
    assert "emergency" in step.advice.lower() or "999" in step.advice
    assert c.finished


def test_questions_then_assessment():
    c = consult()
    steps = list(c.respond("I have a cough and a runny nose"))
    assert isinstance(steps[-1], Question) and steps[-1].target == "duration"
    assert steps[-1].differential and steps[-1].reason
    answers = iter(["three days", "no", "no", "yes", "no", "not really"] + ["no"] * 20)
    for _ in range(20):
        steps = list(c.respond(next(answers)))
        if isinstance(steps[-1], (Assessment, Escalation)):
            break
    assert isinstance(steps[-1], Assessment)
    assert "not a diagnosis" in steps[-1].text and steps[-1].differential
    targets = c.state.asked
    assert len(targets) == len(set(targets))  # never the same question twice


def test_empty_and_huge_messages_get_a_notice():
    c = consult()
    assert isinstance(next(iter(c.respond("   "))), Notice)
    steps = list(c.respond("cough " * 2000))
    assert isinstance(steps[0], Notice) and isinstance(steps[-1], Question)


def test_the_lm_phrasing_is_kept_only_if_it_asks_about_the_finding():
    from agent.planner import Ask

    model = ScriptedModel(
        ["Have you noticed feeling hot, like a fever?", "What is your favourite colour?"]
    )
    c = consult(model=model)
    ask = Ask("fever", "finding", PACK.findings["fever"].question, 0.5, (), "test")
    assert c._phrase(ask) == "Have you noticed feeling hot, like a fever?"
    assert c._phrase(ask) == PACK.findings["fever"].question
    assert "fever" in model.calls[0][0]["content"].lower()


def test_summary_must_name_the_leading_condition():
    from agent.consultation import summary_is_grounded

    assert summary_is_grounded("This looks most like scarlet fever [1].", "Scarlet fever")
    assert not summary_is_grounded("The patient has a rare disease.", "Scarlet fever")


def test_question_validation():
    words = content_words("fever temperature")
    assert question_is_about("Have you had a temperature?", words)
    assert not question_is_about("Tell me about your day.", words)
    assert not question_is_about("What is your favourite colour?", words)


def test_assessment_cites_only_retrieved_passages(tiny_index):
    model = ScriptedModel(default="")
    c = consult(
        model=model,
        index=tiny_index,
        config=consult().config.model_copy(
            update={"planner": PlannerConfig(max_questions=0), "phrase_questions": False}
        ),
    )
    model.enqueue("It is most likely cystitis, a bladder infection [1], or something else [9].")
    steps = list(c.respond("it burns when I pee"))
    kinds = [type(s) for s in steps]
    assert kinds == [Retrieval, Assessment]
    assessment = steps[-1]
    assert "[9]" not in assessment.text
    assert [n for n, _ in assessment.cited] in ([1], [])
    assert "Sources:" in assessment.text
