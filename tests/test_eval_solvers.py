"""Solvers: the agent under each policy and the two bounds, played against the simulated roles."""

from dataclasses import dataclass, field, replace

import pytest

from agent.consultation import Assessment, Question, Token
from agent.extract import PhraseTable
from agent.knowledge import default_pack
from agent.lm import ScriptedModel
from agent.resources import Resources
from training.cases import synthetic_cases
from training.evaluate import Roles, evaluate, summarise
from training.matching import DiagnosisMatcher, SynonymIndex
from training.patient import Measurement, SimulatedPatient
from training.solvers import AgentSolver, agent_config, full_information, make_solver


@pytest.fixture(scope="module")
def resources():
    pack = default_pack()
    return Resources(pack, PhraseTable.from_pack(pack))


@pytest.fixture(scope="module")
def cases(resources):
    return synthetic_cases(resources.pack, 4, seed=5)


def _roles(resources, case):
    return (
        SimulatedPatient(case, resources.pack, resources.table),
        Measurement(case, resources.pack),
    )


def test_planner_asks_within_its_budget_and_concludes(resources, cases):
    solver = make_solver("planner", resources, max_questions=3)
    for case in cases:
        episode = solver.solve(case, *_roles(resources, case))
        assert len(episode.questions) <= 3 and episode.differential
        roles = [t.role for t in episode.turns]
        assert roles[0] == "patient"
        for i, turn in enumerate(episode.turns[:-1]):
            if turn.role == "doctor" and turn in episode.questions:
                assert episode.turns[i + 1].role in ("patient", "measurement")
        assert len(episode.leading) == len(episode.questions) + 1


def test_bounds(resources, cases):
    case = cases[0]
    patient, desk = _roles(resources, case)
    upper = make_solver("upper", resources).solve(case, patient, desk)
    assert patient.coverage == 1.0 and not upper.questions and upper.differential
    patient, desk = _roles(resources, case)
    lower = make_solver("lower", resources).solve(case, patient, desk)
    assert not lower.questions and patient.revealed == set(case.opening_facts)
    messages = full_information(case)
    assert all(len(m) <= 1900 for m in messages) and messages[0].startswith(case.opening)


def test_model_policies_need_a_model(resources):
    with pytest.raises(ValueError, match="needs a language model"):
        make_solver("llm", resources)
    with pytest.raises(ValueError, match="unknown solver"):
        make_solver("oracle", resources)


def test_llm_policy_plays_against_the_patient(resources, cases):
    model = ScriptedModel(["Have you had a fever?", "CONCLUDE"])
    with_model = Resources(resources.pack, resources.table, model=model)
    case = cases[1]
    episode = make_solver("llm", with_model, max_questions=5).solve(case, *_roles(with_model, case))
    assert [q.text for q in episode.questions] == ["Have you had a fever?"]
    assert episode.turns[2].role == "patient" and episode.differential
    assert episode.questions[0].gain is not None and episode.questions[0].gain >= 0
    assert episode.premature is not None  # it concluded on its own after one question


def test_question_gains_and_premature_conclusions_are_judged_by_the_planner(resources, cases):
    planner = make_solver("planner", resources, max_questions=4)
    for case in cases:
        episode = planner.solve(case, *_roles(resources, case))
        gains = [q.gain for q in episode.questions if q.gain is not None]
        assert gains and all(g >= 0 for g in gains)
        assert episode.premature in (False, None)  # the planner never stops before itself
    quitter = ScriptedModel(["CONCLUDE"])  # concludes at once, before any question
    with_model = Resources(resources.pack, resources.table, model=quitter)
    case = cases[0]
    episode = make_solver("llm", with_model, max_questions=5).solve(case, *_roles(with_model, case))
    assert not episode.questions and episode.premature is True
    chatter = ScriptedModel(["What is your favourite colour?", "CONCLUDE"])
    with_model = Resources(resources.pack, resources.table, model=chatter)
    episode = make_solver("llm", with_model, max_questions=5).solve(case, *_roles(with_model, case))
    assert [q.gain for q in episode.questions] == [0.0]  # nothing the pack can weigh


@dataclass
class FakeConsultation:
    """Asks for a chest CT, then for fever, then concludes; streams a token on the way."""

    finished: bool = False
    heard: list[str] = field(default_factory=list)

    def respond(self, text):
        self.heard.append(text)
        if len(self.heard) == 1:
            yield Question("Can we do a chest CT?", "test:chest ct", "test", "why", (("A", 1.0),))
        elif len(self.heard) == 2:
            yield Question("Any fever?", "fever", "finding", "why", (("A", 1.0),))
        else:
            self.finished = True
            yield Token("draft")
            yield Assessment("text", (("A", 0.9), ("B", 0.1)), (), "within_days", "enough")


@dataclass
class FakeResources:
    made: list[FakeConsultation] = field(default_factory=list)

    def consultation(self, config):
        self.made.append(FakeConsultation())
        return self.made[-1]


def test_exam_and_test_requests_go_to_the_measurement_desk(resources, cases):
    case = cases[0]
    case = replace(case, tests={"Imaging / Chest CT": "Clear lungs."})
    fake = FakeResources()
    solver = AgentSolver("planner", fake, agent_config("planner", 5))
    episode = solver.solve(case, *_roles(resources, case))
    heard = fake.made[0].heard
    assert heard[1] == "Imaging / Chest CT: Clear lungs."
    assert [t.role for t in episode.turns][:5] == [
        "patient",
        "doctor",
        "measurement",
        "doctor",
        "patient",
    ]
    assert episode.differential == (("A", 0.9), ("B", 0.1)) and episode.ended == "enough"


def test_evaluate_scores_every_case(resources, cases):
    roles = Roles(resources.pack, resources.table, None)
    matcher = DiagnosisMatcher(SynonymIndex({}, {}))
    results = evaluate(cases, make_solver("planner", resources, 4), roles, matcher, 4, False)
    summary = summarise(results)
    assert summary["cases"] == len(cases) and summary["errors"] == 0
    assert 0 <= summary["top1_strict"] <= summary["top3_strict"] <= summary["top5_strict"]
    assert summary["top5_strict"] <= summary["top10_strict"] <= 1
    assert all(r.questions <= 4 and 0 < r.coverage <= 1 for r in results)
    assert summary["repeated_question_rate"] == 0.0
