"""The consultation state: what the patient has said, typed and immutable.

``ConsultationState`` holds demographics, the chief complaint, findings present, absent and
uncertain (catalogue ids with the patient's own words and the turn), history answers and the
questions already asked. Updates return a new state (``with_extraction``, ``with_question``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Sex = Literal["female", "male"]
Source = Literal["patient", "exam", "test"]


@dataclass(frozen=True)
class Observation:
    finding: str
    present: bool | None  # None: the patient is not sure
    words: str
    turn: int
    source: Source = "patient"


@dataclass(frozen=True)
class Result:
    """An examination or test result the patient (or the measurement role) reported."""

    key: str  # the investigation's canonical name
    text: str
    turn: int
    log_likelihood: dict[str, float]  # condition id -> log P(result | condition)
    otherwise: float  # log P(result | a condition that does not use this investigation)


@dataclass(frozen=True)
class Extraction:
    """What one message said: findings and the details that come with them."""

    observations: tuple[Observation, ...] = ()
    duration_days: float | None = None
    duration_text: str | None = None
    severity: str | None = None
    age_years: float | None = None
    sex: Sex | None = None
    sudden: bool = False


def age_group(age_years: float | None) -> str | None:
    if age_years is None:
        return None
    if age_years < 1:
        return "infant"
    if age_years < 13:
        return "child"
    if age_years < 18:
        return "adolescent"
    return "adult" if age_years < 65 else "older_adult"


@dataclass(frozen=True)
class ConsultationState:
    age_years: float | None = None
    sex: Sex | None = None
    chief_complaint: str = ""
    observations: dict[str, Observation] = field(default_factory=dict)
    history: dict[str, str] = field(default_factory=dict)
    duration_days: float | None = None
    sudden: bool = False
    asked: tuple[str, ...] = ()  # targets already asked, in order
    results: dict[str, Result] = field(default_factory=dict)
    unavailable: tuple[str, ...] = ()  # exams and tests asked for that the patient has not had
    turn: int = 0

    @property
    def present(self) -> frozenset[str]:
        return frozenset(k for k, o in self.observations.items() if o.present is True)

    @property
    def absent(self) -> frozenset[str]:
        return frozenset(k for k, o in self.observations.items() if o.present is False)

    @property
    def uncertain(self) -> frozenset[str]:
        return frozenset(k for k, o in self.observations.items() if o.present is None)

    @property
    def age_group(self) -> str | None:
        return age_group(self.age_years)

    @property
    def last_asked(self) -> str | None:
        return self.asked[-1] if self.asked else None

    def with_extraction(self, extraction: Extraction, text: str) -> ConsultationState:
        """The state after a patient message: a later statement about a finding wins,
        except that an uncertain answer never overwrites a definite one."""
        observations = dict(self.observations)
        for o in extraction.observations:
            old = observations.get(o.finding)
            if o.present is None and old is not None and old.present is not None:
                continue
            observations[o.finding] = o
        return replace(
            self,
            observations=observations,
            chief_complaint=self.chief_complaint or text.strip()[:300],
            age_years=extraction.age_years if extraction.age_years is not None else self.age_years,
            sex=extraction.sex or self.sex,
            duration_days=(
                extraction.duration_days
                if extraction.duration_days is not None
                else self.duration_days
            ),
            sudden=self.sudden or extraction.sudden,
            turn=self.turn + 1,
        )

    def with_history(self, item: str, answer: str) -> ConsultationState:
        return replace(self, history={**self.history, item: answer})

    def with_result(self, result: Result) -> ConsultationState:
        return replace(self, results={**self.results, result.key: result})

    def with_unavailable(self, target: str) -> ConsultationState:
        return replace(self, unavailable=(*self.unavailable, target))

    def with_question(self, target: str) -> ConsultationState:
        return replace(self, asked=(*self.asked, target))
