"""The consultation loop with a scripted LM: steps, escalation, phrasing validation."""

from agent.consultation import (
    Assessment,
    Consultation,
    Escalation,
    Notice,
    Question,
    Retrieval,
    Token,
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
        asked = steps[-1]
        result = isinstance(asked, Question) and asked.kind in ("exam", "test")
        steps = list(c.respond("negative" if result else next(answers)))
        if isinstance(steps[-1], (Assessment, Escalation)):
            break
    assert isinstance(steps[-1], Assessment)
    assert "not a diagnosis" in steps[-1].text and steps[-1].differential
    # the whole ranking, as an escalation at that moment would be scored, unlikely names too
    assert steps[-1].differential == c.full_differential()
    assert min(p for _, p in steps[-1].differential) < 0.01
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
    tokens = [s.text for s in steps if isinstance(s, Token)]
    kinds = [type(s) for s in steps if not isinstance(s, Token)]
    assert kinds == [Retrieval, Assessment]
    assert "".join(tokens).startswith("It is most likely cystitis")  # streamed as written
    assessment = steps[-1]
    assert "[9]" not in assessment.text
    assert [n for n, _ in assessment.cited] in ([1], [])
    assert "Sources:" in assessment.text


def _config(**kw):
    from agent.consultation import AgentConfig

    return AgentConfig(phrase_questions=False, **kw)


def test_hybrid_mode_lets_the_model_pick_among_the_planners_questions():
    from dataclasses import replace

    from agent.planner import ranked_asks

    planner = PlannerConfig(red_flag_questions=0, ask_duration=False)
    model = ScriptedModel(["2"])
    c = consult(model=model, config=_config(policy="hybrid", planner=planner))
    step = list(c.respond("I have a cough and a runny nose"))[-1]
    before = replace(c.state, asked=c.state.asked[:-1])
    options = ranked_asks(before, PACK, planner, n=3)
    assert "option 2" in step.reason and step.target == options[1].target
    assert "1. " + options[0].question in model.calls[0][0]["content"]


class _Scorer(ScriptedModel):
    """A model that can score replies: it prefers the one naming ``liked``."""

    def __init__(self, liked: str) -> None:
        super().__init__()
        self.liked, self.scored = liked, []

    def score(self, messages, replies, policy=True):  # noqa: ANN001, ANN201
        self.scored.append((messages, list(replies)))
        return [0.0 if self.liked in r.lower() else -1.0 - i for i, r in enumerate(replies)]


def test_hybrid_mode_ranks_the_planners_questions_by_the_models_score():
    from dataclasses import replace

    from agent.planner import ranked_asks
    from agent.prompts import policy_messages

    planner = PlannerConfig(red_flag_questions=0, ask_duration=False)
    probe = consult(config=_config(planner=planner))
    list(probe.respond("I have a cough and a runny nose"))
    options = ranked_asks(replace(probe.state, asked=()), PACK, planner, n=3)
    liked = options[2].question.lower()  # the planner's third choice
    model = _Scorer(liked)
    c = consult(model=model, config=_config(policy="hybrid", planner=planner))
    step = list(c.respond("I have a cough and a runny nose"))[-1]
    assert step.target == options[2].target and "option 3 of 3" in step.reason
    messages, replies = model.scored[0]
    assert replies == [o.question for o in options]
    assert messages == policy_messages((), [("patient", "I have a cough and a runny nose")])
    assert model.calls == []  # scored, never asked for an option number


def test_hybrid_mode_falls_back_when_the_choice_is_not_an_option():
    model = ScriptedModel(default="banana")
    c = consult(
        model=model,
        config=_config(
            policy="hybrid", planner=PlannerConfig(red_flag_questions=0, ask_duration=False)
        ),
    )
    step = list(c.respond("I have a cough and a runny nose"))[-1]
    assert isinstance(step, Question) and "not an option" in step.reason


def test_llm_mode_knows_a_standard_history_question_by_its_wording():
    question = PACK.history["duration"].question
    c = consult(model=ScriptedModel([question.upper()]), config=_config(policy="llm"))
    step = list(c.respond("I have a cough"))[-1]
    assert isinstance(step, Question) and step.target == "duration"


def test_llm_mode_asks_the_models_question_and_concludes_when_told():
    model = ScriptedModel(["Do you have a fever?", "CONCLUDE"])
    c = consult(model=model, config=_config(policy="llm"))
    step = list(c.respond("I have a cough"))[-1]
    assert isinstance(step, Question) and step.kind == "llm"
    assert step.text == "Do you have a fever?" and step.target == "fever"
    model.enqueue("It looks like a cold.")
    steps = list(c.respond("no"))
    assert isinstance(steps[-1], Assessment) and "concluded" in steps[-1].reason
    assert c.state.observations["fever"].present is False  # the answer went to its question


def test_llm_mode_stops_on_a_repeated_question():
    model = ScriptedModel(["Do you have a fever?", "Do you have a fever?"], default="")
    c = consult(model=model, config=_config(policy="llm"))
    list(c.respond("I have a cough"))
    steps = list(c.respond("yes"))
    assert isinstance(steps[-1], Assessment) and "repeated" in steps[-1].reason


def test_the_agent_asks_for_a_test_by_name_and_weighs_its_result():
    from agent.belief import posterior

    # the tests of the pack's catalogue (the survey beyond the pack is tested on its own)
    planner = PlannerConfig(tests_after=0, max_questions=6, beyond_survey=1.0)
    c = consult(config=_config(planner=planner))
    (first,) = list(c.respond("I am a 60 year old man with crushing chest pain for an hour"))
    steps = [first]
    while not any(s.kind in ("exam", "test") for s in steps if isinstance(s, Question)):
        steps += [s for s in c.respond("no") if isinstance(s, Question)]
        assert not c.finished, "the agent concluded without asking for a test"
    asked = steps[-1]
    assert asked.target.split(":")[0] == asked.kind and "not done" in asked.text.lower()
    key = asked.target.split(":", 1)[1]
    from agent.investigations import catalogue

    inv = catalogue(PACK).get(key)
    before = posterior(c.state, PACK, c.config.planner.belief)
    holder = max(inv.expects, key=lambda cid: before[cid])
    list(c.respond(inv.expects[holder]))  # the result shows what this condition expects
    after = posterior(c.state, PACK, c.config.planner.belief)
    assert key in c.state.results
    assert after[holder] > before[holder]
    assert c.state.asked.count(asked.target) == 1


def test_a_test_not_done_is_no_evidence():
    from agent.investigations import InvestigationConfig, catalogue, not_done, read_result

    assert not_done("No.") and not_done("Not done, I'm at home") and not_done("I haven't had it")
    assert not not_done("No fracture seen") and not not_done("Normal.")

    inv = catalogue(PACK).investigations[0]
    assert read_result("not done", inv, InvestigationConfig()) is None
    assert read_result("I haven't had that", inv, InvestigationConfig()) is None
    normal = read_result("normal", inv, InvestigationConfig())
    assert normal is not None and not any(
        hit for cid, hit in normal.items() if "normal" not in inv.expects[cid].lower()
    )


def test_conclude_on_demand_gives_an_assessment():
    c = consult(config=_config())
    list(c.respond("I have a sore throat and a fever"))
    steps = list(c.conclude("the bound asked for it"))
    assert isinstance(steps[-1], Assessment) and c.finished
    assert steps[-1].reason == "the bound asked for it"


def test_beyond_the_pack_the_agent_takes_the_story_and_asks_for_results(tiny_index):
    c = consult(index=tiny_index, config=_config(planner=PlannerConfig(max_questions=12)))
    steps = list(c.respond("I'm a 40-year-old man with weak legs and an itchy rash"))
    survey = []
    for _ in range(12):
        question = next(s for s in steps if isinstance(s, Question))
        if "beyond the knowledge pack" in question.reason:
            survey.append(question.target)
        if question.kind in ("exam", "test"):  # the results it asked for
            reply = "Platelets: 900,000/mm3; Heart Rate: 72 bpm"
        elif question.target == "duration":
            reply = "about a month"
        else:
            reply = "no"
        steps = list(c.respond(reply))
        if c.finished:
            break
    assert survey[:2] == ["presenting_complaint", "exam:vital signs"]
    assert {"associated_symptoms", "anything_else", "test:blood tests"} <= set(survey)
    assert len(survey) == len(set(survey))  # never asked twice
    from agent.candidates import outside_query

    said = [text for role, text in c.transcript if role == "patient"]
    query = outside_query(c.state, PACK, said)  # what names candidates beyond the pack
    assert "thrombocytosis" in query  # the number, put in words
    assert "tachycardia" not in query  # a normal value is not


def test_a_patient_without_results_is_not_asked_for_more():
    c = consult(config=_config(planner=PlannerConfig(max_questions=12)))
    steps = list(c.respond("I'm a 40-year-old man with weak legs and an itchy rash"))
    requests = []
    for _ in range(12):
        question = next(s for s in steps if isinstance(s, Question))
        if question.kind in ("exam", "test") and "beyond" in question.reason:
            requests.append(question.target)
        reply = "about a month" if question.target == "duration" else "No."
        if question.kind in ("exam", "test"):
            reply = "Not done, I'm at home."
        steps = list(c.respond(reply))
        if c.finished:
            break
    assert requests == ["exam:vital signs"]  # asked once, then the history only
    assert c.state.unavailable == ("exam:vital signs",)
