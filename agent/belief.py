"""The differential: a posterior over the pack's conditions given what the patient said.

Naive-Bayes over findings: each condition's prior band, times for every finding present its
frequency in the condition (a small leak when the condition does not list it, less when the
condition lists it as arguing against), times for every finding denied one minus that, times
demographic and onset fit, times what reported exam and test results say. ``beyond_pack``
weighs the pack as a whole against a condition it does not hold.
Pure functions of (state, pack, config); no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.knowledge import Pack
from agent.state import ConsultationState


class BeliefConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    leak: float = Field(0.02, gt=0, lt=0.5, description="P(finding) when a condition omits it.")
    against: float = Field(0.005, gt=0, lt=0.5, description="P(finding) when it argues against.")
    age_mismatch: float = Field(0.05, ge=0, le=1, description="Weight outside the age groups.")
    sex_mismatch: float = Field(0.001, ge=0, le=1, description="Weight for the other sex.")
    onset_mismatch: float = Field(0.2, ge=0, le=1, description="Weight for a different onset.")
    beyond_prior: float = Field(
        0.5,
        ge=0,
        lt=1,
        description="Prior probability that the patient's condition is none of the pack's "
        "(see ``beyond_pack``). 0.3, 0.5 and 0.7 put 6, 7 and 6 of the odd-numbered half of "
        "the AgentClinic cases first (before the survey beyond the pack existed).",
    )
    beyond_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="P(finding present) under a condition beyond the pack, the same for every "
        "finding; None: each finding's average over the pack's conditions (weighted by "
        "prior), so that one finding alone says nothing about where the condition is.",
    )


_ONSETS = ("sudden", "acute", "subacute", "chronic")


def onset_category(duration_days: float | None, sudden: bool) -> str | None:
    if duration_days is None:
        return "sudden" if sudden else None
    if sudden and duration_days <= 2:
        return "sudden"
    if duration_days <= 10:
        return "acute"
    if duration_days <= 42:
        return "subacute"
    return "chronic"


@dataclass(frozen=True)
class Model:
    """The pack as arrays: conditions x findings likelihoods, and log priors."""

    conditions: tuple[str, ...]
    findings: tuple[str, ...]
    likelihood: np.ndarray  # [conditions, findings] P(finding present | condition)
    log_prior: np.ndarray
    column: dict[str, int]
    background: np.ndarray  # [findings] P(finding present) averaged over conditions by prior


_MODELS: dict[tuple[int, BeliefConfig], tuple[Pack, Model]] = {}


def build_model(pack: Pack, config: BeliefConfig) -> Model:
    """The arrays for a pack, built once per (pack, config)."""
    key = (id(pack), config)
    if key in _MODELS and _MODELS[key][0] is pack:
        return _MODELS[key][1]
    model = _build_model(pack, config)
    _MODELS[key] = (pack, model)
    return model


def _build_model(pack: Pack, config: BeliefConfig) -> Model:
    conditions = tuple(pack.conditions)
    findings = tuple(pack.findings)
    column = {f: j for j, f in enumerate(findings)}
    lik = np.full((len(conditions), len(findings)), config.leak, dtype=np.float64)
    for i, cid in enumerate(conditions):
        c = pack.conditions[cid]
        for f in c.against:
            lik[i, column[f]] = config.against
        for cf in c.findings:
            lik[i, column[cf.id]] = cf.frequency.probability
    weights = np.array([pack.conditions[c].prior.weight for c in conditions], dtype=np.float64)
    background = (weights / weights.sum()) @ lik
    return Model(conditions, findings, lik, np.log(weights), column, background)


def log_scores(state: ConsultationState, pack: Pack, config: BeliefConfig) -> np.ndarray:
    model = build_model(pack, config)
    scores = model.log_prior.copy()
    present = [model.column[f] for f in state.present if f in model.column]
    absent = [model.column[f] for f in state.absent if f in model.column]
    if present:
        scores += np.log(model.likelihood[:, present]).sum(axis=1)
    if absent:
        scores += np.log1p(-model.likelihood[:, absent]).sum(axis=1)
    for result in state.results.values():
        scores += np.array(
            [result.log_likelihood.get(c, result.otherwise) for c in model.conditions]
        )
    group, onset = state.age_group, onset_category(state.duration_days, state.sudden)
    for i, cid in enumerate(model.conditions):
        demo = pack.conditions[cid].demographics
        if group and group not in demo.ages:
            scores[i] += math.log(max(config.age_mismatch, 1e-12))
        if state.sex and demo.sex != "any" and demo.sex != state.sex:
            scores[i] += math.log(max(config.sex_mismatch, 1e-12))
        c_onset = pack.conditions[cid].onset
        if onset and c_onset in _ONSETS:
            distance = abs(_ONSETS.index(c_onset) - _ONSETS.index(onset))
            scores[i] += distance * math.log(config.onset_mismatch)
    return scores


def normalise(log_scores_: np.ndarray) -> np.ndarray:
    p = np.exp(log_scores_ - log_scores_.max())
    return p / p.sum()


def posterior(state: ConsultationState, pack: Pack, config: BeliefConfig) -> dict[str, float]:
    """Condition id -> probability, over the pack, best first."""
    model = build_model(pack, config)
    p = normalise(log_scores(state, pack, config))
    order = np.argsort(-p)
    return {model.conditions[i]: float(p[i]) for i in order}


def beyond_pack(
    state: ConsultationState,
    pack: Pack,
    config: BeliefConfig,
    scores: np.ndarray | None = None,
) -> float:
    """P(the condition is none of the pack's | what is known): the pack's conditions (their
    priors normalised, each weighed as in ``log_scores``) against one condition beyond the
    pack that no age, sex or onset rules out and whose findings each have their average rate
    over the pack (or ``beyond_rate``), independently. One finding alone leaves the prior
    (``beyond_prior``) unchanged; findings that no single condition lists together, listed
    findings denied, and results none of them expects move probability beyond the pack.
    ``scores``: ``log_scores`` of the same state, when the caller has them already."""
    if config.beyond_prior <= 0:
        return 0.0
    model = build_model(pack, config)
    scores = log_scores(state, pack, config) if scores is None else scores
    log_priors = model.log_prior - np.logaddexp.reduce(model.log_prior)
    inside = math.log1p(-config.beyond_prior) + float(
        np.logaddexp.reduce(scores - model.log_prior + log_priors)
    )
    rate = (
        model.background
        if config.beyond_rate is None
        else np.full(len(model.findings), config.beyond_rate)
    )
    present = [model.column[f] for f in state.present if f in model.column]
    absent = [model.column[f] for f in state.absent if f in model.column]
    outside = (
        math.log(config.beyond_prior)
        + float(np.log(rate[present]).sum() + np.log1p(-rate[absent]).sum())
        + sum(r.otherwise for r in state.results.values())
    )
    return float(1 / (1 + math.exp(min(inside - outside, 700))))


def entropy(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


def expected_gains(p: np.ndarray, likelihood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected entropy reduction of asking each finding (columns), and P(yes) for each."""
    yes = p @ likelihood  # [findings]
    joint_yes = p[:, None] * likelihood
    joint_no = p[:, None] * (1 - likelihood)
    post_yes = joint_yes / np.maximum(yes, 1e-12)
    post_no = joint_no / np.maximum(1 - yes, 1e-12)

    def h(q: np.ndarray) -> np.ndarray:
        q = np.clip(q, 1e-15, 1)
        return -(q * np.log2(q)).sum(axis=0)

    gains = entropy(p) - yes * h(post_yes) - (1 - yes) * h(post_no)
    return gains, yes
