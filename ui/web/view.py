"""The step-to-screen adapter of the web app: pure functions from agent steps to what is shown.

``advance(view, step)`` folds one step of ``Consultation.respond`` into an immutable ``View``;
``reply_markdown``, ``sources_markdown``, ``differential_value`` and ``banner_html`` render it
for the chat bubble, the sources panel, the chart and the red-flag banner. No medical logic.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace

from agent.consultation import Assessment, Escalation, Notice, Question, Retrieval, Token
from retrieval.documents import Passage

SOURCES_PLACEHOLDER = "_The sources of the assessment appear here when it is written._"
LOOKING_UP = "_Looking up the knowledge base for the assessment..._"


@dataclass(frozen=True)
class View:
    """What one consultation has shown so far.

    ``parts`` and ``draft`` make the current reply (reset by ``new_turn``); the differential,
    the passages and the escalation feed the side panels and last for the whole consultation.
    """

    parts: tuple[str, ...] = ()
    draft: str = ""
    retrieving: bool = False
    differential: tuple[tuple[str, float], ...] = ()
    passages: tuple[Passage, ...] = ()
    cited: frozenset[int] = field(default_factory=frozenset)
    escalation: Escalation | None = None
    finished: bool = False

    def new_turn(self) -> View:
        """The same panels, with an empty reply for the next patient message."""
        return replace(self, parts=(), draft="", retrieving=False)


def question_markdown(step: Question) -> str:
    """The question, with a small line saying why it is asked."""
    return f"{step.text}\n\n<small>Why this question: {step.reason}</small>"


def escalation_markdown(step: Escalation) -> str:
    return f"**{step.advice}**\n\nWhy: {step.reason}"


def advance(view: View, step: object) -> View:
    """The view after one more step; steps of unknown types leave it unchanged."""
    if isinstance(step, Notice):
        return replace(view, parts=(*view.parts, f"_{step.text}_"))
    if isinstance(step, Question):
        return replace(
            view, parts=(*view.parts, question_markdown(step)), differential=step.differential
        )
    if isinstance(step, Retrieval):
        return replace(view, passages=step.passages, cited=frozenset(), retrieving=True)
    if isinstance(step, Token):
        return replace(view, draft=view.draft + step.text)
    if isinstance(step, Assessment):
        return replace(
            view,
            parts=(*view.parts, step.text),
            draft="",
            retrieving=False,
            differential=step.differential,
            cited=frozenset(n for n, _ in step.cited),
            finished=True,
        )
    if isinstance(step, Escalation):
        return replace(
            view,
            parts=(*view.parts, escalation_markdown(step)),
            draft="",
            escalation=step,
            finished=True,
        )
    return view


def reply_markdown(view: View) -> str:
    """The assistant's bubble: the parts so far, then the draft being written."""
    parts = list(view.parts)
    if view.draft:
        parts.append(view.draft)
    elif view.retrieving:
        parts.append(LOOKING_UP)
    return "\n\n".join(parts) or "..."


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _link(url: str) -> str:
    return f" · [link]({url})" if url.startswith(("https://", "http://")) else ""


def sources_markdown(
    passages: tuple[Passage, ...], cited: frozenset[int] = frozenset(), chars: int = 600
) -> str:
    """Numbered as in the assessment; cited passages are marked, each with its text."""
    if not passages:
        return SOURCES_PLACEHOLDER
    lines = ["Numbers match the assessment's [n]."]
    for n, p in enumerate(passages, 1):
        mark = " · **cited**" if n in cited else ""
        source = f" · {html.escape(p.source)}" if p.source else ""
        lines.append(f"**[{n}] {html.escape(p.title)}**{source}{_link(p.url)}{mark}")
        lines.append(f"> {html.escape(_one_line(p.text, chars))}")
    return "\n\n".join(lines)


def differential_value(
    differential: tuple[tuple[str, float], ...], n: int = 5
) -> dict[str, float] | None:
    """The chart's value: the top ``n`` conditions and their likelihoods, or None (empty)."""
    if not differential:
        return None
    top = sorted(differential, key=lambda item: -item[1])[:n]
    return {name: float(p) for name, p in top}


def banner_html(escalation: Escalation | None) -> str:
    """A red banner with the advice and why, or nothing."""
    if escalation is None:
        return ""
    return (
        '<div id="red-flag" role="alert" style="background:#b3261e;color:#fff;padding:14px 18px;'
        'border-radius:8px;font-size:1.05rem">'
        f"<strong>Urgent: {html.escape(escalation.advice)}</strong>"
        f'<div style="margin-top:6px">Why: {html.escape(escalation.reason)}</div></div>'
    )
