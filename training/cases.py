"""Evaluation cases: what a simulated patient knows, what measurement returns, and the truth.

``load_agentclinic(path)`` reads any AgentClinic-MedQA style JSONL file; ``synthetic_cases(pack,
n, seed, split=...)`` samples cases from the knowledge pack (the split keeps training cases and
held-out evaluation cases apart); ``redflag_cases()`` wraps the red-flag vignettes.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

from agent.knowledge import Frequency, Pack
from training.labelled import VIGNETTES, read_jsonl

Split = Literal["train", "eval"]
EVAL_SHARE = 5  # one case in EVAL_SHARE (by content hash) is held out for evaluation
PATIENT_KINDS = frozenset({"symptom", "sign", "risk_factor", "history"})
MEASURED_KINDS = frozenset({"exam", "test"})


@dataclass(frozen=True)
class Demographics:
    age_years: float | None
    sex: Literal["female", "male"] | None
    text: str


@dataclass(frozen=True)
class Fact:
    """One atomic statement the patient can make."""

    text: str
    section: str  # history, symptoms, past_history, social_history, review_of_systems, ...
    present: bool = True  # False: a denial ("denies chest pain")
    finding: str | None = None  # the pack finding it states (synthetic cases)
    topic: str | None = None  # "duration" when it says how long


@dataclass(frozen=True)
class Case:
    """One evaluation sample: the patient's side, the measurement side and the truth."""

    id: str
    source: Literal["agentclinic", "synthetic", "redflags"]
    demographics: Demographics
    opening: str  # what the patient says first
    facts: tuple[Fact, ...]
    exams: dict[str, str] = field(default_factory=dict)  # "Neurological Examination / Reflexes"
    tests: dict[str, str] = field(default_factory=dict)
    diagnosis: str = ""  # ground truth; empty for the red-flag vignettes
    opening_facts: tuple[int, ...] = ()  # facts the opening statement already states
    condition: str | None = None  # pack condition id (synthetic)
    present: tuple[str, ...] = ()  # finding ids present (synthetic)
    absent: tuple[str, ...] = ()  # finding ids of the condition sampled absent (synthetic)
    label: str | None = None  # "emergency" | "non_urgent" (red-flag vignettes)
    split: Split | None = None
    withheld: tuple[str, ...] = ()  # source sentences left out because they name the diagnosis

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Atomic facts from free text

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|;\s*")
_NOT_GIVEN = re.compile(
    r"\b(not (provided|specified|available|documented|mentioned|reported|given|noted)|"
    r"no (additional|other|further) (symptoms|information|details|history)? ?"
    r"(provided|reported|given|noted|mentioned)|n/a|none provided)\b",
    re.I,
)
_DENY = re.compile(
    r"^(?P<who>(?:the )?(?:patient|pt|she|he|they|mother|father|parents?)?\s*(?:also\s+)?)"
    r"(?P<cue>denies|denied|reports no|has no|had no|no|negative for)\s+(?P<rest>.+)$",
    re.I,
)
_LEAD_IN = re.compile(
    r"^(?:any\s+|experiencing\s+|having\s+|had\s+|history of\s+|recent\s+history of\s+)+", re.I
)
_LIST_SPLIT = re.compile(r",\s*(?:and\s+|or\s+|nor\s+)?|\s+(?:or|nor|and)\s+")
_DURATION = re.compile(
    r"\b(\d+(\.\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|a few|several|a|an)"
    r"[- ](hour|day|week|month|year)s?\b(?![- ]old)|\bsince\b|\bfor the (past|last)\b",
    re.I,
)
_NEGATED = re.compile(r"\b(no|not|never|denies|denied|without|negative)\b", re.I)
MAX_ITEM_WORDS = 6


def _clean(text: str) -> str:
    return " ".join(str(text).split()).strip(" ;,")


def _sentences(text: str) -> list[str]:
    return [s for s in (_clean(p) for p in _SENTENCE.split(_clean(text))) if s]


def _sentence(text: str) -> str:
    text = _clean(text).rstrip(".")
    return text[:1].upper() + text[1:] + "."


def _items(text: str) -> list[str]:
    parts = [_clean(p).rstrip(".") for p in _LIST_SPLIT.split(text)]
    return [p for p in parts if p]


def atomic_facts(text: str, section: str) -> list[Fact]:
    """A passage as single statements: sentences, denial lists split into one denial each
    ("denies chest pain, palpitations or fever" -> three), short comma lists split."""
    out: list[Fact] = []
    for sentence in _sentences(text):
        if _NOT_GIVEN.search(sentence):
            continue
        body = sentence.rstrip(".")
        deny = _DENY.match(body)
        if deny and len(deny.group("who").split()) <= 3:
            rest = _LEAD_IN.sub("", deny.group("rest"))
            items = [_LEAD_IN.sub("", i) for i in _items(rest)]
            word = "Denies" if deny.group("cue").lower().startswith("den") else "No"
            listed = "," in rest and len(items) >= 2
            if listed and all(len(i.split()) <= MAX_ITEM_WORDS for i in items):
                out += [Fact(f"{word} {i}.", section, present=False) for i in items]
                continue
            out.append(Fact(_sentence(sentence), section, present=False))
            continue
        parts = [_clean(p) for p in body.split(",")]
        if len(parts) >= 2 and all(0 < len(p.split()) <= MAX_ITEM_WORDS for p in parts):
            parts = [re.sub(r"^(and|or)\s+", "", p) for p in parts]
            out += [Fact(_sentence(p), section, not _NEGATED.search(p)) for p in parts if p]
            continue
        out.append(Fact(_sentence(sentence), section, not _NEGATED.search(sentence)))
    return [
        Fact(f.text, f.section, f.present, f.finding, "duration")
        if f.present and section in ("history", "symptoms") and _DURATION.search(f.text)
        else f
        for f in out
    ]


def _flatten(value: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Nested result dicts as ("A / B / C", text) pairs; lists are joined."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _flatten(sub, (*path, str(key).replace("_", " ").strip()))
    elif isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            yield " / ".join(path), "; ".join(_clean(v) for v in value)
        else:
            for n, sub in enumerate(value, 1):
                yield from _flatten(sub, (*path, str(n)))
    elif value is not None and _clean(value):
        yield " / ".join(path) or "Result", _clean(value)


def _norm_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("'s", ""))


def names_diagnosis(text: str, diagnosis: str) -> bool:
    """Whether a text names the diagnosis: all the words of its name, or of an abbreviation
    in brackets ("... (PML)"), in order, as whole words."""
    names = [re.sub(r"\([^)]*\)", " ", diagnosis), *re.findall(r"\(([^)]*)\)", diagnosis)]
    words = _norm_words(text)
    for name in names:
        target = _norm_words(name)
        n = len(target)
        if n and any(words[i : i + n] == target for i in range(len(words) - n + 1)):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# AgentClinic-MedQA

_AGE = re.compile(r"(\d+(?:\.\d+)?)[- ]?(year|yr|month|week|day)s?[- ]old", re.I)
_FEMALE = re.compile(r"\b(female|woman|girl|lady|mother|pregnant)\b", re.I)
_MALE = re.compile(r"\b(male|man|boy|gentleman|father)\b", re.I)
_UNIT_YEARS = {"year": 1.0, "yr": 1.0, "month": 1 / 12, "week": 1 / 52, "day": 1 / 365}
SECTIONS = {
    "History": "history",
    "Past_Medical_History": "past_history",
    "Social_History": "social_history",
    "Review_of_Systems": "review_of_systems",
}


def parse_demographics(text: str) -> Demographics:
    m = _AGE.search(text)
    age = float(m.group(1)) * _UNIT_YEARS[m.group(2).lower()] if m else None
    if age is None and re.search(r"\b(newborn|neonate)\b", text, re.I):
        age = 0.0
    sex = "female" if _FEMALE.search(text) else "male" if _MALE.search(text) else None
    return Demographics(age, sex, _clean(text))


def opening_statement(demo: Demographics, complaint: str) -> str:
    """The patient's first words: who they are and the main complaint in plain words."""
    complaint = _clean(complaint).rstrip(".")
    complaint = complaint[:1].lower() + complaint[1:] if complaint else "feeling unwell"
    article = "an" if re.match(r"(8|11|18|8\d)\b", demo.text) else "a"
    if demo.age_years is not None and demo.age_years < 16:
        who = {"female": "daughter", "male": "son"}.get(demo.sex or "", "child")
        return f"I'm here about my {who}, {article} {demo.text}. The main problem is {complaint}."
    return f"I'm {article} {demo.text}. My main problem is {complaint}."


def _case_from_row(row: dict, case_id: str) -> Case:
    exam = row["OSCE_Examination"]
    actor = exam["Patient_Actor"]
    diagnosis = _clean(exam["Correct_Diagnosis"])
    demo = parse_demographics(str(actor.get("Demographics", "")))
    symptoms = actor.get("Symptoms") or {}
    if not isinstance(symptoms, dict):
        symptoms = {"Primary_Symptom": "", "Secondary_Symptoms": symptoms}
    primary = _clean(symptoms.get("Primary_Symptom") or "")
    facts: list[Fact] = []
    first = _sentence(primary) if primary else ""
    if primary:
        facts.append(Fact(first, "symptoms"))
    secondary = symptoms.get("Secondary_Symptoms") or []
    for item in [secondary] if isinstance(secondary, str) else secondary:
        facts += atomic_facts(str(item), "symptoms")
    for key, value in actor.items():
        if key in ("Demographics", "Symptoms"):
            continue
        section = SECTIONS.get(key, key.lower())
        for _, text in _flatten(value):
            facts += atomic_facts(text, section)
    withheld = tuple(f.text for f in facts if names_diagnosis(f.text, diagnosis))
    facts = [f for f in facts if not names_diagnosis(f.text, diagnosis)]
    kept: list[Fact] = []
    for f in facts:  # one copy of each statement
        if all(f.text.lower() != k.text.lower() for k in kept):
            kept.append(f)
    return Case(
        id=case_id,
        source="agentclinic",
        demographics=demo,
        opening=opening_statement(demo, primary),
        facts=tuple(kept),
        exams=dict(_flatten(exam.get("Physical_Examination_Findings") or {})),
        tests=dict(_flatten(exam.get("Test_Results") or {})),
        diagnosis=diagnosis,
        opening_facts=tuple(i for i, f in enumerate(kept) if first and f.text == first),
        withheld=withheld,
    )


def load_agentclinic(path: Path | str) -> list[Case]:
    """Cases from a JSONL file in the AgentClinic-MedQA format (one OSCE_Examination a line).

    Raises ``ValueError`` naming the file and line when a line is not JSON or lacks a part."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"AgentClinic cases not found: {path}")
    cases = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {n} is not JSON: {exc}") from exc
            exam = row.get("OSCE_Examination") if isinstance(row, dict) else None
            missing = (
                ["OSCE_Examination"]
                if not isinstance(exam, dict)
                else [k for k in ("Patient_Actor", "Correct_Diagnosis") if not exam.get(k)]
            )
            if not missing and not isinstance(exam["Patient_Actor"], dict):
                missing = ["Patient_Actor (an object)"]
            if missing:
                raise ValueError(f"{path}: line {n} lacks {', '.join(missing)}")
            cases.append(_case_from_row(row, f"{path.stem}:{n}"))
    return cases


# ---------------------------------------------------------------------------------------------
# Synthetic cases from the knowledge pack

_AGE_RANGES = {
    "infant": (1 / 12, 11 / 12),
    "child": (1, 12),
    "adolescent": (13, 17),
    "adult": (18, 64),
    "older_adult": (65, 90),
}
_DURATION_TEXT = {
    "sudden": ("It came on suddenly, a few hours ago.", None),
    "acute": ("It started {k} days ago.", (1, 7)),
    "subacute": ("It has been going on for about {k} weeks.", (2, 6)),
    "chronic": ("It has been going on for {k} months.", (2, 12)),
    "episodic": ("It comes and goes; it has happened on and off for {k} months.", (2, 12)),
}
_RANK = {f: i for i, f in enumerate(Frequency)}


def split_of(key: str) -> Split:
    """The split a case belongs to, from a stable hash of its content."""
    digest = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
    return "eval" if digest % EVAL_SHARE == 0 else "train"


def _synthetic(pack: Pack, rng: random.Random) -> tuple[str, Case] | None:
    conditions = list(pack.conditions.values())
    c = rng.choices(conditions, weights=[x.prior.weight for x in conditions])[0]
    present, absent = [], []
    for cf in c.findings:
        (present if rng.random() < cf.frequency.probability else absent).append(cf)
    voiced = [cf for cf in present if pack.findings[cf.id].kind in PATIENT_KINDS]
    if not voiced:
        return None  # nothing the patient could open with
    group = rng.choice(c.demographics.ages)
    lo, hi = _AGE_RANGES[group]
    age = round(rng.uniform(lo, hi), 2) if group == "infant" else float(rng.randint(lo, hi))
    sex = c.demographics.sex if c.demographics.sex != "any" else rng.choice(["female", "male"])
    if group == "infant":
        months = max(1, round(age * 12))
        text = f"{months}-month-old baby {'girl' if sex == 'female' else 'boy'}"
    elif age < 18:
        text = f"{int(age)}-year-old {'girl' if sex == 'female' else 'boy'}"
    else:
        text = f"{int(age)}-year-old {'woman' if sex == 'female' else 'man'}"
    demo = Demographics(age, sex, text)
    lead = min(voiced, key=lambda cf: _RANK[cf.frequency])  # most frequent, first listed
    facts: list[Fact] = []
    wording: dict[str, str] = {}
    for cf in present:
        f = pack.findings[cf.id]
        if f.kind in PATIENT_KINDS:
            wording[f.id] = rng.choice(f.lay) if f.lay else f.name.lower()
            facts.append(Fact(_sentence(wording[f.id]), "symptoms", True, f.id))
    for cf in absent:
        f = pack.findings[cf.id]
        if f.kind in PATIENT_KINDS:
            facts.append(Fact(f"No {f.name[:1].lower() + f.name[1:]}.", "symptoms", False, f.id))
    template, span = _DURATION_TEXT[c.onset]
    said = template.format(k=rng.randint(*span)) if span else template
    facts.append(Fact(said, "history", topic="duration"))
    exams, tests = {}, {}
    for cf in present:
        f = pack.findings[cf.id]
        if f.kind == "exam":
            exams[f.name] = f"Found: {f.name}."
        elif f.kind == "test":
            tests[f.name] = f"Abnormal: {f.name}."
    for t in c.tests:  # the condition's confirming tests show what they show in it
        if not t.name.lower().startswith("clinical diagnosis"):
            target = exams if re.search(r"examination|\bexam\b", t.name, re.I) else tests
            target.setdefault(t.name, t.expect)
    key = "|".join(
        [c.id, ",".join(sorted(cf.id for cf in present)), group, sex or "", str(len(absent))]
    )
    case = Case(
        id="",
        source="synthetic",
        demographics=demo,
        opening=f"{opening_statement(demo, wording[lead.id])}",
        facts=tuple(facts),
        exams=exams,
        tests=tests,
        diagnosis=c.name,
        opening_facts=(next(i for i, f in enumerate(facts) if f.finding == lead.id),),
        condition=c.id,
        present=tuple(cf.id for cf in present),
        absent=tuple(cf.id for cf in absent),
    )
    return key, case


def synthetic_cases(pack: Pack, n: int, seed: int = 0, split: Split = "eval") -> list[Case]:
    """``n`` distinct cases of one split: a condition by its prior, its findings by their
    frequencies, age and sex from its pattern. Deterministic for (pack, n, seed, split); a case's
    split is a hash of its content, so no training case is ever an evaluation case."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
    rng = random.Random(f"synthetic:{seed}")
    out: list[Case] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * max(n, 1) + 1000:
            raise ValueError(f"could not draw {n} distinct {split} cases from the pack")
        drawn = _synthetic(pack, rng)
        if drawn is None:
            continue
        key, case = drawn
        if key in seen or split_of(key) != split:
            continue
        seen.add(key)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        out.append(replace(case, id=f"synthetic:{split}:{digest}", split=split))
    return out


# ---------------------------------------------------------------------------------------------
# Red-flag vignettes


def redflag_cases(path: Path | str = VIGNETTES) -> list[Case]:
    """The red-flag vignettes as cases: the vignette is the opening, labelled emergency or not."""
    cases = []
    for row in read_jsonl(Path(path)):
        text = _clean(row["text"])
        facts = atomic_facts(text, "history") or [Fact(text, "history")]
        cases.append(
            Case(
                id=f"redflags:{row['id']}",
                source="redflags",
                demographics=parse_demographics(text),
                opening=text,
                facts=tuple(facts),
                opening_facts=tuple(range(len(facts))),
                label=row["label"],
            )
        )
    return cases
