"""Evaluation = task (cases and the simulated roles) + solver (the doctor) + scorer, with a typed
log saved to a run folder: the resolved config, per-case transcripts and scores, a summary and a
plot of accuracy against the question budget. ``anamnesis eval`` (ui/cli/eval.py) runs it;
``evaluate(cases, solver, roles, matcher)`` is the loop, ``summarise(results)`` the metrics.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from agent.extract import PhraseTable, clauses_of
from agent.knowledge import Pack
from agent.lm import ChatModel
from training.cases import Case, load_agentclinic, redflag_cases, synthetic_cases
from training.matching import CaseMatch, DiagnosisMatcher, Match, MatchConfig
from training.patient import (
    DENY,
    UNKNOWN,
    Measurement,
    MeasurementConfig,
    PatientConfig,
    SimulatedPatient,
    TextEmbedder,
)
from training.solvers import AGENT_SOLVERS, BOUNDS, MEASURED, Episode, Solver, Turn

DEFAULT_SYNTHETIC = 100
log = logging.getLogger(__name__)


class EvalConfig(BaseModel):
    """Everything that decides an evaluation run's figures; saved beside them."""

    model_config = ConfigDict(extra="forbid")

    cases: str = Field(description="agentclinic:PATH | synthetic[:N] | redflags")
    solvers: list[str] = Field(description="Doctor solvers run on every case.")
    max_questions: int = Field(12, ge=0, description="The agent's question budget.")
    budgets: list[int] = Field(
        default_factory=list, description="Extra budgets the agent solvers are rerun at."
    )
    seed: int = Field(0, description="Seed of the synthetic cases.")
    split: Literal["train", "eval"] = Field("eval", description="Synthetic split drawn.")
    limit: int | None = Field(None, ge=1, description="Only the first N cases.")
    phrase_questions: bool = Field(
        False,
        description="Let the LM phrase the planner's questions. Off: phrasing rewords the "
        "question the planner chose without changing the choice, and costs seconds a turn.",
    )
    allow_tests: bool = Field(True, description="The planner may ask for exams and tests.")
    model: str | None = Field(None, description="The chat model loaded, if any.")
    adapter: str | None = Field(None, description="LoRA adapter applied to the model.")
    index: bool = Field(False, description="Whether the knowledge index was loaded.")
    agent_embeddings: bool = Field(True, description="The agent's embedding matcher was on.")
    emergency_classifier: bool = Field(
        False, description="The agent's learned emergency classifier was loaded."
    )
    patient: PatientConfig = Field(default_factory=PatientConfig)
    measurement: MeasurementConfig = Field(default_factory=MeasurementConfig)
    matching: MatchConfig = Field(default_factory=MatchConfig)
    synonym_sources: list[str] = Field(default_factory=list, description="Synonyms used.")
    notes: list[str] = Field(default_factory=list, description="What a reader should know.")


def load_cases(
    spec: str, pack: Pack, seed: int = 0, split: str = "eval", limit: int | None = None
) -> list[Case]:
    """Cases by spec: ``agentclinic:PATH``, ``synthetic`` or ``synthetic:N``, ``redflags``."""
    kind, _, arg = spec.partition(":")
    if kind == "agentclinic":
        if not arg:
            raise ValueError("--cases agentclinic:PATH needs the path of the JSONL file")
        cases = load_agentclinic(arg)
    elif kind == "synthetic":
        try:
            n = int(arg) if arg else DEFAULT_SYNTHETIC
        except ValueError as exc:
            raise ValueError(f"--cases synthetic:N needs a number, not {arg!r}") from exc
        cases = synthetic_cases(pack, min(n, limit) if limit else n, seed, split)  # type: ignore[arg-type]
    elif kind == "redflags":
        cases = redflag_cases(arg) if arg else redflag_cases()
    else:
        raise ValueError(f"unknown cases {spec!r}: agentclinic:PATH, synthetic[:N] or redflags")
    return cases[:limit] if limit else cases


@dataclass
class Roles:
    """Makes the simulated patient and measurement desk for each case, sharing one embedder."""

    pack: Pack
    table: PhraseTable
    embedder: TextEmbedder | None
    patient_config: PatientConfig = field(default_factory=PatientConfig)
    measurement_config: MeasurementConfig = field(default_factory=MeasurementConfig)
    model: ChatModel | None = None

    def prepare(self) -> None:
        """Embed once, in one batch, what every case asks about: the pack's questions, finding
        names and lay wordings, and condition names (the agent's differential)."""
        if self.embedder is None:
            return
        texts = [h.question for h in self.pack.history.values()]
        for f in self.pack.findings.values():
            texts += [f.question, f.name, *f.lay]
        for c in self.pack.conditions.values():  # names, and the tests the agent asks for
            texts += [c.name, *(t.name.lower() for t in c.tests), *(t.expect for t in c.tests)]
        self.embedder.encode(sorted(set(texts), key=len))

    def warm(self, cases: Sequence[Case]) -> None:
        """Embed, in one batch sorted by length, what these cases add: their facts, the clauses
        the agent's matcher will cut from the patient's answers, the names of their exam and
        test results, and the true diagnoses."""
        if self.embedder is None:
            return
        texts = [DENY, UNKNOWN, "Normal.", "Not done."]
        for case in cases:
            facts = [f.text for f in case.facts]
            texts += [case.opening, *facts, *([case.diagnosis] if case.diagnosis else [])]
            texts += [*case.exams, *case.tests]
            for t in [case.opening, *facts]:
                texts += clauses_of(t.lower())
        self.embedder.encode(sorted(set(texts), key=len))

    def patient(self, case: Case) -> SimulatedPatient:
        return SimulatedPatient(
            case, self.pack, self.table, self.embedder, self.patient_config, self.model
        )

    def measurement(self, case: Case) -> Measurement:
        return Measurement(case, self.pack, self.embedder, self.measurement_config)


@dataclass
class CaseResult:
    """One case under one solver at one budget: the scores and the transcript."""

    case: str
    solver: str
    budget: int | None
    diagnosis: str
    predicted: list[tuple[str, float]]
    strict: Match | None
    lenient: Match | None
    facts: int
    revealed: int
    coverage: float
    elicited: float  # facts revealed by answers, over the facts the opening did not state
    questions: int
    repeated: int
    tests_requested: int
    tests_answered: int
    turns_to_diagnosis: int | None  # answers after which the truth led, to the end
    escalated: bool
    label: str | None
    urgency: str | None
    ended: str
    seconds: float
    transcript: list[Turn]
    error: str | None = None
    mean_gain: float | None = None  # bits, over the questions whose gain could be weighed
    premature: bool | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _question_key(turn: Turn) -> str:
    target = turn.target.removeprefix("rf:")
    if target and not target.startswith("free:"):
        return target
    return " ".join(turn.text.lower().split())


def score(
    case: Case,
    episode: Episode,
    patient: SimulatedPatient,
    measurement: Measurement,
    matcher: DiagnosisMatcher,
    solver: str,
    budget: int | None,
    seconds: float,
) -> CaseResult:
    names = [n for n, _ in episode.differential]
    match = matcher.rank(names, case.diagnosis) if case.diagnosis else CaseMatch(None, None)
    keys = [_question_key(q) for q in episode.questions]
    repeated = sum(1 for i, k in enumerate(keys) if k in keys[:i])
    measured = [
        q for q in episode.questions if q.kind in MEASURED or q.target.split(":")[0] in MEASURED
    ]
    answered = [t for t in episode.turns if t.role == "measurement" and t.results]
    turns_to = None
    if case.diagnosis and episode.leading:
        hits = [matcher.strict(name, case.diagnosis) is not None for name in episode.leading]
        if hits[-1]:
            k = len(hits) - 1
            while k > 0 and hits[k - 1]:
                k -= 1
            turns_to = k
    opening = set(case.opening_facts)
    later = len(case.facts) - len(opening)
    elicited = len(patient.revealed - opening) / later if later else 1.0
    return CaseResult(
        case=case.id,
        solver=solver,
        budget=budget,
        diagnosis=case.diagnosis,
        predicted=[(n, round(float(p), 4)) for n, p in episode.differential],
        strict=match.strict,
        lenient=match.lenient,
        facts=len(case.facts),
        revealed=len(patient.revealed),
        coverage=round(patient.coverage, 4),
        elicited=round(elicited, 4),
        questions=len(episode.questions),
        repeated=repeated,
        tests_requested=len(measured),
        tests_answered=len(answered),
        turns_to_diagnosis=turns_to,
        escalated=episode.escalated,
        label=case.label,
        urgency=episode.urgency,
        ended=episode.ended,
        seconds=round(seconds, 4),
        mean_gain=_mean([q.gain for q in episode.questions if q.gain is not None]),
        premature=episode.premature,
        transcript=episode.turns,
    )


def evaluate(
    cases: Sequence[Case],
    solver: Solver,
    roles: Roles,
    matcher: DiagnosisMatcher,
    budget: int | None = None,
    progress: bool = True,
) -> list[CaseResult]:
    """Play every case with the solver and score it. A case that raises is recorded with its
    error and scored as a miss, so one bad case does not end a run."""
    results = []
    label = solver.name if budget is None else f"{solver.name} (budget {budget})"
    start = time.perf_counter()
    roles.warm(cases)
    shared = (time.perf_counter() - start) / max(len(cases), 1)  # each case's part of the batch
    for case in tqdm(cases, desc=label, disable=not progress, unit="case"):
        start = time.perf_counter() - shared
        patient, measurement = roles.patient(case), roles.measurement(case)
        error = None
        try:
            episode = solver.solve(case, patient, measurement)
        except Exception as exc:  # recorded per case; the run goes on
            episode, error = Episode(ended="error"), f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        result = score(case, episode, patient, measurement, matcher, solver.name, budget, seconds)
        result.error = error
        results.append(result)
    return results


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarise(results: Sequence[CaseResult]) -> dict[str, object]:
    """The run's metrics for one solver at one budget."""
    n = len(results)
    out: dict[str, object] = {
        "solver": results[0].solver if results else "",
        "budget": results[0].budget if results else None,
        "cases": n,
    }
    scored = [r for r in results if r.diagnosis]
    if scored:
        m = len(scored)
        for k in (1, 3, 5, 10):
            strict = sum(1 for r in scored if r.strict and r.strict.rank <= k) / m
            lenient = sum(1 for r in scored if r.lenient and r.lenient.rank <= k) / m
            out[f"top{k}_strict"] = round(strict, 4)
            out[f"top{k}_lenient"] = round(lenient, 4)
        p = out["top1_strict"]
        out["top1_strict_stderr"] = round(math.sqrt(p * (1 - p) / m), 4)  # type: ignore[operator]
        out["strict_rules"] = dict(Counter(r.strict.rule for r in scored if r.strict))
        out["lenient_only"] = sum(
            1 for r in scored if r.lenient and (r.strict is None or r.lenient.rank < r.strict.rank)
        )
        reached = [r.turns_to_diagnosis for r in scored if r.turns_to_diagnosis is not None]
        out["turns_to_diagnosis"] = _mean(reached)
        out["diagnosis_reached"] = round(len(reached) / m, 4)
    asked = sum(r.questions for r in results)
    out["coverage"] = _mean([r.coverage for r in results])
    out["elicited"] = _mean([r.elicited for r in results])
    out["questions"] = _mean([r.questions for r in results])
    out["repeated_question_rate"] = (
        round(sum(r.repeated for r in results) / asked, 4) if asked else 0.0
    )
    out["mean_question_gain"] = _mean([r.mean_gain for r in results if r.mean_gain is not None])
    judged = [r.premature for r in results if r.premature is not None]
    out["premature_conclusion_rate"] = _mean([float(x) for x in judged])
    out["tests_requested"] = _mean([r.tests_requested for r in results])
    out["tests_answered"] = _mean([r.tests_answered for r in results])
    out["escalation_rate"] = _mean([float(r.escalated) for r in results])
    labelled = [r for r in results if r.label]
    if labelled:
        emergencies = [r for r in labelled if r.label == "emergency"]
        others = [r for r in labelled if r.label != "emergency"]
        out["red_flag_recall"] = _mean([float(r.escalated) for r in emergencies])
        out["false_escalation_rate"] = _mean([float(r.escalated) for r in others])
        out["emergencies"], out["non_urgent"] = len(emergencies), len(others)
    seconds = sum(r.seconds for r in results)
    out["seconds_per_consultation"] = round(seconds / n, 4) if n else None
    out["consultations_per_minute"] = round(60 * n / seconds, 1) if seconds else None
    out["errors"] = sum(1 for r in results if r.error)
    return out


@dataclass
class EvalLog:
    """A whole run: its config, one summary per (solver, budget), and every case result."""

    config: EvalConfig
    summaries: list[dict[str, object]]
    results: list[CaseResult]
    setup_seconds: float = 0.0

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "eval_config.json").write_text(self.config.model_dump_json(indent=2))
        summary = {"summaries": self.summaries, "setup_seconds": round(self.setup_seconds, 2)}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2))
        with (folder / "cases.jsonl").open("w", encoding="utf-8") as fh:
            for r in self.results:
                fh.write(json.dumps(r.to_dict(), default=str) + "\n")
        try:
            plot_budgets(self.summaries, folder / "accuracy_vs_budget.png", self.config.cases)
        except ImportError:  # the figures are saved; only the picture is missing
            log.warning("matplotlib is not installed: no accuracy_vs_budget.png")
        return folder


def plot_budgets(summaries: Sequence[dict[str, object]], path: Path, title: str) -> Path:
    """Top-1 and top-3 strict accuracy against the question budget; the bounds as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    budgets = sorted({int(s["budget"]) for s in summaries if s.get("budget") is not None})
    for solver in AGENT_SOLVERS:
        rows = sorted(
            (s for s in summaries if s["solver"] == solver and "top1_strict" in s),
            key=lambda s: s["budget"],
        )
        if rows:
            xs = [s["budget"] for s in rows]
            line = ax.plot(
                xs, [s["top1_strict"] for s in rows], marker="o", label=f"{solver} top-1"
            )
            ax.plot(
                xs,
                [s["top3_strict"] for s in rows],
                marker="s",
                linestyle="--",
                color=line[0].get_color(),
                label=f"{solver} top-3",
            )
    for solver, style in zip(BOUNDS, (":", "-."), strict=True):
        row = next((s for s in summaries if s["solver"] == solver and "top1_strict" in s), None)
        if row:
            ax.axhline(row["top1_strict"], linestyle=style, color="grey", label=f"{solver} top-1")
    ax.set_xlabel("question budget")
    ax.set_ylabel("accuracy (strict match)")
    ax.set_ylim(0, 1)
    if budgets:
        ax.set_xticks(budgets)
    ax.set_title(f"Diagnostic accuracy against question budget\n{title}", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
