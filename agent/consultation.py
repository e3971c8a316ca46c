"""The consultation loop: one patient message in, a stream of typed steps out.

``Consultation.respond(text)`` screens for red flags first (an emergency ends the history at
once), updates the state from the extracted findings, asks the planner for the next action,
and yields ``Question``, ``Retrieval``, ``Assessment`` or ``Escalation`` steps, each with its
reason. The terminal chat, the UI and the simulator all consume the same steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.belief import beyond_pack
from agent.candidates import (
    CandidateConfig,
    merge,
    name_outside,
    normalise_name,
    outside_query,
    outside_share,
    symptom_names,
    unexplained,
    weigh_share,
)
from agent.citations import clean_citations
from agent.emergency import LEARNED_ADVICE, EmergencyClassifier
from agent.extract import EmbeddingMatcher, PhraseTable, content_words, extract
from agent.investigations import catalogue, evidence, not_done, read_result
from agent.knowledge import Pack, Urgency
from agent.lm import ChatModel, GenerationOptions
from agent.planner import Ask, Conclude, PlannerConfig, next_action, ranked_asks
from agent.prompts import policy_messages, render
from agent.state import ConsultationState
from agent.triage import RedFlagHit, screen
from retrieval.documents import Passage
from retrieval.index import KnowledgeIndex

MAX_MESSAGE_CHARS = 2000
DISCLAIMER = (
    "This is information to help you talk to a clinician, not a diagnosis. If you get worse or "
    "are worried, contact a doctor; in an emergency call your local emergency number."
)


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["planner", "hybrid", "llm"] = Field(
        "planner",
        description="planner: the information-gain planner decides and the LM phrases; "
        "hybrid: the LM picks among the planner's best questions; llm: the LM decides alone.",
    )
    hybrid_options: int = Field(3, ge=2, le=10, description="Questions offered in hybrid mode.")
    planner: PlannerConfig = Field(default_factory=PlannerConfig)
    phrase_questions: bool = Field(True, description="Let the LM phrase the planner's question.")
    retrieval_k: int = Field(4, ge=0, le=20, description="Passages cited in the assessment.")
    candidates: CandidateConfig = Field(default_factory=CandidateConfig)
    assessment_tokens: int = Field(200, ge=16, description="LM tokens for the assessment text.")


@dataclass(frozen=True)
class Question:
    text: str
    target: str
    kind: str
    reason: str
    differential: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Retrieval:
    query: str
    passages: tuple[Passage, ...]
    reason: str


@dataclass(frozen=True)
class Assessment:
    text: str
    differential: tuple[tuple[str, float], ...]
    cited: tuple[tuple[int, Passage], ...]
    urgency: str
    reason: str


@dataclass(frozen=True)
class Escalation:
    advice: str
    reason: str
    rules: tuple[str, ...]
    findings: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    text: str
    reason: str


@dataclass(frozen=True)
class Token:
    """A piece of the assessment while the model writes it; the Assessment step that follows
    carries the final, checked text, which replaces the draft."""

    text: str


Step = Question | Retrieval | Assessment | Escalation | Notice | Token


PHRASE_TOKENS = 24  # a plain question fits; a longer reply falls back to the catalogue wording
GENERIC_WORDS = frozenset({"pain", "you", "any", "notice", "feel", "had"})


def _finding_of(target: str | None) -> str | None:
    return target.removeprefix("rf:") if target else None


def question_is_about(text: str, target_words: set[str]) -> bool:
    """A phrased question is kept only if it is a question and still names the finding."""
    text = text.strip()
    if not text.endswith("?") or len(text) > 240 or "\n" in text:
        return False
    return bool(content_words(text) & target_words)


def summary_is_grounded(summary: str, leading: str) -> bool:
    """The model's summary is kept only if it names the leading condition."""
    name = content_words(leading) - GENERIC_WORDS
    return bool(name) and len(name & content_words(summary)) >= max(1, len(name) // 2)


@dataclass
class Consultation:
    pack: Pack
    table: PhraseTable
    config: AgentConfig = field(default_factory=AgentConfig)
    model: ChatModel | None = None
    index: KnowledgeIndex | None = None
    matcher: EmbeddingMatcher | None = None
    emergency: EmergencyClassifier | None = None
    state: ConsultationState = field(default_factory=ConsultationState)
    finished: bool = False
    transcript: list[tuple[str, str]] = field(default_factory=list)  # (role, text)

    def differential(self, n: int = 5) -> tuple[tuple[str, float], ...]:
        """The leading conditions by name, with their probabilities."""
        return tuple((self.pack.conditions[c].name, p) for c, p in self._top(n))

    def full_differential(self) -> tuple[tuple[str, float], ...]:
        """The differential a conclusion now would give, candidates beyond the pack included,
        without retrieving passages for or writing an assessment (an escalation has none)."""
        top = self._top()
        steps = self._outside_candidates(Conclude("", top))
        while True:
            try:
                next(steps)
            except StopIteration as done:
                outside, share = done.value
                break
        return tuple((n, p) for n, p, _ in self._merge(top, outside, share))

    def respond(self, text: str) -> Iterator[Step]:
        text = " ".join(text.split())
        if not text:
            yield Notice("Please tell me in your own words what is troubling you.", "empty message")
            return
        if len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS]
            yield Notice(
                f"Your message was long; I read the first {MAX_MESSAGE_CHARS} characters.",
                "message truncated",
            )
        if self.finished:
            self.state = ConsultationState()
            self.finished = False
            self.transcript = []
        self.transcript.append(("patient", text))
        last = self.state.last_asked
        asked_finding = (
            _finding_of(last) if last and _finding_of(last) in self.pack.findings else None
        )
        found = extract(text, self.table, self.state.turn, asked_finding, self.matcher)
        self.state = self.state.with_extraction(found, text)
        if last and last in self.pack.history:
            self.state = self.state.with_history(last, text)
        if last and last.startswith(("exam:", "test:")):
            if not_done(text):
                self.state = self.state.with_unavailable(last)
            else:
                self._record_result(last.split(":", 1)[1], text)
        hits = screen(self.state.present, self.pack)
        if hits:
            self.finished = True
            yield self._escalation(hits)
            return
        learned = self._learned_escalation(text)
        if learned is not None:
            self.finished = True
            yield learned
            return
        action = self._decide()
        if isinstance(action, Ask):
            self.state = self.state.with_question(action.target)
            text = action.question if action.kind == "llm" else self._phrase(action)
            self.transcript.append(("doctor", text))
            yield Question(text, action.target, action.kind, action.reason, self.differential())
            return
        self.finished = True
        yield from self._conclude(action)

    def conclude(self, reason: str = "asked to conclude") -> Iterator[Step]:
        """End the history now: the assessment from what is known so far."""
        self.finished = True
        yield from self._conclude(Conclude(reason, self._top()))

    def _record_result(self, key: str, text: str) -> None:
        inv = catalogue(self.pack).get(key)
        if inv is None:
            return
        config = self.config.planner.investigations
        similarity = None
        if self.matcher is not None:
            embedder = self.matcher.embedder

            def similarity(result: str, expectations: list[str]) -> list[float]:
                vectors = embedder.encode([result, *expectations])
                return [float(v) for v in vectors[1:] @ vectors[0]]

        support = read_result(text, inv, config, similarity)
        if support is not None:
            self.state = self.state.with_result(
                evidence(key, text, self.state.turn, support, config)
            )

    def _decide(self) -> Ask | Conclude:
        """The next action under the configured policy."""
        policy = self.config.policy if self.model is not None else "planner"
        if policy == "llm":  # the planner is not consulted at all
            return self._llm_decides()
        action = next_action(self.state, self.pack, self.config.planner)
        if policy == "hybrid" and isinstance(action, Ask) and action.kind == "finding":
            return self._hybrid(action)
        return action

    def _hybrid(self, best: Ask) -> Ask:
        """The model picks among the planner's best questions. A model that can score
        replies (the transformers backend, with the questioning adapter) ranks them as its
        own next message in the llm policy's prompt; others are asked for an option number."""
        options = ranked_asks(
            self.state, self.pack, self.config.planner, n=self.config.hybrid_options
        )
        if len(options) < 2:
            return best
        if hasattr(self.model, "score"):
            scores = self.model.score(self._policy_messages(), [o.question for o in options])
            i = max(range(len(options)), key=lambda k: scores[k])
            why = (
                f"the model ranked option {i + 1} of {len(options)} highest "
                f"({scores[i]:.2f} against {max(s for k, s in enumerate(scores) if k != i):.2f})"
            )
            return replace(options[i], reason=f"{why}: {options[i].reason}")
        known = ", ".join(sorted(self.pack.findings[f].name.lower() for f in self.state.present))
        prompt = render(
            "hybrid_choice",
            complaint=self.state.chief_complaint,
            known=known,
            options=[o.question for o in options],
        )
        reply = "".join(
            self.model.stream(
                [{"role": "user", "content": prompt}],
                GenerationOptions(max_new_tokens=4, policy=True),
            )
        )
        digits = [int(d) for d in reply if d.isdigit()]
        if digits and 1 <= digits[0] <= len(options):
            chosen = options[digits[0] - 1]
            return replace(chosen, reason=f"the model chose option {digits[0]}: {chosen.reason}")
        why = f"the model's choice {reply.strip()[:20]!r} was not an option; {best.reason}"
        return replace(best, reason=why)

    def _policy_messages(self) -> list[dict]:
        """The llm policy's prompt, with passages for the chief complaint."""
        passages = ()
        if self.index is not None and self.state.chief_complaint:
            passages = tuple(h.passage for h in self.index.search(self.state.chief_complaint, 3))
        return policy_messages(passages, self.transcript)

    def _llm_decides(self) -> Ask | Conclude:
        """The LM alone decides, from the conversation and retrieved context; only the
        question budget is enforced, and a repeated or empty question ends the history."""
        budget = self.config.planner.max_questions
        if len(self.state.asked) >= budget:
            return Conclude(f"question budget of {budget} reached", self._top())
        messages = self._policy_messages()
        options = GenerationOptions(max_new_tokens=48, policy=True)
        reply = "".join(self.model.stream(messages, options))
        reply = reply.strip().split("\n")[0].strip()
        asked_texts = {t for r, t in self.transcript if r == "doctor"}
        if not reply or "CONCLUDE" in reply.upper() or reply in asked_texts:
            why = (
                "the model concluded"
                if reply and "CONCLUDE" in reply.upper()
                else ("the model repeated a question" if reply else "the model gave no question")
            )
            return Conclude(why, self._top())
        history = {normalise_name(i.question): key for key, i in self.pack.history.items()}
        found = extract(reply, self.table)
        known = set(self.state.observations) | {_finding_of(a) for a in self.state.asked}
        target = history.get(normalise_name(reply))  # a standard history question, as worded
        target = target or next(
            (o.finding for o in found.observations if o.finding not in known), None
        )
        target = target or f"free:{len(self.state.asked)}"
        return Ask(target, "llm", reply, 0.0, (), "the model chose this question")

    def _top(self, n: int = 5) -> tuple[tuple[str, float], ...]:
        from agent.belief import posterior

        post = posterior(self.state, self.pack, self.config.planner.belief)
        return tuple((c, round(p, 4)) for c, p in list(post.items())[:n])

    def _learned_escalation(self, text: str) -> Escalation | None:
        """The learned classifier's second opinion when no rule fired: it errs towards safety."""
        if self.emergency is None:
            return None
        flagged, p = self.emergency.flags(text)
        if not flagged:
            return None
        names = sorted(self.pack.findings[f].name.lower() for f in self.state.present)
        reason = (
            f"what you describe reads like an emergency (a classifier trained on emergency and "
            f"non-urgent messages rates it {p:.0%}, at or above its {self.emergency.threshold:.0%} "
            "threshold); no single warning-sign rule matched, so this errs on the side of safety"
        )
        return Escalation(LEARNED_ADVICE, reason, ("learned_classifier",), tuple(names))

    def _escalation(self, hits: list[RedFlagHit]) -> Escalation:
        first = hits[0]
        names = sorted({self.pack.findings[f].name for h in hits for f in h.findings})
        reason = f"{first.reason} (you mentioned: {', '.join(n.lower() for n in names)})"
        return Escalation(first.advice, reason, tuple(h.rule for h in hits), tuple(names))

    def _phrase(self, action: Ask) -> str:
        fid = _finding_of(action.target)
        if self.model is None or not self.config.phrase_questions or fid not in self.pack.findings:
            return action.question
        finding = self.pack.findings[fid]
        words = content_words(" ".join([finding.name, *finding.lay])) - GENERIC_WORDS
        words = words or content_words(finding.name)
        prompt = render(
            "phrase_question",
            question=action.question,
            finding=finding.name,
            complaint=self.state.chief_complaint,
        )
        reply = ""
        for piece in self.model.stream(
            [{"role": "user", "content": prompt}], GenerationOptions(max_new_tokens=PHRASE_TOKENS)
        ):
            reply += piece
            if "?" in reply or "\n" in reply.strip():  # one question is all we want
                break
        reply = reply.split("?")[0].strip().strip('"') + "?" if "?" in reply else reply.strip()
        return reply if question_is_about(reply, words) else action.question

    def _conclude(self, action: Conclude) -> Iterator[Step]:
        top_ids = [c for c, _ in action.top[:3]]
        present = sorted(self.pack.findings[f].name.lower() for f in self.state.present)
        passages: tuple[Passage, ...] = ()
        if self.index is not None and self.config.retrieval_k:
            query = " ".join([*(self.pack.conditions[c].name for c in top_ids[:2]), *present[:6]])
            passages = tuple(h.passage for h in self.index.search(query, k=self.config.retrieval_k))
            yield Retrieval(query, passages, "passages for the leading conditions and findings")
        outside, share = yield from self._outside_candidates(action)
        # The whole ranking (``candidates.differential`` names), as an escalation is scored:
        # a name under 1% stays a possibility; only the likely ones bring their passages.
        merged = self._merge(action.top, outside, share)
        differential = tuple((n, p) for n, p, _ in merged)
        likely = {n for n, p, o in merged if o == "index" and p >= 0.01}
        extra = [c for c in outside if c.name in likely]
        seen = {p.id for p in passages}
        for c in extra:
            passages += tuple(p for p in c.passages[:1] if p.id not in seen)
            seen |= {p.id for p in c.passages[:1]}
        urgency = min(
            (self.pack.conditions[c].urgency for c in top_ids[:2]),
            key=lambda u: u.rank,
            default=Urgency.within_days,
        )
        text, cited = yield from self._assessment_text(
            top_ids, dict(differential), passages, urgency, extra
        )
        yield Assessment(text, differential, cited, urgency.value, action.reason)

    def _merge(self, top, outside, share: float) -> list[tuple[str, float, str]]:  # noqa: ANN001
        """The pack's leading conditions (ids) and the outside candidates in one ranking."""
        pack_top = [(self.pack.conditions[c].name, p) for c, p in top]
        config = self.config.candidates
        return merge(pack_top, outside, share, config.differential, config.temperature)

    def _outside_candidates(self, action: Conclude):  # noqa: ANN202 - a generator returning
        """Candidates beyond the pack, with the probability share they get."""
        config = self.config.candidates
        if self.index is None or not config.enabled or not action.top:
            return [], 0.0
        leading = action.top[0][0]
        missing = unexplained(self.state, self.pack, leading)
        beyond = beyond_pack(self.state, self.pack, self.config.planner.belief)
        share = outside_share(missing, config, beyond)
        said = [text for role, text in self.transcript if role == "patient"]
        query = outside_query(self.state, self.pack, said, config.query_words)
        if share <= 0 or not query:
            return [], 0.0
        named = name_outside(self.index, query, config, symptom_names(self.pack))
        outside = named.candidates
        weighed = weigh_share(share, named.lead, config.evidence_temperature)
        if outside:
            evidence = ""
            if weighed != share:
                better = "better" if named.lead > 0 else "worse"
                evidence = (
                    f"; the best of them matches what was said {better} than any pack "
                    f"condition (by {abs(named.lead):.2f}), which moves their share from "
                    f"{share:.0%} to {weighed:.0%}"
                )
            why = (
                f"the condition is {beyond:.0%} likely to be beyond the knowledge pack and "
                f"{missing:.0%} of the findings are not listed for "
                f"{self.pack.conditions[leading].name}; candidates named from the wider index "
                f"share {share:.0%} of the probability{evidence}"
            )
            yield Retrieval(query, tuple(p for c in outside for p in c.passages[:1]), why)
        return outside, (weighed if outside else 0.0)

    def _assessment_text(self, top_ids, likelihood, passages, urgency, extra=()):  # noqa: ANN001, ANN202
        conditions = [self.pack.conditions[c] for c in top_ids]
        conditions = [c for c in conditions if likelihood.get(c.name, 0) >= 0.01] or conditions[:1]
        present, absent = self.state.present, self.state.absent
        rows = []
        for c in conditions:
            listed = {f.id for f in c.findings}
            rows.append(
                {
                    "name": c.name,
                    "likelihood": likelihood.get(c.name, 0.0),
                    "for": [self.pack.findings[f].name.lower() for f in sorted(present & listed)],
                    "against": [
                        self.pack.findings[f].name.lower()
                        for f in sorted((absent & listed) | (present & set(c.against)))
                    ],
                    "tests": [t.name for t in c.tests[:3]],
                    "care": c.when_to_seek_care,
                }
            )
        pieces: list[str] = []
        if self.model is not None:
            prompt = render("assessment", conditions=rows, passages=passages)
            for piece in self.model.stream(
                [{"role": "user", "content": prompt}],
                GenerationOptions(max_new_tokens=self.config.assessment_tokens),
            ):
                pieces.append(piece)
                yield Token(piece)
        summary = "".join(pieces).strip()
        summary, numbers = clean_citations(summary, passages)
        if summary and rows and not summary_is_grounded(summary, rows[0]["name"]):
            summary, numbers = "", []  # a summary that does not name the leading condition
        others = [
            {
                "name": c.name,
                "code": c.code,
                "likelihood": likelihood.get(c.name, 0.0),
                "sources": [i + 1 for i, p in enumerate(passages) if p in c.passages],
            }
            for c in extra
        ]
        text = render(
            "assessment_report",
            conditions=rows,
            others=others,
            summary=summary,
            urgency=urgency.value.replace("_", " "),
            disclaimer=DISCLAIMER,
            passages=passages,
        )
        return text, tuple((n, passages[n - 1]) for n in numbers)
