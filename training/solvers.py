"""Doctor solvers for an evaluation: the agent in each policy mode, and the two bounds.

``make_solver(name, resources, ...)`` gives ``planner``, ``hybrid`` or ``llm`` (the agent asks,
the simulated roles answer) or ``upper`` (everything the case holds in one go, then conclude)
or ``lower`` (the opening statement, then conclude). ``solver.solve(case, patient, measurement)``
plays one consultation and returns an ``Episode``: the transcript and what the agent concluded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

from agent.consultation import AgentConfig, Assessment, Escalation, Notice, Question, Retrieval
from agent.planner import Ask, PlannerConfig, next_action, question_gain
from agent.resources import Resources
from training.cases import Case
from training.patient import Measurement, SimulatedPatient

AGENT_SOLVERS = ("planner", "hybrid", "llm")
BOUNDS = ("upper", "lower")
SOLVERS = AGENT_SOLVERS + BOUNDS
MEASURED = ("exam", "test")
MESSAGE_CHARS = 1900  # the agent reads 2000 characters of a message


@dataclass(frozen=True)
class Turn:
    role: str  # patient | doctor | measurement | agent
    text: str
    kind: str = ""  # the question's kind, or the step's type
    target: str = ""
    reason: str = ""
    rule: str = ""  # how the answer was chosen
    facts: tuple[int, ...] = ()
    results: tuple[str, ...] = ()
    gain: float | None = None  # a question's expected information gain when it was asked


@dataclass
class Episode:
    """One consultation as played: turns, the questions, and the agent's conclusion."""

    turns: list[Turn] = field(default_factory=list)
    questions: list[Turn] = field(default_factory=list)
    # the leading condition at each question, then at the conclusion: after k answers
    leading: list[str] = field(default_factory=list)
    differential: tuple[tuple[str, float], ...] = ()
    escalated: bool = False
    urgency: str | None = None
    ended: str = ""
    # the agent concluded on its own while the planner would still have asked (None: n/a)
    premature: bool | None = None


class Solver(Protocol):
    name: str

    def solve(self, case: Case, patient: SimulatedPatient, measurement: Measurement) -> Episode: ...


def _record(
    episode: Episode,
    steps: Iterable[object],
    consultation,  # noqa: ANN001 - a Consultation
    ask: bool = True,
) -> Question | None:
    """Log the steps of one agent turn; return the question asked, if any. With ``ask`` the
    question counts as one the agent asked of the case (not so in the bounds)."""
    asked = None
    for step in steps:
        if isinstance(step, Question):
            turn = Turn("doctor", step.text, step.kind, step.target, step.reason)
            episode.turns.append(turn)
            if ask:
                episode.questions.append(turn)
                if step.differential:
                    episode.leading.append(step.differential[0][0])
            asked = step
        elif isinstance(step, Assessment):
            episode.differential = tuple(step.differential)
            episode.urgency = step.urgency
            episode.ended = step.reason
            episode.turns.append(Turn("agent", step.text, "assessment", reason=step.reason))
        elif isinstance(step, Escalation):
            episode.escalated = True
            episode.urgency = "emergency"
            episode.ended = f"escalated: {step.reason}"
            differential = getattr(consultation, "full_differential", None)
            if callable(differential):  # what it would conclude now, scored like a conclusion
                episode.differential = differential()
            episode.turns.append(Turn("agent", step.advice, "escalation", reason=step.reason))
        elif isinstance(step, Retrieval):
            episode.turns.append(Turn("agent", step.query, "retrieval", reason=step.reason))
        elif isinstance(step, Notice):
            episode.turns.append(Turn("agent", step.text, "notice", reason=step.reason))
        # Token steps (text being generated) and anything else are not part of the record
    return asked


def _finish(episode: Episode, consultation, reason: str) -> Episode:  # noqa: ANN001
    if not consultation.finished:
        _record(episode, consultation.conclude(reason), consultation)
    if episode.differential:
        episode.leading.append(episode.differential[0][0])
    return episode


@dataclass
class AgentSolver:
    """The agent takes the history; the patient and measurement roles answer it."""

    name: str
    resources: Resources
    config: AgentConfig

    def solve(self, case: Case, patient: SimulatedPatient, measurement: Measurement) -> Episode:
        consultation = self.resources.consultation(self.config)
        episode = Episode()
        message = case.opening
        episode.turns.append(Turn("patient", message, "opening", facts=case.opening_facts))
        cap = self.config.planner.max_questions + 5
        for _ in range(cap + 1):
            question = _record(episode, consultation.respond(message), consultation)
            if consultation.finished:
                episode.premature = self._premature(consultation, episode)
                return _finish(episode, consultation, "")
            if question is None:
                break
            self._score_question(episode, getattr(consultation, "state", None), question)
            if len(episode.questions) > cap:
                return _finish(episode, consultation, f"evaluation cap of {cap} questions")
            kind = "exam" if question.target.startswith("exam:") else question.kind
            kind = "test" if question.target.startswith("test:") else kind
            if kind in MEASURED:
                reply = measurement.answer(question.text, question.target, kind)
                role = "measurement"
            else:
                reply = patient.answer(question.text, question.target, question.kind)
                role = "patient"
            episode.turns.append(
                Turn(role, reply.text, rule=reply.rule, facts=reply.facts, results=reply.results)
            )
            message = reply.text
        return _finish(episode, consultation, "the agent asked nothing more")

    def _score_question(self, episode: Episode, state, question: Question) -> None:  # noqa: ANN001
        """Note the asked question's expected gain over the belief it was asked in (``state``
        holds what was known when it was asked; a free question the pack cannot weigh gains 0)."""
        if state is None or not episode.questions or question.kind in ("history", *MEASURED):
            return
        if question.target.startswith(("exam:", "test:")) or question.target == "duration":
            return
        gain = question_gain(state, self.resources.pack, self.config.planner, question.target)
        if gain is None and question.kind == "llm":
            gain = 0.0  # a free question about nothing the pack can weigh
        episode.questions[-1] = replace(episode.questions[-1], gain=gain)

    def _premature(self, consultation, episode: Episode) -> bool | None:  # noqa: ANN001
        """An assessment the agent chose while the planner, in the same state, would still
        have asked something worth its cost; None for an escalation or a spent budget."""
        if episode.escalated or "budget" in episode.ended or not hasattr(consultation, "state"):
            return None
        action = next_action(consultation.state, self.resources.pack, self.config.planner)
        return isinstance(action, Ask)


def full_information(case: Case) -> list[str]:
    """Everything a case holds as patient messages of at most ``MESSAGE_CHARS`` characters:
    the opening, every other fact, then every exam finding and test result."""
    parts = [case.opening]
    parts += [f.text for i, f in enumerate(case.facts) if i not in case.opening_facts]
    parts += [f"Examination, {k}: {v.rstrip('.')}." for k, v in case.exams.items()]
    parts += [f"Test, {k}: {v.rstrip('.')}." for k, v in case.tests.items()]
    messages, current = [], ""
    for part in parts:
        part = part[:MESSAGE_CHARS]
        if current and len(current) + 1 + len(part) > MESSAGE_CHARS:
            messages.append(current)
            current = part
        else:
            current = f"{current} {part}".strip()
    return [*messages, current] if current else messages


@dataclass
class UpperBound:
    """All patient facts and all exam and test results at once, then conclude. When they do
    not fit one message they go in several; the agent may read a later one as the answer to
    the question it asked in between."""

    resources: Resources
    config: AgentConfig
    name: str = "upper"

    def solve(self, case: Case, patient: SimulatedPatient, measurement: Measurement) -> Episode:
        consultation = self.resources.consultation(self.config)
        episode = Episode()
        for n, message in enumerate(full_information(case)):
            episode.turns.append(Turn("patient", message, "opening" if n == 0 else "statement"))
            _record(episode, consultation.respond(message), consultation, ask=False)
            if consultation.finished:
                break
        patient.revealed.update(range(len(case.facts)))
        measurement.given.update([*case.exams, *case.tests])
        return _finish(episode, consultation, "upper bound: all information given")


@dataclass
class LowerBound:
    """The opening statement, then conclude: no questions."""

    resources: Resources
    config: AgentConfig
    name: str = "lower"

    def solve(self, case: Case, patient: SimulatedPatient, measurement: Measurement) -> Episode:
        consultation = self.resources.consultation(self.config)
        episode = Episode()
        episode.turns.append(Turn("patient", case.opening, "opening", facts=case.opening_facts))
        _record(episode, consultation.respond(case.opening), consultation, ask=False)
        return _finish(episode, consultation, "lower bound: no questions")


def agent_config(
    policy: str,
    max_questions: int,
    phrase_questions: bool = False,
    allow_tests: bool | None = None,
) -> AgentConfig:
    """The agent's config for an evaluation: its defaults but for the budget. Phrasing is off
    by default: it rewords the planner's question without changing which question is asked.
    The assessment's model summary is kept short because it is not scored. ``allow_tests``
    None keeps the planner's own default for asking for exams and tests."""
    tests = {} if allow_tests is None else {"allow_tests": allow_tests}
    return AgentConfig(
        policy=policy if policy in AGENT_SOLVERS else "planner",
        planner=PlannerConfig(max_questions=max_questions, **tests),
        phrase_questions=phrase_questions,
        assessment_tokens=16,
    )


def make_solver(
    name: str,
    resources: Resources,
    max_questions: int = 12,
    phrase_questions: bool = False,
    allow_tests: bool | None = None,
) -> Solver:
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)}")
    if name in ("hybrid", "llm") and resources.model is None:
        raise ValueError(f"the {name} solver needs a language model (drop --no-model)")
    config = agent_config(name, max_questions, phrase_questions, allow_tests)
    if name == "upper":
        return UpperBound(resources, config)
    if name == "lower":
        return LowerBound(resources, config)
    return AgentSolver(name, resources, config)
