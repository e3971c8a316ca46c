"""Naming diagnoses beyond the pack from all of a case's facts: the issue's baseline and the
agent's ranking, side by side in one run.

All read the same text, every fact of the case with its exam findings and test results
(``full_information``), and search the same index. The baseline ranks MedQuAD topics by the
fused BM25 + dense search of that text as it stands, in the order their passages come. The
agent's ranking is what it does beyond the pack, with no pack and no questions: the outside
query (negated and normal parts cut, abnormal measurements named, ``query_words`` at most) and
``name_outside`` (MedQuAD and ICD-10-CM names, a name's best passages, titles that are not
diseases left out), once with rank fusion and once as configured (score fusion by default).
``compare_naming`` scores them with the evaluation's strict matcher."""

from __future__ import annotations

from collections.abc import Sequence

from agent.candidates import (
    CandidateConfig,
    name_outside,
    normalise_name,
    outside_query,
    symptom_names,
)
from agent.knowledge import Pack
from agent.state import ConsultationState
from training.cases import Case
from training.solvers import full_information

RANKS = (1, 5, 10)


def baseline_names(hits: Sequence, n: int = 10) -> list[str]:
    """MedQuAD topics in the order the search gives their passages, each once."""
    names: dict[str, str] = {}
    for hit in hits:
        p = hit.passage
        if p.source.startswith("MedQuAD") and p.title:
            names.setdefault(normalise_name(p.title), p.title)
        if len(names) >= n:
            break
    return list(names.values())


def agent_names(case: Case, index, pack: Pack, config: CandidateConfig) -> list[str]:  # noqa: ANN001
    """The agent's outside candidates from everything the case holds."""
    state = ConsultationState(age_years=case.demographics.age_years)
    query = outside_query(state, pack, full_information(case), config.query_words)
    return [c.name for c in name_outside(index, query, config, symptom_names(pack)).candidates]


def compare_naming(
    cases: Sequence[Case],
    index,  # noqa: ANN001 - a KnowledgeIndex
    pack: Pack,
    matcher,  # noqa: ANN001 - a DiagnosisMatcher
    config: CandidateConfig | None = None,
    passages: int = 200,
) -> dict[str, dict[str, float | None]]:
    """Top-k strict accuracy of the baseline, of the agent's ranking with rank fusion
    (``fusion='ranks'``, as before score fusion) and of the agent's ranking as configured, and
    the agent's ratio to the baseline (None where the baseline names none)."""
    config = config or CandidateConfig()
    by_ranks = config.model_copy(update={"fusion": "ranks"})
    hits_right = {name: dict.fromkeys(RANKS, 0) for name in ("baseline", "agent_ranks", "agent")}
    for case in cases:
        text = " ".join(full_information(case))
        ranked = {
            "baseline": baseline_names(index.search(text, k=passages)),
            "agent_ranks": agent_names(case, index, pack, by_ranks),
            "agent": agent_names(case, index, pack, config),
        }
        for name, predicted in ranked.items():
            match = matcher.rank(predicted[:10], case.diagnosis).strict
            for k in RANKS:
                hits_right[name][k] += bool(match and match.rank <= k)
    n = max(len(cases), 1)
    out: dict[str, dict[str, float | None]] = {
        name: {f"top{k}": round(v / n, 4) for k, v in counts.items()}
        for name, counts in hits_right.items()
    }
    out["ratio"] = {
        key: round(out["agent"][key] / out["baseline"][key], 2) if out["baseline"][key] else None
        for key in out["agent"]
    }
    out["cases"] = {"n": len(cases)}
    return out
