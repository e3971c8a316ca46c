"""Self-play: the planner-guided doctor consults simulated patients from train-split synthetic
cases; each doctor turn becomes an SFT row and preference pairs, in the llm policy's format.

Run ``anamnesis train selfplay --cases N --out DIR``; it writes ``sft.jsonl``,
``preferences.jsonl`` and a data card. Never uses evaluation cases or AgentClinic.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from agent.config import AppConfig
from agent.consultation import AgentConfig, Assessment, Consultation, Escalation, Question
from agent.knowledge import Pack
from agent.planner import PlannerConfig, ranked_asks
from agent.prompts import policy_messages
from agent.state import ConsultationState
from training.cases import Case, synthetic_cases
from training.datasets import (
    CONCLUDE,
    FILES,
    Card,
    preference_row,
    sft_row,
    write_card,
    write_jsonl,
)
from training.trainconfig import SelfPlayConfig

log = logging.getLogger(__name__)

MEASURED = ("exam", "test")
# Always made when they apply (they are rare and matter most); others are drawn at random.
FIRST_KINDS = ("missed_red_flag", "premature")


@dataclass(frozen=True)
class Turn:
    """One decision of the doctor: the prompt the llm policy would see and what the planner did."""

    prompt: list[dict]
    reply: str  # the planner's question in catalogue wording, or CONCLUDE
    kind: str  # the Ask's kind (history, red_flag, finding, exam, test) or "conclude"
    target: str
    state: ConsultationState  # what the planner decided on (before the question was recorded)
    asked: tuple[str, ...]  # earlier doctor questions, as worded


def rejections(
    turn: Turn, pack: Pack, planner: PlannerConfig, config: SelfPlayConfig, rng: random.Random
) -> dict[str, str]:
    """Worse replies than the planner's at this turn, by kind (pure but for ``rng``):
    a question far down the planner's list (low gain), an earlier question again (repeated),
    CONCLUDE while the planner still asks in the first turns (premature), and when the planner
    screens a warning sign, the best ordinary question instead (missed red flag)."""
    out: dict[str, str] = {}
    concluded = turn.reply == CONCLUDE
    ranked = ranked_asks(turn.state, pack, planner, n=config.low_gain_rank + 20)
    tail = [a.question for a in ranked[config.low_gain_rank - 1 :]]
    tail = [q for q in tail if q != turn.reply and q not in turn.asked]
    if tail:
        out["low_gain"] = rng.choice(tail)
    earlier = [q for q in turn.asked if q != turn.reply]
    if earlier:
        out["repeated"] = rng.choice(earlier)
    if not concluded and len(turn.state.asked) < config.premature_turns:
        out["premature"] = CONCLUDE
    if turn.kind == "red_flag" and ranked and ranked[0].question != turn.reply:
        out["missed_red_flag"] = ranked[0].question
    return out


def choose(found: dict[str, str], n: int, rng: random.Random) -> list[tuple[str, str]]:
    """At most ``n`` of the rejected replies: the important kinds first, then at random."""
    first = [k for k in FIRST_KINDS if k in found]
    rest = sorted(k for k in found if k not in FIRST_KINDS)
    rng.shuffle(rest)
    return [(k, found[k]) for k in (first + rest)[:n]]


def consult(
    case: Case,
    consultation: Consultation,
    patient,  # noqa: ANN001 - training.patient.SimulatedPatient
    desk,  # noqa: ANN001 - training.patient.Measurement
    passages_k: int,
    max_turns: int,
) -> Iterator[Turn | str]:
    """Play one consultation; yields each doctor ``Turn`` and, last, how it ended."""
    text, passages = case.opening, ()
    for n in range(max_turns):
        steps = list(consultation.respond(text))
        final = steps[-1] if steps else None
        if n == 0 and consultation.index is not None and passages_k:
            query = consultation.state.chief_complaint
            passages = tuple(h.passage for h in consultation.index.search(query, passages_k))
        if isinstance(final, Escalation):
            yield "escalation"  # red-flag rules act before any policy: nothing to learn
            return
        if not isinstance(final, Question | Assessment):
            yield "no decision"
            return
        asked_before = isinstance(final, Question)
        transcript = consultation.transcript[:-1] if asked_before else consultation.transcript
        state = consultation.state
        if asked_before:
            state = replace(state, asked=state.asked[:-1])
        yield Turn(
            prompt=policy_messages(passages, transcript),
            reply=final.text if asked_before else CONCLUDE,
            kind=final.kind if asked_before else "conclude",
            target=final.target if asked_before else "",
            state=state,
            asked=tuple(t for r, t in transcript if r == "doctor"),
        )
        if isinstance(final, Assessment):
            yield "assessment"
            return
        answerer = desk if final.kind in MEASURED else patient
        text = answerer.answer(final.text, final.target, final.kind).text
    yield "turn limit"


def run_selfplay(
    config: SelfPlayConfig, app: AppConfig, out: Path | str, command: str = ""
) -> dict[str, int]:
    """Consult ``config.cases`` train-split cases; write the rows and the card; the counts."""
    from agent.resources import Resources
    from training.patient import CachedEmbedder, Measurement, SimulatedPatient

    out = Path(out)
    resources = Resources.load(
        app, model=False, index=config.retrieval, embeddings=True, emergency=False
    )
    embedder = CachedEmbedder(resources.matcher.embedder) if resources.matcher else None
    pack = resources.pack
    cases = synthetic_cases(pack, config.cases, seed=config.seed, split="train")
    rng = random.Random(f"selfplay:{config.seed}")
    sft, pairs = [], []
    endings: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    questions = []
    for case in tqdm(cases, desc="self-play", unit="case"):
        consultation = resources.consultation(AgentConfig(policy="planner", planner=config.planner))
        patient = SimulatedPatient(case, pack, resources.table, embedder)
        desk = Measurement(case, pack, embedder)
        asked = 0
        for item in consult(
            case, consultation, patient, desk, config.passages, config.max_patient_turns
        ):
            if isinstance(item, str):
                endings[item] += 1
                continue
            meta = {"case": case.id, "turn": len(item.state.asked), "kind": item.kind}
            sft.append(sft_row(item.prompt, item.reply, **meta, target=item.target))
            asked += item.reply != CONCLUDE
            found = rejections(item, pack, config.planner, config, rng)
            for kind, worse in choose(found, config.pairs_per_turn, rng):
                pairs.append(preference_row(item.prompt, item.reply, worse, **meta, rejection=kind))
                kinds[kind] += 1
        questions.append(asked)
    n_sft = write_jsonl(out / FILES["sft"], sft, "sft")
    n_pairs = write_jsonl(out / FILES["preference"], pairs, "preference")
    counts = {
        "cases": len(cases),
        "sft_rows": n_sft,
        "sft_conclude_rows": sum(r["messages"][-1]["content"] == CONCLUDE for r in sft),
        "preference_pairs": n_pairs,
        **{f"pairs_{k}": v for k, v in sorted(kinds.items())},
        **{f"ended_{k.replace(' ', '_')}": v for k, v in sorted(endings.items())},
        "conditions": len({c.condition for c in cases}),
        "mean_questions": round(sum(questions) / max(len(questions), 1), 2),
    }
    index = resources.index.stats() if resources.index is not None else None
    write_card(
        out,
        Card(
            title="Self-play data for the llm questioning policy",
            summary=(
                "The planner-guided doctor (policy 'planner', no language model, questions in "
                "catalogue wording) consulted simulated patients built from train-split "
                "synthetic cases of the knowledge pack. Each doctor turn is an SFT row in the "
                "llm policy's prompt format (its system prompt with passages retrieved for the "
                "chief complaint, then the conversation); the reply is the planner's question or "
                "CONCLUDE. Each turn also gives preference pairs: chosen is the planner's reply, "
                "rejected a worse one of the kind named in meta.rejection."
            ),
            sources=[
                f"training.cases.synthetic_cases(split='train', seed={config.seed}): "
                "synthetic cases drawn from the knowledge pack (agent/pack); no evaluation "
                "or AgentClinic case",
                "training.patient.SimulatedPatient (answers from the case's facts) and "
                "Measurement (exam and test results)",
                "agent.planner (the doctor), agent.prompts llm_policy.system (the prompt)",
                f"passages: {index['folder']} ({index['passages']} passages)"
                if index
                else "passages: none (--no-retrieval)",
            ],
            counts=counts,
            seeds={"cases": config.seed, "rejections": config.seed},
            config={
                "selfplay": config.model_dump(mode="json"),
                "index": index,
                "index_config": (
                    resources.index.config.model_dump(mode="json") if resources.index else None
                ),
            },
            command=command,
            notes=[
                "Rejected kinds: low_gain (from rank "
                f"{config.low_gain_rank} of the planner's list on), repeated (an earlier "
                f"question), premature (CONCLUDE before {config.premature_turns} questions while "
                "the planner still asks), missed_red_flag (the best ordinary question when the "
                "planner screens a warning sign).",
                "Turns that end in an emergency escalation give no rows: red-flag rules act "
                "before any policy.",
                "meta holds the case id, the question count, the planner's kind of question "
                "and target; it is stripped before training.",
            ],
        ),
    )
    return counts
