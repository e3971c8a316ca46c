"""Personal-data scrubbing: find names, contact details, dates, addresses and record numbers in
free text and replace each with a typed placeholder such as ``[NAME]`` or ``[PHONE]``.

``scrub(text).text`` is what may leave the session database (harvest, export). Rules only, no
model; measured on ``training/cases/pii_sentences.jsonl`` by ``training.labelled.score_scrubber``.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PiiType = Literal["NAME", "PHONE", "EMAIL", "URL", "ADDRESS", "POSTCODE", "DATE", "ID"]
PII_TYPES: tuple[PiiType, ...] = (
    "EMAIL",
    "URL",
    "ID",
    "DATE",
    "PHONE",
    "POSTCODE",
    "ADDRESS",
    "NAME",
)  # also the order in which overlapping detections are preferred


class ScrubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    types: tuple[PiiType, ...] = Field(
        PII_TYPES, description="Which kinds of personal data to replace; the rest are kept."
    )
    keep_titles: bool = Field(
        True, description="Keep 'Dr', 'Mrs' and the like and replace only the name after them."
    )
    not_names: tuple[str, ...] = Field(
        (), description="More capitalised words never to be taken for a name (any case)."
    )


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    type: PiiType
    rule: str

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Scrubbed:
    text: str
    spans: tuple[Span, ...]  # offsets into the original text

    @property
    def counts(self) -> Counter[str]:
        return Counter(s.type for s in self.spans)


# ---------------------------------------------------------------- vocabularies

MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_ORD = r"(?:st|nd|rd|th)?"

# Capitalised words that are not names: sentence openers, function words, calendar words,
# nationalities, care settings and family words. Compared in lower case.
_COMMON = """
a an the i me my mine we us our you your he him his she her it its they them their this that
these those there here who whom whose what which when where why how and or but nor so yet if
then than because since after before while until unless though although also just only even
still already again ever never always often sometimes usually maybe perhaps please thanks
thank hi hello hey dear sorry ok okay yes no not well very really quite rather too so much
many more most less least some any all both each every either neither none one two three four
five six seven eight nine ten first second third last next other another same such own about
above across after against along among around at by down during for from in inside into near
of off on onto out outside over past per through to toward towards under up upon with within
without is am are was were be been being do does did done have has had having can could will
would shall should may might must get got getting go going gone went feel feeling felt think
thought know knew seem seems keep kept take took taken make made give gave tell told ask asked
want wanted need needed try tried start started stop stopped come came see saw seen look
looked say said call called help woke wake had hurt hurts hurting worse better bad good fine
great awful terrible worried scared anxious tired exhausted sick ill unwell pregnant okay new
old young little big small long short high low hot cold early late today tonight yesterday
tomorrow morning afternoon evening night week weekend month year day days weeks months years
hours hour minutes now recently lately currently anyway however although meanwhile otherwise
monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri
sat sun january february march april june july august september october november december
jan feb mar apr jun jul aug sep sept oct nov dec christmas easter ramadan diwali eid halloween
bank holiday new year nye xmas spring summer autumn fall winter
english british scottish welsh irish american canadian australian indian chinese polish
african asian european muslim christian jewish hindu sikh catholic
england scotland wales ireland britain uk usa us america london
doctor dr mr mrs ms miss mx prof professor sir dame rev nurse gp hospital clinic surgery
practice centre center infirmary ward unit
pharmacy pharmacist chemist emergency department urgent care walk-in ambulance paramedic
a&e er icu nhs health service trust general royal university county community medical
consultant registrar specialist physio physiotherapist midwife dentist optician surgeon
mum mom mother dad father wife husband partner son daughter brother sister baby child kid
boy girl grandma grandpa gran granny nan nana grandad aunt auntie uncle cousin friend
boyfriend girlfriend neighbour neighbor carer colleague boss teacher family parents
"""
# Medical words that can look like names: drugs and brands, eponyms of diseases and signs.
# Not a bar after "my name is" or a title (Dr Graves, Mrs Bell are names).
_MEDICAL = """
paracetamol acetaminophen tylenol calpol ibuprofen nurofen advil motrin aspirin naproxen
codeine co-codamol cocodamol tramadol morphine oramorph amoxicillin penicillin augmentin
co-amoxiclav doxycycline clarithromycin erythromycin trimethoprim nitrofurantoin
flucloxacillin cefalexin metformin insulin gliclazide ramipril lisinopril amlodipine
bisoprolol atenolol losartan simvastatin atorvastatin statin warfarin apixaban rivaroxaban
clopidogrel omeprazole lansoprazole gaviscon rennie sertraline citalopram fluoxetine
amitriptyline mirtazapine diazepam propranolol levothyroxine prednisolone salbutamol
ventolin seretide symbicort beclometasone inhaler cetirizine loratadine piriton epipen
sumatriptan zolmitriptan folic vitamin iron lemsip sudafed strepsils imodium dioralyte
ozempic wegovy pill
covid covid-19 coronavirus flu influenza asthma copd diabetes eczema psoriasis migraine
crohn crohns crohn's parkinson parkinsons parkinson's alzheimer alzheimers alzheimer's
hodgkin hodgkins hodgkin's graves addison addisons addison's cushing cushings cushing's
bell bells bell's down downs down's tourette tourettes asperger aspergers raynaud raynauds
raynaud's lyme epstein barr guillain barre barré meniere ménière menieres achilles braxton
hicks kawasaki hashimoto hashimotos hashimoto's huntington huntingtons huntington's sjogren
sjögren marfan turner klinefelter wilson wilsons kaposi baker bakers baker's osgood
schlatter perthes paget pagets paget's dupuytren dupuytrens dupuytren's bartholin
bartholins bartholin's heberden bouchard tietze tietzes tietze's stevens johnson reye
reyes reye's gilbert gilberts gilbert's ehlers danlos mallory weiss mrsa mri ct ecg ekg
type strep staph syndrome disease disorder palsy infection virus fever test scan x-ray xray
blood pressure sugar
"""

_FAMILY = (
    r"wife|husband|partner|son|daughter|boy|girl|child|kid|baby|toddler|mum|mom|mother|dad|"
    r"father|brother|sister|grandson|granddaughter|grandmother|grandfather|grandma|grandpa|"
    r"gran|granny|nan|nana|grandad|aunt|auntie|uncle|cousin|niece|nephew|friend|boyfriend|"
    r"girlfriend|fianc[eé]e?|neighbou?r|carer|colleague|boss|flatmate|roommate|housemate|"
    r"stepson|stepdaughter|stepmother|stepfather|GP|doctor|nurse|consultant|midwife|"
    r"therapist|dentist|surgeon|physio|pharmacist|specialist"
)

_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|"
    "NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY"
)

_STREET_ANY_CASE = (
    r"street|st|road|rd|avenue|ave|lane|ln|crescent|terrace|boulevard|blvd|gardens|"
    r"highway|hwy|parkway|pkwy"
)
_STREET_CAPITAL = (
    r"Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Court|Ct|Way|Place|Pl|Crescent|"
    r"Terrace|Boulevard|Blvd|Gardens|Grove|Square|Sq|Row|Mews|Hill|Parade|Walk|Rise|View|"
    r"Highway|Hwy|Circle|Cir|Trail|Parkway|Pkwy|Green|Gate|Wharf|Yard"
)


@functools.cache
def _pack_words() -> frozenset[str]:
    """Capitalised words of the knowledge pack (Addison, Glasgow Coma Scale, Wells score):
    the agent's replies quote them, and they are not anybody's name."""
    try:
        from agent.knowledge import default_pack
    except ImportError:  # pragma: no cover - the scrubber also works without the agent
        return frozenset()
    pack = default_pack()
    texts = [f.name for f in pack.findings.values()]
    for c in pack.conditions.values():
        texts += [c.name, *c.synonyms, *(t.name for t in c.tests), *c.management, *c.self_care]
        texts.append(c.when_to_seek_care)
    for r in pack.red_flags.values():
        texts += [r.reason, r.advice]
    words = (w for t in texts for w in re.findall(r"\b[A-Z][A-Za-z'-]+", t))
    return frozenset(w.lower() for w in words)


@functools.cache
def _not_names(extra: tuple[str, ...], medical: bool = True) -> frozenset[str]:
    words = frozenset(_COMMON.split()) | {w.lower() for w in extra}
    return words | frozenset(_MEDICAL.split()) | _pack_words() if medical else words


# ---------------------------------------------------------------- patterns

_WORD = r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)*"  # a capitalised word: Sarah, O'Neill, Smith-Jones
_LOWER_WORD = r"[a-z][a-z]+(?:[-'][a-z]+)*"

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
URL = re.compile(
    r"\b(?:https?://|www\.)[^\s<>\"'()\[\]]+"
    r"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|info|io|me|edu|gov|co\.uk|org\.uk|"
    r"nhs\.uk|gov\.uk|ac\.uk|uk|us|ca|au|ie)\b(?:/[^\s<>\"'()\[\]]*)?",
    re.IGNORECASE,
)
_ID_CUE = re.compile(
    r"\b(?:(?P<strong>NHS|MRN|SSN|CHI|ID|passport|medicare|medicaid|social\s+security)|"
    r"hospital|patient|(?:medical\s+)?record|case|chart|member(?:ship)?|policy|insurance|"
    r"insurer|driving\s+licen[cs]e|driver'?s\s+licen[cs]e|licen[cs]e|reference|ref|account|"
    r"claim|unit|client|subscriber|group)"
    r"(?:\s+(?P<qual>number|no|num|id|code|card|#))?\.?"
    r"(?:\s+(?:is|was|=))?\s*[:#]?\s*",
    re.IGNORECASE,
)
_ID_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9/]*(?:[ -](?=[A-Za-z0-9/]*\d)[A-Za-z0-9/]+){0,3}")
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
NHS_SPACED = re.compile(r"(?<![\d-])\b\d{3} \d{3} \d{4}\b(?![\d-])")
ALNUM_ID = re.compile(
    r"\b(?=[A-Za-z0-9-]*[A-Za-z])(?=(?:[A-Za-z-]*\d){5})[A-Za-z0-9][A-Za-z0-9-]*\b"
)
_UNIT_NUMBER = re.compile(r"^\d+(?:[a-zA-Z]{1,5})$")

DATE_NUMERIC = re.compile(  # 12/03/1980, 12.3.80, 12-03-1980 (not 10-12-14: doses go so)
    r"(?<![\d/.-])(\d{1,2})([/.])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.-]?\d)"
    r"|(?<![\d/.-])(\d{1,2})-(\d{1,2})-(\d{4})(?![\d/.-]?\d)"
)
DATE_ISO = re.compile(r"\b(?:19|20)\d{2}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])\b")
DATE_TEXT = re.compile(
    rf"\b\d{{1,2}}{_ORD}(?:\s+of)?\s+(?:{MONTHS})\.?,?\s+(?:19|20)\d{{2}}\b"
    rf"|\b(?:{MONTHS})\.?\s+\d{{1,2}}{_ORD},?\s+(?:19|20)\d{{2}}\b",
    re.IGNORECASE,
)
_DATE_PART = (
    rf"\d{{1,2}}{_ORD}(?:\s+of)?\s+(?:{MONTHS})\b\.?(?:,?\s+\d{{4}})?"
    rf"|(?:{MONTHS})\.?\s+\d{{1,2}}{_ORD}\b(?:,?\s+\d{{4}})?"
    r"|\d{1,2}[/.-]\d{1,2}(?:[/.-]\d{2,4})?|(?:19|20)\d{2}\b"
)
BIRTH = re.compile(
    r"\b(?:born(?:\s+(?:on|in))?|DOB|D\.O\.B\.?|date\s+of\s+birth|birthday)"
    r"(?:\s+(?:is|was))?\s*[:\-]?\s*"
    rf"(?:the\s+)?({_DATE_PART})",
    re.IGNORECASE,
)

_PHONE_CUE = re.compile(
    r"\b(?:phone|telephone|tel|mobile|mob|cell|landline|call|ring|text|whatsapp|contact|"
    r"reach|number|no)\b[^\n]{0,25}$",
    re.IGNORECASE,
)
PHONE = re.compile(
    r"(?<![\w/.+-])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,5}\)[\s.-]?)?\d{2,11}(?:[\s.-]\d{2,8}){0,4}"
    r"(?![\w/]|[.-]\d)"
)

UK_POSTCODE = re.compile(r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b")
UK_POSTCODE_CUED = re.compile(
    r"\b(?:post\s?code|postal\s+code)\s*(?:is|was)?\s*[:\-]?\s*"
    r"([A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2})\b",
    re.IGNORECASE,
)
US_ZIP = re.compile(rf"\b(?:{_STATES})\s+(\d{{5}}(?:-\d{{4}})?)\b")
ZIP_CUED = re.compile(
    r"\b(?:zip(?:\s*code)?|post\s?code|postal\s+code)\s*(?:is|was)?\s*[:\-]?\s*"
    r"(\d{5}(?:-\d{4})?|\d{4})\b",
    re.IGNORECASE,
)

_UNIT = r"(?:(?i:flat|apt|apartment|unit|suite)\s+\w+,?\s+)?"
_TOWN = r"(?:,\s*[A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)?"
ADDRESS = re.compile(
    rf"\b{_UNIT}\d{{1,5}}[A-Za-z]?,?\s+(?:{_WORD}\s+){{1,3}}(?:{_STREET_CAPITAL})\b\.?{_TOWN}"
)
ADDRESS_CUED = re.compile(  # lower case too, but only after "I live at" and the like
    r"\b(?i:live|living|lives|staying|address\s+is|address:|moved)\s+(?i:at|to|on|in)?\s*"
    rf"({_UNIT}\d{{1,5}}[A-Za-z]?,?\s+[^,.;\n\d]{{3,40}}?\s+"
    rf"(?:{_STREET_CAPITAL}|(?i:{_STREET_ANY_CASE}))\b\.?)"
)
PO_BOX = re.compile(r"\bP\.?\s?O\.?\s+Box\s+\d+\b", re.IGNORECASE)

_TITLE = re.compile(
    rf"\b(Dr|Doctor|Mr|Mrs|Ms|Miss|Mx|Prof|Professor|Nurse|Sister|Rev|Sir|Dame)\.?\s+"
    rf"((?:[A-Z]\.\s*)*{_WORD}(?:\s+{_WORD})?)"
)
_STRONG_CUE = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|name\s*:|names?\s+is|i'?m\s+called|"
    r"i\s+am\s+called|patient\s*:|patient\s+name\s*:?|signed\s*:?)\s+",
    re.IGNORECASE,
)
_WEAK_CUE = re.compile(r"\b(?:i'?m|i\s+am|this\s+is|it'?s|im|call\s+me)\s+", re.IGNORECASE)
_FAMILY_BEFORE = re.compile(
    r"\b(?:my|our|his|her|their)\s+(?:"
    r"(?:(?:little|eldest|oldest|youngest|older|younger|baby|step|best|new)\s+)*"
    rf"(?:{_FAMILY})s?\b|\d+[- ]?(?:year|yr|month|week)s?[- ]?old)"
    r"(?:\s*\(\d+\))?,?\s*(?:who\s+is\s+|who's\s+|is\s+called\s+|called\s+|named\s+)?",
    re.IGNORECASE,
)
_FAMILY_AFTER = re.compile(
    rf"\s*(?:,|\(|-)\s*(?:my|our|his|her)\s+(?:{_FAMILY})\b",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"(?i:thanks|thank\s+you|cheers|regards|best\s+wishes|many\s+thanks|kind\s+regards|"
    r"love|sincerely|yours)\s*[,!.\-]*\s*"
    rf"({_WORD}(?:\s+{_WORD})?)\s*[.!]*\s*$"
)
_CAPITAL_RUN = re.compile(rf"\b{_WORD}(?:\s+(?:[A-Z]\.\s*)?{_WORD})+")
_NAME_TOKEN = re.compile(rf"{_WORD}|{_LOWER_WORD}")


# ---------------------------------------------------------------- detectors


def _nhs_checksum_ok(digits: str) -> bool:
    """The NHS number's modulus-11 check digit."""
    if len(digits) != 10:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _emails(text: str) -> Iterable[Span]:
    for m in EMAIL.finditer(text):
        yield Span(m.start(), m.end(), "EMAIL", "email")


def _urls(text: str) -> Iterable[Span]:
    for m in URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?":
            end -= 1
        yield Span(m.start(), end, "URL", "url")


def _ids(text: str) -> Iterable[Span]:
    for m in _ID_CUE.finditer(text):
        value = _ID_VALUE.match(text, m.end())
        digits = sum(c.isdigit() for c in value.group()) if value else 0
        cued = bool(m.group("strong") or m.group("qual"))
        if value and (digits >= 6 or (cued and digits >= 4)):
            yield Span(value.start(), value.end(), "ID", "cued id")
    for m in SSN.finditer(text):
        yield Span(m.start(), m.end(), "ID", "ssn")
    for m in NHS_SPACED.finditer(text):
        if _nhs_checksum_ok(m.group().replace(" ", "")) and not _PHONE_CUE.search(
            text[: m.start()]
        ):
            yield Span(m.start(), m.end(), "ID", "nhs checksum")
    for m in ALNUM_ID.finditer(text):
        if not _UNIT_NUMBER.match(m.group()) and not re.fullmatch(r"[\d-]+", m.group()):
            yield Span(m.start(), m.end(), "ID", "letters and digits")


def _valid_day_month(a: int, b: int) -> bool:
    return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)


def _dates(text: str) -> Iterable[Span]:
    for m in DATE_NUMERIC.finditer(text):
        day, month = (m.group(1), m.group(3)) if m.group(1) else (m.group(5), m.group(6))
        if _valid_day_month(int(day), int(month)):
            yield Span(m.start(), m.end(), "DATE", "numeric date")
    for pattern, rule in ((DATE_ISO, "iso date"), (DATE_TEXT, "written date")):
        for m in pattern.finditer(text):
            yield Span(m.start(), m.end(), "DATE", rule)
    for m in BIRTH.finditer(text):
        yield Span(m.start(1), m.end(1), "DATE", "date of birth")


def _phones(text: str) -> Iterable[Span]:
    for m in PHONE.finditer(text):
        raw = m.group().rstrip(" .-")
        digits = sum(c.isdigit() for c in raw)
        if not 9 <= digits <= 15:
            continue
        groups = re.split(r"[\s.-]+", raw.replace("(", "").replace(")", ""))
        if "." in raw and not re.search(r"\d{3}\.\d{3}\.\d{4}", raw):
            continue  # decimals, not a number written with dots
        looks_like_phone = (
            raw.startswith(("+", "0", "("))
            or bool(re.fullmatch(r"\d{3}[-.]\d{3}[-.]\d{4}", raw))
            or (len(groups) == 1 and digits >= 10)
        )
        if looks_like_phone or _PHONE_CUE.search(text[: m.start()]):
            yield Span(m.start(), m.start() + len(raw), "PHONE", "phone")


def _postcodes(text: str) -> Iterable[Span]:
    for m in UK_POSTCODE.finditer(text):
        yield Span(m.start(), m.end(), "POSTCODE", "uk postcode")
    for pattern, rule in (
        (UK_POSTCODE_CUED, "cued postcode"),
        (US_ZIP, "state and zip"),
        (ZIP_CUED, "cued zip"),
    ):
        for m in pattern.finditer(text):
            yield Span(m.start(1), m.end(1), "POSTCODE", rule)


def _addresses(text: str) -> Iterable[Span]:
    for m in ADDRESS.finditer(text):
        yield Span(m.start(), m.end(), "ADDRESS", "street address")
    for m in ADDRESS_CUED.finditer(text):
        yield Span(m.start(1), m.end(1), "ADDRESS", "cued address")
    for m in PO_BOX.finditer(text):
        yield Span(m.start(), m.end(), "ADDRESS", "po box")


def _not_a_name(word: str, stop: frozenset[str]) -> bool:
    """Common words, calendar and medical words, adverbs (-ly) and participles (-ing)."""
    w = word.lower().replace("’", "'")
    if w in stop or w.removesuffix("'s") in stop:
        return True
    return (len(w) >= 7 and w.endswith("ly")) or (len(w) >= 6 and w.endswith("ing"))


def _trim_possessive(text: str, start: int, end: int) -> int:
    return end - 2 if text[start:end].endswith(("'s", "’s")) else end


def _name_words(text: str, start: int, stop: frozenset[str], *, lower_ok: bool) -> Span | None:
    """The name starting at ``start``: up to three words after a strong cue (where lower case
    is allowed), up to two capitalised words otherwise; None when the first is not a name."""
    end, pos, taken = start, start, 0
    while taken < (3 if lower_ok else 2):
        m = _NAME_TOKEN.match(text, pos)
        if not m:
            break
        word = m.group()
        if _not_a_name(word, stop) or (not lower_ok and word[0].islower()):
            break
        if taken and word[0].islower() != text[start].islower():
            break  # keep to one kind of word: "Sarah and", "sarah Jones"
        end, taken = m.end(), taken + 1
        if word.endswith(("'s", "’s")):
            break
        gap = re.match(r"[ \t]+", text[end:])
        if not gap:
            break
        pos = end + gap.end()
    if taken == 0:
        return None
    return Span(start, _trim_possessive(text, start, end), "NAME", "")


def _names(text: str, config: ScrubConfig, known: Iterable[str] = ()) -> Iterable[Span]:
    stop = _not_names(config.not_names)
    plain = _not_names(config.not_names, medical=False)  # where the cue is unmistakable
    cued = (
        (_STRONG_CUE, True, plain, "introduced name"),
        (_WEAK_CUE, False, stop, "i am X"),
        (_FAMILY_BEFORE, False, stop, "family word"),
    )
    for pattern, lower_ok, words, rule in cued:
        for m in pattern.finditer(text):
            # lower case: "my name is sarah" but not "my name is on the list"
            bar = stop if text[m.end() : m.end() + 1].islower() else words
            span = _name_words(text, m.end(), bar, lower_ok=lower_ok)
            if span:
                yield Span(span.start, span.end, "NAME", rule)
    for m in _TITLE.finditer(text):
        first = m.group(2).split()[0]
        if len(first) > 2 and _not_a_name(first, plain):
            continue
        start = m.start(2) if config.keep_titles else m.start()
        yield Span(start, _trim_possessive(text, start, m.end(2)), "NAME", "title")
    for m in re.finditer(_WORD, text):
        if not _not_a_name(m.group(), stop) and _FAMILY_AFTER.match(text, m.end()):
            end = _trim_possessive(text, m.start(), m.end())
            yield Span(m.start(), end, "NAME", "family word")
    m = _SIGN_OFF.search(text)
    if m and not _not_a_name(m.group(1).split()[0], stop):
        yield Span(m.start(1), m.end(1), "NAME", "sign-off")
    for m in _CAPITAL_RUN.finditer(text):
        # runs of two or more capitalised words that are none of them common: "Sarah Jones"
        words = list(re.finditer(_WORD, m.group()))
        group: list[re.Match[str]] = []
        for w in [*words, None]:
            if w is not None and not _not_a_name(w.group(), stop):
                group.append(w)
                continue
            if len(group) >= 2:
                start, end = m.start() + group[0].start(), m.start() + group[-1].end()
                yield Span(start, _trim_possessive(text, start, end), "NAME", "capitalised run")
            group = []
    yield from _repeats(text, known, plain)


def _repeats(text: str, names: Iterable[str], stop: frozenset[str]) -> Iterable[Span]:
    """Every other mention of a word already found to be a name."""
    for name in names:
        for word in set(name.split()):
            word = word.removesuffix("'s")
            if len(word) < 2 or _not_a_name(word, stop):
                continue
            flags = 0 if word[0].isupper() else re.IGNORECASE
            for m in re.finditer(rf"\b{re.escape(word)}\b", text, flags):
                yield Span(m.start(), m.end(), "NAME", "repeated name")


DETECTORS = {
    "EMAIL": _emails,
    "URL": _urls,
    "ID": _ids,
    "DATE": _dates,
    "PHONE": _phones,
    "POSTCODE": _postcodes,
    "ADDRESS": _addresses,
}


def _resolve(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans: by type preference, then longer first."""
    order = {t: i for i, t in enumerate(PII_TYPES)}
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (order[s.type], s.start - s.end, s.start)):
        if span.end > span.start and not any(span.overlaps(c) for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def _kept(text: str, keep: Iterable[str]) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for k in keep if k for m in re.finditer(re.escape(k), text)]


def find_pii(
    text: str,
    config: ScrubConfig | None = None,
    names: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> list[Span]:
    """The personal data in ``text``, as non-overlapping typed spans in text order.

    ``names`` are names already found elsewhere (other messages of the same session): their
    other mentions here are found too. Nothing inside an occurrence of a ``keep`` string is
    replaced (the titles and links of the sources the agent cites)."""
    config = config or ScrubConfig()
    found: list[Span] = []
    for kind, detect in DETECTORS.items():
        if kind in config.types:
            found += detect(text)
    spans = _resolve(found)
    if "NAME" in config.types:
        names_here = [s for s in _resolve(_names(text, config)) if s.type == "NAME"]
        known = [*names, *(text[s.start : s.end] for s in names_here)]
        spans = _resolve([*spans, *names_here, *_names(text, config, known)])
    kept = _kept(text, keep)
    return [s for s in spans if not any(s.start < b and a < s.end for a, b in kept)]


def names_in(text: str, config: ScrubConfig | None = None) -> list[str]:
    """The names found in ``text``: to carry into ``find_pii(..., names=)`` for later texts."""
    return [text[s.start : s.end] for s in find_pii(text, config) if s.type == "NAME"]


def scrub(
    text: str,
    config: ScrubConfig | None = None,
    names: Iterable[str] = (),
    keep: Iterable[str] = (),
) -> Scrubbed:
    """``text`` with each piece of personal data replaced by its ``[TYPE]`` placeholder."""
    spans = find_pii(text, config, names, keep)
    out, pos = [], 0
    for s in spans:
        out += [text[pos : s.start], f"[{s.type}]"]
        pos = s.end
    out.append(text[pos:])
    return Scrubbed("".join(out), tuple(spans))
