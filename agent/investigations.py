"""Examinations and tests by name: which ones the pack's conditions rely on, which one is worth
asking for next, and what a reported result says for each condition.

``catalogue(pack)`` groups the conditions' tests under normalised names; ``investigation_gains``
scores them by expected information gain; ``read_result`` compares a result text with what
each condition expects. Pure functions; the consultation calls them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.belief import expected_gains
from agent.extract import content_words
from agent.knowledge import Pack
from agent.state import Result


class InvestigationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sensitivity: float = Field(
        0.8, gt=0, lt=1, description="P(the result shows what a condition expects | it is there)."
    )
    false_positive: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="P(a result matches some expected pattern | condition lacks the test).",
    )
    match_threshold: float = Field(
        0.55, gt=0, le=1, description="Cosine between a result and an expected finding to match."
    )
    lexical_overlap: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of an expectation's words a result must contain "
        "when no embedder is available.",
    )


_EXAM_WORDS = re.compile(
    r"exam|inspection|palpation|auscultation|otoscopy|fundoscopy|ophthalmoscopy|slit.lamp|"
    r"visual acuity|blood pressure|pulse|oximetry|temperature|observation|sign\b|manoeuvre|"
    r"maneuver|percussion|range of motion|reflex|gait|mental state"
)
_NOT_TESTS = re.compile(r"^(clinical|history|symptom diary|diagnosis|response to|trial of)")
_NOT_DONE = re.compile(
    r"\b(not (been )?done|not available|haven'?t had|have not had|never had|no results?|"
    r"don'?t know|not sure|unknown)\b"
)
_NORMAL = re.compile(r"\b(normal|unremarkable|negative|clear|no abnormalit\w*|nothing abnormal)\b")
_GENERIC = frozenset({"test", "result", "show", "shows", "showed", "level", "levels", "may", "or"})


def canonical(name: str) -> str:
    """A test's name for grouping: lower case, no brackets, no '12-lead'."""
    name = re.sub(r"\(.*?\)", " ", name.lower())
    name = re.sub(r"\b\d+-lead\b", " ", name)
    return " ".join(name.replace("-", " ").split())


def kind_of(name: str) -> str:
    return "exam" if _EXAM_WORDS.search(name.lower()) else "test"


@dataclass(frozen=True)
class Investigation:
    key: str  # canonical name
    name: str  # as first written in the pack
    kind: str  # "exam" | "test"
    expects: dict[str, str]  # condition id -> what the result shows when it confirms it


@dataclass(frozen=True)
class Catalogue:
    investigations: tuple[Investigation, ...]
    conditions: tuple[str, ...]
    has: np.ndarray  # [conditions, investigations] bool

    def get(self, key: str) -> Investigation | None:
        return next((i for i in self.investigations if i.key == key), None)


_CATALOGUES: dict[int, tuple[Pack, Catalogue]] = {}


def catalogue(pack: Pack) -> Catalogue:
    """The pack's investigations, built once per pack."""
    cached = _CATALOGUES.get(id(pack))
    if cached and cached[0] is pack:
        return cached[1]
    grouped: dict[str, tuple[str, dict[str, str]]] = {}
    for cid, condition in pack.conditions.items():
        for test in condition.tests:
            key = canonical(test.name)
            if not key or _NOT_TESTS.match(key):
                continue
            shown = re.sub(r"\s*\(.*?\)", "", test.name).strip()
            name, expects = grouped.setdefault(key, (shown, {}))
            expects.setdefault(cid, test.expect)
    investigations = tuple(
        Investigation(key, name, kind_of(name), expects)
        for key, (name, expects) in sorted(grouped.items())
    )
    conditions = tuple(pack.conditions)
    has = np.zeros((len(conditions), len(investigations)), dtype=bool)
    row = {c: i for i, c in enumerate(conditions)}
    for j, inv in enumerate(investigations):
        for cid in inv.expects:
            has[row[cid], j] = True
    built = Catalogue(investigations, conditions, has)
    _CATALOGUES[id(pack)] = (pack, built)
    return built


def investigation_gains(p: np.ndarray, cat: Catalogue, config: InvestigationConfig) -> np.ndarray:
    """Expected information gain (bits) of asking each investigation's result, where the
    outcome is whether the result shows the pattern the condition expects."""
    likelihood = np.where(cat.has, config.sensitivity, config.false_positive)
    gains, _ = expected_gains(p, likelihood)
    return gains


VITAL_SIGNS = "vital signs"


_NO_REPLY = re.compile(r"^(no|nope|none|not yet|never)\W*$")  # "No fracture" is a result


def not_done(text: str) -> bool:
    """Whether a reply to a request for an exam or test says there is no result to give."""
    lowered = text.lower().replace("\u2019", "'").strip()
    return bool(_NOT_DONE.search(lowered)) or bool(_NO_REPLY.match(lowered))


def request_question(inv: Investigation) -> str:
    return request_text(inv.kind, inv.name)


def request_text(kind: str, name: str) -> str:
    """How the agent asks for an examination or a test by name."""
    if name.lower() == VITAL_SIGNS:
        return (
            "Have your temperature, pulse, blood pressure, breathing rate or oxygen level been "
            "measured, and if so, what were they (or say 'not done')?"
        )
    if kind == "exam":
        return (
            f"Has a clinician done a {name.lower()}, and if so, what did they find "
            "(or say 'not done')?"
        )
    first = next(iter(name.split()), "")
    if first[:1].isupper() and first[1:].islower():
        name = name[:1].lower() + name[1:]  # "skin scrapings", but "ECG", "HbA1c"
    head = re.split(r" (?:for|of|and|or|with) ", name.lower())[0]
    if head.endswith(("tests", "ings", "studies", "cultures")):  # a plural: "skin scrapings"
        return f"Have you had {name}, and if so, what did they show (or say 'not done')?"
    return f"Have you had {_article(name)} {name}, and if so, what did it show (or say 'not done')?"


def _article(name: str) -> str:
    """'an' before a vowel sound: "an ECG", "an abdominal ultrasound", "a urinalysis"."""
    if name[:2].isupper():
        return "an" if name[0] in "AEFHILMNORSX" else "a"
    return "an" if name[:1].lower() in "aeio" else "a"


Similarity = Callable[[str, list[str]], list[float]]


def read_result(
    text: str,
    inv: Investigation,
    config: InvestigationConfig,
    similarity: Similarity | None = None,
) -> dict[str, bool] | None:
    """For each condition expecting this investigation: does the result show what it
    expects? None when the result is not available."""
    lowered = text.lower()
    if not lowered.strip() or not_done(text):
        return None
    conditions = list(inv.expects)
    expectations = [inv.expects[c] for c in conditions]
    if similarity is not None:
        matched = [s >= config.match_threshold for s in similarity(text, expectations)]
    else:
        said = content_words(text) - _GENERIC
        matched = []
        for e in expectations:
            wanted = content_words(e) - _GENERIC
            share = len(wanted & said) / max(len(wanted), 1)
            matched.append(bool(wanted) and share >= config.lexical_overlap)
    normal = bool(_NORMAL.search(lowered))
    out = {}
    for cid, expectation, hit in zip(conditions, expectations, matched, strict=True):
        expects_normal = bool(_NORMAL.search(expectation.lower()))
        out[cid] = hit and (expects_normal or not normal or len(lowered) > 40)
    return out


def evidence(
    key: str, text: str, turn: int, support: dict[str, bool], config: InvestigationConfig
) -> Result:
    """The result as log-likelihoods per condition: a match is strong evidence for a
    condition, a miss is evidence against it, and conditions that do not use the
    investigation are weighed by how likely such a result is without them."""
    sens, fp = config.sensitivity, config.false_positive
    any_match = any(support.values())
    log_lik = {c: math.log(sens if hit else 1 - sens) for c, hit in support.items()}
    return Result(key, text, turn, log_lik, math.log(fp if any_match else 1 - fp))
