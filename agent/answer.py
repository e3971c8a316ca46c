"""Grounded answers: retrieve passages for a question, let the model answer citing them.

``answer(question, index, model)`` is a generator of typed steps: ``Retrieved`` (the
passages), ``Token`` (streamed text) and ``Answered`` (the final text with invalid citations
removed). Front ends consume the steps; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from agent.citations import clean_citations
from agent.emergency import LEARNED_ADVICE, EmergencyClassifier
from agent.extract import EmbeddingMatcher, PhraseTable, extract
from agent.knowledge import Pack
from agent.lm import ChatModel, GenerationOptions, Message
from agent.prompts import render
from retrieval.documents import Passage
from retrieval.index import KnowledgeIndex

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Retrieved:
    passages: tuple[Passage, ...]


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Answered:
    text: str
    cited: tuple[tuple[int, Passage], ...]  # (the number used in the text, the passage)


@dataclass(frozen=True)
class Escalated:
    advice: str
    reason: str
    rules: tuple[str, ...]


Step = Retrieved | Token | Answered | Escalated


def red_flags(
    text: str,
    pack: Pack,
    table: PhraseTable,
    matcher: EmbeddingMatcher | None = None,
    classifier: EmergencyClassifier | None = None,
) -> Escalated | None:
    """Screen one message against the red-flag catalogue, then (if given) the learned
    classifier; None when neither fires."""
    from agent.triage import screen

    present = {o.finding for o in extract(text, table, matcher=matcher).observations if o.present}
    hits = screen(present, pack)
    if hits:
        return Escalated(hits[0].advice, hits[0].reason, tuple(h.rule for h in hits))
    if classifier is not None:
        flagged, p = classifier.flags(text)
        if flagged:
            why = f"the message reads like an emergency (classifier {p:.0%})"
            return Escalated(LEARNED_ADVICE, why, ("learned_classifier",))
    return None


def answer(
    question: str,
    index: KnowledgeIndex,
    model: ChatModel,
    history: Sequence[Message] = (),
    k: int = 4,
    options: GenerationOptions | None = None,
    triage: tuple[Pack, PhraseTable, EmbeddingMatcher | None] | None = None,
) -> Iterator[Step]:
    """Red flags first (with ``triage``): an emergency is answered with advice, nothing else."""
    question = " ".join(question.split())[:MAX_QUESTION_CHARS]
    if triage is not None:
        escalation = red_flags(question, *triage)
        if escalation is not None:
            yield escalation
            return
    passages = tuple(h.passage for h in index.search(question, k=k))
    yield Retrieved(passages)
    messages: list[Message] = [
        {"role": "system", "content": render("grounded_answer.system", passages=passages)},
        *history,
        {"role": "user", "content": question},
    ]
    pieces = []
    for piece in model.stream(messages, options):
        pieces.append(piece)
        yield Token(piece)
    text, cited = clean_citations("".join(pieces), passages)
    yield Answered(text.strip(), tuple((n, passages[n - 1]) for n in cited))
