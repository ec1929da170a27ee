"""Who is speaking: an author type and, for clinicians, a specialty, each with a confidence and its evidence.

Why rules and not a model: the strongest signals are near-certain facts (a credential in the display name, a
platform that verifies its members), there are no labels for author types yet, and a reviewer must be able to
read why an author was counted as a physician. So each source of evidence gives a type a weight in 0..1:

- credentials (found at ingest, `signals.credentials_in`): MD, DO, MBBS, fellowships -> physician 0.97;
  PharmD, RPh, RN, NP, PA-C, ... -> other clinician 0.95; the title "Dr" alone -> 0.55 (PhDs, pharmacists and
  dentists use it too);
- a verified platform (`authors.verified_platforms`): Sermo and Medscape -> physician 0.9; Doximity and
  Figure 1, which also admit nurses, pharmacists, PAs and NPs -> clinician 0.9, physician 0.8 when nothing
  says which kind;
- the bio (already redacted; redaction tokens ignored): role words ("cardiologist", "nurse practitioner"),
  industry, media / organization and patient / caregiver wording (`BIO_CUES`), each with its weight;
- the posts, a weaker vote: per type, the share of posts carrying its cues (`POST_CUES`), shrunk toward zero
  for authors with few posts and capped below the bio and credential weights.

Weights of one type combine as independent evidence (1 - prod(1 - w)); the best type's confidence is lowered
by the strongest competing type (`CONFLICT_WEIGHT`), and below `authors.min_type_confidence` the type is
"unknown". An account posting near-identical texts with links is "unknown" whatever else it shows (a bot is
not a voice). Specialty (clinicians only): the platform's specialty field > bio words > specialty hashtags in
posts; nurses -> "nursing", pharmacists -> "pharmacy".

Confidences are heuristics shaped to read like probabilities (0.97 means "we would be surprised to be wrong"),
not fitted ones: once reviewers label author types, check them against those labels.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from re import _constants as _sre_constants  # type: ignore[attr-defined]
from re import _parser as _sre_parser  # type: ignore[attr-defined]

from common.settings import AuthorSettings
from labeling.authors.signals import REDACTION_TOKEN, canonical_platform

AUTHOR_TYPES = ("physician", "other_clinician", "patient_caregiver", "industry", "media_org", "unknown")
CLINICIAN_TYPES = ("physician", "other_clinician")

_parse_regex = _sre_parser.parse
_LITERAL = _sre_constants.LITERAL

# ---------------------------------------------------------------------------------------------- data

PHYSICIAN_CREDENTIALS = frozenset({
    "MD", "DO", "MBBS", "MBChB", "FACC", "FACP", "FACE", "FACS", "FAAP", "FRCP", "FRCPC", "FRCS", "FASCO",
    "FAHA", "FASN", "FCCP", "FACG", "FAAFP", "FACEP", "FACOI",
})
NURSE_CREDENTIALS = frozenset({"RN", "BSN", "MSN", "LPN", "CRNA"})
PHARMACIST_CREDENTIALS = frozenset({"PharmD", "RPh", "BCPS"})
ADVANCED_PRACTICE_CREDENTIALS = frozenset({"NP", "FNP", "APRN", "DNP", "PA-C"})
OTHER_CLINICIAN_CREDENTIALS = NURSE_CREDENTIALS | PHARMACIST_CREDENTIALS | ADVANCED_PRACTICE_CREDENTIALS
TITLE = "Dr"

MIXED_CLINICIAN_PLATFORMS = ("doximity", "figure1")
"""Verified platforms that admit nurses, pharmacists, PAs and NPs as well as physicians; any other platform in
`authors.verified_platforms` verifies physicians only."""

CREDENTIAL_WEIGHT = {"physician": 0.97, "other_clinician": 0.95}
TITLE_WEIGHT = 0.55
""""Dr" alone stays below the default `min_type_confidence`: it needs a second signal."""
PHYSICIAN_PLATFORM_WEIGHT = 0.9
MIXED_PLATFORM_WEIGHT = 0.8
"""A Doximity / Figure 1 account with nothing saying which kind of clinician: most members are physicians."""
CONFLICT_WEIGHT = 0.25
"""confidence = best * (1 - CONFLICT_WEIGHT * strongest other type): contradicting evidence costs, but a
credential still outweighs a patient-sounding post."""
MAX_CONFIDENCE = 0.99
DETAILS_SHOWN = 3
SHOWN_AGAINST = 0.3
"""A competing type this strong is named in the evidence ("against: ...")."""

CONTENT_BASE, CONTENT_SLOPE, CONTENT_CAP = 0.45, 0.5, 0.8
"""Post cues: weight = min(CAP, BASE + SLOPE * hits / (posts + CONTENT_PRIOR)) when any post carries a cue."""
CONTENT_PRIOR = 2
"""Pseudo-posts without the cue: one matching post of one is a hint (0.62), four of five a vote (0.74)."""

BOT_MIN_POSTS = 4
BOT_MAX_POSTS = 50
"""Posts compared pairwise at most (bounded work whatever `texts_per_author` is)."""
BOT_MIN_LINK_SHARE = 0.5
BOT_SIMILARITY = 0.8
"""Jaccard similarity of word trigrams (URLs, numbers and case removed) above which two posts are copies."""
BOT_MIN_COPY_SHARE = 0.6
"""An account whose largest group of near-identical posts is this share of its posts (and which links in at
least BOT_MIN_LINK_SHARE of them) posts automatically."""

_OTHER_PERSON = r"(?<!\bmy )(?<!\bour )(?<!\bhis )(?<!\bher )(?<!\byour )(?<!\btheir )(?<!'s )(?<!’s )"
"""Before a role word: "my oncologist" is a patient speaking, not an oncologist."""

BIO_CUES: dict[str, tuple[tuple[str, float], ...]] = {
    "physician": tuple((_OTHER_PERSON + p, 0.85) for p in (
        (r"\b(?:cardiologist|oncologist|endocrinologist|hospitalist|rheumatologist|nephrologist|internist|"
         r"gastroenterologist|dermatologist|neurologist|psychiatrist|pulmonologist|p(?:a)?ediatrician|surgeon|"
         r"hematologist|intensivist|radiologist|an(?:a)?esthesiologist|obstetrician|gyn(?:a)?ecologist|urologist|"
         r"diabetologist|neonatologist)s?\b"),
        r"\bphysician\b(?!\s+(?:assistant|associate))",
        r"\battending(?:\s+physician)?\b(?!\s+(?:the|a|an|to|my|our|school|college|university|conference))",
        r"\b(?:medical|surgical|internal medicine|\w+ology)\s+resident\b",
        r"\bresident\s+(?:physician|doctor)\b",
        r"\bPGY-?\d\b",
        r"\b\w+ology\s+fellow\b",
        r"\b(?:family|emergency|ER|ED)\s+(?:doc|doctor|physician)\b",
    )),
    "other_clinician": tuple((_OTHER_PERSON + p, 0.85) for p in (
        r"\bnurse practitioner\b",
        r"\bnurse\b",
        r"\bpharmacist\b",
        r"\bphysician (?:assistant|associate)\b",
        r"\bmidwife\b",
        r"\bnurse anesthetist\b",
    )),
    "industry": (
        (r"\bpharmaceuticals?\b", 0.85), (r"(?-i:\bInc\.?)(?!\w)", 0.8), (r"(?-i:\bLLC\b)", 0.8),
        (r"(?-i:\bLtd\b\.?)", 0.8), (r"\blaborator(?:y|ies)\b", 0.8), (r"#sponsored\b", 0.8),
        (r"important safety information", 0.9), (r"full prescribing information", 0.9), (r"\bRx only\b", 0.9),
        (r"medical information requests?", 0.9), (r"\bbiotech(?:nology)? company\b", 0.85),
        (r"for (?:US |U\.S\. )?(?:HCPs|healthcare professionals) only", 0.85),
        (r"report (?:an )?(?:adverse events?|side effects?) (?:to|at)", 0.85),
    ),
    "media_org": (
        (r"\bjournal\b", 0.85), (r"\bsociety\b", 0.8), (r"\bassociation\b", 0.8), (r"\bpeer[- ]reviewed\b", 0.85),
        (r"\bnews\b", 0.65), (r"\beditor(?:s|ial)?\b", 0.6), (r"\bbreaking:", 0.7), (r"\bstudy finds\b", 0.6),
        (r"\bread more\b", 0.6), (r"\bmagazine\b", 0.8), (r"\bnewsletter\b", 0.65), (r"\bpublisher\b", 0.8),
        (r"\bcollege of\b", 0.75), (r"\bacademy of\b", 0.75), (r"\bofficial account of\b", 0.3),
    ),
    "patient_caregiver": (
        (r"\bpatient advocate\b", 0.85), (r"\bliving with\b", 0.8), (r"\b\w+ warrior\b", 0.8),
        (r"\b(?:mom|mum|mother|dad|father) of\b", 0.5), (r"\bnot a (?:doctor|physician|clinician)\b", 0.85),
        (r"\b(?:since|dx(?:'?d)?) (?:19|20)\d\d\b", 0.5), (r"\bcaregiver\b", 0.8), (r"\bcare partner\b", 0.8),
        (r"\bsurvivor\b", 0.75), (r"\bdiagnosed (?:with|in)\b", 0.8), (r"\bT[12]D since\b", 0.85),
        (r"\btype [12] diabetic\b", 0.8), (r"\bspoonie\b", 0.8), (r"\bmy (?:doctor|oncologist|endo)\b", 0.7),
    ),
}
"""Bio wording per author type: (case-insensitive pattern, weight). A role word after "my", "her", "mom's" ...
is someone else's doctor, not the author."""

ORG_ACCOUNT_CUES: tuple[tuple[str, float], ...] = ((r"\bofficial\s+(?:account|page|feed|handle)\b", 0.5),)
"""An organization's account, industry or media alike: weight for both, the other cues decide which."""

POST_CUES: dict[str, tuple[str, ...]] = {
    "physician": (
        r"\bmy patients?\b", r"\bin my (?:practice|clinic)\b", r"\bI (?:usually |often |now )?prescribe\b",
        r"\bon rounds\b", r"\bin clinic (?:today|this week)\b", r"\bour (?:fellows|residents)\b",
        r"\bmy pts\b", r"\bgrand rounds\b", r"\bclinic (?:today|day)\b", r"\bjournal club\b",
        r"\bpeer[- ]to[- ]peer\b", r"\bfrom (?:my )?practice\b",
        (r"\bas an? (?:cardiologist|oncologist|endocrinologist|physician|hospitalist|doc|internist|"
         r"rheumatologist|nephrologist|\w+ologist)\b"),
    ),
    "other_clinician": (
        r"\bas an? (?:nurse|pharmacist|NP|PA|nurse practitioner)\b", r"\bmy (?:night )?shift\b",
        r"\bat the pharmacy counter\b", r"\bon the unit\b",
    ),
    "industry": (
        r"important safety information", r"full prescribing information", r"\bRx only\b", r"#sponsored\b",
        r"#ad\b", r"\bpaid partnership\b", r"medical information requests?", r"\bfor (?:US )?HCPs only\b",
    ),
    "media_org": (
        r"\bbreaking:", r"\bstudy finds\b", r"\bread more\b", r"\bnew (?:study|research|issue|article)\b",
        r"\bpublished (?:today|in)\b", r"\bpeer[- ]reviewed\b",
    ),
    "patient_caregiver": (
        (r"\bmy (?:doctor|oncologist|cardiologist|endo(?:crinologist)?|rheumatologist|nephrologist|neurologist|"
         r"gp|pcp|np|pharmacist)\b"),
        r"\bI was prescribed\b", r"\bI(?:'ve| have) been prescribed\b", r"\bstarted me on\b",
        r"\bmy (?:husband|wife|mom|mum|dad|son|daughter|mother|father|partner|kid)(?:'s|’s)\b",
        r"\bmy (?:blood sugar|a1c|side effects)\b", r"\bliving with (?:t[12]d|diabetes|cancer|ra|lupus|ckd)\b",
        r"\bas a patient\b", r"\bnot a doctor\b", r"\bIANAD\b", r"\bthrowaway\b", r"\b(?:long[- ]time )?lurker\b",
        r"\bmy (?:husband|wife|mom|mum|dad|son|daughter|mother|father|partner|kid)\b",
        (r"\bmy (?:scans|joint pain|skin|flares?|symptoms|diagnosis|meds|medication|treatment|infusions?|insurance|"
         r"copay|chronic illness|ckd|egfr|cancer|condition)\b"),
        r"\bnobody can tell me\b", r"\bchanged my life\b", r"\bmonth \d+ on\b", r"\bsupport group\b",
    ),
}
"""Post wording per author type: each counts as the share of the author's posts that carry any of them."""

SPECIALTIES = ("endocrinology", "cardiology", "oncology", "rheumatology", "nephrology", "primary care", "pharmacy",
               "nursing", "dermatology", "gastroenterology", "hospital medicine", "obstetrics", "neurology",
               "psychiatry", "pulmonology", "infectious disease", "emergency medicine", "pediatrics", "other")

SPECIALTY_PATTERNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("endocrinology", (r"\bendocrinolog\w*", r"\bendo\b", r"\bdiabetolog\w*",
                       r"\bdiabetes (?:specialist|care|educat\w*)", r"\bthyroid\b")),
    ("cardiology", (r"\bcardiolog\w*", r"\bcardiovascular\b", r"\belectrophysiolog\w*", r"\bheart failure\b",
                    r"\bcardiac\b")),
    ("oncology", (r"\boncolog\w*", r"\bhematolog\w*", r"\bheme[/ -]?onc\w*", r"\bonc\b")),
    ("rheumatology", (r"\brheumatolog\w*", r"\brheum\b")),
    ("nephrology", (r"\bnephrolog\w*", r"\bkidney\b", r"\bdialysis\b", r"\bneph\b")),
    ("dermatology", (r"\bdermatolog\w*", r"\bderm\b")),
    ("gastroenterology", (r"\bgastroenterolog\w*", r"\bhepatolog\w*", r"(?-i:\bGI\b)", r"\bgastro\b")),
    ("neurology", (r"\bneurolog\w*", r"\bneuro\b")),
    ("psychiatry", (r"\bpsychiatr\w*", r"\bpsych\b")),
    ("pulmonology", (r"\bpulmonolog\w*", r"\bpulmonary\b", r"\bpulm\b", r"\bcritical care\b", r"\brespirolog\w*")),
    ("infectious disease", (r"\binfectious diseases?\b", r"(?-i:\bID\b)\s+(?:physician|doc|specialist|fellow)")),
    ("emergency medicine", (r"\bemergency (?:medicine|physician|department|room)\b",
                            r"(?-i:\b(?:ER|ED|EM)\b)\s+(?:doc|physician|resident)")),
    ("pediatrics", (r"\bp(?:a)?ediatric\w*", r"\bpeds\b", r"\bneonatolog\w*")),
    ("obstetrics", (r"\bobstetric\w*", r"\bOB[/ -]?GYN\b", r"\bgyn(?:a)?ecolog\w*", r"\bmaternal[- ]fetal\b")),
    ("hospital medicine", (r"\bhospitalists?\b", r"\bhospital medicine\b")),
    ("pharmacy", (r"\bpharmacists?\b", r"\bpharmacy\b", r"\bPharmD\b")),
    ("nursing", (r"\bnurs(?:e|es|ing)\b",)),
    ("primary care", (r"\bprimary care\b", r"\bfamily (?:medicine|physician|practice|doctor|doc)\b",
                      r"\bgeneral practi\w*", r"(?-i:\bGP\b)", r"\binternal medicine\b", r"\binternist\b",
                      r"(?-i:\bPCP\b)")),
)
"""Specialty words, most specific first: "Internal Medicine - Endocrinology" is endocrinology, and primary care
(which "internal medicine" alone maps to) comes last."""

SPECIALTY_HASHTAGS: dict[str, str] = {
    "endotwitter": "endocrinology", "endocrinology": "endocrinology", "cardiotwitter": "cardiology",
    "cardiology": "cardiology", "onctwitter": "oncology", "medonc": "oncology", "oncology": "oncology",
    "hemeonc": "oncology", "rheumtwitter": "rheumatology", "nephtwitter": "nephrology", "dermtwitter": "dermatology",
    "gitwitter": "gastroenterology", "neurotwitter": "neurology", "psychtwitter": "psychiatry",
    "pulmtwitter": "pulmonology", "idtwitter": "infectious disease", "emtwitter": "emergency medicine",
    "foamed": "emergency medicine", "pedstwitter": "pediatrics", "tweetiatrician": "pediatrics",
    "obgyn": "obstetrics", "hospitalmedicine": "hospital medicine", "primarycare": "primary care",
    "familymedicine": "primary care", "pharmtwitter": "pharmacy", "pharmacytwitter": "pharmacy",
    "nursetwitter": "nursing", "nursesoftwitter": "nursing",
}
"""Specialty community hashtags (lower case, without "#")."""

SPECIALTY_CONFIDENCE = {"field": 0.95, "role": 0.9, "bio": 0.85, "bio_mixed": 0.7, "field_other": 0.5,
                        "np_fallback": 0.6}
NON_PHYSICIAN_SPECIALTIES = ("nursing", "pharmacy")
"""Never a physician's specialty ("married to a nurse" in a physician's bio)."""
HASHTAG_BASE, HASHTAG_SLOPE, HASHTAG_CAP = 0.4, 0.5, 0.8
"""Hashtags: confidence = min(CAP, BASE + SLOPE * posts with the hashtag / (posts + CONTENT_PRIOR))."""

ROLE_PATTERNS: dict[str, tuple[str, ...]] = {
    "pharmacist": (r"\bpharmacist\b",),
    "advanced": (r"\bnurse practitioner\b", r"\bphysician (?:assistant|associate)\b", r"\bnurse anesthetist\b"),
    "nurse": (r"\bnurse\b", r"\bnursing\b"),
}
"""Bio words that say which kind of other clinician someone is (for the specialty: nurses -> nursing,
pharmacists -> pharmacy; NPs and PAs practise a specialty)."""

_URL = re.compile(r"https?://\S+|www\.\S+|\b\S+\.(?:com|org|net|ly|co|io)/\S*", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w+)")
_WORD = re.compile(r"[a-z]+")


# ---------------------------------------------------------------------------------------------- records


@dataclass
class AuthorProfile:
    """What is known of one account, folded over its posts (signals computed at ingest, redacted bio)."""

    author_id: str
    platforms: list[str] = field(default_factory=list)
    handle: str | None = None
    url: str | None = None
    name_key: str | None = None
    credentials: list[str] = field(default_factory=list)
    bio: str | None = None
    specialty_field: str | None = None
    """The platform-supplied specialty, most common over the author's posts."""
    texts: list[str] = field(default_factory=list)
    """A sample of the author's redacted posts."""
    n_posts: int = 0
    linked: list[str] = field(default_factory=list)
    """Other profiles the bio or URL points to ("platform:handle")."""


@dataclass
class AuthorDecision:
    """Type and specialty of one account, each with a confidence in 0..1 and the evidence a reviewer reads.

    For "unknown", `type_confidence` is how sure we are that no type is established: 1 - the rejected best
    guess's confidence (1.0 when nothing was found), or the share of copied posts for an automated account.
    """

    author_type: str
    type_confidence: float
    type_evidence: str
    specialty: str | None = None
    specialty_confidence: float = 0.0
    specialty_evidence: str = ""


@dataclass(frozen=True)
class _Evidence:
    author_type: str
    weight: float
    source: str
    """What a reviewer reads first ("credential", "bio", "verified platform"); details of one source are joined."""
    detail: str = ""


# ---------------------------------------------------------------------------------------------- type


def classify_author(profile: AuthorProfile, settings: AuthorSettings) -> AuthorDecision:
    """The author's type (`AUTHOR_TYPES`) and, for clinicians, specialty; see the module docstring."""
    texts = [t for t in profile.texts[:settings.texts_per_author] if t and t.strip()]
    copies = _automation_share(texts)
    if copies is not None:
        compared = min(len(texts), BOT_MAX_POSTS)
        return AuthorDecision("unknown", round(copies, 3),
                              f"repetitive automated posting ({round(copies * compared)} of {compared} posts "
                              "near-identical, with links)")
    bio = _clean(profile.bio)
    evidence = _evidence(profile, bio, texts, settings)
    author_type, confidence, why = _decide(evidence, settings.min_type_confidence)
    decision = AuthorDecision(author_type, confidence, why)
    if author_type in CLINICIAN_TYPES:
        specialty, specialty_confidence, specialty_why = _specialty(profile, bio, texts, author_type)
        decision.specialty, decision.specialty_confidence, decision.specialty_evidence = (
            specialty, specialty_confidence, specialty_why)
    return decision


def specialty_of(profile: AuthorProfile, author_type: str, settings: AuthorSettings) -> tuple[str | None, float, str]:
    """A clinician's specialty, its confidence and evidence, once the type is known (also when a model, not the
    rules, decided that the author is a clinician)."""
    texts = [t for t in profile.texts[:settings.texts_per_author] if t and t.strip()]
    return _specialty(profile, _clean(profile.bio), texts, author_type)


def _clean(text: str | None) -> str:
    """Redaction tokens out ("Dr [NAME]" is not evidence of anything), whitespace collapsed."""
    return " ".join(REDACTION_TOKEN.sub(" ", text or "").split())


def _evidence(profile: AuthorProfile, bio: str, texts: list[str], settings: AuthorSettings) -> list[_Evidence]:
    found: list[_Evidence] = []
    credentials = set(profile.credentials)
    physician_credentials = sorted(credentials & PHYSICIAN_CREDENTIALS)
    other_credentials = sorted(credentials & OTHER_CLINICIAN_CREDENTIALS)
    if physician_credentials:
        found.append(_Evidence("physician", CREDENTIAL_WEIGHT["physician"],
                               "credential", ", ".join(physician_credentials)))
    if other_credentials:
        found.append(_Evidence("other_clinician", CREDENTIAL_WEIGHT["other_clinician"],
                               "credential", ", ".join(other_credentials)))
    found.extend(_bio_evidence(bio))
    says_other = any(e.author_type == "other_clinician" for e in found)
    says_physician = any(e.author_type == "physician" for e in found)
    clinician_kind = "other_clinician" if says_other and not says_physician else "physician"
    if TITLE in credentials:
        found.append(_Evidence(clinician_kind, TITLE_WEIGHT, "title", TITLE))
    found.extend(_platform_evidence(profile.platforms, settings.verified_platforms, clinician_kind))
    found.extend(_post_evidence(texts))
    return found


def _bio_evidence(bio: str) -> list[_Evidence]:
    if not bio:
        return []
    found = []
    for author_type, cues in BIO_CUES.items():
        for pattern, weight in cues:
            match = _compiled(pattern).search(bio)
            if match:
                found.append(_Evidence(author_type, weight, "bio", f"'{_shown(match.group(0))}'"))
    for pattern, weight in ORG_ACCOUNT_CUES:
        match = _compiled(pattern).search(bio)
        if match:
            found.extend(_Evidence(t, weight, "bio", f"'{_shown(match.group(0))}'") for t in ("industry", "media_org"))
    return found


def _platform_evidence(platforms: list[str], verified: tuple[str, ...], clinician_kind: str) -> list[_Evidence]:
    found = []
    for platform in sorted({canonical_platform(p) for p in platforms} - {None}):
        if platform not in verified:
            continue
        if platform not in MIXED_CLINICIAN_PLATFORMS:
            found.append(_Evidence("physician", PHYSICIAN_PLATFORM_WEIGHT, "verified platform", platform))
        elif clinician_kind == "other_clinician":
            found.append(_Evidence("other_clinician", PHYSICIAN_PLATFORM_WEIGHT, "verified platform", platform))
        else:
            found.append(_Evidence("physician", MIXED_PLATFORM_WEIGHT,
                                   "verified platform", f"{platform} (also admits other clinicians)"))
    return found


def _post_evidence(texts: list[str], gated: bool = True) -> list[_Evidence]:
    """Per author type, how many posts carry one of its cues. With `gated`, a post is searched only for the
    cues whose literal anchor it holds (`_anchors`): a necessary condition, so the result is the same (a
    test compares both ways) at a fraction of the cost (about 35 us of case-insensitive search per post
    otherwise, the author pass's largest cost)."""
    if not texts:
        return []
    found = []
    total = len(texts)
    lowered = [t.lower() if gated and _folds_like_ascii(t) else None for t in texts]
    for author_type, cues in POST_CUES.items():
        hits, first = 0, None
        any_cue = _any_of(tuple(cues))
        anchors = _anchors(tuple(cues)) if gated else None
        for text, low in zip(texts, lowered):
            if anchors is not None and low is not None:
                candidates = [cue for cue, anchor in zip(cues, anchors) if anchor in low]  # the others cannot match
                if not candidates:
                    continue
            elif any_cue.search(text) is None:  # most posts carry no cue of a type: one search instead of one per cue
                continue
            else:
                candidates = cues
            match = next((m for m in (_compiled(p).search(text) for p in candidates) if m), None)
            if match:
                hits += 1
                first = first or _shown(match.group(0))
        if hits:
            weight = min(CONTENT_CAP, CONTENT_BASE + CONTENT_SLOPE * hits / (total + CONTENT_PRIOR))
            found.append(_Evidence(author_type, weight, f"{hits} of {total} posts", f"like '{first}'"))
    return found


def _decide(evidence: list[_Evidence], min_confidence: float) -> tuple[str, float, str]:
    scores = {t: _combined([e.weight for e in evidence if e.author_type == t]) for t in AUTHOR_TYPES[:-1]}
    ranked = sorted(scores, key=lambda t: (-scores[t], AUTHOR_TYPES.index(t)))
    best, runner_up = ranked[0], ranked[1]
    confidence = round(min(MAX_CONFIDENCE, scores[best] * (1 - CONFLICT_WEIGHT * scores[runner_up])), 3)
    if scores[best] == 0:
        return "unknown", 1.0, "no evidence of who is speaking"
    why = _why(evidence, best)
    if scores[runner_up] >= SHOWN_AGAINST:
        why += f"; against: {runner_up} ({_why(evidence, runner_up)})"
    if confidence < min_confidence:
        return "unknown", round(1 - confidence, 3), f"not convincing: best guess {best} {confidence}: {why}"
    return best, confidence, why


def _combined(weights: list[float]) -> float:
    remaining = 1.0
    for weight in weights:
        remaining *= 1 - weight
    return 1 - remaining


def _why(evidence: list[_Evidence], author_type: str) -> str:
    """ "credential MD, FACC; bio 'cardiologist', 'attending'; verified platform doximity": sources by their
    strongest weight, at most `DETAILS_SHOWN` details each."""
    details: dict[str, list[str]] = {}
    for e in sorted((e for e in evidence if e.author_type == author_type), key=lambda e: -e.weight):
        shown = details.setdefault(e.source, [])
        if e.detail and e.detail not in shown:
            shown.append(e.detail)
    return "; ".join(f"{source} {', '.join(shown[:DETAILS_SHOWN])}".strip() for source, shown in details.items())


def _shown(text: str) -> str:
    return " ".join(text.split())[:40]


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


@cache
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """Matches somewhere exactly when one of `patterns` does (which one, and where, the caller asks them)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


CASE_FOLD_EXCEPTIONS = ("\u0130", "\u0131", "\u017f")
"""The characters outside ASCII that a case-insensitive pattern matches with an ASCII letter although their
lower case is not that one letter (dotted I lowers to "i" plus a combining dot, dotless i and long s stay);
every other one lowers to its ASCII partner (the Kelvin sign to "k"), so a lower-cased text without these
holds each ASCII anchor a match needs (a test checks every character)."""


def _folds_like_ascii(text: str) -> bool:
    return text.isascii() or not any(map(text.__contains__, CASE_FOLD_EXCEPTIONS))


@cache
def _anchors(patterns: tuple[str, ...]) -> tuple[str, ...] | None:
    """Per pattern, the longest run of literal characters that every match contains, lower-cased: a
    case-insensitive match of the pattern is impossible unless its run is in the lower-cased text (for a text
    without `CASE_FOLD_EXCEPTIONS`). None where some pattern has no ASCII run of at least 3 characters (its
    type is then always searched)."""
    anchors = []
    for pattern in patterns:
        runs, run = [], ""
        for op, value in _parse_regex(pattern, re.IGNORECASE):
            if op is _LITERAL:
                run += chr(value)
            else:
                runs.append(run)
                run = ""
        runs.append(run)
        best = max((r for r in runs if r.isascii()), key=len, default="")
        if len(best) < 3:
            return None
        anchors.append(best.lower())
    return tuple(anchors)


def _automation_share(texts: list[str]) -> float | None:
    """Share of posts in the largest group of near-identical ones, for an account that mostly posts links and
    mostly repeats itself; None for anyone else."""
    texts = texts[:BOT_MAX_POSTS]
    if len(texts) < BOT_MIN_POSTS:
        return None
    with_links = sum(1 for t in texts if _URL.search(t))
    if with_links / len(texts) < BOT_MIN_LINK_SHARE:
        return None
    shingles = [_shingles(t) for t in texts]
    largest = max(sum(1 for other in shingles if _jaccard(one, other) >= BOT_SIMILARITY) for one in shingles)
    share = largest / len(texts)
    return share if share >= BOT_MIN_COPY_SHARE else None


def _shingles(text: str) -> frozenset[tuple[str, ...]]:
    words = _WORD.findall(_URL.sub(" ", text).lower())
    if len(words) < 3:
        return frozenset((w,) for w in words)
    return frozenset(zip(words, words[1:], words[2:]))


def _jaccard(a: frozenset, b: frozenset) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


# ---------------------------------------------------------------------------------------------- specialty


def normalize_specialty(text: str | None) -> str | None:
    """A specialty word, field value or phrase -> one of `SPECIALTIES` (most specific first); "other" for a
    non-empty value that names none of them, None for an empty one."""
    found = _specialties_in(text or "")
    if found:
        return found[0]
    return "other" if text and text.strip() else None


def _specialties_in(text: str) -> list[str]:
    return [name for name, patterns in SPECIALTY_PATTERNS if any(_compiled(p).search(text) for p in patterns)]


def _specialty(profile: AuthorProfile, bio: str, texts: list[str], author_type: str) -> tuple[str | None, float, str]:
    """Role (nurses, pharmacists) > platform field > bio > hashtags > an unmapped field > none."""
    if author_type == "other_clinician":
        role = _clinician_role(profile.credentials, bio)
        if role == "pharmacist":
            return "pharmacy", SPECIALTY_CONFIDENCE["role"], "pharmacist"
        if role == "nurse":
            return "nursing", SPECIALTY_CONFIDENCE["role"], "nurse"
    not_theirs = NON_PHYSICIAN_SPECIALTIES if author_type == "physician" else ()
    field_value = (profile.specialty_field or "").strip()
    from_field = normalize_specialty(field_value)
    if from_field in not_theirs:
        from_field = "other"
    if from_field and from_field != "other":
        return from_field, SPECIALTY_CONFIDENCE["field"], f"platform specialty '{_shown(field_value)}'"
    in_bio = [s for s in _specialties_in(bio) if s not in not_theirs]
    in_bio = [s for s in in_bio if s not in NON_PHYSICIAN_SPECIALTIES] or in_bio  # "nurse practitioner, cardiology"
    if in_bio:
        key = "bio" if len(in_bio) == 1 else "bio_mixed"
        return in_bio[0], SPECIALTY_CONFIDENCE[key], f"bio words ({', '.join(in_bio)})"
    in_bio_tags = {SPECIALTY_HASHTAGS.get(t.lower()) for t in _HASHTAG.findall(bio)} - {None, *not_theirs}
    if len(in_bio_tags) == 1:  # "#RheumTwitter" in a bio names the author's own field
        (tag,) = in_bio_tags
        return tag, SPECIALTY_CONFIDENCE["bio"], "specialty hashtag in bio"
    tagged = _hashtag_specialty(texts, not_theirs)
    if tagged:
        return tagged
    if from_field == "other":
        return "other", SPECIALTY_CONFIDENCE["field_other"], f"platform specialty '{_shown(field_value)}'"
    if author_type == "other_clinician" and set(profile.credentials) & (ADVANCED_PRACTICE_CREDENTIALS - {"PA-C"}):
        return "nursing", SPECIALTY_CONFIDENCE["np_fallback"], "nurse practitioner without a named specialty"
    return None, 0.0, ""


def _clinician_role(credentials: list[str], bio: str) -> str | None:
    """pharmacist | advanced (NP, PA) | nurse | None, from credentials first, then bio words."""
    held = set(credentials)
    if held & PHARMACIST_CREDENTIALS:
        return "pharmacist"
    if held & ADVANCED_PRACTICE_CREDENTIALS:
        return "advanced"
    if held & NURSE_CREDENTIALS:
        return "nurse"
    for role, patterns in ROLE_PATTERNS.items():
        if any(_compiled(p).search(bio) for p in patterns):
            return role
    return None


def _hashtag_specialty(texts: list[str], not_theirs: tuple[str, ...]) -> tuple[str, float, str] | None:
    counts: Counter[str] = Counter()
    for text in texts:
        tags = {SPECIALTY_HASHTAGS.get(t.lower()) for t in _HASHTAG.findall(text)}
        counts.update(t for t in tags if t and t not in not_theirs)
    if not counts:
        return None
    specialty, hits = min(counts.items(), key=lambda kv: (-kv[1], SPECIALTIES.index(kv[0])))
    confidence = round(min(HASHTAG_CAP, HASHTAG_BASE + HASHTAG_SLOPE * hits / (len(texts) + CONTENT_PRIOR)), 3)
    return specialty, confidence, f"specialty hashtags in {hits} of {len(texts)} posts"
