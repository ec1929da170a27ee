"""Per-row author signals, computed at ingest from the RAW profile fields (before redaction).

Why at ingest and from the raw fields: the display name is personal data and is never stored, and the bio is
stored only after redaction (where "Dr. Jane Smith, MD" has become "Dr. [NAME], MD"). What survives is what
these functions derive: credential tokens, a keyed hash of the name (to link accounts without keeping the
name), a normalized handle, and the other profiles a bio points to.

Credential rules (`credentials_in`)
-----------------------------------
Tokens are matched case-sensitively in their usual spellings (``MD``, ``M.D.``, ``PharmD``, ``Pharm.D.``,
``PhD``, ``Ph.D.``, ``PA-C``, ``FNP-BC`` ...; `CREDENTIAL_FORMS`), never inside a word (``LEARN``, ``RNA``),
never after ``@`` or ``#``. Adjacent tokens joined by spaces, commas, slashes, hyphens or "and" form a *run*
("MD, FACC", "MD PhD", "MD/MPH", "MD-PhD"). A run is dropped when

- it is hyphenated onto a word that is not a credential: "NP-hard", "non-MD", "RN-to-BSN";
- it is aspirational or someone else's: "future RN", "PhD student", "MD candidate", "pre-med", "my MD",
  "wife of an MD", "married to a DO";
- a short all-caps token sits between two all-caps words (shouting: "SAVE FACE NOW", "WE DO IT").

The bare tokens ``MD`` and ``DO`` are also a US state and a verb, so they need more (the dotted ``M.D.`` and
``D.O.`` do not):

- never a location: followed by a ZIP code or a country ("Bethesda MD 20814", "Rockville, MD, USA"), after a
  known Maryland place ("Baltimore, MD"; `MARYLAND_PLACES`), or after a place introduced by "in", "from",
  "based in", "📍" ...; never "MD Anderson" (the cancer centre);
- never the verb: a bare "DO" after a subject or an auxiliary ("I DO", "we DO", "just DO");
- in the display name: after the name's comma as a segment made only of credentials ("Jane Smith, MD, FACC",
  "John Doe, DO"), or as the trailing run of the name itself ("Jane Smith MD PhD"). A segment that mixes a
  word with the token is a place ("Jane, Baltimore MD");
- in the bio: in a run of two or more ("MD, FACC"), after an article or "proud" ("I'm an MD", "Proud DO"),
  as an item of its own ("MD | Cardiology", "(DO)"), or right after a two-word name and a comma ("Jane
  Smith, MD."). So "I do", "what we DO" and "Baltimore, MD" are not credentials.

``PA`` alone (Pennsylvania: "Pittsburgh, PA") is never a credential; ``PA-C`` is.

The title ``Dr`` counts only as the first word of the display name or of the bio (a bio naming someone else,
"thankful to Dr. Lee", says nothing about its author), and not for brands and companies: a known brand after
it ("Dr Pepper", "Dr. Scholl's", `DR_BRANDS`), a possessive ("Dr. Reddy's Laboratories") or a company word
anywhere in the name ("Laboratories", "Inc", "Ltd"; `COMPANY_WORDS`).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from common.settings import AuthorSettings

# ---------------------------------------------------------------------------------------------- credentials

CREDENTIAL_FORMS: tuple[tuple[str, str], ...] = (
    ("MD", r"M\.\s?D\.?|MD"),
    ("DO", r"D\.\s?O\.?|DO"),
    ("MBBS", r"MBBS|M\.B\.,?\s?B\.S\.?"),
    ("MBChB", r"MBChB|MBCHB"),
    ("FACC", "FACC"), ("FACP", "FACP"), ("FACE", "FACE"), ("FACS", "FACS"), ("FAAP", "FAAP"),
    ("FRCP", "FRCP"), ("FRCPC", "FRCPC"), ("FRCS", "FRCS"), ("FASCO", "FASCO"), ("FAHA", "FAHA"),
    ("FASN", "FASN"), ("FCCP", "FCCP"), ("FACG", "FACG"), ("FAAFP", "FAAFP"), ("FACEP", "FACEP"),
    ("FACOI", "FACOI"),
    ("PharmD", r"PharmD|PHARMD|Pharm\.\s?D\.?"),
    ("RPh", r"RPh|RPH|R\.Ph\.?"),
    ("BCPS", "BCPS"),
    ("RN", r"RN(?:-BC)?|R\.N\."),
    ("BSN", "BSN"), ("MSN", "MSN"), ("LPN", "LPN"),
    ("NP", r"NP(?:-BC|-C)?"),
    ("FNP", r"FNP(?:-BC|-C)?"),
    ("APRN", "APRN"),
    ("PA-C", "PA-C"),
    ("CRNA", "CRNA"),
    ("DNP", "DNP"),
    ("PhD", r"PhD|PHD|Ph\.\s?D\.?"),
    ("MPH", r"MPH|M\.P\.H\.?"),
)
"""(canonical token, the spellings it is found in). Python's regex alternation tries spellings in order."""

TITLE = "Dr"
"""The one title `credentials_in` reports (in the display name's or bio's first word)."""

CACHE_SIZE = 32_768
"""Distinct profiles remembered per signal function (a profile repeats on every post of its author)."""

CACHED_PROFILE_CHARS = 2_000
"""A profile whose fields are longer than this together is worked out again on every post instead of being
remembered, so the caches hold at most `CACHE_SIZE` x this many characters whatever a dump holds (real profiles
are tens of characters; a 1 MB bio on every line of a hostile dump must not fill memory)."""


def cacheable(*fields: str | None) -> bool:
    """Whether a profile made of `fields` is short enough to be remembered (`CACHED_PROFILE_CHARS`)."""
    return sum(len(f) for f in fields if f) <= CACHED_PROFILE_CHARS


CONTEXT_CHARS = 80
"""How far before a token the context rules look."""

BARE_AMBIGUOUS = frozenset({"MD", "DO"})
"""Spellings that are also a state or a verb: they need the context rules of the module docstring."""

MARYLAND_PLACES: tuple[str, ...] = (
    "baltimore", "bethesda", "rockville", "silver spring", "annapolis", "columbia", "frederick", "towson",
    "germantown", "gaithersburg", "laurel", "bowie", "hagerstown", "salisbury", "ellicott city", "glen burnie",
    "chevy chase", "college park", "severna park", "owings mills", "catonsville", "potomac", "olney",
    "waldorf", "ocean city", "cumberland", "aberdeen", "elkton", "easton", "largo", "landover", "wheaton",
    "takoma park", "hyattsville", "pikesville", "dundalk", "essex", "parkville", "cockeysville", "lutherville",
)
"""Places before which a bare "MD" is the state, even without a ZIP code (lower case)."""

DR_BRANDS: tuple[str, ...] = (
    "reddy", "reddys", "pepper", "scholl", "scholls", "oetker", "martens", "bronner", "bronners", "jart",
    "teal", "teals", "brandt", "squatch", "praeger", "praegers", "hauschka", "organic", "whitening",
)
"""Words that make "Dr ..." a brand rather than a person's title (lower case, apostrophes removed)."""

COMPANY_WORDS: tuple[str, ...] = (
    "laboratories", "laboratory", "labs", "inc", "ltd", "llc", "plc", "gmbh", "ag", "corp", "corporation",
    "company", "co", "pharma", "pharmaceuticals", "products", "brands", "limited",
)
"""A display name holding one of these words is a company, so its "Dr" is not a title (lower case)."""

_ASPIRING_BEFORE = re.compile(
    r"\b(?:aspiring|future|pre-?med|pre-?pharmacy|pre-?nursing|becoming|studying\s+to\s+be|soon[- ]to[- ]be)"
    r"\s+(?:an?\s+)?$", re.IGNORECASE)
_STUDENT_AFTER = re.compile(r"\s*(?:candidate|student|applicant|hopeful|program|programme|school|class\s+of)\b",
                            re.IGNORECASE)
_RELATION_BEFORE = re.compile(
    r"(?:\b(?:my|our|his|her|their|your)|\b(?:wife|husband|partner|mom|mum|mother|dad|father|son|daughter|"
    r"sister|brother|friend|fan|parent)\s+(?:of|to)|\bmarried\s+to)\s+(?:an?\s+)?$", re.IGNORECASE)
_NON_BEFORE = re.compile(r"\bnon[- ]?$", re.IGNORECASE)
_WORD_HYPHEN_BEFORE = re.compile(r"[A-Za-z0-9]+-$")
_HYPHEN_WORD_AFTER = re.compile(r"-[A-Za-z0-9]")
_RUN_GAP = re.compile(r"[\s,/;&|+()\-–—]{0,4}|\s*,?\s*and\s+")
_LOCATION_AFTER = re.compile(r"\s*,?\s*(?:\d{5}(?:-\d{4})?(?!\d)|(?:USA|U\.S\.A?\.?|US|United\s+States)(?!\w))")
_PLACE_BEFORE = re.compile(r"(?P<place>(?:[A-Z][\w'’.-]*\s+){0,2}[A-Z][\w'’.-]*)\s*,?\s*$")
_LOCATION_CUE_BEFORE = re.compile(
    r"(?:\b(?:in|from|near|based\s+in|located\s+in|live\s+in|lives\s+in|living\s+in|location:?)|📍)\s*$",
    re.IGNORECASE)
_MD_ANDERSON_AFTER = re.compile(r"\s+Anderson\b")
_DO_VERB_BEFORE = re.compile(
    r"\b(?:I|we|you|they|to|not|what|who|just|can|will|and|let's|please|must|should|always|never)\s+$",
    re.IGNORECASE)
_ARTICLE_BEFORE = re.compile(r"\b(?:an?|AN?|[Pp]roud)\s+$")
_ITEM_BEFORE = re.compile(r"(?:^|[|•·(\[;:\n/]|[.!?]\s)\s*$")
_ITEM_AFTER = re.compile(r"\s*(?:$|[|•·)\];,.!?\n])")
_NAME_COMMA_BEFORE = re.compile(r"[A-Z][\w'’.-]+\s+(?:[A-Z]\.?\s+)?[A-Z][\w'’.-]+\s*,\s*$")
_CAPS_WORD_BEFORE = re.compile(r"(?<![\w])([A-Z]{2,})\s+$")
_CAPS_WORD_AFTER = re.compile(r"\s+([A-Z]{2,})(?!\w)")
_SEGMENT_BREAK = re.compile(r"[,|·•]|\s[-–—]\s")
_PRONOUNS = re.compile(r"\(?\b(?:she|he|they|ze|xe)\s*/\s*(?:her|hers|him|his|they|them|theirs|zir|xem)"
                       r"(?:\s*/\s*\w+)?\b\)?", re.IGNORECASE)
_DR_AT_START = re.compile(r"^[\W_]*(?:Dr|DR|dr)(?:\.\s*|\s+)(?P<rest>\S.*)$", re.DOTALL)

_CREDENTIALS = re.compile(
    r"(?<![\w@#])(?:" + "|".join(f"(?P<c{i}>{forms})" for i, (_, forms) in enumerate(CREDENTIAL_FORMS)) + r")(?![\w@])"
)
_CANONICAL = {f"c{i}": canonical for i, (canonical, _) in enumerate(CREDENTIAL_FORMS)}
CANONICAL_CREDENTIALS: frozenset[str] = frozenset(_CANONICAL.values())


@dataclass(frozen=True)
class _Match:
    token: str
    start: int
    end: int
    bare: bool  # "MD" or "DO" exactly as written: needs context


def credentials_in(display_name: str | None, bio: str | None) -> list[str]:
    """Canonical credential tokens (and the title "Dr") in a display name and a bio, sorted and unique.

    Run on the raw fields at ingest: the tokens are what is stored of the display name. The rules, and the
    false friends they keep out (Dr Pepper, Baltimore MD, "I do", Pittsburgh PA, NP-hard), are in the module
    docstring. Cached: an author's profile repeats on every post (tens of microseconds a profile, nothing
    for a repeat).
    """
    find = _credentials_cached if cacheable(display_name, bio) else _credentials_cached.__wrapped__
    return list(find(display_name, bio))


@lru_cache(maxsize=CACHE_SIZE)
def _credentials_cached(display_name: str | None, bio: str | None) -> tuple[str, ...]:
    found: set[str] = set()
    if display_name:
        name = _clean_display_name(display_name)
        found.update(_display_name_credentials(name))
        if _title_at_start(name, is_display_name=True):
            found.add(TITLE)
    if bio:
        found.update(_bio_credentials(bio))
        if _title_at_start(bio, is_display_name=False):
            found.add(TITLE)
    return tuple(sorted(found))


def _clean_display_name(text: str) -> str:
    """NFKC, with emoji, other symbols and pronouns ("(she/her)") turned into spaces: they never carry a
    credential, and "Jane Smith, MD (she/her)" must still end in a segment of credentials only."""
    text = _PRONOUNS.sub(" ", unicodedata.normalize("NFKC", text))
    return "".join(" " if _is_symbol(ch) else ch for ch in text)


def _is_symbol(ch: str) -> bool:
    if ch == "|":  # a separator ("Jane Smith MD | Endocrinologist"), though Unicode calls it a math symbol
        return False
    category = unicodedata.category(ch)
    return category.startswith("S") or (category.startswith("C") and not ch.isspace()) or category == "Mn"


def _matches(text: str) -> list[_Match]:
    return [_Match(_CANONICAL[m.lastgroup or ""], m.start(), m.end(), m.group(0) in BARE_AMBIGUOUS)
            for m in _CREDENTIALS.finditer(text)]


def _runs(text: str, matches: list[_Match]) -> list[list[_Match]]:
    """Adjacent matches ("MD, FACC", "MD/PhD") grouped, in text order."""
    runs: list[list[_Match]] = []
    for match in matches:
        if runs and _RUN_GAP.fullmatch(text, runs[-1][-1].end, match.start):
            runs[-1].append(match)
        else:
            runs.append([match])
    return runs


def _run_rejected(text: str, run: list[_Match]) -> bool:
    """Hyphenated onto a word, aspirational, someone else's: the run says nothing about the author."""
    start, end = run[0].start, run[-1].end
    if _ends_with(_WORD_HYPHEN_BEFORE, text, start) or _HYPHEN_WORD_AFTER.match(text, end):
        return True
    if any(_ends_with(p, text, start) for p in (_NON_BEFORE, _ASPIRING_BEFORE, _RELATION_BEFORE)):
        return True
    return bool(_STUDENT_AFTER.match(text, end))


def _ends_with(pattern: re.Pattern[str], text: str, end: int) -> re.Match[str] | None:
    """`pattern` (anchored with `$`) matched against the CONTEXT_CHARS before `end`: bounded work per token,
    whatever the length of the text ("^" still means the start of the text)."""
    return pattern.search(text, max(0, end - CONTEXT_CHARS), end)


def _shouted(text: str, match: _Match) -> bool:
    """An all-caps token between two all-caps words that are not credentials: shouting, not a suffix."""
    if not text[match.start:match.end].isupper() or match.end - match.start > 4:
        return False
    before = _ends_with(_CAPS_WORD_BEFORE, text, match.start)
    after = _CAPS_WORD_AFTER.match(text, match.end)
    return bool(before and after and not _CREDENTIALS.fullmatch(before.group(1))
                and not _CREDENTIALS.fullmatch(after.group(1)))


def _is_location(text: str, match: _Match) -> bool:
    """A bare "MD" that is the state: ZIP or country after it, a Maryland place or a place cue before it."""
    if _LOCATION_AFTER.match(text, match.end) or _MD_ANDERSON_AFTER.match(text, match.end):
        return True
    place = _ends_with(_PLACE_BEFORE, text, match.start)
    if not place:
        return False
    words = place.group("place").lower().replace("’", "'").split()
    if any(" ".join(words[-k:]) in MARYLAND_PLACES for k in (1, 2, 3)):
        return True
    return bool(_ends_with(_LOCATION_CUE_BEFORE, text, place.start()))


def _is_verb(text: str, match: _Match) -> bool:
    """A bare "DO" after a subject or an auxiliary ("I DO", "we DO", "just DO") is the verb."""
    return match.token == "DO" and bool(_ends_with(_DO_VERB_BEFORE, text, match.start))


def _kept_matches(text: str) -> list[tuple[list[_Match], _Match]]:
    """(run, match) for every match whose run passes the general rules; the bare-token rules come after."""
    kept = []
    for run in _runs(text, _matches(text)):
        if _run_rejected(text, run):
            continue
        kept.extend((run, match) for match in run if not _shouted(text, match))
    return kept


def _display_name_credentials(name: str) -> set[str]:
    found = set()
    for run, match in _kept_matches(name):
        if not match.bare or _bare_ok_in_display_name(name, run, match):
            found.add(match.token)
    return found


def _bare_ok_in_display_name(name: str, run: list[_Match], match: _Match) -> bool:
    if _is_location(name, match) or _is_verb(name, match):
        return False
    seg_start = max((m.end() for m in _SEGMENT_BREAK.finditer(name, 0, match.start)), default=0)
    next_break = _SEGMENT_BREAK.search(name, match.end)
    seg_end = next_break.start() if next_break else len(name)
    in_segment = [m for m in run if seg_start <= m.start and m.end <= seg_end]
    # Everything from the match to the segment's end must be credentials (a trailing run) ...
    tail = [m for m in in_segment if m.start >= match.start]
    if not _only_credentials(name, match.start, seg_end, tail):
        return False
    head = name[seg_start:min(m.start for m in in_segment)]
    if seg_start == 0:
        return bool(re.search(r"[^\W\d_]{2}", head))  # ... after a name in the first segment,
    return not head.strip(" \t,/;&|+()-")  # ... or making up a later segment on its own.


def _only_credentials(text: str, start: int, end: int, matches: list[_Match]) -> bool:
    position = start
    for m in sorted(matches, key=lambda m: m.start):
        if text[position:m.start].strip(" \t,/;&|+()-–—"):
            return False
        position = m.end
    return not text[position:end].strip(" \t,/;&|+()-–—.")


def _bio_credentials(bio: str) -> set[str]:
    found = set()
    for run, match in _kept_matches(bio):
        if not match.bare or _bare_ok_in_bio(bio, run, match):
            found.add(match.token)
    return found


def _bare_ok_in_bio(bio: str, run: list[_Match], match: _Match) -> bool:
    if _is_location(bio, match) or _is_verb(bio, match):
        return False
    if len(run) >= 2:
        return True
    if _ends_with(_ARTICLE_BEFORE, bio, match.start):
        return True
    if not _ITEM_AFTER.match(bio, match.end):
        return False
    return bool(_ends_with(_ITEM_BEFORE, bio, match.start) or _ends_with(_NAME_COMMA_BEFORE, bio, match.start))


def _title_at_start(text: str, is_display_name: bool) -> bool:
    """ "Dr" as the first word, followed by a person's name rather than a brand or a company."""
    found = _DR_AT_START.match(text.strip())
    if not found:
        return False
    rest = found.group("rest")
    first = rest.split()[0] if rest.split() else ""
    if not first or not first[0].isalpha():
        return False
    if re.search(r"['’]s\b", first):
        return False  # "Dr. Reddy's Laboratories": a possessive names a business, not its author
    if _plain_word(first) in DR_BRANDS:
        return False
    scope = rest if is_display_name else rest.split(".")[0]
    return not any(_plain_word(word) in COMPANY_WORDS for word in scope.split())


def _plain_word(word: str) -> str:
    return re.sub(r"[^\w]", "", word.replace("’", "'").replace("'", "")).lower()


# ---------------------------------------------------------------------------------------------- name key

NAME_KEY_FALLBACK = "occ-insights/name-key/v1"
"""The hashing key when the variable named by `authors.name_key_env` is unset. Keys then stay the same across
runs and machines (demos, tests), but anyone with this code can test a guessed name against them: production
sets the variable to a secret."""

NAME_KEY_HEX = 16
"""Hex characters of a name key (64 bits: collisions between different names are negligible at any realistic
number of authors)."""

TITLE_WORDS = frozenset({"dr", "doctor", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "sir", "dame"})
"""Leading words dropped from a display name before hashing (lower case, without dots)."""

CREDENTIAL_WORDS = frozenset({c.lower().replace("-", "") for c in CANONICAL_CREDENTIALS}
                             | {"mdphd", "npc", "npbc", "fnpc", "fnpbc", "rnbc", "pac", "mbbs", "mbchb"})
"""Credentials as they look after name normalization (lower case, no dots or hyphens)."""

_AMBIGUOUS_WORDS = frozenset({"md", "do"})  # also a surname ("Anh Do"): only stripped after two other words
_TITLE_GLUED = re.compile(r"\b(Dr|Prof|Mr|Mrs|Ms|Mx)\.(?=\S)", re.IGNORECASE)


def name_key_secret(settings: AuthorSettings, environ: Mapping[str, str] | None = None) -> str:
    """The key for `name_key`: the variable `settings.name_key_env` names, else `NAME_KEY_FALLBACK`."""
    env = os.environ if environ is None else environ
    return env.get(settings.name_key_env) or NAME_KEY_FALLBACK


def name_key(display_name: str | None, secret: str) -> str | None:
    """A keyed hash of the normalized display name; None when nothing of a name is left.

    Why keyed: an unkeyed hash of a name is reversed by hashing a list of names. Normalization drops titles,
    credentials, emoji, pronouns, punctuation, accents, case and word order, and keeps only the name (the
    text before the first comma, "|" or " - "; "Smith, Jane" keeps both), so "Dr. Jane Q. Smith, MD 🩺",
    "jane q smith" and "Jane Q. Smith - Cardiologist | Boston" give the same key (the same person on two
    platforms), while a different middle initial does not.
    """
    if not display_name:
        return None
    return (_name_key_cached if cacheable(display_name) else _name_key_cached.__wrapped__)(display_name, secret)


@lru_cache(maxsize=CACHE_SIZE)
def _name_key_cached(display_name: str, secret: str) -> str | None:
    words = normalized_name_words(display_name)
    if not words:
        return None
    key = secret.encode("utf-8")
    if len(key) > 64:  # blake2b keys are at most 64 bytes
        key = hashlib.blake2b(key).digest()
    digest = hashlib.blake2b(" ".join(words).encode("utf-8"), key=key, digest_size=NAME_KEY_HEX // 2)
    return digest.hexdigest()


def normalized_name_words(display_name: str | None) -> list[str]:
    """The words `name_key` hashes (exposed for tests; never store them)."""
    if not display_name:
        return []
    text = _PRONOUNS.sub(" ", unicodedata.normalize("NFKD", _TITLE_GLUED.sub(r"\1. ", display_name)))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    parts = [[_plain_word(w) for w in part.split()] for part in _SEGMENT_BREAK.split(text)]
    parts = [[w for w in part if w] for part in parts]
    name = parts[0] if parts else []
    while name and name[0] in TITLE_WORDS:
        name = name[1:]
    while name and name[-1] in CREDENTIAL_WORDS and len(name) > (2 if name[-1] in _AMBIGUOUS_WORDS else 1):
        name = name[:-1]
    if len(name) == 1 and len(parts) > 1:  # "Smith, Jane Q."
        given = [w for w in parts[1] if w not in CREDENTIAL_WORDS and w not in TITLE_WORDS]
        if len(given) <= 3:
            name = name + given
    return [] if all(w in CREDENTIAL_WORDS for w in name) else sorted(name)


# ---------------------------------------------------------------------------------------------- handles

PLATFORM_ALIASES: dict[str, str] = {
    "x": "x", "twitter": "x", "x.com": "x", "twitter.com": "x", "linkedin": "linkedin", "reddit": "reddit",
    "doximity": "doximity", "sermo": "sermo", "figure1": "figure1", "figure 1": "figure1", "figure_1": "figure1",
    "medscape": "medscape",
}
"""Platform spellings in dumps -> the names used in "platform:handle"; others are kept lower-cased."""

X_RESERVED_PATHS = frozenset({
    "home", "i", "intent", "search", "hashtag", "share", "explore", "settings", "messages", "notifications",
    "login", "signup", "tos", "privacy", "about", "compose", "status",
})
"""First path segments of x.com / twitter.com that are pages, not accounts."""

REDACTION_TOKEN = re.compile(r"\[[A-Z][A-Z_]*\]")
"""What redaction leaves ("[EMAIL]", "[PHONE]", "[NAME]"): never data, never part of a handle."""

_HANDLE = re.compile(r"[\w.\-]{1,100}")
_X_HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
_SLUG = re.compile(r"[\w\-.%]{2,100}")
_REDDIT_NAME = re.compile(r"[A-Za-z0-9_\-]{3,20}")
_HOST_PREFIXES = ("www.", "mobile.", "m.", "old.", "new.", "np.")

_BIO_URL = re.compile(
    r"(?<![\w@.\-/])(?:https?://)?(?:[a-z]{1,6}\.)?(?:x|twitter|linkedin|reddit|doximity)\.com/[^\s<>()\[\]{}\"',;]+",
    re.IGNORECASE)
_AT_ON_X = re.compile(r"(?<![\w.@])@(?P<h>[A-Za-z0-9_]{1,15})(?![\w@])\s+on\s+(?:X|Twitter|twitter|TWITTER)\b")
_X_AT = re.compile(r"(?:\bX\s*:|\b(?:Twitter|twitter|TWITTER)\s*:?)\s*@(?P<h>[A-Za-z0-9_]{1,15})(?![\w@])")
_REDDIT_U = re.compile(r"(?<![\w/.])u/(?P<h>[A-Za-z0-9_\-]{3,20})(?![\w\-])")


def canonical_platform(platform: str | None) -> str | None:
    """A platform name as used in "platform:handle" ("twitter" -> "x"); None for an empty one."""
    if not platform or not platform.strip():
        return None
    name = platform.strip().lower()
    return PLATFORM_ALIASES.get(name, name)


def handle_of(author_handle: str | None, author_url: str | None, author_id: str | None,
              platform: str | None) -> str | None:
    """The account's own handle, normalized (lower case, no "@"): from the handle field, else from a profile
    URL of the account's own platform, else from an id written as a handle ("@name", reddit "u/name").

    None otherwise: a handle invented from a numeric id would make unrelated accounts "share a handle".
    """
    own = canonical_platform(platform)
    if author_handle and author_handle.strip():
        value = author_handle.strip()
        if "/" in value:  # a URL in the handle field
            return _own_url_handle(value, own)
        return _clean_handle(value)
    if author_url and author_url.strip():
        handle = _own_url_handle(author_url.strip(), own)
        if handle:
            return handle
    if author_id:
        value = author_id.strip()
        if value.startswith("@"):
            return _clean_handle(value)
        if own == "reddit" and value.lower().startswith("u/"):
            return _clean_handle(value[2:])
    return None


def _own_url_handle(url: str, own: str | None) -> str | None:
    profile = profile_from_url(url)
    if profile is None or (own is not None and profile[0] != own):
        return None  # a URL of another platform is a linked profile, not this account's handle
    return profile[1]


def _clean_handle(value: str) -> str | None:
    value = value.strip().lstrip("@").strip().lower()
    if not value or REDACTION_TOKEN.search(value.upper()) or not _HANDLE.fullmatch(value):
        return None
    return value


def profile_from_url(url: str) -> tuple[str, str] | None:
    """(platform, handle) of a profile URL on x/twitter, linkedin (/in/), reddit (/u/, /user/) or doximity
    (/pub/); None for any other URL, a page that is not a profile, or a redacted one."""
    text = url.strip().rstrip(".,;:!?")
    if REDACTION_TOKEN.search(text):
        return None
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    for prefix in _HOST_PREFIXES:
        host = host.removeprefix(prefix)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not segments:
        return None
    first = segments[0].lower()
    if host in ("x.com", "twitter.com"):
        if first not in X_RESERVED_PATHS and _X_HANDLE.fullmatch(segments[0]):
            return ("x", first)
    elif host == "linkedin.com" or host.endswith(".linkedin.com"):
        if first == "in" and len(segments) > 1 and _SLUG.fullmatch(segments[1]):
            return ("linkedin", segments[1].lower())
    elif host == "reddit.com":
        if first in ("u", "user") and len(segments) > 1 and _REDDIT_NAME.fullmatch(segments[1]):
            return ("reddit", segments[1].lower())
    elif host == "doximity.com" and first == "pub" and len(segments) > 1 and _SLUG.fullmatch(segments[1]):
        return ("doximity", segments[1].lower())
    return None


def linked_profiles(bio: str | None, author_url: str | None) -> list[str]:
    """Other profiles a bio (or a profile URL) points to, as "platform:handle", sorted and unique.

    Profile URLs of x/twitter, linkedin, reddit and doximity, and "@handle on X", "X: @handle",
    "Twitter @handle", "u/name". Redaction tokens are removed first, so "X: @[NAME]" or "x.com/[NAME]" link
    nothing. The account's own URL may be among them; `linking.candidate_links` ignores self-links.
    """
    find = _linked_cached if cacheable(bio, author_url) else _linked_cached.__wrapped__
    return list(find(bio, author_url))


@lru_cache(maxsize=CACHE_SIZE)
def _linked_cached(bio: str | None, author_url: str | None) -> tuple[str, ...]:
    found: set[str] = set()
    if author_url and author_url.strip():
        profile = profile_from_url(author_url)
        if profile:
            found.add(f"{profile[0]}:{profile[1]}")
    if bio:
        text = REDACTION_TOKEN.sub(" ", bio)
        for match in _BIO_URL.finditer(text):
            profile = profile_from_url(match.group(0))
            if profile:
                found.add(f"{profile[0]}:{profile[1]}")
        for pattern, platform in ((_AT_ON_X, "x"), (_X_AT, "x"), (_REDDIT_U, "reddit")):
            found.update(f"{platform}:{m.group('h').lower()}" for m in pattern.finditer(text))
    return tuple(sorted(found))
