"""Belief and planner: pure functions of the state, tested without a model."""

import re
from dataclasses import replace

import numpy as np

from agent.belief import BeliefConfig, beyond_pack, entropy, onset_category, posterior
from agent.knowledge import default_pack
from agent.planner import (
    SURVEY_HISTORY,
    Ask,
    Conclude,
    PlannerConfig,
    expected_gains,
    next_action,
    survey_request,
)
from agent.state import ConsultationState, Observation

PACK = default_pack()
CFG = PlannerConfig()


def state_with(present=(), absent=(), **kw):
    obs = {f: Observation(f, True, f, 0) for f in present}
    obs |= {f: Observation(f, False, f, 0) for f in absent}
    return ConsultationState(observations=obs, **kw)


def test_findings_move_the_posterior_the_right_way():
    base = posterior(state_with(["dysuria"]), PACK, BeliefConfig())
    more = posterior(
        state_with(["dysuria", "urinary_frequency", "urinary_urgency"]), PACK, BeliefConfig()
    )
    cystitis = next(c for c in PACK.conditions if c.endswith("_cystitis") and "chole" not in c)
    assert more[cystitis] > base[cystitis]
    assert list(more)[0] == cystitis


def test_denied_findings_count_against():
    with_fever = posterior(state_with(["dysuria", "flank_pain", "fever"]), PACK, BeliefConfig())
    without = posterior(state_with(["dysuria", "flank_pain"], ["fever"]), PACK, BeliefConfig())
    pyelo = next(c for c in PACK.conditions if "pyelonephritis" in c)
    assert without[pyelo] < with_fever[pyelo]


def test_demographics_exclude_impossible_conditions():
    male = posterior(
        state_with(["pelvic_pain", "vaginal_bleeding"], sex="male"), PACK, BeliefConfig()
    )
    assert PACK.conditions[list(male)[0]].demographics.sex != "female"


def test_onset_categories():
    assert onset_category(0.1, True) == "sudden"
    assert onset_category(3, False) == "acute"
    assert onset_category(90, False) == "chronic"
    assert onset_category(None, False) is None


def test_information_gain_prefers_the_discriminating_question():
    p = np.array([0.5, 0.5])
    lik = np.array([[0.9, 0.5], [0.1, 0.5]])  # finding 0 separates, finding 1 does not
    gains, yes = expected_gains(p, lik)
    assert gains[0] > 0.5 and abs(gains[1]) < 1e-9
    assert yes[0] == 0.5 and entropy(p) == 1.0


def test_first_question_is_duration_then_findings_never_repeated():
    state = state_with(["cough"])
    first = next_action(state, PACK, CFG)
    assert isinstance(first, Ask) and first.target == "duration"
    state = state.__class__(**{**state.__dict__, "duration_days": 3, "asked": ("duration",)})
    seen = set(state.asked)
    for _ in range(6):
        action = next_action(state, PACK, CFG)
        if isinstance(action, Conclude):
            break
        assert action.target not in seen and action.reason
        seen.add(action.target)
        state = state.with_question(action.target)


def test_red_flags_of_leading_conditions_are_screened_early():
    state = state_with(["headache", "fever"], duration_days=1, asked=("duration",))
    action = next_action(state, PACK, CFG)
    assert isinstance(action, Ask) and action.kind == "red_flag"
    assert action.target.removeprefix("rf:") in {
        f for c in PACK.conditions.values() for f in c.red_flags
    }


def test_stops_at_the_budget_and_when_confident():
    state = state_with(["cough"], duration_days=2, asked=tuple(f"q{i}" for i in range(12)))
    assert isinstance(next_action(state, PACK, CFG), Conclude)
    sure = PlannerConfig(confidence=0.01, min_questions=0, confirm=False)
    assert "reached" in next_action(state_with(["cough"], duration_days=2), PACK, sure).reason


def test_beyond_the_pack_grows_with_what_no_condition_explains():
    config = BeliefConfig()
    # One finding alone says nothing about where the condition is: the prior comes back.
    assert abs(beyond_pack(state_with(["dysuria"]), PACK, config) - config.beyond_prior) < 1e-9
    coherent = state_with(["dysuria", "urinary_frequency", "urinary_urgency"])
    scattered = state_with(["double_vision", "dysuria", "rash", "joint_pain"])
    assert beyond_pack(coherent, PACK, config) < 0.1
    assert beyond_pack(scattered, PACK, config) > config.beyond_prior
    # Denying what the leading conditions list moves probability beyond the pack.
    cystitis = [
        f.id
        for c in PACK.conditions.values()
        if c.name == "Uncomplicated cystitis"
        for f in c.findings
        if f.id != "dysuria"
    ]
    denied = state_with(["dysuria"], cystitis)
    assert beyond_pack(denied, PACK, config) > config.beyond_prior
    assert beyond_pack(coherent, PACK, BeliefConfig(beyond_prior=0)) == 0.0


def test_survey_takes_the_story_and_the_measurements_when_beyond_the_pack():
    asked = ("duration", "q1", "q2")
    scattered = state_with(
        ["leg_weakness", "fatigable_weakness", "rash"], duration_days=30, asked=asked
    )
    expected = [
        "presenting_complaint",
        "exam:vital signs",
        "exam:neurological examination",  # the system most present findings belong to
        "test:blood tests",
        "associated_symptoms",
        "anything_else",
        "past_medical_history",
        "test:brain MRI",  # the neurological system's first-line test
    ]
    state = scattered
    for target in expected:
        action = survey_request(state, PACK, CFG)
        assert isinstance(action, Ask) and action.target == target and "beyond" in action.reason
        assert action.kind == ("history" if ":" not in target else target.split(":")[0])
        assert action.question.endswith("?")
        state = state.with_question(action.target)
    assert survey_request(state, PACK, CFG) is None  # spent
    more = PlannerConfig(survey_requests=10)
    tail = []
    while (action := survey_request(state, PACK, more)) is not None:
        tail.append(action.target)
        state = state.with_question(action.target)
    assert tail == ["exam:skin examination", "medicines"]  # the next system, then medicines
    assert survey_request(scattered, PACK, PlannerConfig(beyond_survey=1.0)) is None
    no_tests = PlannerConfig(allow_tests=False)
    history = [t for t in expected if ":" not in t]
    history_only = scattered
    for target in history:
        action = survey_request(history_only, PACK, no_tests)
        assert action is not None and action.target == target
        history_only = history_only.with_question(target)
    early = state_with(["leg_weakness", "fatigable_weakness", "rash"], duration_days=30)
    assert survey_request(early, PACK, CFG) is None  # the complaint's own questions first
    coherent = state_with(
        ["dysuria", "urinary_frequency", "urinary_urgency"], duration_days=2, asked=asked
    )
    assert survey_request(coherent, PACK, CFG) is None  # the pack explains it
    reordered = PlannerConfig(survey_order=("blood_tests", "medicines", "exam"))
    action = survey_request(scattered, PACK, reordered)
    assert action is not None and action.target == "test:blood tests"


def test_no_more_exams_or_tests_are_asked_for_once_the_patient_has_none():
    asked = ("duration", "q1", "q2", "presenting_complaint", "exam:vital signs")
    state = state_with(
        ["leg_weakness", "fatigable_weakness", "rash"], duration_days=30, asked=asked
    )
    action = survey_request(state, PACK, CFG)
    assert action is not None and action.target == "exam:neurological examination"
    # The patient at home has not had their vital signs taken: the rest of the survey is the
    # history, not requests for examinations and tests they cannot report.
    declined = state.with_unavailable("exam:vital signs")
    targets = []
    while (action := survey_request(declined, PACK, CFG)) is not None:
        targets.append(action.target)
        declined = declined.with_question(action.target)
    assert targets and all(":" not in t for t in targets)


def test_the_survey_examines_what_the_complaint_names_when_no_finding_was_matched():
    asked = ("duration", "q1", "q2")
    lesion = ConsultationState(
        chief_complaint="I'm a 63-year-old man. My main problem is a skin lesion on the chest.",
        duration_days=60,
        asked=asked + SURVEY_HISTORY + ("exam:vital signs",),
    )
    config = PlannerConfig(beyond_survey=0.0, survey_requests=20)  # survey whatever the odds
    action = survey_request(lesion, PACK, config)
    assert isinstance(action, Ask) and action.target == "exam:skin examination"
    vague = ConsultationState(chief_complaint="I feel off", duration_days=60, asked=lesion.asked)
    action = survey_request(vague, PACK, config)
    assert isinstance(action, Ask) and action.target == "exam:general examination"
    # What else is going on counts too: a belly that has swollen up asks for the abdomen.
    told = vague.with_history("associated_symptoms", "Her belly has swollen up.")
    action = survey_request(told, PACK, config)
    assert isinstance(action, Ask) and action.target == "exam:abdominal examination"


def test_confidence_is_shared_with_what_lies_beyond_the_pack():
    asked = ("a", "b", "c")
    scattered = state_with(
        ["double_vision", "dysuria", "rash", "joint_pain"], duration_days=30, asked=asked
    )
    beyond = beyond_pack(scattered, PACK, CFG.belief)
    top = max(posterior(scattered, PACK, CFG.belief).values())
    assert beyond > 0.5
    # The leader clears the threshold among the pack's conditions, but not once the chance
    # that the condition is none of them is counted.
    threshold = PlannerConfig(confidence=top - 0.01, confirm=False, beyond_survey=1.0)
    assert top * (1 - beyond) < threshold.confidence
    assert not isinstance(next_action(scattered, PACK, threshold), Conclude)
    lower = PlannerConfig(confidence=top * (1 - beyond) - 0.01, confirm=False)
    assert isinstance(next_action(scattered, PACK, lower), Conclude)


def test_a_confident_leader_is_confirmed_by_a_test_before_concluding():
    cystitis = state_with(
        ["dysuria", "urinary_frequency", "urinary_urgency"], duration_days=2, asked=("a", "b", "c")
    )
    config = PlannerConfig(confidence=0.5)
    action = next_action(cystitis, PACK, config)
    assert isinstance(action, Ask) and action.kind in ("exam", "test")
    assert "before concluding" in action.reason
    leader = next(c for c in PACK.conditions.values() if c.name == action.separates[0])
    assert action.target.split(":", 1)[1] in {
        " ".join(re.sub(r"\(.*?\)", " ", t.name.lower()).replace("-", " ").split())
        for t in leader.tests
    }
    # Asked once (whatever the answer), the conclusion follows; with tests off it comes at once.
    assert isinstance(next_action(cystitis.with_question(action.target), PACK, config), Conclude)
    no_tests = PlannerConfig(confidence=0.5, allow_tests=False)
    assert isinstance(next_action(cystitis, PACK, no_tests), Conclude)


def test_every_question_the_planner_can_ask_is_a_question():
    from agent.investigations import catalogue, request_question

    texts = [h.question for h in PACK.history.values()]
    texts += [request_question(inv) for inv in catalogue(PACK).investigations]
    assert all(t.strip().endswith("?") for t in texts)
    from agent.investigations import request_text

    assert request_text("test", "ECG").startswith("Have you had an ECG,")
    assert request_text("test", "urinalysis").startswith("Have you had a urinalysis,")
    plural = request_text("test", "Skin scrapings for microscopy")
    assert plural.startswith("Have you had skin scrapings for") and "did they show" in plural


def _asked_over(state, turns=12):
    """The targets the planner asks over ``turns`` turns, every answer a denial."""
    targets = []
    for _ in range(turns):
        action = next_action(state, PACK, CFG)
        if not isinstance(action, Ask):
            break
        targets.append(action.target)
        fid = action.target.removeprefix("rf:")
        obs = dict(state.observations)
        if fid in PACK.findings:
            obs[fid] = Observation(fid, False, "no", len(targets))
        state = replace(state, asked=(*state.asked, action.target), observations=obs)
    return targets


def test_questions_to_a_parent_about_a_child_are_not_asked_about_an_adult():
    child_only = {f.id for f in PACK.findings.values() if f.ages}
    assert {"failure_to_thrive", "bulging_fontanelle"} <= child_only
    assert all(re.search(r"\byour (child|baby)\b", PACK.findings[f].question) for f in child_only)
    present = ["fatigue", "weight_loss"]  # without the rule, a 71-year-old was asked about growth
    adult = _asked_over(state_with(present, age_years=71))
    child = _asked_over(state_with(present, age_years=3))
    assert not {t.removeprefix("rf:") for t in adult} & child_only
    assert {t.removeprefix("rf:") for t in child} & child_only  # the same story in a child
