"""The question planner: the next action is the question that would most change the
differential, or the conclusion when no question is worth asking.

``next_action(state, pack, config)`` is pure. Order of business: the question budget; the
confidence stop; the duration (it sets the onset every condition is weighed by); red-flag
findings of the leading conditions, screened early; when the condition is probably beyond the
pack, the story, the vital signs, the examination and tests a clinician would want and the
rest of the history (``survey_request``; none of the requests once the patient has said they
have had none); then the unasked finding, or exam or test by name, with the highest
expected information gain (bits) over the current posterior.
Every action carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.belief import (
    BeliefConfig,
    beyond_pack,
    build_model,
    expected_gains,
    log_scores,
    normalise,
)
from agent.investigations import (
    VITAL_SIGNS,
    InvestigationConfig,
    catalogue,
    investigation_gains,
    request_question,
    request_text,
)
from agent.knowledge import Pack
from agent.regions import examinations, system_tests, system_votes
from agent.state import ConsultationState

# What a clinician asks when the pack cannot name the condition (``survey_targets``).
SURVEY_ORDER = (
    "presenting_complaint",
    "vital_signs",
    "exam",
    "blood_tests",
    "associated_symptoms",
    "anything_else",
    "past_medical_history",
    "system_test",
    "exam_2",
    "medicines",
)


class PlannerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    belief: BeliefConfig = Field(default_factory=BeliefConfig)
    max_questions: int = Field(12, ge=0, le=100, description="Question budget.")
    min_questions: int = Field(3, ge=0, description="Questions before a confident stop.")
    confidence: float = Field(0.8, gt=0, le=1, description="Stop when the top condition has it.")
    min_gain: float = Field(0.03, ge=0, description="Stop when no question gains this (bits).")
    red_flag_questions: int = Field(2, ge=0, description="Red-flag screens asked early.")
    red_flag_min_probability: float = Field(0.05, ge=0, le=1)
    leading: int = Field(25, ge=1, description="Conditions whose findings are candidates.")
    allow_tests: bool = Field(True, description="Ask for exams and tests by name.")
    max_tests: int = Field(2, ge=0, description="Exams and tests asked for at most.")
    tests_after: int = Field(3, ge=0, description="Questions asked before any test.")
    investigations: InvestigationConfig = Field(default_factory=InvestigationConfig)
    ask_duration: bool = Field(True, description="Ask how long it has been going on.")
    beyond_survey: float = Field(
        0.5,
        ge=0,
        le=1,
        description="When the condition is at least this likely to be beyond the pack "
        "(``belief.beyond_pack``), take the rest of the history (the story, what else, "
        "anything else, past conditions, medicines), then ask for the examination of the body "
        "system the present findings and the complaint's words point to and for blood tests: "
        "the pack's questions cannot separate conditions it does "
        "not hold, and these answers name them for the wider index. 1 turns it off. On the "
        "odd-numbered half of the AgentClinic cases 0.5 took the planner's top-10 from 10 to "
        "12 of 54 and 0.7 left it at 10.",
    )
    confirm: bool = Field(
        True,
        description="Before concluding on a confident condition, ask for one of its confirming "
        "exams or tests when none has been asked (and tests are allowed): a clinician does not "
        "name a condition on the history alone when a test would show it.",
    )
    survey_requests: int = Field(8, ge=0, description="Such questions and requests at most.")
    survey_order: tuple[str, ...] = Field(
        SURVEY_ORDER,
        description="The survey's questions and requests in the order they are asked: history "
        "item ids, and the slots 'vital_signs', 'exam' (the examination of the body system "
        "the findings and words point to most), 'blood_tests', 'system_test' (that system's "
        "first-line test, where it has one) and 'exam_2' (the next system's examination).",
    )


@dataclass(frozen=True)
class Ask:
    target: str  # a finding id or a history item id
    kind: str  # "finding" | "red_flag" | "history" | "exam" | "test"
    question: str
    gain: float
    separates: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Conclude:
    reason: str
    top: tuple[tuple[str, float], ...]


Action = Ask | Conclude


def _top(names: tuple[str, ...], p: np.ndarray, n: int = 5) -> tuple[tuple[str, float], ...]:
    order = np.argsort(-p)[:n]
    return tuple((names[i], round(float(p[i]), 4)) for i in order)


def next_action(state: ConsultationState, pack: Pack, config: PlannerConfig) -> Action:
    model = build_model(pack, config.belief)
    scores = log_scores(state, pack, config.belief)
    p = normalise(scores)
    top = _top(model.conditions, p)
    asked = set(state.asked)
    questions = len(state.asked)
    if questions >= config.max_questions:
        return Conclude(f"question budget of {config.max_questions} reached", top)
    beyond = beyond_pack(state, pack, config.belief, scores)
    confident = top[0][1] * (1 - beyond)
    if confident >= config.confidence and questions >= config.min_questions:
        confirm = confirming_request(state, pack, config, top[0][0], p)
        if confirm is not None:
            return confirm
        return Conclude(
            f"{pack.conditions[top[0][0]].name} reached {confident:.0%} "
            f"(threshold {config.confidence:.0%})",
            top,
        )
    if config.ask_duration and state.duration_days is None and "duration" not in asked:
        item = pack.history["duration"]
        return Ask(
            "duration",
            "history",
            item.question,
            0.0,
            (),
            "how long it has lasted sets the onset each condition is weighed by",
        )
    known = set(state.observations) | asked
    leading = np.argsort(-p)[: config.leading]
    red_asked = sum(1 for t in state.asked if t.startswith("rf:"))
    if red_asked < config.red_flag_questions:
        candidates = {}
        for i in leading:
            if p[i] < config.red_flag_min_probability:
                continue
            for fid in pack.conditions[model.conditions[i]].red_flags:
                fits = pack.findings[fid].fits_age(state.age_group)
                if fits and fid not in known and f"rf:{fid}" not in asked:
                    candidates[fid] = candidates.get(fid, 0.0) + float(p[i])
        if candidates:
            fid = max(candidates, key=lambda f: candidates[f])
            names = [
                pack.conditions[model.conditions[i]].name
                for i in leading[:3]
                if fid in pack.conditions[model.conditions[i]].red_flags
            ]
            return Ask(
                f"rf:{fid}",
                "red_flag",
                pack.findings[fid].question,
                0.0,
                tuple(names),
                f"screening a warning sign of {', '.join(names) or 'the leading conditions'}",
            )
    survey = survey_request(state, pack, config, scores, beyond)
    if survey is not None:
        return survey
    ranked = ranked_asks(state, pack, config, p, n=1)
    test = best_investigation(state, pack, config, p)
    if test is not None and (not ranked or test.gain > ranked[0].gain):
        return test
    if not ranked:
        return Conclude("no unasked finding is left for the leading conditions", top)
    if ranked[0].gain < config.min_gain:
        return Conclude(
            f"no question gains {config.min_gain} bits (best {ranked[0].gain:.3f})", top
        )
    return ranked[0]


def question_gain(
    state: ConsultationState, pack: Pack, config: PlannerConfig, target: str
) -> float | None:
    """The expected information gain (bits) of asking about ``target`` in ``state``: 0 for a
    finding already known, None when the target is not a catalogue finding (a duration or
    history question, an exam or test, a question about nothing the pack knows)."""
    fid = target.removeprefix("rf:")
    model = build_model(pack, config.belief)
    if fid not in model.column:
        return None
    if fid in state.observations:
        return 0.0
    p = normalise(log_scores(state, pack, config.belief))
    gains, _ = expected_gains(p, model.likelihood[:, [model.column[fid]]])
    return float(gains[0])


def ranked_asks(
    state: ConsultationState,
    pack: Pack,
    config: PlannerConfig,
    p: np.ndarray | None = None,
    n: int = 3,
) -> list[Ask]:
    """The ``n`` unasked findings of the leading conditions with the highest expected gain."""
    model = build_model(pack, config.belief)
    if p is None:
        p = normalise(log_scores(state, pack, config.belief))
    asked = set(state.asked)
    known = set(state.observations) | asked
    leading = np.argsort(-p)[: config.leading]
    allowed = ("symptom", "sign", "risk_factor", "history")  # results come by test name
    cols = sorted(
        {
            model.column[f.id]
            for i in leading
            for f in pack.conditions[model.conditions[i]].findings
            if f.id not in known
            and f"rf:{f.id}" not in asked
            and pack.findings[f.id].kind in allowed
            and pack.findings[f.id].fits_age(state.age_group)
        }
    )
    if not cols:
        return []
    lik = model.likelihood[:, cols]
    gains, yes = expected_gains(p, lik)
    out = []
    for best in np.argsort(-gains)[:n]:
        fid = model.findings[cols[best]]
        post_yes = p * lik[:, best] / max(yes[best], 1e-12)
        post_no = p * (1 - lik[:, best]) / max(1 - yes[best], 1e-12)
        up = model.conditions[int(np.argmax(post_yes - p))]
        down = model.conditions[int(np.argmax(post_no - p))]
        separates = tuple(dict.fromkeys(pack.conditions[c].name for c in (up, down)))
        finding = pack.findings[fid]
        out.append(
            Ask(
                fid,
                "finding",
                finding.question,
                float(gains[best]),
                separates,
                f"gains {gains[best]:.2f} bits; separates {' from '.join(separates)}",
            )
        )
    return out


def investigations_done(state: ConsultationState) -> set[str]:
    """The investigations asked for or reported already, by canonical name."""
    asked = {t.split(":", 1)[1] for t in state.asked if t.startswith(("exam:", "test:"))}
    return asked | set(state.results)


def best_investigation(
    state: ConsultationState, pack: Pack, config: PlannerConfig, p: np.ndarray
) -> Ask | None:
    """The exam or test whose result would most change the differential, if one may be asked
    now: tests allowed, enough history taken first, and the test budget not spent."""
    asked_tests = [t for t in state.asked if t.startswith(("exam:", "test:"))]
    if (
        not config.allow_tests
        or len(state.asked) < config.tests_after
        or len(asked_tests) >= config.max_tests
    ):
        return None
    cat = catalogue(pack)
    done = investigations_done(state)
    gains = investigation_gains(p, cat, config.investigations)
    for j in np.argsort(-gains):
        inv = cat.investigations[j]
        if inv.key in done:
            continue
        holders = [c for c in np.argsort(-p)[:5] if cat.has[c, j]]
        names = tuple(pack.conditions[cat.conditions[c]].name for c in holders[:3])
        return Ask(
            f"{inv.kind}:{inv.key}",
            inv.kind,
            request_question(inv),
            float(gains[j]),
            names,
            f"the {inv.name} gains {gains[j]:.2f} bits; it would confirm or weaken "
            f"{', '.join(names) or 'the leading conditions'}",
        )
    return None


def confirming_request(
    state: ConsultationState, pack: Pack, config: PlannerConfig, leader: str, p: np.ndarray
) -> Ask | None:
    """The leading condition's confirming exam or test with the highest expected gain, when
    none of them has been asked yet, or None (confirmation off, tests not allowed, or the
    condition has none)."""
    if not (config.confirm and config.allow_tests):
        return None
    cat = catalogue(pack)
    own = np.flatnonzero(cat.has[cat.conditions.index(leader)])
    done = investigations_done(state)
    if not len(own) or any(cat.investigations[j].key in done for j in own):
        return None
    gains = investigation_gains(p, cat, config.investigations)
    j = int(max(own, key=lambda k: gains[k]))
    inv = cat.investigations[j]
    name = pack.conditions[leader].name
    return Ask(
        f"{inv.kind}:{inv.key}",
        inv.kind,
        request_question(inv),
        float(gains[j]),
        (name,),
        f"{name} leads; the {inv.name} would confirm or weaken it before concluding",
    )


# The examination that looks at a body system (the findings catalogue's ``system``).
SYSTEM_EXAMS = examinations()
SYSTEM_TESTS = system_tests()  # a system's first-line test, where it has one
GENERAL_EXAM = "general examination"
SURVEY_OPEN = ("presenting_complaint", "associated_symptoms", "anything_else")  # the story
SURVEY_HISTORY = (*SURVEY_OPEN, "past_medical_history", "medicines")
BASIC_TESTS = "blood tests"
# Every target the survey may ask, whatever the findings' systems.
SURVEY_TARGETS = frozenset(
    {
        *SURVEY_HISTORY,
        *(f"exam:{e}" for e in (*SYSTEM_EXAMS.values(), GENERAL_EXAM)),
        f"test:{BASIC_TESTS}",
        f"exam:{VITAL_SIGNS}",
        *(f"test:{t}" for t in SYSTEM_TESTS.values()),
    }
)


def survey_targets(
    state: ConsultationState, pack: Pack, order: tuple[str, ...] = SURVEY_ORDER
) -> list[str]:
    """What a clinician asks when the pack cannot name the condition, in the config's order
    (``PlannerConfig.survey_order``): the open history questions, the vital signs, the
    examination of the body system the present findings and the words of the complaint and of
    the open answers point to most (``system_votes``; a general one when none points
    anywhere), blood tests, that system's first-line test (``system_tests``) and the next
    system's examination. Measurements come early by default: a number or an examination
    finding often names what the story cannot."""
    said = [state.chief_complaint, *(state.history.get(h, "") for h in SURVEY_OPEN)]
    counts = system_votes(" ".join(said))
    for fid in sorted(state.present):
        finding = pack.findings.get(fid)
        if finding is not None and finding.system in SYSTEM_EXAMS:
            counts[finding.system] = counts.get(finding.system, 0) + 1
    systems = sorted(counts, key=lambda s: -counts[s])
    exams = [SYSTEM_EXAMS[s] for s in systems] or [GENERAL_EXAM]
    test = SYSTEM_TESTS.get(systems[0]) if systems else None
    slots = {
        "vital_signs": f"exam:{VITAL_SIGNS}",
        "exam": f"exam:{exams[0]}",
        "blood_tests": f"test:{BASIC_TESTS}",
        "system_test": f"test:{test}" if test else None,
        "exam_2": f"exam:{exams[1]}" if len(exams) > 1 else None,
    }
    targets = [slots.get(item, item) for item in order]
    return [t for t in targets if t is not None and (":" in t or t in pack.history)]


def survey_request(
    state: ConsultationState,
    pack: Pack,
    config: PlannerConfig,
    scores: np.ndarray | None = None,
    beyond: float | None = None,
) -> Ask | None:
    """A history question, examination or test to ask for because the condition is probably
    beyond the pack, or None: too early, the survey spent, or the pack explains enough.
    Examinations and tests only when they are allowed. ``scores`` and ``beyond``: the state's
    ``log_scores`` and ``beyond_pack``, when the caller has them already."""
    if len(state.asked) < config.tests_after:
        return None
    asked = set(state.asked) | {f"test:{k}" for k in state.results}
    done = sum(1 for t in asked if t in SURVEY_TARGETS)
    targets = [t for t in survey_targets(state, pack, config.survey_order) if t not in asked]
    if not config.allow_tests or any(t in SURVEY_TARGETS for t in state.unavailable):
        # the patient had none of those already asked for: ask for no more of them
        targets = [t for t in targets if not t.startswith(("exam:", "test:"))]
    if done >= config.survey_requests or not targets:
        return None
    if beyond is None:
        beyond = beyond_pack(state, pack, config.belief, scores)
    if beyond < config.beyond_survey:
        return None
    target = targets[0]
    why = f"the condition is {beyond:.0%} likely to be beyond the knowledge pack"
    if target in pack.history:
        item = pack.history[target]
        return Ask(
            target,
            "history",
            item.question,
            0.0,
            (),
            f"{why}; the answer ({item.name.lower()}) can point where the pack's questions cannot",
        )
    kind, name = target.split(":", 1)
    question = request_text(kind, name)
    return Ask(target, kind, question, 0.0, (), f"{why}; the {name} can name what the pack cannot")
