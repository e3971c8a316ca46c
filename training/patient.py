"""The two simulated roles of an evaluation: the patient and the measurement desk.

``SimulatedPatient(case, pack, embedder).answer(question, target, kind)`` answers only from the
case's patient-facing facts (chosen by target, embedding similarity or words) and tracks what it
revealed; ``Measurement(case, pack, embedder).answer(...)`` returns exam and test results asked
for by name. ``threshold_sweep`` is how the patient's similarity threshold was chosen.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.extract import PhraseTable, content_words, extract, tokens
from agent.knowledge import Pack
from agent.labs import load_ranges
from agent.lm import ChatModel, GenerationOptions
from agent.prompts import render
from training.cases import Case, names_diagnosis

DENY = "No, not that I've noticed."
UNKNOWN = "I don't know."
MEASURED = ("exam", "test")


class TextEmbedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class CachedEmbedder:
    """An embedder that remembers every text it has embedded and embeds only new ones, in one
    batch: questions, wordings and answers repeat across an evaluation's consultations."""

    def __init__(self, embedder: TextEmbedder) -> None:
        self.embedder = embedder
        self.cache: dict[str, np.ndarray] = {}

    def __getattr__(self, name: str) -> object:  # dim, model, config of the wrapped embedder
        return getattr(self.embedder, name)

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        new = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if new:
            for text, row in zip(new, self.embedder.encode(new), strict=True):
                self.cache[text] = row
        if not texts:
            return self.embedder.encode([])
        return np.stack([self.cache[t] for t in texts])


class PatientConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(
        0.55,
        ge=0,
        le=1,
        description="Cosine a fact needs to answer a question: the F1 maximum of "
        "threshold_sweep on 100 synthetic training cases (never chosen on AgentClinic).",
    )
    max_facts: int = Field(2, ge=1, le=10, description="Facts given in one answer at most.")
    voice: Literal["facts", "llm"] = Field(
        "facts", description="facts: say the selected facts; llm: a chat model rephrases them."
    )
    voice_tokens: int = Field(64, ge=8, description="Tokens the voicing model may write.")


@dataclass(frozen=True)
class Reply:
    text: str
    facts: tuple[int, ...] = ()  # fact indexes (patient) it reveals
    results: tuple[str, ...] = ()  # result names (measurement) it gives
    rule: str = ""  # how it was chosen: target, duration, words, embedding, default, ...


def finding_of(target: str, pack: Pack) -> str | None:
    """The pack finding a question's target names ("rf:fever", "exam:x", "fever"), if any."""
    name = target.split(":", 1)[1] if ":" in target else target
    return name if name in pack.findings else None


def shared(asked: set[str], said: set[str]) -> int:
    """Words of a question found in a fact, a word also meeting its longer forms of four
    letters or more ("smoke" meets "smoker")."""
    return sum(1 for a in asked if any(w == a or (len(a) >= 4 and w.startswith(a)) for w in said))


GENERIC = frozenset("pain you any have feel notice had get do does did been yes no ever".split())
# History questions that ask for a list ("what else have you noticed?", "what conditions have
# you had?", "what medicines do you take?") and the case sections that answer them: a patient
# who knows their own history answers with it, where a single fact need not resemble the
# question's wording (AgentClinic keeps these sections apart; synthetic cases have symptoms).
# The open questions ("tell me about it", "what else?", "anything else?") are answered with
# what is there, never with a denial, from their first section before the next; each answer
# gives at most ``max_facts``, so asking again in other words brings out more.
LIST_QUESTIONS = {
    "associated_symptoms": ("symptoms",),
    "anything_else": ("symptoms", "history"),
    "presenting_complaint": ("history", "symptoms"),
    "past_medical_history": ("past_history",),
    "medicines": ("current_medications", "medications", "drug_history"),
}


OPEN_QUESTIONS = (
    "associated_symptoms",
    "anything_else",
    "presenting_complaint",
)  # answered with what is there


class SimulatedPatient:
    """Answers from the patient-facing facts of one case and nothing else."""

    def __init__(
        self,
        case: Case,
        pack: Pack,
        table: PhraseTable,
        embedder: TextEmbedder | None = None,
        config: PatientConfig | None = None,
        model: ChatModel | None = None,
    ) -> None:
        self.case, self.pack, self.table = case, pack, table
        self.embedder = embedder
        self.config = config or PatientConfig()
        if self.config.voice == "llm" and model is None:
            raise ValueError("the LLM-voiced patient needs a chat model")
        self.model = model
        self.revealed: set[int] = set(case.opening_facts)
        texts = [f.text for f in case.facts]
        self.fact_findings = [{o.finding for o in extract(t, table).observations} for t in texts]
        self.fact_words = [content_words(t) - GENERIC for t in texts]
        self.vectors = embedder.encode(texts) if embedder is not None and texts else None

    @property
    def coverage(self) -> float:
        """The share of the patient's facts said so far (the opening included)."""
        return len(self.revealed) / max(len(self.case.facts), 1)

    def answer(self, question: str, target: str = "", kind: str = "") -> Reply:
        reply = self._select(question, target)
        if reply.facts:
            self.revealed.update(reply.facts)
            if self.config.voice == "llm":
                return Reply(
                    self._voice(question, reply.text), reply.facts, (), reply.rule + "+llm"
                )
        return reply

    def _select(self, question: str, target: str) -> Reply:
        case, fid = self.case, finding_of(target, self.pack)
        if fid and self.pack.findings[fid].kind in MEASURED:
            return Reply(UNKNOWN, rule="not the patient's to say")
        if case.source == "synthetic" and fid and fid in (*case.present, *case.absent):
            chosen = [i for i, f in enumerate(case.facts) if f.finding == fid]
            if chosen:
                return self._say(chosen, "target")
        if target in LIST_QUESTIONS:
            sections = LIST_QUESTIONS[target]
            listed = [
                i
                for section in sections  # the first section the question asks for first
                for i, f in enumerate(case.facts)
                if f.section == section
                and i not in self.revealed
                and (f.present or target not in OPEN_QUESTIONS)  # what else is there
            ]
            if listed:
                return self._say(listed[: self.config.max_facts], "section")
        if target in ("duration", "onset"):
            timed = [i for i, f in enumerate(case.facts) if f.topic == "duration"]
            if len(timed) > 1 and self.vectors is not None:  # the one nearest the complaint
                near = self.vectors[timed] @ self.embedder.encode([case.opening])[0]
                timed = [timed[int(np.argmax(near))]]
            if timed:
                return self._say(timed[:1], "duration")
        by_finding = [i for i, found in enumerate(self.fact_findings) if fid and fid in found]
        scores = self._similarities(question, fid)
        by_meaning: list[int] = []
        if scores is not None:
            order = np.argsort(-scores)
            by_meaning = [int(i) for i in order if scores[i] >= self.config.threshold]
        chosen = list(dict.fromkeys(by_finding + by_meaning))[: self.config.max_facts]
        if chosen:
            rule = "finding" if by_finding else "embedding"
            return self._say(chosen, rule)
        asked = content_words(question) - GENERIC
        if fid:
            asked |= content_words(self.pack.findings[fid].name) - GENERIC
        need = max(min(2, len(asked)), math.ceil(len(asked) / 2))  # most of the question
        overlap = [
            i
            for i, words in enumerate(self.fact_words)
            if asked and words and shared(asked, words) >= need
        ]
        if overlap:
            return self._say(overlap[: self.config.max_facts], "words")
        about_finding = fid is not None or bool(extract(question, self.table).observations)
        return Reply(DENY if about_finding else UNKNOWN, rule="default")

    def _similarities(self, question: str, fid: str | None) -> np.ndarray | None:
        if self.vectors is None or not question.strip():
            return None
        queries = [question]
        if fid:
            f = self.pack.findings[fid]
            queries += [f.name, *f.lay]
        return (self.embedder.encode(queries) @ self.vectors.T).max(axis=0)

    def _say(self, chosen: list[int], rule: str) -> Reply:
        text = " ".join(self.case.facts[i].text for i in chosen)
        return Reply(text, tuple(chosen), (), rule)

    def _voice(self, question: str, said: str) -> str:
        """The selected facts in the patient's own voice; the plain facts if the model adds
        the diagnosis, says nothing, or rambles."""
        prompt = render("patient_voice", question=question, facts=said)
        options = GenerationOptions(max_new_tokens=self.config.voice_tokens)
        reply = "".join(self.model.stream([{"role": "user", "content": prompt}], options))
        reply = " ".join(reply.split()).strip('"')
        diagnosis = self.case.diagnosis
        leaks = diagnosis and names_diagnosis(reply, diagnosis)
        if not reply or len(reply) > 400 or leaks:
            return said
        return reply


# ---------------------------------------------------------------------------------------------
# Measurement

_ABBREVIATIONS = {
    ("computed", "tomography"): "ct",
    ("cat", "scan"): "ct",
    ("magnetic", "resonance", "imag"): "mri",
    ("magnetic", "resonance"): "mri",
    ("complete", "blood", "count"): "cbc",
    ("full", "blood", "count"): "cbc",
    ("x", "ray"): "xray",
    ("chest", "radiograph"): "chest xray",
    ("liver", "function"): "lft",
    ("blood", "pressure"): "bp",  # a vital sign, not a blood test
}
_WORD_ALIASES = {
    "electrocardiogram": "ecg",
    "ekg": "ecg",
    "fbc": "cbc",
    "radiograph": "xray",
    "cxr": "chest xray",
    "ultrasonography": "ultrasound",
    "sonography": "ultrasound",
    "lfts": "lft",
}
RESULT_GENERIC = frozenset(
    """test tests exam examination finding result level check assessment evaluation study scan
    panel profile value measurement analysis screen physical general comment note other
    investigation imag work workup lab laboratory""".split()
)


def name_words(text: str) -> set[str]:
    """The words of an exam or test name, normalised, with abbreviations folded."""
    words = tokens(re.sub(r"[-/]", " ", text))
    out: list[str] = []
    i = 0
    while i < len(words):
        for n in (3, 2):
            phrase = tuple(words[i : i + n])
            if phrase in _ABBREVIATIONS:
                out += _ABBREVIATIONS[phrase].split()
                i += n
                break
        else:
            out += _WORD_ALIASES.get(words[i], words[i]).split()
            i += 1
    return {w for w in out if len(w) > 1 and w not in RESULT_GENERIC} - set(",;")


# What a request for a whole kind of test asks for, by the specimen: "blood tests" is every
# blood result (a full blood count, a chemistry panel, a clotting screen...), not only results
# filed under a panel with "blood" in its name, and never the blood pressure.
_BLOOD_PANEL = re.compile(
    r"\b(blood(?!\s+pressure)|bloods|cbc|fbc|serum|plasma|biochem\w*|chemistry|metabolic panel|"
    r"electrolytes?|liver function|lfts?|renal function|kidney function|coagulation|clotting|"
    r"hematolog\w*|haematolog\w*|lipids?|lipid profile|thyroid function|inflammatory markers|"
    r"cardiac (?:markers|enzymes)|iron studies|serolog\w*|endocrine|hormones?)\b"
)
_OTHER_SPECIMEN = re.compile(
    r"\b(urin\w*|dipstick|csf|cerebrospinal|lumbar|stool|fecal|faecal|sputum|synovial|pleural|"
    r"ascitic|peritoneal|fluid|swab|biopsy|aspirate|tissue)"
)
_URINE = re.compile(r"\b(urin\w*|dipstick)")
_IMAGING = re.compile(r"\b(ultrasound|x-?ray|radiograph\w*|ct|mri|scan|imaging)\b")
SPECIMEN_REQUESTS = {"blood": frozenset({"blood"}), "urine": frozenset({"urine", "urinalysis"})}


@functools.cache
def _blood_analytes() -> re.Pattern:
    names = sorted(
        {n for r in load_ranges() if r.specimen == "blood" for n in r.names if len(n) >= 3},
        key=len,
        reverse=True,
    )
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, names)) + r")(?![a-z0-9])")


def specimen_of(name: str) -> str | None:
    """ "blood" or "urine" when a result's name says it was measured in that specimen."""
    lowered = name.lower()
    if _IMAGING.search(lowered):
        return None
    if _URINE.search(lowered):
        return "urine"
    if _OTHER_SPECIMEN.search(lowered):
        return None
    if _BLOOD_PANEL.search(lowered) or _blood_analytes().search(lowered):
        return "blood"
    return None


def requested_specimen(asked: set[str]) -> str | None:
    """The specimen a request names and nothing more specific ("blood tests", "urinalysis")."""
    for specimen, words in SPECIMEN_REQUESTS.items():
        if asked and asked <= words:
            return specimen
    return None


def result_text(name: str, value: str) -> str:
    """One exam or test result as the measurement desk says it."""
    return f"{name}: {value}"


class MeasurementConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    missing: Literal["normal", "not_done"] = Field(
        "normal",
        description="What an exam or test the case does not record returns: 'Normal.' (as "
        "AgentClinic's measurement agent does) or 'Not done.'.",
    )
    threshold: float = Field(
        0.8, ge=0, le=1, description="Cosine between a requested name and a result name."
    )
    max_chars: int = Field(1500, ge=100, description="Longest answer; the rest is cut.")


class Measurement:
    """Gives a case's exam findings and test results only when asked for them by name."""

    def __init__(
        self,
        case: Case,
        pack: Pack,
        embedder: TextEmbedder | None = None,
        config: MeasurementConfig | None = None,
    ) -> None:
        self.case, self.pack, self.embedder = case, pack, embedder
        self.config = config or MeasurementConfig()
        self.results = [*case.exams.items(), *case.tests.items()]
        self.segments = [[name_words(s) for s in name.split(" / ")] for name, _ in self.results]
        self.given: set[str] = set()

    def answer(self, question: str, target: str = "", kind: str = "") -> Reply:
        fid = finding_of(target, self.pack)
        name = self.pack.findings[fid].name if fid else target.split(":", 1)[-1]
        name = name.replace("_", " ").strip()
        if self.case.source == "synthetic" and fid:
            if fid in self.case.present and name in dict(self.results):
                return self._give([name], "target")
            return self._missing("target", normal=True)
        chosen = self._by_words(name or question)
        rule = "name"
        if not chosen and self.embedder is not None and self.results:
            chosen, rule = self._by_meaning(name or question), "embedding"
        if chosen:
            return self._give(chosen, rule)
        return self._missing("default")

    def _by_words(self, request: str) -> list[str]:
        asked = name_words(request)
        if not asked:
            return []
        specimen = requested_specimen(asked)
        if specimen is not None:
            return [name for name, _ in self.results if specimen_of(name) == specimen]
        best: tuple[int, int] = (0, 0)
        chosen: list[str] = []
        for (name, _), segments in zip(self.results, self.segments, strict=True):
            words = set().union(*segments) if segments else set()
            full = sum(1 for s in segments if s and s <= asked)
            inside = any(asked <= s for s in segments if s)
            covered = len(asked & words)
            if not (full or inside) or covered < len(asked) / 2:
                continue  # "CT abdomen and pelvis" is not the abdominal examination
            rank = (covered, full)
            if rank > best:
                best, chosen = rank, [name]
            elif rank == best:
                chosen.append(name)
        return chosen

    def _by_meaning(self, request: str) -> list[str]:
        names = [n for n, _ in self.results]
        vectors = self.embedder.encode([request, *names])
        sims = vectors[1:] @ vectors[0]
        j = int(sims.argmax())
        return [names[j]] if sims[j] >= self.config.threshold else []

    def _give(self, names: list[str], rule: str) -> Reply:
        values = dict(self.results)
        self.given.update(names)
        text = "; ".join(result_text(n, values[n]) for n in names)
        if len(text) > self.config.max_chars:
            text = text[: self.config.max_chars].rsplit(" ", 1)[0] + " ..."
        return Reply(text, (), tuple(names), rule)

    def _missing(self, rule: str, normal: bool = False) -> Reply:
        if normal or self.config.missing == "normal":
            return Reply("Normal.", rule=f"{rule}: normal")
        return Reply("Not done.", rule=f"{rule}: not done")


# ---------------------------------------------------------------------------------------------
# How the patient's threshold was chosen


def threshold_sweep(
    cases: Sequence[Case],
    pack: Pack,
    embedder: TextEmbedder,
    thresholds: Sequence[float] = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8),
    negatives: int = 8,
    seed: int = 0,
    max_facts: int = 2,
) -> list[dict[str, float]]:
    """Precision, recall and F1 of the facts chosen for a question (at most ``max_facts``
    above the threshold, as the patient chooses) on synthetic cases.

    Questions are the pack's questions for the case's findings (positives: the fact written
    for that finding) and for ``negatives`` random other findings; the query never includes the
    lay wording the fact was written from, so the match must come from meaning, not copying."""
    rng = np.random.default_rng(seed)
    all_ids = [f for f in pack.findings if pack.findings[f].kind not in MEASURED]
    asked: list[tuple[np.ndarray, np.ndarray]] = []  # (similarities, is the right fact)
    for case in cases:
        facts = [f for f in case.facts if f.finding]
        if not facts:
            continue
        vectors = embedder.encode([f.text for f in facts])
        own = {f.finding for f in facts}
        others = [all_ids[i] for i in rng.choice(len(all_ids), negatives, replace=False)]
        for fid in [*own, *(o for o in others if o not in own)]:
            finding = pack.findings[fid]
            said = [" ".join(tokens(f.text)) for f in facts if f.finding == fid]
            queries = [finding.question] + [
                w
                for w in [finding.name, *finding.lay]
                if not any(" ".join(tokens(w)) in s for s in said)
            ]
            sims = (embedder.encode(queries) @ vectors.T).max(axis=0)
            asked.append((sims, np.array([f.finding == fid for f in facts])))
    out = []
    for t in thresholds:
        tp = fp = fn = 0
        for sims, right in asked:
            order = [i for i in np.argsort(-sims) if sims[i] >= t][:max_facts]
            hit = int(right[order].sum()) if order else 0
            tp, fp, fn = tp + hit, fp + len(order) - hit, fn + int(right.sum()) - hit
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        out.append(
            {
                "threshold": t,
                "precision": round(p, 4),
                "recall": round(r, 4),
                "f1": round(2 * p * r / max(p + r, 1e-9), 4),
                "questions": len(asked),
            }
        )
    return out
