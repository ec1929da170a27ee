"""The fast redaction path: precompiled patterns behind cheap pre-filters (the default, `redaction: fast`).

It removes emails, phone numbers, street addresses, identifiers that follow a cue (MRN, SSN, NHS number,
member/insurance/policy id, passport, driver's licence) and bare dashed SSNs, dates of birth that follow a
cue, and person names that follow a title (Mr, Mrs, Ms, Miss, Mx, Dr) or a patient cue (``patient``, ``pt``,
``pt.``, ``a woman named ...``, ``his name is ...``). Names anywhere else are *not* found: that is what the
NER stage (``ner.py``) is for. Ages of 90 and over are grouped to "90+" (``93F`` -> ``90+F``), not removed.
What is kept on purpose, and why, is in the package docstring (``labeling/ingest/redaction/__init__.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

REDACTION_KINDS: tuple[str, ...] = (
    "email", "phone", "address", "id_number", "date_of_birth", "person_name", "age_over_89",
)
"""Stable names of what gets redacted; the keys of the counts that :meth:`Redactor.redact` returns.
``age_over_89`` is a generalisation, not a removal: an age of 90 or more becomes "90+" (ages are kept for
the analysis, but the very old are few enough to be identifying)."""

REPLACEMENTS: dict[str, str] = {
    "email": "[EMAIL]",
    "phone": "[PHONE]",
    "address": "[ADDRESS]",
    "id_number": "[ID]",
    "date_of_birth": "[DOB]",
    "person_name": "[NAME]",
    "age_over_89": "90+",
}
"""What each kind is replaced with. The tokens are bracketed so no pattern here can match one again; "90+"
is followed by "+" where an age pattern wants a unit, so it is never grouped twice."""

# --------------------------------------------------------------------------------------------------
# Patterns. Every value is captured in the group ``v``; only that span is replaced, the cue stays.
#
# Speed: CPython's regex engine only skips quickly to candidate positions when a pattern starts with a
# literal or a character class, so the patterns that run on most posts never start with a look-behind or
# ``\b``: the "what may not come before" check runs in Python on the few candidates instead
# (``_Rule.not_after``), and cue-led rules match the rare part first and check the cue before it. Rules
# that must start with a cue alternation (ids, dates of birth) sit behind gates (``_redact_fast``).
# Case-insensitive cues are ASCII-only (``(?ai:...)``) so gates on ASCII-lower-cased bytes are exact
# supersets; digits are ASCII ``[0-9]`` throughout for the same reason.
# --------------------------------------------------------------------------------------------------

_UP = "A-ZÀ-ÖØ-Þ"
_LO = "a-zß-öø-ÿ"
# One capitalised name token: Smith, O'Neil, D'Angelo, McDonald, DeVito, Smith-Jones, García.
_NAME_TOKEN = rf"(?:[{_UP}][{_LO}]*['’])?[{_UP}][{_LO}]+(?:[{_UP}][{_LO}]+)?(?:-[{_UP}][{_LO}]+)*"
_INITIAL = rf"[{_UP}]\.?"
# 1-3 name tokens, optional middle initials ("J. Smith", "Mary J Blige"), never across a line break, and
# never the head of a longer word ("HbA1c" is not "Hb", "Glucavex-naive" is not "Glucavex").
_NAME = (
    rf"(?P<v>(?:{_INITIAL}[ \t]+)?{_NAME_TOKEN}"
    rf"(?:[ \t]+(?:{_INITIAL}[ \t]+)?{_NAME_TOKEN}){{0,2}})(?!\w|-\w)"
)
# A dose or a comparison right after a candidate means a drug, not a person ("pt Glucavex 1mg", "X vs Y").
DRUG_AFTER = re.compile(
    r"[ \t]*(?:[0-9]+(?:\.[0-9]+)?[ \t]*(?ai:mg|mcg|µg|ug|g|ml|units?|iu)\b|(?ai:vs\.?|versus)\b)"
)

_TITLE_CUE = r"(?:Mrs|Mr|Ms|Miss|Mx|Dr|mrs|mr|dr)(?:\.[ \t]*|[ \t]+)"
# "pt." is the abbreviation; "patient." is a sentence end, so only "pt" may carry a dot.
_PATIENT_CUE = r"[Pp](?:(?ai:t)\.?|(?ai:atient))(?:[ \t]*[:,–-][ \t]*|[ \t]+)"
_PERSON_NOUN = (
    r"(?:patient|pt|man|woman|lady|gentleman|gent|guy|boy|girl|child|kid|baby|infant|toddler|teen|teenager"
    r"|son|daughter|husband|wife|partner|mother|father|mom|mum|dad|grandmother|grandfather|grandma|grandpa"
    r"|brother|sister|someone|person|colleague|friend|neighbou?r|male|female"
    r"|[0-9]{1,3}[ \t-]?(?:yo|y/o|yrs?|years?[ \t-]old|year-old|[mf]))"
)
# "a woman named X", "my patient named X", "a patient called X" ("called" alone is too often the verb:
# "my patient called Glucavex a miracle"), "his name is X", "patient's name: X".
# The rule matches the cue word first (a pattern led by a character class scans fast) and then checks the
# few characters before it for the person noun or possessive (``_named_resolver``).
_NAMED_CUE = (
    r"(?P<cue>(?:[Nn][Aa][Mm][Ee][Dd]|[Cc][Aa][Ll][Ll][Ee][Dd])[ \t]{1,3}"
    r"|[Nn][Aa][Mm][Ee](?:[ \t]{1,3}(?ai:is|was)[ \t]{1,3}|[ \t]{0,3}[:=-][ \t]{0,3}))"
)
_BEFORE_NAMED = re.compile(rf"(?ai:\b{_PERSON_NOUN})[ \t]{{1,3}}\Z")
_BEFORE_CALLED = re.compile(rf"(?ai:\b(?:a|an|one|another|some)[ \t]{{1,3}}{_PERSON_NOUN})[ \t]{{1,3}}\Z")
_BEFORE_NAME = re.compile(
    r"(?ai:\b(?:his|her|their|whose|patient['’]?s|pt['’]?s)[ \t]{1,3}(?:(?:first|last|full|real)[ \t]{1,3})?)\Z"
)

# Local part and labels are length-capped (RFC 5321 limits) so a long run without a domain stays linear.
_EMAIL = (
    r"(?P<v>[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24})"
)

# Digit groups followed by a unit are doses or lab values ("250 500 1000 mg"), never phone numbers.
_UNIT = r"(?![ \t]*(?:mg|mcg|µg|ug|g|kg|lbs?|ml|mL|l|L|IU|iu|units?|u|U|%|mmol|mmHg|bpm|cells|copies|x)\b)"


def _us_phone_pattern() -> str:
    """US numbers: (555) 123-4567, 555-123-4567, 555.123.4567, 555 123 4567, +1/1 prefixes, "ext. 12".

    Written as one alternative per leading character (literal first), because CPython's engine can then
    jump straight to candidate positions; the plain form with an optional "+1" prefix scans ~5x slower.
    """
    paren = r"\([0-9]{3}\)[ \t.-]?[0-9]{3}[ \t.-][0-9]{4}"
    # the other nine digits of an unparenthesised number, one separator used throughout
    rest = r"(?:[0-9]{2}-[0-9]{3}-[0-9]{4}|[0-9]{2}\.[0-9]{3}\.[0-9]{4}|[0-9]{2} [0-9]{3} [0-9]{4})"
    after_country = rf"[ \t.-]?(?:{paren}|[0-9]{rest})"
    alternatives = [rf"\+1{after_country}", paren]
    alternatives += [rf"1(?:{after_country}|{rest})"] + [digit + rest for digit in "023456789"]
    return (
        r"(?P<v>(?:" + "|".join(alternatives) + r")(?:[ \t]*(?:x|ext\.?)[ \t]*[0-9]{1,5})?)(?![\w])" + _UNIT
    )


_PHONE_US = _us_phone_pattern()
_PHONE_INTL = r"(?P<v>\+[0-9]{1,3}(?:[ \t.-]?\(0\))?(?:[ \t.-]?\(?[0-9]{1,5}\)?){1,6})(?![\w])" + _UNIT
_PHONE_UK = r"(?P<v>0[0-9]{2,4}[ \t-]?[0-9]{3,4}[ \t-]?[0-9]{3,4})(?![\w])" + _UNIT
_PHONE_CUE_WORDS: tuple[bytes, ...] = (
    b"ph", b"tel", b"cell", b"mob", b"call", b"text", b"fax", b"whatsapp", b"contact",
)
# Bare digit runs ("call 5551234567", "cell: 555 1234567") count as phones only right after a phone cue.
# The rule finds the digits first (a pattern led by a character class scans fast) and then checks, on the
# few characters before them, that a cue ends exactly there.
_PHONE_CUE_VALUE = r"(?P<v>[+0-9](?:[ \t.()-]{0,2}[0-9]){6,14})(?![\w])"
_PHONE_CUE_BEFORE = re.compile(
    r"(?<!\w)(?ai:phone|telephone|tel|cellphone|cell|mobile|mob|call|text|fax|ph|whatsapp|contact)\b\.?"
    r"[ \t]{0,3}(?:(?ai:no|number|#)\.?[ \t]{0,3})?[:#]?[ \t]{0,3}\Z"
)
_SSN = r"(?P<v>[0-9]{3}-[0-9]{2}-[0-9]{4})(?![\w-])"

# Identifier cues, lower case, built twice from the same lists: as the rule (ASCII case-insensitive, after
# a word boundary) and as the pre-filter gate (searched in the lower-cased UTF-8 bytes), so the gate can
# never miss what the rule would find. Whitespace inside cues is bounded for the same reason.
_NUM_ID = r"(?:id\b|identifier|number|num|no\.?|#|nbr)"
_ID_STRONG: tuple[str, ...] = (
    r"m\.?r\.?n\b\.?", r"mr[ \t]{0,3}#", r"medical[ \t]{1,3}record", r"med[ \t]{1,3}rec(?:ord)?", r"ssn\b",
    r"social[ \t]{1,3}security", r"nhs\b", r"passport\b", r"policy\b", r"driver(?:'|’)?s?[ \t]{1,3}licen[cs]e",
)
_ID_NUMBERED: tuple[str, ...] = (
    "chart", "record", "case", "claim", "account", "acct", "hospital", "hosp", "patient", "pt", "member",
    "subscriber", "insurance", "insurer", "policy", "medicare", "medicaid", r"health[ \t]{1,3}card",
    r"health[ \t]{1,3}plan", "employee", "nhs", "chi", "unit", r"national[ \t]{1,3}insurance", "tax", "passport",
    "license", "licence", "id",
)
_ID_CUE = (
    r"(?:(?ai:\b(?:(?:" + "|".join(_ID_STRONG) + r")(?:[ \t]{1,3}" + _NUM_ID + r")?"
    r"|(?:" + "|".join(_ID_NUMBERED) + r")[ \t]{0,3}" + _NUM_ID + r"))"
    r"|\bDL\b\.?(?:[ \t]{0,3}(?:#|no\.?|number))?)"
)
# The gate, on lower-cased bytes: a strong cue anywhere, or a number word (id, no, #, ...) right after one
# of the heads' last words. Cheaper than the cue pattern itself by an order of magnitude.
_ID_STRONG_GATE = re.compile(rb"m\.?r\.?n|record|med[ \t]{1,3}rec|ssn|security|nhs|passport|policy|licen")
_NUM_ID_GATE = re.compile(rb"id|num|no|#|nbr")
# The last word of each head ("health[ \t]{1,3}card" -> "card"), plus "mr" for "mr #".
_ID_HEAD_ENDS: tuple[bytes, ...] = tuple(
    sorted({head.split("]")[-1].split("}")[-1].encode() for head in _ID_NUMBERED} | {b"mr"})
)
_ID = (
    _ID_CUE + r"[ \t]{0,3}(?:[:#=]|(?ai:is|was))?[ \t]{0,3}(?:#[ \t]{0,3})?"
    r"(?P<v>[0-9]{3}[ -][0-9]{3}[ -][0-9]{4}|[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}"
    r"|[A-Za-z]{0,5}-?[0-9][A-Za-z0-9/-]{0,24}[A-Za-z0-9])(?![\w])"
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?ai:[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:[0-9]{4}|[0-9]{2})"
    r"|[0-9]{4}[/.-][0-9]{1,2}[/.-][0-9]{1,2}"
    rf"|{_MONTH}[ \t]+[0-9]{{1,2}}(?:st|nd|rd|th)?(?:,?[ \t]+[0-9]{{4}})?"
    rf"|[0-9]{{1,2}}(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?{_MONTH}(?:,?[ \t]+[0-9]{{4}})?"
    rf"|{_MONTH}[ \t]+[0-9]{{4}})"
)
_DOB_GATE = re.compile(rb"d(?:ob|\.o\.b|\.ob|o\.b)|b(?:irth|orn)")
_DOB = (
    r"(?ai:\bd\.?o\.?b\b\.?|\bdate[ \t]+of[ \t]+birth|\bbirth[ \t]?date|\bbirthday|\bborn(?:[ \t]+(?:on|in))?)"
    rf"[ \t]*(?:[:=#-]|(?ai:is|was))?[ \t]*(?P<v>{_DATE})(?![\w])"
)

# Abbreviations may carry their dot ("St."); full words may not, so a sentence's full stop stays.
_STREET_SUFFIX = (
    r"(?:(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Place|Terrace|Way|Parkway|Highway|Circle|Square"
    r"|Close|Crescent|Gardens|Grove|Trail|Plaza|Mews|street|avenue|road|boulevard|lane|drive|court|place|way)\b"
    r"|(?:St|Ave|Av|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Pkwy|Hwy|Cir|Sq|Cres|Gdns|Trl|st|ave|rd|blvd|ln)\b\.?)"
)
_STREET_TOKEN = r"(?:[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?|[0-9]{1,3}(?:st|nd|rd|th))"
_ADDRESS = (
    r"(?P<v>[0-9]{1,6}[A-Za-z]?(?:-[0-9]{1,4})?[ \t]+"
    rf"(?:{_STREET_TOKEN}[ \t]+){{0,3}}{_STREET_TOKEN}[ \t]+{_STREET_SUFFIX}"
    r"(?:[ \t]+(?:NW|NE|SW|SE|N|S|E|W)\b\.?)?"
    r"(?:,?[ \t]+(?:Apt|Apartment|Unit|Suite|Ste|Flat|Floor|Fl|#)\.?[ \t]*#?[ \t]*[A-Za-z0-9-]*[0-9][A-Za-z0-9-]*)?)"
)

# Ages of 90 and over are grouped (HIPAA Safe Harbor): "93F", "93yoM", "95 yo", "a 97-year-old", "aged 92".
# A bare "99F" after a temperature cue is a temperature, and 100+ needs an explicit age word.
_AGE = (
    r"(?P<v>9[0-9]|1[01][0-9])"
    r"(?=[ \t-]?(?ai:yo|y/o|y\.o\.|yrs?|years?|year-old|years-old)(?![A-Za-z])|(?:yo)?[MF](?![A-Za-z]))"
)
_AGED = r"(?ai:aged?)[ \t]{0,3}[:=]?[ \t]{0,3}(?P<v>9[0-9]|1[01][0-9])(?![0-9+%]|\.[0-9]|(?ai:st|nd|rd|th)\b)"
_TEMPERATURE_BEFORE = re.compile(r"(?ai:\b(?:temp|tmax|t|febrile|fever|pyrexia)\b)[ \t:=]{0,3}(?:to[ \t]{1,3})?\Z")

# Cheap gates: each is a necessary condition for its rules to match, far cheaper than the rules.
# Seven digits or more with at most two separators between them: every phone number and SSN has one.
_PHONEISH = re.compile(r"[0-9(+](?:[ \t().-]{0,2}[0-9]){6}")
_RUN4 = re.compile(r"[0-9]{4}")  # every id value has four digits in a row
_ADDRESS_HEAD = re.compile(r"[0-9][A-Za-z]?(?:-[0-9]{1,4})?[ \t]+[A-Z0-9]")
# "Mrs" contains "Mr"; lower-case titles only with the dot or blank the rule needs, so "drug" does not count.
# Every alternative starts with a literal, so the scan jumps between candidate letters.
_TITLE_GATE = re.compile(r"M(?:r|s|x|iss)|Dr|dr[. \t]|mr[. \t]|mrs")
# An age of 90-99 has a "9"; 100-119 counts only with an age word.
_AGE_WORDS: tuple[bytes, ...] = (b"yo", b"y/o", b"y.o", b"yr", b"year")

# Capitalised words that often follow "patient"/"pt" and are not names: sentence starters after "pt.",
# verbs in note style ("Pt Reports ..."), and headings ("Patient Education", "Patient Zero").
_NAME_STOPWORDS: frozenset[str] = frozenset(
    """
    a an and or but if of on in at to for from with without by as is was are were be been being has had have
    having do does did done not no yes this that these those it its he she they we i you his her their our
    my your him them who whom whose which what when where why how all any some each every both either neither
    one two three four five first second third last next new old now then today tonight yesterday tomorrow
    here there also again still just only even very more most less many much few several same other another
    such so too well may might will would can could should must shall per via after before since while until
    during about over under into onto upon than though although because however therefore overall please
    monday tuesday wednesday thursday friday saturday sunday january february march april june july august
    september october november december jan feb mar apr jun jul aug sep sept oct nov dec
    report reports reported reporting state states stated say says said deny denies denied present presents
    presented presenting develop develops developed start starts started stop stops stopped switch switched
    switching tolerate tolerated tolerating tolerates complain complains complained complaining experience
    experienced experiencing note noted notes ask asked asks call called calls came come comes went go goes got
    get gets feel feels felt lose lost gain gained need needs needed want wants wanted try tried tries take
    taking took takes remain remains remained continue continues continued improve improved improving respond
    responded return returned admit admitted discharge discharged die died pass passed decline declined refuse
    refused agree agreed consent consented enrol enroll enrolled randomized randomised receive received
    receiving underwent undergo undergoing hates loves likes like
    education zero safety care centered centred centric portal outcome outcomes population selection advocacy
    advocate access assistance support information leaflet voice perspective preference journey engagement
    counseling counselling satisfaction adherence compliance friendly number id age aged male female man woman
    sex history hx dx rx sx tx fx px status weight wt bmi lab labs case story update info data group cohort
    characteristics demographics summary profile sample level name names chart record records file
    feedback review reviews registry registries guide guidance resources resource materials material
    preferences experiences needs rights privacy confidentiality identifier details
    cr scr hb hgb hct na ca mg plt alb glu phos chol trig temp sat sats vitals exam bp hr rr
    love loved hate hated regret glad great good bad fine wonderful thanks thank sorry honestly genuinely
    anyone everyone someone nobody lots plenty stable better worse well unchanged compliant adherent afebrile
    asymptomatic symptomatic seen here doing currently recently previously initially finally unfortunately
    fortunately luckily sadly otherwise generally usually often never always already maybe probably
    definitely actually really clearly apparently obviously basically literally community academic private
    discuss edit thoughts anyway question questions ps fyi imo tbh lol agree agreed same exactly true yes nope
    ugh help advice input followup follow
    """.split()
)
_FUNCTION_WORDS: frozenset[str] = frozenset(
    "a an and or but if of on in at to for from with by as is was are the this that it he she they we i you"
    " mr mrs ms mx miss dr".split()
)
# Eponyms a patient cue may precede ("pt Parkinson's", "patient Graves disease"): never taken for a name
# after a patient cue. After a title they are names ("Mr. James Parkinson") unless used as the disease.
_EPONYMS: frozenset[str] = frozenset(
    """
    addison alzheimer asperger barrett barre basedow becker behcet behçet bell bowen bright burkitt charcot conn
    creutzfeldt crohn cushing danlos down duchenne dupuytren ehlers ellison epstein ewing fabry fallot gaucher
    gilbert graves guillain hashimoto hirschsprung hodgkin huntington jakob kaposi kawasaki klinefelter
    korsakoff legionnaires lou lyme marfan meniere ménière merkel munchausen niemann osgood paget parkinson
    peyronie pick pompe raynaud reye sachs schlatter sjogren sjögren stevens johnson still takayasu tay
    tourette turner waldenstrom waldenström wegener wernicke whipple wilms wilson zollinger lambert eaton
    """.split()
)
_EPONYM_USE = re.compile(
    r"(?:['’]s?\b|[ \t]+(?ai:disease|syndrome|palsy|sign|phenomenon|tumou?r|lymphoma|sarcoma|thyroiditis|ulcer"
    r"|encephalopathy|dystrophy|dz|ophthalmopathy|orbitopathy|type))"
)


def _is_stopword(token: str) -> bool:
    low = token.lower()
    return low in _NAME_STOPWORDS or (low.endswith("s") and low[:-1] in _NAME_STOPWORDS)


def _eponym_stem(low: str) -> str:
    # "Stevens-Johnson" -> "stevens"; "O'Neil" is not an eponym and stays as is.
    return low.split("-", 1)[0]


# A resolver gets the match and the text and returns the (start, end) to replace, or None to keep it.
_Resolver = Callable[["re.Match[str]", str], "tuple[int, int] | None"]


def _value_span(match: re.Match[str], text: str) -> tuple[int, int] | None:
    return match.span("v")


def _digits_between(low: int, high: int) -> _Resolver:
    def resolve(match: re.Match[str], text: str) -> tuple[int, int] | None:
        value = match.group("v")
        digits = sum(value.count(d) for d in "0123456789")
        return match.span("v") if low <= digits <= high else None

    return resolve


_TOKEN_RE = re.compile(rf"{_INITIAL}(?=[ \t])|{_NAME_TOKEN}")


def _name_resolver(first_rule: str) -> _Resolver:
    """Accept a name candidate and trim trailing tokens that are clearly not part of it.

    ``first_rule`` says how strict to be with the first token: after a title ("title") only function
    words are rejected; after a patient cue stopwords and eponyms are rejected too, because "Pt Reports
    nausea" and "pt Parkinson's" are far more common than a patient called Reports.
    """

    def resolve(match: re.Match[str], text: str) -> tuple[int, int] | None:
        start = match.start("v")
        kept: list[tuple[int, int, str]] = []
        for index, token_match in enumerate(_TOKEN_RE.finditer(match.group("v"))):
            token = token_match.group(0)
            t_start, t_end = token_match.start() + start, token_match.end() + start
            bare = token.rstrip(".")
            is_initial = len(bare) == 1
            if index == 0:
                if not is_initial:
                    low = bare.lower()
                    if first_rule == "title" and low in _FUNCTION_WORDS:
                        return None
                    if first_rule != "title" and (_is_stopword(bare) or _eponym_stem(low) in _EPONYMS):
                        return None
            elif not is_initial:
                if _is_stopword(bare):
                    break
                if _eponym_stem(bare.lower()) in _EPONYMS and _EPONYM_USE.match(text, t_end):
                    break
            kept.append((t_start, t_end, token))
        while kept and len(kept[-1][2].rstrip(".")) == 1:  # a name never ends on a lone initial
            kept.pop()
        if not kept:
            return None
        if first_rule != "title":
            if DRUG_AFTER.match(text, kept[-1][1]):
                return None
            words = [token for _, _, token in kept if len(token.rstrip(".")) > 1]
            # "... with every pt. Community hospital": after "pt." the next capital may start a sentence,
            # so only a full name (two words or more) counts there.
            if len(words) < 2 and text[match.start() : start].rstrip().endswith("."):
                return None
            # "Pt Doing well", "Pt Feeling better": a lone -ing word after a patient cue is a verb.
            if len(words) == 1 and len(words[0]) > 5 and words[0].endswith("ing"):
                return None
        return kept[0][0], kept[-1][1]

    return resolve


_NAME_AFTER_NAMED_CUE = _name_resolver("named")


def _named_resolver(match: re.Match[str], text: str) -> tuple[int, int] | None:
    """Names after "named"/"called"/"name is" count only after a person noun or a possessive."""
    cue = match.group("cue")[:4].lower()
    before = _BEFORE_NAMED if cue == "name" and match.group("cue")[4:5].lower() == "d" else (
        _BEFORE_CALLED if cue == "call" else _BEFORE_NAME
    )
    start = match.start()
    if before.search(text, max(0, start - 60), start) is None:
        return None
    return _NAME_AFTER_NAMED_CUE(match, text)


def _id_value(match: re.Match[str], text: str) -> tuple[int, int] | None:
    # An identifier has four digits in a row ("A1234567", "943 476 5919"); "MRN 3" or "pt no. 2" do not,
    # and the pre-filter relies on it (_RUN4).
    value = match.group("v")
    if _RUN4.search(value) is None or sum(value.count(d) for d in "0123456789") > 20:
        return None
    return match.span("v")


def _age_resolver(match: re.Match[str], text: str) -> tuple[int, int] | None:
    start, end = match.span("v")
    if end < len(text) and text[end] in "MF":  # the bare sex letter: "93F", not "93 yo"
        if int(match.group("v")) >= 100 or _TEMPERATURE_BEFORE.search(text, max(0, start - 20), start):
            return None
    return start, end


def _phone_after_cue(match: re.Match[str], text: str) -> tuple[int, int] | None:
    value = match.group("v")
    if value[0] == "+" and not value[1].isdigit():
        return None
    if sum(value.count(d) for d in "0123456789") < 7:
        return None
    start = match.start()
    if _PHONE_CUE_BEFORE.search(text, max(0, start - 40), start) is None:
        return None
    return match.span("v")


def _id_cue_possible(low: bytes) -> bool:
    """Gate for the id rule: could an identifier cue occur in this (lower-cased, UTF-8) text?"""
    if _ID_STRONG_GATE.search(low) is not None:
        return True
    for match in _NUM_ID_GATE.finditer(low):
        end = match.start()
        spaces = 0
        while end > 0 and low[end - 1] in b" \t" and spaces < 4:
            end -= 1
            spaces += 1
        if spaces <= 3 and low.endswith(_ID_HEAD_ENDS, 0, end):
            return True
    return False


def _has_any(haystack: bytes, needles: tuple[bytes, ...]) -> bool:
    for needle in needles:
        if needle in haystack:
            return True
    return False


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    resolve: _Resolver
    # Characters besides letters, digits and "_" that may not come right before a match (a look-behind,
    # checked in Python so the pattern can start with a literal); None: no such check.
    not_after: str | None = ""


_EMAIL_RULE = _Rule("email", re.compile(_EMAIL), _value_span, not_after=None)
_ID_RULE = _Rule("id_number", re.compile(_ID), _id_value)
_DOB_RULE = _Rule("date_of_birth", re.compile(_DOB), _value_span)
_SSN_RULE = _Rule("id_number", re.compile(_SSN), _value_span, not_after="-")
_PHONE_CUE_RULE = _Rule("phone", re.compile(_PHONE_CUE_VALUE), _phone_after_cue)
_PHONE_RULES: tuple[_Rule, ...] = (
    _Rule("phone", re.compile(_PHONE_US), _value_span, not_after="+"),
    _Rule("phone", re.compile(_PHONE_INTL), _digits_between(8, 15), not_after="+"),
    _Rule("phone", re.compile(_PHONE_UK), _digits_between(10, 11), not_after="+.,"),
)
_ADDRESS_RULE = _Rule("address", re.compile(_ADDRESS), _value_span, not_after=".,/#@-")
_AGE_RULE = _Rule("age_over_89", re.compile(_AGE), _age_resolver, not_after=".,/+$€£-")
_AGED_RULE = _Rule("age_over_89", re.compile(_AGED), _value_span)
_TITLE_RULE = _Rule("person_name", re.compile(_TITLE_CUE + _NAME), _name_resolver("title"), not_after="@#")
_PATIENT_RULE = _Rule("person_name", re.compile(_PATIENT_CUE + _NAME), _name_resolver("patient"), not_after="@#")
_NAMED_RULE = _Rule("person_name", re.compile(_NAMED_CUE + _NAME), _named_resolver)

# Order matters: specific, cue-anchored rules first so a value is counted under the kind its cue names
# ("NHS number 943 476 5919" is an id, not a phone), names last so an address or id is never half-eaten.
_RULES: tuple[_Rule, ...] = (
    _EMAIL_RULE, _ID_RULE, _DOB_RULE, _SSN_RULE, _PHONE_CUE_RULE, *_PHONE_RULES, _ADDRESS_RULE,
    _AGE_RULE, _AGED_RULE, _TITLE_RULE, _PATIENT_RULE, _NAMED_RULE,
)

EMAIL_PATTERN: re.Pattern[str] = _EMAIL_RULE.pattern
"""The email pattern the fast path uses; exposed so tests and audits can check outputs against it."""


def _apply(rule: _Rule, text: str, counts: dict[str, int]) -> str:
    """Replace every accepted match of one rule, left to right, and count them."""
    pattern, not_after = rule.pattern, rule.not_after
    match = pattern.search(text)
    if match is None:  # the common case: nothing to do, no allocation
        return text
    pieces: list[str] = []
    last = 0
    found = 0
    token = REPLACEMENTS[rule.kind]
    while match is not None:
        start = match.start()
        if start > 0 and not_after is not None:
            before = text[start - 1]
            if before.isalnum() or before == "_" or before in not_after:
                match = pattern.search(text, start + 1)  # a look-behind, done here to keep the scan fast
                continue
        span = rule.resolve(match, text)
        if span is None:
            match = pattern.search(text, start + 1)
            continue
        pieces.append(text[last : span[0]])
        pieces.append(token)
        last = span[1]
        found += 1
        match = pattern.search(text, max(span[1], start + 1))
    if not found:
        return text
    pieces.append(text[last:])
    counts[rule.kind] = counts.get(rule.kind, 0) + found
    return "".join(pieces)


def _has_email_candidate(text: str) -> bool:
    # An "@" with a local-part character before it and a dot after it; "@handles" have neither.
    at = text.find("@")
    while at != -1:
        if at > 0 and (text[at - 1].isalnum() or text[at - 1] in "._%+-") and "." in text[at:]:
            return True
        at = text.find("@", at + 1)
    return False


def _lower_bytes(text: str) -> bytes:
    # bytes.lower() folds ASCII only, exactly like the (?ai:...) cues; "surrogatepass" because arbitrary
    # input may hold lone surrogates and redaction must never raise.
    return text.encode("utf-8", "surrogatepass").lower()


def _redact_fast(text: str, counts: dict[str, int], *, prefilter: bool = True) -> str:
    """Run the pattern rules in :data:`_RULES` order; with ``prefilter``, skip the rules a cheap gate rules out.

    Each gate is a necessary condition for its rules to match, so skipping changes no result, only the
    cost (a test runs both ways and compares). A typical post without personal data pays for a handful of
    substring checks and four to six short scans.
    """
    if not prefilter:
        for rule in _RULES:
            text = _apply(rule, text, counts)
        return text
    # Gates read the text as it came in: a replacement token can never serve as a cue (each ends in "]"),
    # so whatever a later rule could match was already there.
    low = _lower_bytes(text)
    if "@" in text and _has_email_candidate(text):
        text = _apply(_EMAIL_RULE, text, counts)
    if _RUN4.search(text) is not None and ("DL" in text or _id_cue_possible(low)):
        text = _apply(_ID_RULE, text, counts)
    if _DOB_GATE.search(low) is not None:
        text = _apply(_DOB_RULE, text, counts)
    if _PHONEISH.search(text) is not None:
        text = _apply(_SSN_RULE, text, counts)
        if _has_any(low, _PHONE_CUE_WORDS):
            text = _apply(_PHONE_CUE_RULE, text, counts)
        for rule in _PHONE_RULES:
            text = _apply(rule, text, counts)
    if _ADDRESS_HEAD.search(text) is not None:
        text = _apply(_ADDRESS_RULE, text, counts)
    if "9" in text or _has_any(low, _AGE_WORDS):
        text = _apply(_AGE_RULE, text, counts)
    if b"age" in low:
        text = _apply(_AGED_RULE, text, counts)
    if _TITLE_GATE.search(text) is not None:
        text = _apply(_TITLE_RULE, text, counts)
    if b"pt" in low or b"patient" in low:
        text = _apply(_PATIENT_RULE, text, counts)
    if b"name" in low or b"called" in low:
        text = _apply(_NAMED_RULE, text, counts)
    return text


def looks_clinical(span: str, text: str, end: int) -> bool:
    """True for NER "persons" that are eponyms used as diseases ("Crohn's", "Graves disease")."""
    words = span.replace("’", "'").split()
    if not words:
        return True
    first = words[0].split("'")[0].lower()
    if _eponym_stem(first) in _EPONYMS and (len(words) == 1 or "'" in words[0]):
        return True
    return bool(_EPONYM_USE.match(text, end)) and _eponym_stem(words[-1].split("'")[0].lower()) in _EPONYMS


_MAX_PASSES = 4


def redact_until_stable(text: str, counts: dict[str, int]) -> str:
    """The fast path, repeated while it still changes something (at most :data:`_MAX_PASSES` times).

    A replacement can change what borders a neighbouring candidate ("Aa(555)..." becomes "[NAME](555)...",
    and the phone is now a match), so a post that changed gets another pass; redacting the output again is
    then a no-op. Posts without personal data pay for one pass only.
    """
    for _ in range(_MAX_PASSES):
        redacted = _redact_fast(text, counts)
        if redacted is text or redacted == text:
            break
        text = redacted
    return text
