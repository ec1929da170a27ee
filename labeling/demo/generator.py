"""Synthetic demo corpus: what clinicians (and everyone else on open channels) post about the fictional
products, with annotations and ground truth.

Why it exists: the whole product (ingest, dataset, training, scoring, evidence gaps, review) must run end to
end offline, on data whose answers are known. The corpus is built to be *realistic enough to exercise every
stage*, not to prove that a recipe works on real language (docs/DESIGN.md, "Data to learn from"):

- several platforms with their own length and style (X short with hashtags and mentions, LinkedIn polished
  with hashtag blocks, Doximity / Sermo long and candid, Figure 1 case-based, Medscape consult questions,
  Reddit informal);
- a few hundred clinician authors (scaled with the number of posts) with specialties, heavy-tailed follower
  counts, per-author style and stance, and a handful of opinion leaders who attract replies and mentions
  (preferential attachment), so that DOL ranking has something to find;
- the mix of voices a real dump has (see "Voices" below): on x, linkedin and reddit about a third of the posts
  come from patients and caregivers, brand and agency accounts, journals / news / societies and bots, writing
  the adverse events and evidence-need-like questions that an author-type filter must keep out of clinicians'
  evidence gaps; every post carries the author's profile (handle, display name, bio, profile URL) as its
  platform shows it, and some clinicians post from a second account on another platform;
- timestamps over twelve months (2025-11-01 .. 2026-10-31) with weekly and daily rhythms, conference spikes,
  and 3-4 *planted* evidence gaps whose share of a product's posts rises strongly over the last months
  (plus a transient spike that is not a trend), recorded in ``ground_truth.json``;
- text composed from many parts (openers, product surface forms incl. misspellings, perception clauses,
  evidence needs phrased as questions and statements, hedging, negation, sarcasm, comparisons, abbreviations,
  typos, emojis, off-topic chatter), with deliberately confusable phrasings so that a TF-IDF baseline lands
  well below 1.0 but far above chance;
- adverse-event posts that describe a patient event on a product, versus safety talk in general (not an AE);
- a few percent of posts seeded with *fake* personal data (names after "Mrs."/"pt"/"patient", emails,
  phones, MRNs, SSNs, addresses, dates of birth), every injected string listed in ``pii_seeds`` so tests can
  assert that none survives redaction; ~0.5% verbatim reposts (same author, same text, new post_id).

Files written into ``out_dir``:

- ``posts.jsonl``: one post per line, fields of the data contract (labeling/ingest/schema.py), in time order,
  plus the optional profile strings ``author_handle``, ``author_display_name``, ``author_bio``, ``author_url``
  (null where the platform does not show one: Sermo shows nothing, Medscape a name, Figure 1 a username and a
  name, and only x, linkedin, reddit and doximity have public profile URLs). ``author_specialty`` is filled only
  on the verified platforms, which supply it (``SPECIALTY_FIELD_PLATFORMS``); on x, linkedin and reddit, and for
  non-clinicians, it is empty, so who is speaking must be read off the profile and the posts.
- ``products.yaml``: a byte copy of the packaged product dictionary (labeling/ingest/products.yaml).
- ``annotations.csv``: ``post_id,task,label,annotator``. Every labeled post is annotated for every task by
  1 annotator, about a quarter of them by 2 or 3 (``ann_a``, ``ann_b``, ``ann_c``, each with its own error
  rate). Single-label and binary tasks: one row per (post, task, annotator); binary rows carry the
  taxonomy's own label names ("yes"/"no"). Multi-label tasks: one row per chosen label; **a multi-label task
  with no label chosen is written as one row with an empty label**, meaning "labeled, none of them apply"
  (so "not annotated" and "annotated as none" stay distinguishable; read it with
  ``pandas.read_csv(..., keep_default_na=False)`` or the csv module, else the empty label becomes NaN).
- ``true_labels.csv``: the labels the generator wrote every post from (``post_id, products, <one column per
  task>``, multi-label cells joined by ``|``, empty = none; ``duplicate_of``). Real data never has this; it is
  here so that evaluation and insight tests can compare against the truth rather than against noisy gold.
- ``authors.csv``: one row per account: ``author_id, specialty, followers, is_opinion_leader, primary_platform,
  author_type, person_id, platforms``. ``author_type`` is one of physician, other_clinician (nurses,
  pharmacists, physician assistants / nurse practitioners), patient_caregiver, industry, media_org, unknown
  (bots); ``specialty`` is empty for non-clinicians; ``person_id`` is the same for a clinician's two accounts
  (the main account's id); ``platforms`` lists, ``|``-joined, where the account posted. Every clinician's main
  account is listed (as before, even one that never posted); other accounts are listed once they posted.
- ``ground_truth.json``: the planted gaps (product, evidence_need, when and how much they rise, monthly true
  counts over all posts and over clinicians' posts alone), the decoy spike, the generation parameters (base
  rates, noise rates, voice shares), counts, ``pii_seeds`` (plus ``pii_records`` with the post and kind of
  every injected identifier), and ``voices``: accounts and posts by author type and platform, the measured
  share of each type on the open platforms, the cross-platform persons with their account ids and link kind,
  and the planted display-name collisions.

Voices (why: a real dump from open channels is not all clinicians, and every downstream number that should be
about clinicians, from evidence gaps to opinion leaders, is wrong unless authors are told apart):

- clinicians: every account has a fake name from a small bank (``voices.txt``) written the way clinicians
  write it ("Dr. Maya Okafor", "Maya Okafor, MD, FACC", "Tom Reyes PharmD", "Ana Lima RN, BSN", "Sam Park,
  PA-C", or no credential at all), a handle, and for most a bio naming the specialty in varied words. Nursing
  and pharmacy authors, and about a fifth of primary-care authors (PAs / NPs), are ``other_clinician``.
- non-clinicians post on x, linkedin and reddit only (the verified platforms carry clinicians only):
  patients and caregivers (first-person experience, cost, "is it safe while breastfeeding?"), industry
  (brand, company and agency accounts: "See full Prescribing Information", #sponsored, a company named "Dr.
  ..."), media / journals / societies (headlines with links, editorials that name missing evidence) and bots
  (near-duplicate link spam). Profiles carry false friends: a patient in "Baltimore, MD", a brand account
  "for US healthcare professionals only". Target shares per platform are ``VOICE_SHARE`` (on the three open
  platforms together: clinicians ~67%, patients ~15%, industry ~7%, media ~7%, bots ~4% of posts).
- ~15% of clinicians also post from a second account (its own author_id, same ``person_id``) on another
  platform with public profiles; the pair can be linked by the same handle, by a bio that points at the other
  profile ("also on X: @handle" or the URL), by the same display name with the same credentials and
  specialty, or not at all (hard negatives); a few DIFFERENT physicians share a common display name but not a
  specialty (they must not be linked).
- author ids are opaque: new accounts continue the ``hcpNNNNN`` numbering in shuffled order, whatever their
  type (the historical prefix says nothing; ids above the clinician count are newer accounts, not a type).
- non-clinician posts are annotated like clinicians' posts (same annotators, same error model), and
  ``true_labels.csv`` holds their true labels, read off their sentences as for clinicians: a patient's own
  adverse event is an adverse event, a patient's or a journal's "nobody knows if it is safe in pregnancy"
  reads as an evidence need. Whether such posts count toward clinicians' evidence gaps is the filter's job.

Stability (why: ``data/frozen_test_ids.txt`` and the tracked metrics refer to post ids of this corpus): a
voice post takes the *place* of a clinician post on an open platform that nobody replied to or reposted (same
post id, time and platform), so ``posts`` stays the total and the clinician stream is generated exactly as
before: every clinician post that stays keeps its id, text and annotations, and the labeled set is the same (a
voice post in a labeled slot is labeled by that slot's annotators). What changes for clinicians: their posts on
a second account's platform carry that account's id, and replies to such posts on x / linkedin mention it.

How labels are made (and why a baseline cannot reach 1.0): a post is planned (product, needs, aspects, AE,
each at rates that depend on product, specialty, platform and date), then written from sentence templates;
its true labels are read off the sentences actually written (a template declares what its wording implies,
and a few declare a label that is genuinely ambiguous, settled by a coin flip). Sentiment follows the
polar sentences; a mixed post lands on its majority attitude, written last, the other side conceded
("sure, it works. But the PA process ..."), and an even split is read as neutral or either way. Gold
labels then carry annotator error (per-annotator rates, mostly neutral-vs-polar slips and under-tagging of
"any number" tasks) and a little shared noise, as real guidelines do.

Determinism: the same ``seed`` gives byte-identical files (Python's ``random.Random`` seeded from a string,
no dict/set iteration order or clock in the output). The post stream, the annotation stream, the profiles and
the voice posts (and their annotations) use separate generators, so changing ``labeled_fraction`` changes
annotations only, never the posts, and the voices never move a clinician post.

Scale: posts are produced day by day and streamed to disk; only the last few days of posts are held (they
can still receive replies, whose count must land in the parent's ``replies`` field, and a voice may take the
place of one only once no reply can come), so memory stays near 100 MB for 10^6 posts; what grows is the list
of injected identifiers (about 2% of posts) and, per non-clinician account, a set of 8-byte text
fingerprints (no account repeats a text verbatim, which ingest would drop as a duplicate).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import random
import re
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import yaml

from common.errors import OccError

from labeling.taxonomy import Taxonomy, load_taxonomy

__all__ = ["DemoSummary", "DemoDataError", "generate_demo", "REQUIRED_LABELS", "PLANTED_GAPS", "AUTHOR_TYPES", "LINK_KINDS"]


class DemoDataError(OccError, ValueError):
    """The demo corpus cannot be generated (bad argument, or a taxonomy/product dictionary it cannot map to)."""


@dataclass
class DemoSummary:
    """What `generate_demo` wrote. `annotations` counts rows of annotations.csv; `files` maps role -> path."""

    posts: int
    labeled_posts: int
    annotations: int
    authors: int
    files: dict[str, str] = field(default_factory=dict)
    posts_by_type: dict[str, int] = field(default_factory=dict)
    """Posts per author type (physician, other_clinician, patient_caregiver, industry, media_org, unknown)."""


# --------------------------------------------------------------------------------------------------------
# Labels the generator writes. Its text fragments carry these names; they must exist in the taxonomy.
# --------------------------------------------------------------------------------------------------------
SENTIMENT, PERCEPTION, NEED, AE = "sentiment", "perception", "evidence_need", "adverse_event"
POS, NEU, NEG = "positive", "neutral", "negative"
EFF, SAF, ACC, ADM, CMP = "efficacy", "safety_tolerability", "access_cost", "administration_convenience", "comparison"
LTO, SPP, CEF, DOS, RWE, PSEL, SIG = (
    "long_term_outcomes",
    "special_populations",
    "comparative_effectiveness",
    "dosing_sequencing",
    "real_world_effectiveness",
    "patient_selection",
    "safety_signal",
)
ASPECTS = (EFF, SAF, ACC, ADM, CMP)
NEEDS = (LTO, SPP, CEF, DOS, RWE, PSEL, SIG)

REQUIRED_LABELS: dict[str, tuple[str, tuple[str, ...]]] = {
    SENTIMENT: ("single", (NEG, NEU, POS)),
    PERCEPTION: ("multi", ASPECTS),
    NEED: ("multi", NEEDS),
    AE: ("binary", ()),  # binary: the taxonomy's own positive/negative label names are used
}
"""task -> (kind, label names the generator's fragments map onto)."""

START_DAY = date(2025, 11, 1)
N_DAYS = 365  # 2025-11-01 .. 2026-10-31
MONTHS = [f"{(START_DAY.year + (START_DAY.month - 1 + i) // 12):04d}-{((START_DAY.month - 1 + i) % 12) + 1:02d}" for i in range(12)]

ANNOTATORS = ("ann_a", "ann_b", "ann_c")
ANNOTATOR_ERROR = {"ann_a": 0.04, "ann_b": 0.07, "ann_c": 0.10}
"""Per (post, task) probability that an annotator departs from the consensus label."""
ANNOTATOR_SHARE = (0.45, 0.35, 0.20)
SHARED_LABEL_NOISE = 0.025
"""Per (post, task) probability that the consensus itself departs from the text (guideline ambiguity)."""
UNDER_TAGGING = 0.8
"""Per present label of a multi-label task, chance (times the annotator's error rate) that it is left out."""
MULTI_ANNOTATED = 0.25
REPOST_RATE = 0.005
PII_RATE = 0.02
OFF_TOPIC_RATE = 0.15
REPLY_WINDOW_S = 3 * 86400

PLATFORMS = ("x", "linkedin", "doximity", "sermo", "figure1", "medscape", "reddit")
SPECIALTY_FIELD_PLATFORMS = ("doximity", "sermo", "figure1", "medscape")
"""Platforms whose exports carry the member's specialty (`author_specialty`); on open channels it is empty."""
PLATFORM_SHARE = (0.30, 0.12, 0.14, 0.13, 0.08, 0.08, 0.15)
# content units (labels) a post on the platform can carry; filler sentences; reply probability
PLATFORM_UNITS = {"x": 2, "linkedin": 3, "doximity": 4, "sermo": 5, "figure1": 3, "medscape": 4, "reddit": 4}
PLATFORM_FILLER = {"x": (0, 0), "linkedin": (1, 2), "doximity": (1, 3), "sermo": (1, 3), "figure1": (0, 1), "medscape": (1, 2), "reddit": (1, 3)}
PLATFORM_REPLY = {"x": 0.32, "linkedin": 0.18, "doximity": 0.28, "sermo": 0.33, "figure1": 0.28, "medscape": 0.38, "reddit": 0.42}

SPECIALTIES = {
    # specialty: (share of authors, product affinity G, R, O, J, C)
    "endocrinology": (0.12, (50, 20, 0.3, 2, 28)),
    "cardiology": (0.10, (30, 45, 1, 2, 20)),
    "oncology": (0.12, (1, 1, 95, 1, 2)),
    "rheumatology": (0.08, (4, 2, 3, 86, 5)),
    "nephrology": (0.07, (15, 65, 1, 2, 17)),
    "primary care": (0.18, (45, 24, 1, 6, 24)),
    "pharmacy": (0.10, (30, 20, 18, 18, 14)),
    "nursing": (0.08, (25, 15, 25, 20, 15)),
    "dermatology": (0.05, (3, 1, 6, 88, 2)),
    "gastroenterology": (0.03, (35, 4, 22, 30, 9)),
    "hospital medicine": (0.04, (30, 30, 15, 10, 15)),
    "obstetrics": (0.03, (55, 8, 4, 8, 25)),
}
PRODUCT_ORDER = ("Glucavex", "Renaflo", "Oncotrexa", "Jakvira", "Cardiomet")

# --------------------------------------------------------------------------------------------------------
# Planted trends. Rates are the probability that an on-topic post about `product` carries the need.
# --------------------------------------------------------------------------------------------------------
PLANTED_GAPS: tuple[dict[str, Any], ...] = (
    {"product": "Glucavex", "evidence_need": LTO, "rise_start": "2026-05-01", "base_rate": 0.05, "final_rate": 0.34},
    {"product": "Renaflo", "evidence_need": SPP, "rise_start": "2026-06-01", "base_rate": 0.05, "final_rate": 0.32},
    {"product": "Oncotrexa", "evidence_need": PSEL, "rise_start": "2026-05-01", "base_rate": 0.05, "final_rate": 0.30},
    {"product": "Jakvira", "evidence_need": SIG, "rise_start": "2026-06-01", "base_rate": 0.02, "final_rate": 0.24},
)
DECOY_SPIKE = {"product": "Oncotrexa", "evidence_need": CEF, "start": "2026-05-29", "end": "2026-06-19", "multiplier": 4.0}
"""A conference-driven burst that fades: a ranker that chases last month's volume rather than a trend bites."""
JAKVIRA_AE_RISE = (0.07, 0.15)  # AE share of Jakvira posts before the signal rise, at the end

BASE_NEED_RATE = {LTO: 0.05, SPP: 0.05, CEF: 0.045, DOS: 0.045, RWE: 0.04, PSEL: 0.035, SIG: 0.02}
BASE_ASPECT_RATE = {EFF: 0.34, SAF: 0.22, ACC: 0.16, ADM: 0.12, CMP: 0.12}
ASPECT_POLARITY = {  # (pos, neu, neg) before the author's stance shifts it
    EFF: (0.50, 0.20, 0.30),
    SAF: (0.35, 0.30, 0.35),
    ACC: (0.12, 0.25, 0.63),
    ADM: (0.45, 0.25, 0.30),
    CMP: (0.40, 0.30, 0.30),
}
BASE_AE_RATE = 0.07

CONFERENCES = (  # (hashtag, first day, last day, specialties that care)
    ("AHA25", date(2025, 11, 8), date(2025, 11, 10), ("cardiology",)),
    ("KidneyWk", date(2025, 11, 5), date(2025, 11, 9), ("nephrology",)),
    ("ACR25", date(2025, 10, 25), date(2025, 10, 29), ("rheumatology",)),
    ("ASH25", date(2025, 12, 6), date(2025, 12, 9), ("oncology",)),
    ("ACC26", date(2026, 3, 28), date(2026, 3, 30), ("cardiology",)),
    ("AAD26", date(2026, 3, 20), date(2026, 3, 24), ("dermatology",)),
    ("ASCO26", date(2026, 5, 29), date(2026, 6, 2), ("oncology", "pharmacy")),
    ("ADA2026", date(2026, 6, 19), date(2026, 6, 22), ("endocrinology", "primary care")),
    ("EULAR2026", date(2026, 6, 10), date(2026, 6, 13), ("rheumatology",)),
    ("EASD2026", date(2026, 9, 14), date(2026, 9, 18), ("endocrinology",)),
    ("ESMO26", date(2026, 10, 16), date(2026, 10, 20), ("oncology",)),
    ("KidneyWk26", date(2026, 10, 22), date(2026, 10, 25), ("nephrology",)),
)

# --------------------------------------------------------------------------------------------------------
# Product profiles: what clinicians say about each class. Surface forms come from products.yaml.
# --------------------------------------------------------------------------------------------------------
PRODUCT_PROFILES: dict[str, dict[str, Any]] = {
    "Glucavex": {
        "generic": "semaglutran",
        "cond": ["T2D", "type 2 diabetes", "obesity", "diabetes"],
        "eff": ["A1c", "weight", "weight loss", "fasting glucose", "time in range", "glycemic control"],
        "aem": ["nausea", "GI upset", "vomiting", "constipation", "reflux", "early satiety"],
        "aes": ["pancreatitis", "acute pancreatitis", "cholecystitis", "gallstones", "gastroparesis", "severe dehydration", "an ileus", "AKI from vomiting"],
        "adm": ["weekly pen", "once-weekly injection", "titration schedule", "injection schedule", "pen device"],
        "pop": ["pregnancy", "breastfeeding mothers", "adolescents", "pts over 80", "type 1 diabetics", "eGFR under 30", "pts with prior pancreatitis", "South Asian pts"],
        "bio": ["baseline BMI", "C-peptide", "insulin resistance markers"],
        "lab": ["lipase", "A1c", "weight"],
        "cmp": ["Cardiomet", "Cardiomet", "Renaflo", "basal insulin", "DPP-4 inhibitors", "older GLP-1s"],
        "hashtags": ["T2D", "diabetes", "obesity", "GLP1", "endotwitter", "Glucavex"],
    },
    "Renaflo": {
        "generic": "renaflozin",
        "cond": ["CKD", "heart failure", "T2D", "diabetic kidney disease"],
        "eff": ["eGFR slope", "albuminuria", "HF admissions", "A1c", "BP", "kidney outcomes"],
        "aem": ["genital yeast infections", "UTIs", "polyuria", "dizziness", "volume depletion"],
        "aes": ["euglycemic DKA", "DKA", "Fournier's gangrene", "severe volume depletion", "an AKI", "a urosepsis admission"],
        "adm": ["once-daily pill", "sick-day rules", "once-daily dosing", "ketone checks on sick days"],
        "pop": ["eGFR below 20", "dialysis pts", "kidney transplant recipients", "type 1 diabetics", "pts over 80", "pregnancy", "pediatric CKD", "frail elderly"],
        "bio": ["baseline eGFR", "UACR", "NT-proBNP"],
        "lab": ["eGFR", "ketones", "potassium"],
        "cmp": ["Glucavex", "Cardiomet", "Cardiomet", "ACE inhibitors", "MRAs", "standard of care"],
        "hashtags": ["CKD", "NephTwitter", "HeartFailure", "SGLT2", "Renaflo", "cardiotwitter"],
    },
    "Oncotrexa": {
        "generic": "tislimab",
        "cond": ["NSCLC", "melanoma", "head and neck cancer", "urothelial cancer"],
        "eff": ["ORR", "PFS", "overall survival", "response rates", "tumor shrinkage", "durable responses"],
        "aem": ["fatigue", "rash", "pruritus", "hypothyroidism", "arthralgias"],
        "aes": ["immune colitis", "pneumonitis", "immune hepatitis", "myocarditis", "new-onset type 1 diabetes", "hypophysitis", "grade 3 colitis", "Hashimoto's-like thyroiditis"],
        "adm": ["q3w infusion", "infusion chair time", "q6w schedule", "30-minute infusion"],
        "pop": ["elderly pts with poor PS", "ECOG 2 pts", "pts with autoimmune disease", "transplant recipients", "pts with brain mets", "HIV+ pts", "pts over 85"],
        "bio": ["PD-L1", "TMB", "MSI status", "PD-L1 <1%"],
        "lab": ["TSH", "LFTs", "cortisol"],
        "cmp": ["chemo", "platinum doublet", "other PD-1s", "standard chemo", "standard of care"],
        "hashtags": ["OncTwitter", "LungCancer", "melanoma", "immunotherapy", "Oncotrexa", "IO"],
    },
    "Jakvira": {
        "generic": "upacitinol",
        "cond": ["RA", "atopic dermatitis", "psoriatic arthritis", "ulcerative colitis", "Crohn's disease"],
        "eff": ["DAS28", "ACR50", "joint pain", "morning stiffness", "EASI scores", "remission rates", "itch"],
        "aem": ["acne", "URIs", "headaches", "elevated CK", "nausea"],
        "aes": ["herpes zoster", "shingles", "a DVT", "a PE", "a serious infection", "pneumonia", "lymphopenia", "a retinal vein occlusion"],
        "adm": ["once-daily pill", "oral dosing", "lab monitoring", "lipid checks", "CBC monitoring"],
        "pop": ["pts over 65", "smokers", "pts with prior VTE", "pregnancy", "adolescents", "pts with a cancer history", "pts with prior MI"],
        "bio": ["seropositivity", "CRP", "anti-CCP"],
        "lab": ["CBC", "lipids", "LFTs"],
        "cmp": ["adalimumab", "TNF inhibitors", "methotrexate", "biologics", "standard of care"],
        "hashtags": ["RheumTwitter", "RA", "DermTwitter", "JAK", "Jakvira", "IBD"],
    },
    "Cardiomet": {
        "generic": "metfornil",
        "cond": ["T2D", "prediabetes", "type 2 diabetes", "PCOS"],
        "eff": ["A1c", "fasting glucose", "weight", "glycemic control"],
        "aem": ["diarrhea", "GI upset", "metallic taste", "bloating"],
        "aes": ["lactic acidosis", "B12 deficiency", "severe diarrhea"],
        "adm": ["twice-daily dosing", "XR tablet", "pill burden", "slow titration"],
        "pop": ["eGFR under 30", "pts over 80", "pregnancy", "adolescents", "prediabetes"],
        "bio": ["baseline A1c", "insulin resistance"],
        "lab": ["B12", "eGFR", "A1c"],
        "cmp": ["Glucavex", "Renaflo", "sulfonylureas", "basal insulin"],
        "hashtags": ["T2D", "diabetes", "primarycare", "Cardiomet", "MedTwitter"],
    },
}

# --------------------------------------------------------------------------------------------------------
# Text banks: data files beside this module (text_banks.txt explains the format).
# --------------------------------------------------------------------------------------------------------
BANKS_FILE = "text_banks.txt"


def read_text_banks(text: str, source: str = "text_banks.txt") -> dict[str, list[str]]:
    """Bank name -> its template lines, in file order (comments and blank lines dropped)."""
    banks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("## "):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = banks.setdefault(stripped[1:-1], [])
        elif current is None:
            raise DemoDataError(f"{source} line {number}: a template before the first [bank] header")
        else:
            current.append(stripped)
    return banks


BANKS: dict[str, list[str]] = read_text_banks((resources.files("labeling.demo") / BANKS_FILE).read_text(encoding="utf-8"))

PRODUCT_LEADS = ["Re {P}:", "{P} question:", "On {P}:", "About {P}:", "{P}:", "Re: {P}."]
OPENERS = {
    "x": ["", "", "", "", "Quick q:", "Hot take:", "PSA:", "Clinic today:", "Real talk:", "Unpopular opinion:", "Serious question for #MedTwitter:", "ok so", "Anyone else?"],
    "linkedin": ["", "Reflecting on this week in clinic.", "A quick note from practice:", "Important conversation for our field.", "Sharing an observation from our clinic.", "Interesting discussion at our department meeting today.", "Lessons from the front line of care:"],
    "doximity": ["", "Colleagues,", "Question for the group:", "Curious about others' experience.", "Hi all,", "Looking for input from colleagues."],
    "sermo": ["", "Honestly,", "Poll for the group:", "Candid question:", "Long-time lurker, first post.", "Venting a bit here.", "Anyone else noticing this?"],
    "figure1": ["", "Case:", "Interesting case today.", "Case for discussion:", "Teaching case:"],
    "medscape": ["Seeking advice:", "Consult question:", "Would appreciate input:", "Question re: management.", ""],
    "reddit": ["", "Attending here.", "PGY-3 here,", "Throwaway for obvious reasons.", "Genuine question:", "Rant incoming.", "Long post, sorry."],
}
CLOSERS = {
    "x": ["", "", "", "Thoughts?", "🤔", "Discuss."],
    "linkedin": ["", "What's your experience?", "Would love to hear from colleagues.", "Thoughts?"],
    "doximity": ["", "Thanks in advance.", "Appreciate any input.", "Thoughts?"],
    "sermo": ["", "Curious what others think.", "Would love to hear your experience.", "Rant over."],
    "figure1": ["", "Thoughts?", "Would you have done anything differently?"],
    "medscape": ["", "Thanks in advance.", "Any input appreciated."],
    "reddit": ["", "", "Anyway, rant over.", "Thoughts?", "Edit: typo"],
}
EMOJI = {POS: ["👍", "🙌", "💪", "🎉", "✅", "😊"], NEG: ["😩", "😤", "🤦", "😬", "😞", "🙄"], NEU: ["🤔", "👀", "🤷", "🧐"], "off": ["😂", "☕", "😴", "🎉", "🙏"]}
GENERIC_TAGS = ["MedTwitter", "MedEd", "PatientCare", "DrugSafety", "PriorAuth", "RWE", "ClinicalTrials", "pharmacovigilance", "HealthEquity", "PrimaryCare"]
LINKEDIN_TAGS = ["healthcare", "innovation", "clinicaltrials", "realworldevidence", "medicalaffairs", "patientcare", "pharma", "leadership"]
SPECIALTY_TAGS = {
    "endocrinology": "endotwitter", "cardiology": "CardioTwitter", "oncology": "OncTwitter", "rheumatology": "RheumTwitter",
    "nephrology": "NephTwitter", "primary care": "PrimaryCare", "pharmacy": "PharmTwitter", "nursing": "NurseTwitter",
    "dermatology": "DermTwitter", "gastroenterology": "GITwitter", "hospital medicine": "MedTwitter", "obstetrics": "ObGyn",
}
SLOTS_COMMON = {
    "PAYER": ["the PBM", "our Medicaid plan", "Part D", "the big commercial plan", "the insurer", "every payer in town"],
    "SETTING": ["suburban", "urban", "rural", "academic", "community", "VA"],
    "CONF": [c[0] for c in CONFERENCES],
    "SPEC": [s for s in SPECIALTIES],
    "ORG": ["the pancreas", "the kidneys", "bone density", "the heart", "the liver", "muscle mass"],
}
ABBREVIATIONS = {
    "patients": "pts", "patient": "pt", "with": "w/", "without": "w/o", "because": "b/c", "type 2 diabetes": "T2D",
    "chronic kidney disease": "CKD", "adverse event": "AE", "adverse events": "AEs", "side effect": "SE",
    "side effects": "SEs", "real-world evidence": "RWE", "head-to-head": "H2H", "about": "abt", "years": "yrs",
    "months": "mos", "prior auth": "PA", "prior auths": "PAs", "prior authorization": "PA", "in my opinion": "imo",
    "thanks": "thx", "people": "ppl", "something": "smth", "week": "wk", "weeks": "wks",
}
EXPANSIONS = {"pts": "patients", "pt": "patient", "w/o": "without", "w/": "with", "b/c": "because", "yrs": "years", "H2H": "head-to-head", "imo": "in my opinion"}
# one alternation per direction (longest first), so a post costs one regex pass, not twenty
_ABBREV_RE = re.compile(r"\b(" + "|".join(re.escape(k) for k in sorted(ABBREVIATIONS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_EXPAND_RE = re.compile(r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(EXPANSIONS, key=len, reverse=True)) + r")(?![\w/])")

FIRST_NAMES = ["Marisol", "Bartholomew", "Ingrid", "Thaddeus", "Philippa", "Leopold", "Rosalind", "Cornelius", "Annika", "Desmond",
               "Octavia", "Florian", "Imelda", "Augustin", "Genevieve", "Ignatius", "Lucinda", "Percival", "Henrietta", "Ezekiel",
               "Wilhelmina", "Casimir", "Beatrix", "Evander", "Rosamund", "Lysander", "Theodora", "Ambrose", "Ottilie", "Barnaby"]
LAST_NAMES = ["Kowalczyk", "Delacroix-Ruiz", "Okonkwo", "Haverbrook", "Vasquez-Lindqvist", "Abernathy", "Szymanski", "Fairweather",
              "Montgomerie", "Oyelaran", "Przybylski", "Castellanos", "Whitlock", "Nakashima", "Thorvaldsen", "Ferreira-Maas",
              "Quartermaine", "Bellweather", "Ostrowski", "Achterberg", "Gallagher-Ng", "Trevelyan", "Mbeki-Hart", "Lindqvist",
              "Pemberton", "Zielinski", "Oduya", "Kaczmarek", "Rasmussen-Cole", "Vanterpool"]
STREETS = ["Maplewood", "Oakhurst", "Cedarbrook", "Willowmere", "Birchwood", "Lakeview", "Hillcrest", "Foxglove", "Juniper", "Ashbury"]
STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Lane", "Drive", "Court"]
CITIES = [("Springfield", "IL"), ("Riverton", "WY"), ("Fairview", "OR"), ("Lakewood", "CO"), ("Brookhaven", "GA"), ("Millbrook", "NY"), ("Greenville", "SC"), ("Ashland", "KY")]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com"]


# --------------------------------------------------------------------------------------------------------
# Parsing the banks
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """One sentence template with the labels its wording implies (and genuinely ambiguous ones)."""

    text: str
    aspects: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    ae: bool = False
    maybe_aspects: tuple[str, ...] = ()
    maybe_needs: tuple[str, ...] = ()
    polarity: int = 0


_TAG_ASPECT = {"+eff": EFF, "+saf": SAF, "+acc": ACC, "+adm": ADM, "+cmp": CMP}


def _parse_bank(name: str, lines: list[str]) -> list[Unit]:
    base_aspects: tuple[str, ...] = ()
    base_needs: tuple[str, ...] = ()
    ae = False
    polarity = 0
    key = name.rstrip("+-0")
    suffix = name[len(key):]
    polarity = {"+": 1, "-": -1, "0": 0, "": 0}[suffix]
    if key in ("eff", "saf", "acc", "adm", "cmp"):
        base_aspects = (_TAG_ASPECT["+" + key],)
    elif key == "ae":
        base_aspects, ae = (SAF,), True
    elif key.startswith("n:"):
        base_needs = (key[2:],)
    units = []
    for line in lines:
        text, _, tags = line.partition(" || ")
        aspects, needs, maybe_a, maybe_n, unit_ae = list(base_aspects), list(base_needs), [], [], ae
        for tag in tags.split():
            ambiguous = tag.startswith("?")
            tag = "+" + tag[1:] if ambiguous else tag
            if tag == "+ae":
                unit_ae = True
                if SAF not in aspects:
                    aspects.append(SAF)
            elif tag in _TAG_ASPECT:
                (maybe_a if ambiguous else aspects).append(_TAG_ASPECT[tag])
            elif tag.startswith("+n:") and tag[3:] in NEEDS:
                (maybe_n if ambiguous else needs).append(tag[3:])
            else:
                raise DemoDataError(f"demo text bank {name!r}: unknown tag {tag!r} in {line!r}")
        units.append(Unit(text, tuple(aspects), tuple(needs), unit_ae, tuple(maybe_a), tuple(maybe_n), polarity))
    return units


UNITS: dict[str, list[Unit]] = {
    name: _parse_bank(name, lines) for name, lines in BANKS.items() if name not in ("offtopic", "hedge", "concede", "reply", "pii")
}
LINES: dict[str, list[str]] = {name: BANKS[name] for name in ("offtopic", "hedge", "concede", "reply")}
PLAIN_FILLERS: list[str] = [u.text for u in UNITS["filler"] if not (u.aspects or u.needs or u.maybe_aspects or u.maybe_needs) and "{" not in u.text]
_HASHTAG_RE = re.compile(r"#(\w+)")
PII_TEMPLATES: list[tuple[str, tuple[str, ...]]] = [
    (t.strip(), tuple(k.strip() for k in kinds.split(","))) for t, _, kinds in (l.partition(" || ") for l in BANKS["pii"])
]


# --------------------------------------------------------------------------------------------------------
# Taxonomy / dictionary checks
# --------------------------------------------------------------------------------------------------------
def _check_taxonomy(taxonomy: Taxonomy) -> dict[str, str]:
    """Fail clearly if the taxonomy lacks a task or label the generator writes; return the AE label names."""
    problems = []
    for task_name, (kind, needed) in REQUIRED_LABELS.items():
        try:
            task = taxonomy.task(task_name)
        except KeyError:
            problems.append(f"task {task_name!r} ({kind}) is missing")
            continue
        if task.kind != kind:
            problems.append(f"task {task_name!r} is {task.kind}, the demo generator writes it as {kind}")
            continue
        missing = [label for label in needed if label not in task.label_names]
        if missing:
            problems.append(f"task {task_name!r} lacks label(s) {missing}")
    if problems:
        raise DemoDataError(
            f"the demo corpus is written for the default taxonomy; {taxonomy.source or taxonomy.version} does not fit: "
            + "; ".join(problems)
            + ". Generate with the default taxonomy (labeling/taxonomy.yaml) and bring your own labeled data for yours."
        )
    ae_task = taxonomy.task(AE)
    assert ae_task.positive is not None
    negative = next(name for name in ae_task.label_names if name != ae_task.positive)
    return {"yes": ae_task.positive, "no": negative}


def _products_yaml_bytes() -> bytes:
    return (resources.files("labeling.ingest") / "products.yaml").read_bytes()


def _surface_forms(products_yaml: bytes) -> dict[str, dict[str, list[str]]]:
    """brand / generic / variants for every profiled product, taken from the packaged dictionary."""
    data = yaml.safe_load(products_yaml) or {}
    products = data.get("products") or {}
    forms: dict[str, dict[str, list[str]]] = {}
    for name in PRODUCT_ORDER:
        entry = products.get(name)
        if not isinstance(entry, dict) or not entry.get("terms"):
            raise DemoDataError(f"labeling/ingest/products.yaml lacks product {name!r} (with `terms`) that the demo corpus writes about")
        terms = [str(t) for t in entry["terms"]]
        generic = PRODUCT_PROFILES[name]["generic"]
        if generic not in terms:
            raise DemoDataError(f"labeling/products.yaml: {name!r} lacks its generic name {generic!r}")
        variants = [t for t in terms if t.lower() not in (name.lower(), generic.lower())]
        forms[name] = {"brand": [name], "generic": [generic], "variants": variants or [name]}
    return forms


# --------------------------------------------------------------------------------------------------------
# Small sampling helpers (kept here so that every draw goes through one seeded generator)
# --------------------------------------------------------------------------------------------------------
def _pick(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


class _Weighted:
    """Weighted choice by bisection over cumulative weights: O(log n) per draw, deterministic."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(accumulate(float(w) for w in weights))
        self.total = self.cum[-1] if self.cum else 0.0

    def draw(self, rng: random.Random) -> Any:
        return self.items[min(bisect_right(self.cum, rng.random() * self.total), len(self.items) - 1)]


def _typos(rng: random.Random, text: str) -> str:
    """One or two typing slips (swap, drop, double, wrong vowel) in longer lower-case words."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha() and w.islower()]
    for _ in range(min(len(candidates), 1 if rng.random() < 0.8 else 2)):
        i = _pick(rng, candidates)
        w = words[i]
        j = rng.randint(1, len(w) - 2)
        op = rng.random()
        if op < 0.35:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        elif op < 0.65:
            w = w[:j] + w[j + 1:]
        elif op < 0.85:
            w = w[:j] + w[j] + w[j:]
        else:
            w = w[:j] + _pick(rng, "aeiourstnl") + w[j + 1:]
        words[i] = w
    return " ".join(words)


def _iso(day: int, seconds: int) -> str:
    """ISO-8601 UTC for `seconds` into day `day` of the period (cheap: no datetime object per post)."""
    h, rest = divmod(seconds, 3600)
    return f"{_DAY_STRINGS[day]}T{h:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


_DAY_STRINGS = [(START_DAY + timedelta(days=d)).isoformat() for d in range(N_DAYS)]
_MONTH_OF_DAY = [(d.year - START_DAY.year) * 12 + d.month - START_DAY.month for d in (START_DAY + timedelta(days=i) for i in range(N_DAYS))]


# --------------------------------------------------------------------------------------------------------
# Authors
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Author:
    author_id: str
    specialty: str
    followers: int
    is_leader: bool
    primary_platform: str
    platforms: _Weighted
    products: _Weighted
    stance: float  # log-odds shift toward positive polarity
    abbrev: float
    typo: float
    emoji: float
    lower: float
    start_day: int


def _make_authors(rng: random.Random, n: int) -> list[_Author]:
    specialties = list(SPECIALTIES)
    spec_draw = _Weighted(specialties, [SPECIALTIES[s][0] for s in specialties])
    n_leaders = max(3, round(0.03 * n))
    width = max(5, len(str(n)))
    authors = []
    for i in range(n):
        specialty = spec_draw.draw(rng)
        leader = i < n_leaders  # leaders first; ids are shuffled below so order reveals nothing
        if leader:
            followers = int(min(600_000, 4_000 * rng.paretovariate(1.1)))
        else:
            followers = int(min(250_000, rng.lognormvariate(math.log(300), 1.4)))
        primary = _Weighted(PLATFORMS, PLATFORM_SHARE).draw(rng)
        if leader and rng.random() < 0.6:
            primary = _pick(rng, ("x", "linkedin", "x"))
        plat_w = [0.7 if p == primary else 0.3 * s for p, s in zip(PLATFORMS, PLATFORM_SHARE)]
        affinity = SPECIALTIES[specialty][1]
        prod_w = [a * (0.5 + rng.random()) for a in affinity]
        authors.append(
            _Author(
                author_id="",
                specialty=specialty,
                followers=max(0, followers),
                is_leader=leader,
                primary_platform=primary,
                platforms=_Weighted(PLATFORMS, plat_w),
                products=_Weighted(PRODUCT_ORDER, prod_w),
                stance=rng.gauss(0.0, 0.55),
                abbrev=rng.betavariate(1.5, 2.5),
                typo=rng.betavariate(1.2, 8.0),
                emoji=rng.betavariate(1.0, 4.0),
                lower=rng.betavariate(1.0, 5.0),
                start_day=0 if rng.random() < 0.8 else int(rng.random() * 300),
            )
        )
    ids = list(range(1, n + 1))
    rng.shuffle(ids)
    for author, idx in zip(authors, ids):
        author.author_id = f"hcp{idx:0{width}d}"
    return authors


# --------------------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------------------
@dataclass
class _Truth:
    products: list[str]
    sentiment: str
    aspects: list[str]
    needs: list[str]
    ae: bool
    duplicate_of: str = ""


class _Tally:
    """Monthly on-topic posts per product and per planted (product, need): what the ground truth reports."""

    def __init__(self) -> None:
        self.gap_counts: dict[tuple[str, str], list[int]] = {(g["product"], g["evidence_need"]): [0] * 12 for g in PLANTED_GAPS}
        self.product_counts: dict[str, list[int]] = {p: [0] * 12 for p in PRODUCT_ORDER}

    def tally(self, truth: _Truth, month: int, sign: int = 1) -> None:
        """Count a unique on-topic post toward its product's monthly totals and planted-gap counts."""
        if truth.products and not truth.duplicate_of:
            self.product_counts[truth.products[0]][month] += sign
            for need in truth.needs:
                if (truth.products[0], need) in self.gap_counts:
                    self.gap_counts[(truth.products[0], need)][month] += sign


class _Slots(dict):
    """Template slots drawn lazily on first use, so a post only pays for the slots its sentences use."""

    def __init__(self, fill: Callable[[str], str]) -> None:
        super().__init__()
        self._fill = fill

    def __missing__(self, key: str) -> str:
        value = self._fill(key)
        self[key] = value
        return value


class _Corpus:
    """Composes posts one at a time in time order, holding only the last few days for reply bookkeeping."""

    def __init__(self, n_posts: int, seed: int, forms: dict[str, dict[str, list[str]]]) -> None:
        self.rng = random.Random(f"occ-demo-posts-{seed}")
        self.n_posts = n_posts
        self.forms = forms
        n_authors = max(12, round(300 * n_posts / 20_000))
        self.authors = _make_authors(self.rng, n_authors)
        self.by_id = {a.author_id: a for a in self.authors}
        # attractiveness for mentions and replies: leaders dominate, everyone else by sqrt(followers)
        self.attract = _Weighted(self.authors, [(40.0 if a.is_leader else 1.0) * math.sqrt(1 + a.followers) for a in self.authors])
        self.received: list[int] = []  # author indexes, one entry per mention/reply received (preferential attachment)
        self.index_of = {a.author_id: i for i, a in enumerate(self.authors)}
        self.activity = [rng_w * (4.0 if a.is_leader else 1.0) for a, rng_w in zip(self.authors, (self.rng.lognormvariate(0, 1.1) for _ in self.authors))]
        self.recent: dict[str, deque] = {p: deque() for p in PLATFORMS}
        # Set by `_Voices` before the stream starts (none of it draws from `self.rng`): every account's profile,
        # and the clinicians who keep a second account on one platform (person id -> that account).
        self.profiles: dict[str, _Account] = {}
        self.second: dict[str, _Account] = {}
        self.referenced: set[str] = set()  # pending posts that got a reply or a repost (never replaced by a voice)
        self.pii_records: list[dict[str, str]] = []
        self.post_counter = 0
        self.n_replies = self.n_mentions = self.n_reposts = self.n_pii = 0
        self.id_width = max(7, len(str(n_posts)))
        self.gap_counts: dict[tuple[str, str], list[int]] = {(g["product"], g["evidence_need"]): [0] * 12 for g in PLANTED_GAPS}
        self.product_counts: dict[str, list[int]] = {p: [0] * 12 for p in PRODUCT_ORDER}
        self.gap_params = {(g["product"], g["evidence_need"]): g for g in PLANTED_GAPS}
        self.gap_start = {(g["product"], g["evidence_need"]): (date.fromisoformat(g["rise_start"]) - START_DAY).days for g in PLANTED_GAPS}
        self.decoy = (
            (date.fromisoformat(DECOY_SPIKE["start"]) - START_DAY).days,
            (date.fromisoformat(DECOY_SPIKE["end"]) - START_DAY).days,
        )
        self.conf_days = {}
        for tag, first, last, specs in CONFERENCES:
            for d in range((first - START_DAY).days, (last - START_DAY).days + 1):
                if 0 <= d < N_DAYS:
                    self.conf_days.setdefault(d, []).append((tag, specs))

    def tally(self, truth: _Truth, month: int, sign: int = 1) -> None:
        _Tally.tally(self, truth, month, sign)  # type: ignore[arg-type]

    # ---- time ------------------------------------------------------------------------------------------
    def day_counts(self) -> list[int]:
        """Posts per day: slow growth, weekday rhythm, holiday dip, conference bumps; sums exactly to n."""
        weights = []
        for d in range(N_DAYS):
            day = START_DAY + timedelta(days=d)
            w = 1.0 + 0.35 * d / N_DAYS
            if day.weekday() >= 5:
                w *= 0.55
            if (day.month == 12 and day.day >= 22) or (day.month == 1 and day.day <= 2):
                w *= 0.6
            if d in self.conf_days:
                w *= 1.5
            weights.append(w * (0.9 + 0.2 * self.rng.random()))
        total = sum(weights)
        exact = [self.n_posts * w / total for w in weights]
        counts = [int(x) for x in exact]
        short = self.n_posts - sum(counts)
        order = sorted(range(N_DAYS), key=lambda d: (-(exact[d] - counts[d]), d))
        for d in order[:short]:
            counts[d] += 1
        return counts

    # ---- rates -----------------------------------------------------------------------------------------
    def need_rate(self, product: str, need: str, day: int, author: _Author, platform: str) -> float:
        rate = BASE_NEED_RATE[need]
        key = (product, need)
        if key in self.gap_start:
            gap = self.gap_params[key]
            start = self.gap_start[key]
            rate = gap["base_rate"]
            if day >= start:
                progress = (day - start + 1) / (N_DAYS - start)
                rate = gap["base_rate"] + (gap["final_rate"] - gap["base_rate"]) * progress ** 1.3
        if (product, need) == (DECOY_SPIKE["product"], DECOY_SPIKE["evidence_need"]) and self.decoy[0] <= day <= self.decoy[1]:
            rate *= DECOY_SPIKE["multiplier"]
        if platform == "medscape":
            rate *= 1.6
        elif platform in ("doximity", "sermo"):
            rate *= 1.25
        elif platform == "x":
            rate *= 0.8
        if need == PSEL and author.specialty == "oncology":
            rate *= 1.4
        if need == SPP and author.specialty in ("obstetrics", "nephrology"):
            rate *= 2.0
        if need == RWE and author.specialty in ("pharmacy", "primary care"):
            rate *= 1.4
        return rate

    def ae_rate(self, product: str, day: int, platform: str) -> float:
        rate = BASE_AE_RATE
        if product == "Jakvira":
            start = self.gap_start.get(("Jakvira", SIG), N_DAYS)
            lo, hi = JAKVIRA_AE_RISE
            rate = lo if day < start else lo + (hi - lo) * (day - start + 1) / (N_DAYS - start)
        if platform == "figure1":
            rate *= 2.5
        elif platform in ("linkedin",):
            rate *= 0.4
        return rate

    # ---- slots -----------------------------------------------------------------------------------------
    def _slot_filler(self, product: str, author: _Author) -> Callable[[str], str]:
        rng = self.rng
        prof = PRODUCT_PROFILES[product]

        def fill(key: str) -> str:
            if key == "EFF":
                return _pick(rng, prof["eff"])
            if key == "AEM":
                return _pick(rng, prof["aem"])
            if key == "AES":
                return _pick(rng, prof["aes"])
            if key == "ADM":
                return _pick(rng, prof["adm"])
            if key == "POP":
                if author.specialty == "obstetrics" and rng.random() < 0.7:
                    return _pick(rng, ("pregnancy", "breastfeeding mothers", "women planning pregnancy"))
                if author.specialty == "nephrology" and rng.random() < 0.5:
                    return _pick(rng, ("dialysis pts", "eGFR below 20", "kidney transplant recipients"))
                return _pick(rng, prof["pop"])
            if key == "BIO":
                return _pick(rng, prof["bio"])
            if key == "LAB":
                return _pick(rng, prof["lab"])
            if key == "COND":
                return _pick(rng, prof["cond"])
            if key == "N":
                return str(_pick(rng, (24, 26, 40, 52, 68, 72, 104)))
            if key == "YRS":
                return str(_pick(rng, (2, 3, 3, 5, 10)))
            if key == "YRS2":
                return str(rng.randint(3, 30))
            if key == "MO":
                return str(rng.randint(2, 18))
            if key == "K":
                return _pick(rng, ("2", "3", "3", "4", "5", "three", "four"))
            if key == "AGE":  # a few nonagenarians: redaction must group ages 90+, not drop them
                return str(rng.randint(34, 88) if rng.random() < 0.95 else rng.randint(90, 97))
            if key == "SX":
                return _pick(rng, ("F", "M", "yoF", "yoM", "F", "M"))
            if key == "SXW":
                return _pick(rng, ("woman", "man", "F", "M"))
            if key == "PRO":
                return _pick(rng, ("she", "he", "they"))
            if key == "PRICE":
                return str(_pick(rng, (180, 350, 600, 900, 1100, 1400)))
            if key in SLOTS_COMMON:
                return _pick(rng, SLOTS_COMMON[key])
            if key in ("P", "Q"):
                return "\x01" if key == "P" else "\x02"
            raise DemoDataError(f"demo text bank uses an unknown slot {{{key}}}")

        return fill

    def _surface(self, product: str) -> tuple[str, str]:
        """(first mention, later mentions): brand, generic or a variant/misspelling, as clinicians write them."""
        forms = self.forms[product]
        r = self.rng.random()
        if r < 0.5:
            text = forms["brand"][0]
            if self.rng.random() < 0.06:
                return f"{text} ({forms['generic'][0]})", text
            if self.rng.random() < 0.05:
                text = text.lower()
        elif r < 0.77:
            text = forms["generic"][0]
        else:
            text = _pick(self.rng, forms["variants"])
        return text, text

    # ---- composing ---------------------------------------------------------------------------------------
    def _draw_polarity(self, aspect: str, stance: float) -> int:
        pos, neu, neg = ASPECT_POLARITY[aspect]
        pos, neg = pos * math.exp(stance), neg * math.exp(-stance)
        r = self.rng.random() * (pos + neu + neg)
        return 1 if r < pos else (0 if r < pos + neu else -1)

    def _unit(self, bank: str) -> Unit:
        return _pick(self.rng, UNITS[bank])

    def compose(self, author: _Author, platform: str, day: int, parent: dict[str, Any] | None) -> tuple[str, _Truth, list[str]]:
        """Return (text, truth, hashtags) for one new post; the labels are read off the sentences written."""
        rng = self.rng
        off_rate = OFF_TOPIC_RATE * (0.6 if parent and parent["product"] else 1.0) * (1.6 if day in self.conf_days else 1.0)
        if parent is not None and parent["product"] is None and rng.random() < 0.7:
            off_rate = 1.0
        if rng.random() < off_rate:
            return self._compose_off_topic(author, platform, day, parent)

        if parent is not None and parent["product"] and rng.random() < 0.75:
            product = parent["product"]
        else:
            product = author.products.draw(rng)
        prof = PRODUCT_PROFILES[product]
        fill = _Slots(self._slot_filler(product, author))
        q_name = _pick(rng, prof["cmp"])

        # plan labels ---------------------------------------------------------------------------------------
        needs = [n for n in NEEDS if rng.random() < self.need_rate(product, n, day, author, platform)]
        rng.shuffle(needs)
        ae = rng.random() < self.ae_rate(product, day, platform)
        aspect_rate = dict(BASE_ASPECT_RATE)
        if author.specialty == "pharmacy":
            aspect_rate[ACC] *= 2.2
            aspect_rate[ADM] *= 1.5
        elif author.specialty == "nursing":
            aspect_rate[ADM] *= 2.0
        if platform == "sermo":
            aspect_rate[ACC] *= 1.5
        elif platform == "figure1":
            aspect_rate[SAF] *= 1.5
        elif platform == "linkedin":
            aspect_rate[EFF] *= 1.2
        aspects = [a for a in ASPECTS if rng.random() < aspect_rate[a]]
        rng.shuffle(aspects)

        max_units = PLATFORM_UNITS[platform]
        content: list[tuple[str, Unit]] = []  # (role, unit)
        if ae:
            content.append(("ae", self._unit("ae-" if rng.random() < 0.68 else "ae0")))
        for need in needs:
            content.append(("need", self._unit("n:" + need)))
        for aspect in aspects:
            if ae and aspect == SAF:
                continue
            key = {EFF: "eff", SAF: "saf", ACC: "acc", ADM: "adm", CMP: "cmp"}[aspect]
            pol = self._draw_polarity(aspect, author.stance + (0.3 if platform == "linkedin" else 0.0))
            content.append(("aspect", self._unit(key + {1: "+", 0: "0", -1: "-"}[pol])))
        content = content[:max_units]
        # a general attitude sentence when nothing else carries one, or to tip a balanced post
        polar = [u.polarity for _, u in content if u.polarity]
        if not content or (not polar and rng.random() < 0.3):
            gen = rng.random() * 1.0 + 0.15 * author.stance
            content.append(("gen", self._unit("gen+" if gen > 0.62 else ("gen-" if gen < 0.3 else "gen0"))))

        # filler sentences (context, disclosures); a few carry an aspect a careful annotator may or may not tag
        lo, hi = PLATFORM_FILLER[platform]
        n_fill = rng.randint(lo, hi) if hi else 0
        fillers = rng.sample(UNITS["filler"], n_fill) if n_fill else []

        # resolve truth from what is actually written ------------------------------------------------------
        t_aspects: set[str] = set()
        t_needs: set[str] = set()
        t_ae = False
        uses_q = False
        for unit in [u for _, u in content] + fillers:
            t_aspects.update(unit.aspects)
            t_needs.update(unit.needs)
            t_ae = t_ae or unit.ae
            for a in unit.maybe_aspects:
                if rng.random() < 0.5:
                    t_aspects.add(a)
            for n in unit.maybe_needs:
                if rng.random() < 0.5:
                    t_needs.add(n)
            uses_q = uses_q or "{Q}" in unit.text
        polarities = [u.polarity for _, u in content if u.polarity]
        n_pos, n_neg = polarities.count(1), polarities.count(-1)
        if n_pos and n_neg:
            if n_pos == n_neg:
                sentiment = NEU if rng.random() < 0.4 else (POS if rng.random() < 0.5 + 0.2 * author.stance else NEG)
            else:
                sentiment = POS if n_pos > n_neg else NEG
        elif n_pos:
            sentiment = POS
        elif n_neg:
            sentiment = NEG
        else:
            sentiment = NEU
        main_sign = {POS: 1, NEG: -1, NEU: 0}[sentiment]

        # render --------------------------------------------------------------------------------------------
        order = list(content)
        if len(order) > 1:
            head = [c for c in order if c[0] == "ae"]
            rest = [c for c in order if c[0] != "ae"]
            rng.shuffle(rest)
            order = head + rest
            if main_sign and n_pos and n_neg:
                # mixed feelings: the attitude the post lands on comes last ("sure, X is great, but ...")
                last_main = max(i for i, (_, u) in enumerate(order) if u.polarity == main_sign)
                last_polar = max(i for i, (_, u) in enumerate(order) if u.polarity)
                if last_polar != last_main and order[last_polar][0] != "ae" and order[last_main][0] != "ae":
                    order[last_polar], order[last_main] = order[last_main], order[last_polar]
        sentences: list[str] = []
        for role, unit in order:
            text = unit.text.format_map(fill)
            if role == "need" and rng.random() < 0.22:
                text = _pick(rng, LINES["hedge"]) + " " + text
            elif main_sign and unit.polarity == -main_sign and rng.random() < 0.7:
                text = _pick(rng, LINES["concede"]) + " " + text
            sentences.append(text)
        if not any("{P}" in u.text for _, u in content):
            # the product must be identifiable: name it up front ("Re Glucavex: we still have no H2H vs ...")
            sentences[0] = _pick(rng, PRODUCT_LEADS).format_map(fill) + " " + sentences[0]
        for unit in fillers:
            sentences.insert(rng.randint(0, max(0, len(sentences) - 1)), unit.text.format_map(fill))
        opener = _pick(rng, OPENERS[platform])
        closer = _pick(rng, CLOSERS[platform])
        if parent is not None:
            opener = _pick(rng, LINES["reply"])
        text = self._assemble(opener, sentences, closer, platform, author)
        if rng.random() < author.emoji * (0.2 if platform in ("doximity", "sermo", "medscape") else 1.0):
            pool = EMOJI[sentiment] if rng.random() < 0.75 else EMOJI[_pick(rng, (POS, NEG, NEU))]
            text = text + " " + _pick(rng, pool)

        # products ------------------------------------------------------------------------------------------
        p_first, p_later = self._surface(product)
        products = [product]
        if uses_q:
            q_first, q_later = self._surface(q_name) if q_name in self.forms else (q_name, q_name)
            text = text.replace("\x02", q_first, 1).replace("\x02", q_later)
            if q_name in self.forms and q_name != product:
                products.append(q_name)
        text = text.replace("\x01", p_first, 1).replace("\x01", p_later)

        truth = _Truth(
            products=products,
            sentiment=sentiment,
            aspects=[a for a in ASPECTS if a in t_aspects],
            needs=[n for n in NEEDS if n in t_needs],
            ae=t_ae,
        )
        hashtags = self._hashtags(platform, author, product, day, truth)
        return text, truth, hashtags

    def _compose_off_topic(self, author: _Author, platform: str, day: int, parent: dict[str, Any] | None) -> tuple[str, _Truth, list[str]]:
        rng = self.rng
        fill = _Slots(self._slot_filler(author.products.draw(rng), author))
        if day in self.conf_days and rng.random() < 0.6:
            fill["CONF"] = _pick(rng, self.conf_days[day])[0]
        line = _pick(rng, LINES["offtopic"]).format_map(fill)
        sentences = [line]
        if platform in ("sermo", "reddit", "doximity") and rng.random() < 0.5:
            sentences.append(_pick(rng, PLAIN_FILLERS))
        opener = _pick(rng, LINES["reply"]) if parent is not None else ""
        text = self._assemble(opener, sentences, "", platform, author)
        if rng.random() < author.emoji:
            text += " " + _pick(rng, EMOJI["off"])
        truth = _Truth(products=[], sentiment=NEU, aspects=[], needs=[], ae=False)
        tags = _HASHTAG_RE.findall(text)
        extra = self._hashtags(platform, author, None, day, truth)
        extra = [t for t in extra if t not in tags]
        return text, truth, tags + extra

    def _assemble(self, opener: str, sentences: list[str], closer: str, platform: str, author: _Author) -> str:
        """Join sentences with platform punctuation, then apply the author's habits (abbreviations, case, typos)."""
        rng = self.rng
        parts = []
        for s in sentences:
            s = s.strip()
            if not s:
                continue
            if s[-1] not in ".?!:)🙄🙃🙌😅😂":
                s += "." if not (platform in ("x", "reddit") and rng.random() < 0.3) else "\n"
            parts.append(s[0].upper() + s[1:] if s[0].islower() else s)
        body = " ".join(parts).replace("\n ", "\n").strip()
        if opener:
            lower_next = opener.endswith(",") or (opener.endswith(":") and rng.random() < 0.5)
            body = opener + " " + (body[0].lower() + body[1:] if lower_next and body[:1].isupper() and not body[1:2].isupper() else body)
        if closer:
            body = body + " " + closer
        if platform in ("linkedin", "doximity", "medscape") or rng.random() > author.abbrev:
            # formal writers spell things out
            body = _EXPAND_RE.sub(lambda m: EXPANSIONS[m.group(1)] if rng.random() < 0.85 else m.group(1), body)
        else:
            body = _ABBREV_RE.sub(lambda m: ABBREVIATIONS[m.group(1).lower()] if rng.random() < 0.7 else m.group(1), body)
        if platform in ("x", "reddit") and rng.random() < author.lower:
            body = body.lower()
        if rng.random() < author.typo * 1.2:
            body = self._typos(body)
        return body

    def _typos(self, text: str) -> str:
        return _typos(self.rng, text)

    def _hashtags(self, platform: str, author: _Author, product: str | None, day: int, truth: _Truth) -> list[str]:
        rng = self.rng
        tags: list[str] = []
        if platform == "x" and rng.random() < 0.7:
            pool = [SPECIALTY_TAGS[author.specialty], "MedTwitter"]
            if product:
                pool += PRODUCT_PROFILES[product]["hashtags"]
            if truth.aspects and ACC in truth.aspects:
                pool.append("PriorAuth")
            if truth.ae:
                pool.append("DrugSafety")
            pool += GENERIC_TAGS[:3]
            for _ in range(rng.randint(1, 3)):
                tags.append(_pick(rng, pool))
        elif platform == "linkedin" and rng.random() < 0.8:
            pool = LINKEDIN_TAGS + ([PRODUCT_PROFILES[product]["hashtags"][0]] if product else [])
            for _ in range(rng.randint(2, 5)):
                tags.append(_pick(rng, pool))
        elif platform == "figure1" and rng.random() < 0.3:
            tags.append(_pick(rng, ("case", "MedEd", SPECIALTY_TAGS[author.specialty])))
        if day in self.conf_days and platform in ("x", "linkedin") and rng.random() < 0.5:
            confs = [c for c, specs in self.conf_days[day] if author.specialty in specs]
            if confs:
                tags.append(_pick(rng, confs))
        seen: list[str] = []
        for t in tags:
            if t not in seen:
                seen.append(t)
        return seen

    # ---- PII -------------------------------------------------------------------------------------------
    def pii_sentence(self, post_id: str) -> str:
        rng = self.rng
        template, kinds = _pick(rng, PII_TEMPLATES)
        first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
        values: dict[str, str] = {"FIRST": first, "LAST": last}
        month, dom, year = rng.randint(1, 12), rng.randint(1, 28), rng.randint(1932, 1990)
        values["DOB"] = _pick(rng, (f"{month:02d}/{dom:02d}/{year}", f"{year}-{month:02d}-{dom:02d}", f"{month}/{dom}/{year}"))
        values["MRN"] = str(rng.randint(1_000_000, 99_999_999))
        user = _pick(rng, (f"{first.lower()}.{last.lower()}", f"{first[0].lower()}{last.lower()}", f"{first.lower()}{rng.randint(10, 99)}"))
        values["EMAIL"] = re.sub(r"[^a-z0-9.]", "", user) + "@" + _pick(rng, EMAIL_DOMAINS)
        area, line = rng.randint(201, 989), rng.randint(100, 199)
        values["PHONE"] = _pick(rng, (f"({area}) 555-0{line - 100:03d}", f"{area}-555-0{line - 100:03d}", f"+1 {area} 555 0{line - 100:03d}", f"{area}.555.0{line - 100:03d}"))
        values["SSN"] = f"{rng.randint(100, 665):03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999):04d}"
        city, state = _pick(rng, CITIES)
        street = f"{rng.randint(10, 9899)} {_pick(rng, STREETS)} {_pick(rng, STREET_KINDS)}"
        values["ADDRESS"] = f"{street}, {city}, {state} {rng.randint(10000, 99899):05d}"
        sentence = template.format(**values)
        kind_value = {
            "name": f"{first} {last}", "surname": last, "dob": values["DOB"], "mrn": values["MRN"],
            "email": values["EMAIL"], "phone": values["PHONE"], "ssn": values["SSN"], "address": values["ADDRESS"],
        }
        if "address" in kinds:  # the street line alone must go too, whatever a redactor does with city and zip
            kinds = kinds + ("street",)
            kind_value["street"] = street
        for kind in kinds:
            self.pii_records.append({"post_id": post_id, "kind": kind, "value": kind_value[kind]})
        return sentence

    # ---- the stream ------------------------------------------------------------------------------------
    def next_id(self) -> str:
        self.post_counter += 1
        return f"p{self.post_counter:0{self.id_width}d}"

    def pick_mentions(self, author: _Author, k: int) -> list[str]:
        out: list[str] = []
        for _ in range(k):
            if self.received and self.rng.random() < 0.6:
                target = self.authors[_pick(self.rng, self.received)]
            else:
                target = self.attract.draw(self.rng)
            if target.author_id != author.author_id and target.author_id not in out:
                out.append(target.author_id)
                self.received.append(self.index_of[target.author_id])
        return out

    def pick_parent(self, platform: str, author: _Author, now: int) -> dict[str, Any] | None:
        recent = self.recent[platform]
        while recent and recent[0]["ts"] < now - REPLY_WINDOW_S:
            recent.popleft()
        if not recent:
            return None
        rng = self.rng
        best = None
        for _ in range(3):  # tournament: popular and leaders' posts draw the replies
            cand = recent[int(rng.random() * len(recent))]
            score = cand["record"]["replies"] * 2 + (25 if cand["leader"] else 0) + math.log1p(cand["followers"]) + rng.random()
            if best is None or score > best[0]:
                best = (score, cand)
        assert best is not None
        parent = best[1]
        if parent["author_id"] == author.author_id:
            return None
        return parent


    def repost(self, pending: deque, day: int, offset: int, now: int) -> dict[str, Any] | None:
        """A verbatim repost of a recent original post by its own author (new post_id), or None."""
        rng = self.rng
        source = pending[int(rng.random() * len(pending))]
        src, t = source["record"], source["truth"]
        if src["in_reply_to"] is not None or t.duplicate_of:
            return None
        author = self.by_id[src["author_id"]]
        likes, shares, extra = _engagement(rng, author.followers, src["platform"], author.is_leader)
        record = dict(src)
        record.update(post_id=self.next_id(), created_at=_iso(day, offset), likes=likes, shares=shares, replies=extra)
        self.n_reposts += 1
        self.referenced.add(src["post_id"])
        return {"ts": now, "record": record, "truth": _Truth(t.products, t.sentiment, t.aspects, t.needs, t.ae, duplicate_of=src["post_id"]),
                "day": day, "parent": None, "pii": False}

    def new_post(self, author: _Author, day: int, offset: int, now: int) -> dict[str, Any]:
        """One original post or reply: text and truth, then graph edges, fake personal data, hashtags, engagement."""
        rng = self.rng
        post_id = self.next_id()
        platform = author.platforms.draw(rng)
        # a clinician with a second account posts there on that account's platform (no draw: stream unchanged)
        second = self.second.get(author.author_id)
        account = second if second is not None and second.primary_platform == platform else self.profiles[author.author_id]
        parent = self.pick_parent(platform, author, now) if rng.random() < PLATFORM_REPLY[platform] else None
        text, truth, hashtags = self.compose(author, platform, day, parent)
        mentions: list[str] = []
        has_pii = False
        if parent is not None:
            parent["record"]["replies"] += 1  # the parent is still pending, so its count lands in the file
            self.received.append(self.index_of[parent["author_id"]])
            self.referenced.add(parent["record"]["post_id"])
            if platform in ("x", "linkedin"):
                mentions.append(parent["account_id"])
                text = f"@{parent['account_id']} {text}"
            self.n_replies += 1
        if platform in ("x", "linkedin", "doximity", "reddit") and rng.random() < (0.14 if platform == "x" else 0.06):
            extra = [m for m in self.pick_mentions(author, 1 if rng.random() < 0.75 else 2) if m not in mentions]
            if extra:
                text = text + " " + " ".join(f"@{m}" for m in extra) + _pick(rng, ("", " thoughts?", " what do you think?", ""))
                mentions.extend(extra)
                self.n_mentions += 1
        # case talk leaks personal data most: Figure 1, Doximity, Sermo and Medscape more than public feeds
        if rng.random() < PII_RATE * (2.2 if platform in ("figure1", "doximity", "sermo", "medscape") else 0.45):
            sentence = self.pii_sentence(post_id)
            text = (sentence + " " + text) if rng.random() < 0.5 else (text + " " + sentence)
            self.n_pii += 1
            has_pii = True
        inline = set(_HASHTAG_RE.findall(text))
        missing = [t for t in hashtags if t not in inline]
        if missing:
            text = text + " " + " ".join("#" + t for t in missing)
        likes, shares, extra_replies = _engagement(rng, author.followers, platform, author.is_leader)
        record = {
            "post_id": post_id,
            "text": text,
            "platform": platform,
            "author_id": account.author_id,
            # only the verified platforms supply a specialty field; elsewhere it must be read off the profile
            "author_specialty": author.specialty if platform in SPECIALTY_FIELD_PLATFORMS else "",
            "author_followers": account.followers,
            **profile_fields(account, platform),
            "created_at": _iso(day, offset),
            "hashtags": list(dict.fromkeys(_HASHTAG_RE.findall(text))),
            "in_reply_to": parent["record"]["post_id"] if parent is not None else None,
            "mentions": mentions,
            "likes": likes,
            "shares": shares,
            "replies": extra_replies,
        }
        self.recent[platform].append(
            {"ts": now, "record": record, "author_id": author.author_id, "account_id": account.author_id,
             "leader": author.is_leader, "followers": author.followers, "product": truth.products[0] if truth.products else None}
        )
        parent_ref = None if parent is None else (parent["record"]["post_id"], parent["account_id"], parent["product"])
        return {"ts": now, "record": record, "truth": truth, "day": day, "parent": parent_ref, "pii": has_pii}

# --------------------------------------------------------------------------------------------------------
# Voices: who writes. Every account's profile; clinicians' second accounts; patients, industry, media, bots.
# --------------------------------------------------------------------------------------------------------
VOICES_FILE = "voices.txt"
VOICE_BANKS: dict[str, list[str]] = read_text_banks((resources.files("labeling.demo") / VOICES_FILE).read_text(encoding="utf-8"), VOICES_FILE)

AUTHOR_TYPES = ("physician", "other_clinician", "patient_caregiver", "industry", "media_org", "unknown")
VOICES = ("patient", "industry", "media", "bot")
VOICE_TYPE = {"patient": "patient_caregiver", "industry": "industry", "media": "media_org", "bot": "unknown"}
OPEN_PLATFORMS = ("x", "linkedin", "reddit")
"""Open channels: anyone can post. The verified platforms (doximity, sermo, figure1, medscape) carry clinicians only."""
VOICE_SHARE = {
    "x": {"patient": 0.14, "industry": 0.07, "media": 0.08, "bot": 0.06},
    "linkedin": {"patient": 0.04, "industry": 0.14, "media": 0.10, "bot": 0.01},
    "reddit": {"patient": 0.25, "industry": 0.01, "media": 0.03, "bot": 0.03},
}
"""Target share of an open platform's posts written by each non-clinician voice (patients on Reddit, brands and
journals on LinkedIn, bots on X). Weighted by platform volume: patients ~15%, industry ~7%, media ~7%, bots ~4%."""
ELIGIBLE_SHARE = {"x": 0.76, "linkedin": 0.85, "reddit": 0.72}
"""Measured share of a platform's clinician posts that a voice may take the place of (no reply, no repost)."""
PLATFORM_POST_SHARE = {"x": 0.33, "linkedin": 0.12, "reddit": 0.16}
"""Measured share of all posts on each open platform (authors' platform habits); sizes the voice account pools."""
VOICE_POSTS_PER_ACCOUNT = {"patient": 3.0, "industry": 60.0, "media": 45.0, "bot": 50.0}
VOICE_ACTIVITY_SIGMA = {"patient": 1.0, "industry": 0.8, "media": 0.8, "bot": 0.6}
VOICE_FOLLOWERS = {"patient": (60, 1.3), "industry": (8000, 1.0), "media": (20000, 1.2), "bot": (40, 1.0)}
VOICE_OFF_TOPIC = {"patient": 0.15, "industry": 0.22, "media": 0.2}
VOICE_REPLY_KEEP = {"patient": 0.8, "bot": 0.6, "industry": 0.0, "media": 0.0}
"""When a voice takes the place of a clinician's reply, the chance it stays a reply (patients answer doctors)."""
VOICE_BANK_WEIGHTS: dict[str, dict[str, float]] = {
    "patient": {"ae-": 12, "ae0": 4, "eff+": 10, "eff-": 7, "saf-": 6, "saf0": 4, "acc-": 11, "acc+": 3, "adm-": 4, "adm+": 3,
                "gen+": 4, "gen0": 8, "n:special_populations": 6, "n:long_term_outcomes": 5, "n:dosing_sequencing": 5,
                "n:comparative_effectiveness": 3, "n:safety_signal": 2, "n:real_world_effectiveness": 1},
    "industry": {"eff+": 10, "acc+": 6, "adm+": 4, "gen0": 4},
    "media": {"eff+": 5, "eff0": 6, "saf0": 4, "saf-": 3, "acc-": 4, "cmp0": 2, "n:long_term_outcomes": 2,
              "n:special_populations": 2, "n:comparative_effectiveness": 1, "n:real_world_effectiveness": 1},
}
"""How often each voice writes each kind of sentence. Patients' adverse events and questions that read like
evidence needs are what an author-type filter must keep out of clinicians' evidence gaps."""
PATIENT_PRODUCT_SHARE = {"Glucavex": 0.32, "Renaflo": 0.15, "Oncotrexa": 0.16, "Jakvira": 0.22, "Cardiomet": 0.15}
SECOND_ACCOUNT_SHARE = 0.15
SECOND_PLATFORMS = ("x", "linkedin", "reddit", "doximity", "figure1")
"""A second account lives where profiles are public (Sermo and Medscape show no handle)."""
LINK_KINDS = ("same_handle", "bio_link", "same_name", "none")
LINK_SHARE = (0.3, 0.2, 0.25, 0.25)
"""How a person's two accounts can be told to belong together: the same handle; a bio that points at the other
profile; the same display name with the same credentials and specialty; nothing at all (a hard negative)."""
NAME_COLLISION_SHARE = 0.01
PA_NP_SHARE = 0.2
"""Share of primary-care authors who are physician assistants or nurse practitioners (other_clinician)."""
PROFILE_URL = {"x": "https://x.com/{h}", "linkedin": "https://www.linkedin.com/in/{h}",
               "reddit": "https://www.reddit.com/user/{h}", "doximity": "https://www.doximity.com/pub/{h}"}
PLATFORM_NAMES = {"x": "X", "linkedin": "LinkedIn", "reddit": "Reddit", "doximity": "Doximity", "figure1": "Figure 1"}
_SLOT_RE = re.compile(r"\{(\w+)\}")
_PLAIN_VOICE_BANKS = ("opener", "closer", "reply", "offtopic")


def _voice_units() -> tuple[dict[str, dict[str, list[Unit]]], dict[str, dict[str, list[str]]]]:
    """Post templates of the voices: labeled sentence banks (as in text_banks.txt) and plain line banks."""
    units: dict[str, dict[str, list[Unit]]] = {v: {} for v in VOICES}
    lines: dict[str, dict[str, list[str]]] = {v: {} for v in VOICES}
    for name, entries in VOICE_BANKS.items():
        voice, sep, bank = name.partition("/")
        if not sep:
            continue
        if voice not in units:
            raise DemoDataError(f"{VOICES_FILE}: bank [{name}] is for an unknown voice {voice!r} (known: {', '.join(VOICES)})")
        if bank in _PLAIN_VOICE_BANKS:
            lines[voice][bank] = entries
        else:
            units[voice][bank] = _parse_bank(bank, entries)
    for voice, weights in VOICE_BANK_WEIGHTS.items():
        missing = [b for b in weights if b not in units[voice]]
        if missing:
            raise DemoDataError(f"{VOICES_FILE} lacks the bank(s) {[f'{voice}/{b}' for b in missing]} the generator draws from")
    return units, lines


VOICE_UNITS, VOICE_LINES = _voice_units()


def _bank(name: str) -> list[str]:
    entries = VOICE_BANKS.get(name)
    if not entries:
        raise DemoDataError(f"{VOICES_FILE} lacks the bank [{name}] (or it is empty)")
    return entries


@dataclass
class _Account:
    """One account (an author_id): who is behind it (ground truth) and the profile it shows."""

    author_id: str
    person_id: str
    author_type: str
    specialty: str
    followers: int
    primary_platform: str
    handle: str = ""
    display_name: str = ""
    bio: str = ""
    voice: str = ""  # "" for clinicians; patient / industry / media / bot otherwise
    is_leader: bool = False
    link: str = ""  # how this person's two accounts can be linked ("" for a single account)
    activity: float = 1.0
    products: _Weighted | None = None
    templates: list[tuple[Unit, str]] = field(default_factory=list)  # a bot's near-duplicate messages
    posts: int = 0
    platforms: set[str] = field(default_factory=set)
    seen: set[int] = field(default_factory=set)  # a voice never repeats a text verbatim (ingest would drop it)


def profile_fields(account: _Account, platform: str) -> dict[str, str | None]:
    """The profile a post shows, as the platform shows it: Sermo is anonymous, Medscape shows a name only,
    Figure 1 a username and name, the others handle, name and bio; public profile URLs where they exist."""
    if platform == "sermo":
        return {"author_handle": None, "author_display_name": None, "author_bio": None, "author_url": None}
    handle = account.handle or None
    if platform == "medscape":
        handle = None
    url = None
    if handle and platform in PROFILE_URL:
        url = PROFILE_URL[platform].format(h=handle.lower() if platform == "linkedin" else handle)
    return {
        "author_handle": handle,
        "author_display_name": account.display_name or None,
        "author_bio": None if platform in ("medscape", "figure1") else account.bio,
        "author_url": url,
    }


HANDLE_MAX = 15
"""X's limit; one handle serves all of an account's platforms, so every handle fits X."""


def _clean_handle(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "", text) or "user"


class _Voices:
    """Builds every account's profile before the stream starts, then, as clinicians' posts leave the reply window,
    lets a non-clinician voice take the place of some of those on open platforms.

    Why take places instead of adding posts: `posts` stays the total, every post id from p0000001 on still
    exists, and every clinician post that stays keeps its id, text and annotations (the clinician stream and the
    annotation stream draw exactly as before). Only posts nobody replied to or reposted are taken, so threads and
    duplicates stay intact. All draws come from two streams of their own (profiles, voice posts).
    """

    def __init__(self, corpus: _Corpus, seed: int, n_posts: int) -> None:
        self.corpus = corpus
        self.prng = random.Random(f"occ-demo-profiles-{seed}")
        self.rng = random.Random(f"occ-demo-voices-{seed}")
        self.accounts: dict[str, _Account] = {}
        self.handles: set[str] = set()
        self.displays: set[str] = set()
        self.pairs: list[dict[str, Any]] = []
        self.collisions: list[dict[str, Any]] = []
        self.pools: dict[tuple[str, str], _Weighted] = {}
        self._pool_members: dict[tuple[str, str], list[_Account]] = {}
        self.replaced = 0
        self.dropped_pii: set[str] = set()
        self.width = max(5, len(str(len(corpus.authors))))
        self._names = self._unique_names()
        clinicians = self._clinicians()
        new_accounts = self._second_accounts(clinicians, n_posts)
        self._name_collisions(clinicians)
        new_accounts += self._voice_accounts(n_posts)
        ids = list(range(len(corpus.authors) + 1, len(corpus.authors) + 1 + len(new_accounts)))
        self.prng.shuffle(ids)  # new ids are opaque: their order says nothing about the author's type
        for account, idx in zip(new_accounts, ids):
            account.author_id = f"hcp{idx:0{self.width}d}"
            if not account.person_id:
                account.person_id = account.author_id
            self.accounts[account.author_id] = account
        for author in corpus.authors:
            second = corpus.second.get(author.author_id)
            if second is not None:
                corpus.by_id[second.author_id] = author
        for pair in self.pairs:
            pair["author_ids"] = [pair.pop("first").author_id, pair.pop("second").author_id]
        for key, members in self._pool_members.items():
            self.pools[key] = _Weighted(members, [a.activity for a in members])
        corpus.profiles = self.accounts
        self.voice_draw = {p: _Weighted(VOICES, [VOICE_SHARE[p][v] for v in VOICES]) for p in OPEN_PLATFORMS}
        self.replace_rate = {p: min(1.0, sum(VOICE_SHARE[p].values()) / ELIGIBLE_SHARE[p]) for p in OPEN_PLATFORMS}
        self.bank_draw = {v: _Weighted(list(w), list(w.values())) for v, w in VOICE_BANK_WEIGHTS.items()}

    # ---- profiles ----------------------------------------------------------------------------------------
    def _unique_names(self) -> Iterator[tuple[str, str]]:
        """(first, last) pairs without repeats (then with a middle initial), so that two clinicians share a
        display name only where that is planted."""
        firsts, lasts = _bank("names:first"), _bank("names:last")
        rounds = 0
        while True:
            combos = [(f, l) for f in firsts for l in lasts]
            self.prng.shuffle(combos)
            middle = "" if not rounds else chr(65 + (rounds - 1) % 26) + ("" if rounds <= 26 else str((rounds - 1) // 26))
            for f, l in combos:
                yield (f"{f} {middle}." if middle else f), l
            rounds += 1

    def _fill(self, template: str, values: dict[str, str]) -> str:
        def one(match: re.Match) -> str:
            key = match.group(1)
            if key in values:
                return values[key]
            if key == "NN":
                return str(self.prng.randint(10, 99))
            if key == "NNN":
                return str(self.prng.randint(100, 199))
            if key == "NNNN":
                return str(self.prng.randint(1000, 9999))
            if key == "YEAR":
                return str(self.prng.randint(2004, 2024))
            if key in ("EXTRA", "EXTRA2"):
                return _pick(self.prng, _bank("bio:extra"))
            if key == "SETTING":
                return _pick(self.prng, SLOTS_COMMON["SETTING"])
            if key == "CONF":
                return _pick(self.prng, SLOTS_COMMON["CONF"])
            raise DemoDataError(f"{VOICES_FILE}: unknown slot {{{key}}} in {template!r}")

        return _SLOT_RE.sub(one, template)

    def _handle(self, template: str, values: dict[str, str], reuse: str = "") -> str:
        """A handle from `template`, unique among all accounts (only a planted `reuse` may repeat one)."""
        if reuse:
            return reuse
        handle = _clean_handle(self._fill(template, values))
        for _ in range(3):  # a long name makes a long handle: people pick a shorter pattern, or cut it
            if len(handle) <= HANDLE_MAX:
                break
            handle = _clean_handle(self._fill(_pick(self.prng, self._handle_banks(template)), values))
        handle = handle[:HANDLE_MAX]
        base, tries = handle, 0
        while handle.lower() in self.handles:
            # Two digits, as people do; wider once those run out (a 10^6-post corpus has hundreds of accounts
            # drawn from one name, which looped for ever on 90 two-digit suffixes).
            digits = 2 if tries < 30 else 4 if tries < 60 else 7
            handle = base[: HANDLE_MAX - digits] + str(self.prng.randint(10 ** (digits - 1), 10 ** digits - 1))
            tries += 1
        self.handles.add(handle.lower())
        return handle

    @staticmethod
    def _handle_banks(template: str) -> list[str]:
        """The bank `template` came from (to draw another pattern of the same kind)."""
        for name, entries in VOICE_BANKS.items():
            if name.startswith(("handle:", "patient:handle", "industry:handle", "media:handle", "bot:handle")) and template in entries:
                return entries
        return [template]

    def _name_values(self, first: str, last: str, kind: str, specialty: str) -> dict[str, str]:
        rng = self.prng
        short_kind = "pa_np" if kind == "pa_np" else specialty
        nicks = VOICE_BANKS.get(f"nick:{short_kind}") or VOICE_BANKS.get(f"nick:{specialty}") or ["Doc"]
        fellows = VOICE_BANKS.get(f"fellow:{specialty}") or ["FACP"]
        plain_first = first.split(" ")[0]
        return {
            "F": first, "L": last, "I": plain_first[0], "f": plain_first.lower(), "l": last.lower(), "i": plain_first[0].lower(),
            "FELLOW": _pick(rng, fellows), "NICK": _pick(rng, nicks), "S": _pick(rng, _bank(f"short:{short_kind}")),
            "SPEC": _pick(rng, _bank(f"spec:{short_kind}")),
        }

    def _clinician_bio(self, values: dict[str, str], mention_specialty: bool) -> str:
        return self._fill(_pick(self.prng, _bank("bio:clinician" if mention_specialty else "bio:plain")), values)

    def _clinicians(self) -> list[tuple[_Author, _Account, str, dict[str, str]]]:
        """Every clinician's own account: type from the specialty, a credentialed display name, handle, bio."""
        rng = self.prng
        out = []
        for author in self.corpus.authors:
            kind = {"nursing": "nursing", "pharmacy": "pharmacy"}.get(author.specialty, "physician")
            if author.specialty == "primary care" and rng.random() < PA_NP_SHARE:
                kind = "pa_np"
            first, last = next(self._names)
            values = self._name_values(first, last, kind, author.specialty)
            r = rng.random()
            bio = self._clinician_bio(values, True) if r < 0.65 else (self._clinician_bio(values, False) if r < 0.75 else "")
            account = _Account(
                author_id=author.author_id, person_id=author.author_id,
                author_type="physician" if kind == "physician" else "other_clinician",
                specialty=author.specialty, followers=author.followers, primary_platform=author.primary_platform,
                handle=self._handle(_pick(rng, _bank("handle:clinician")), values),
                display_name=self._fill(_pick(rng, _bank(f"display:{kind}")), values),
                bio=bio, is_leader=author.is_leader,
            )
            self.accounts[author.author_id] = account
            self.displays.add(account.display_name)
            out.append((author, account, kind, values))
        return out

    def _second_accounts(self, clinicians: list[tuple[_Author, _Account, str, dict[str, str]]], n_posts: int) -> list[_Account]:
        """~15% of clinicians get a second account on another public platform, linked in various ways. The
        people chosen lean toward active posters, so that most second accounts do post; the person's posts on
        that platform are written by it."""
        rng = self.prng
        corpus = self.corpus
        total_activity = sum(corpus.activity) or 1.0
        scored = []
        for (author, account, kind, values), activity in zip(clinicians, corpus.activity):
            choices = [p for p in SECOND_PLATFORMS if p != author.primary_platform]
            platform = _Weighted(choices, [PLATFORM_SHARE[PLATFORMS.index(p)] for p in choices]).draw(rng)
            share = 0.3 * PLATFORM_SHARE[PLATFORMS.index(platform)] / (0.7 + 0.3 * (1 - PLATFORM_SHARE[PLATFORMS.index(author.primary_platform)]))
            expected = n_posts * activity / total_activity * share * (N_DAYS - author.start_day) / N_DAYS
            scored.append((expected * (0.3 + 0.7 * rng.random()), len(scored), platform))
        # at least one person per link kind (a small corpus still has every kind), at most a third of clinicians
        k = min(max(len(LINK_KINDS), round(SECOND_ACCOUNT_SHARE * len(clinicians))), len(clinicians) // 3)
        chosen = sorted(sorted(scored, reverse=True)[:k], key=lambda t: t[1])
        base = 1 if k >= len(LINK_KINDS) else 0
        exact = [(k - base * len(LINK_KINDS)) * share for share in LINK_SHARE]
        counts = [base + int(x) for x in exact]
        for i in sorted(range(len(exact)), key=lambda i: (int(exact[i]) - exact[i], i))[: k - sum(counts)]:
            counts[i] += 1  # largest remainders
        kinds = [kind for kind, c in zip(LINK_KINDS, counts) for _ in range(c)]
        rng.shuffle(kinds)
        out = []
        for (_, index, platform), link in zip(chosen, kinds):
            author, first_account, kind, values = clinicians[index]
            values = dict(values, SPEC=_pick(rng, _bank(f"spec:{'pa_np' if kind == 'pa_np' else author.specialty}")))
            anon_handle = _pick(rng, _bank("handle:anon"))
            # the same person's name written another way (never another degree: "MD" on one account, "DO" on the other)
            other_display = _pick(rng, [d for d in ("{F} {L}", "Dr. {F} {L}" if kind == "physician" else "{F} {L}", "{I}. {L}")
                                        if self._fill(d, values) != first_account.display_name] or ["{F}"])
            if link == "same_handle":
                handle = self._handle("", values, reuse=first_account.handle)
                display = self._fill(other_display if rng.random() < 0.5 else _pick(rng, _bank("display:anon")), values)
                bio = self._clinician_bio(values, rng.random() < 0.5) if rng.random() < 0.7 else ""
            elif link == "bio_link":
                handle = self._handle(anon_handle if rng.random() < 0.5 else _pick(rng, _bank("handle:clinician")), values)
                display = self._fill(other_display if rng.random() < 0.5 else _pick(rng, _bank("display:anon")), values)
                bio = self._clinician_bio(values, rng.random() < 0.5) if rng.random() < 0.6 else ""
            elif link == "same_name":
                handle = self._handle(_pick(rng, _bank("handle:clinician")), values)
                display = first_account.display_name
                bio = self._clinician_bio(values, True)
            else:  # no discoverable link: a pseudonymous second account (a nickname, not even a first name)
                handle = self._handle(anon_handle, values)
                display = self._fill(_pick(rng, [d for d in _bank("display:anon") if "{NICK}" in d]), values)
                bio = self._clinician_bio(values, False) if rng.random() < 0.5 else ""
            if link != "same_name":
                display = self._distinct(display, values)
            second = _Account(
                author_id="", person_id=author.author_id, author_type=first_account.author_type, specialty=author.specialty,
                followers=max(0, int(min(250_000, rng.lognormvariate(math.log(150), 1.3)))), primary_platform=platform,
                handle=handle, display_name=display, bio=bio, link=link,
            )
            if link == "bio_link":
                self._link_bios(first_account, second, platform)
            first_account.link = link
            self.corpus.second[author.author_id] = second
            self.pairs.append({"person_id": author.author_id, "first": first_account, "second": second, "link": link,
                               "second_platform": platform})
            out.append(second)
        return out

    def _distinct(self, display: str, values: dict[str, str]) -> str:
        """A display name no other clinician account uses (pseudonyms like "KidneyDoc" would otherwise repeat
        across people of one specialty and look like the same person)."""
        for _ in range(5):
            if display not in self.displays:
                break
            display = self._fill(_pick(self.prng, [d for d in _bank("display:anon") if "{NICK}" in d]), values)
        while display in self.displays:
            display = f"{values['NICK']} {self.prng.randint(2, 999)}"
        self.displays.add(display)
        return display

    def _link_bios(self, first: _Account, second: _Account, second_platform: str) -> None:
        """One of the two bios points at the other profile: "also on X: @handle" or its URL."""
        rng = self.prng
        # mostly the second account points back at the main one, unless its platform shows no bio (Figure 1)
        if second_platform in ("x", "linkedin", "reddit", "doximity") and rng.random() < 0.7:
            target, target_platform, holder = first, first.primary_platform, second
            if target_platform not in PLATFORM_NAMES:
                target_platform = "x"
        else:
            target, target_platform, holder = second, second_platform, first
        bank = {"x": "bio:also:x", "reddit": "bio:also:reddit", "figure1": "bio:also:figure1"}.get(target_platform, "bio:also:url")
        template = _pick(rng, _bank(bank))
        url = PROFILE_URL.get(target_platform, "").format(h=target.handle.lower() if target_platform == "linkedin" else target.handle)
        text = self._fill(template, {"PLAT": PLATFORM_NAMES[target_platform], "HANDLE": target.handle, "URL": url})
        holder.bio = f"{holder.bio} | {text}" if holder.bio else text

    def _name_collisions(self, clinicians: list[tuple[_Author, _Account, str, dict[str, str]]]) -> None:
        """A few pairs of DIFFERENT physicians share a common display name but not a specialty: a linker that
        trusts names alone merges them."""
        rng = self.prng
        common = _bank("names:common")
        candidates = [(a, acc, values) for a, acc, kind, values in clinicians
                      if kind == "physician" and not acc.link and a.start_day == 0]
        rng.shuffle(candidates)
        n_pairs = min(max(2, round(NAME_COLLISION_SHARE * len(clinicians))), len(common) * 3, len(candidates) // 2)
        used: set[str] = set()
        for i in range(n_pairs):
            first = next((c for c in candidates if c[1].author_id not in used), None)
            if first is None:
                break
            used.add(first[1].author_id)
            second = next((c for c in candidates if c[1].author_id not in used and c[0].specialty != first[0].specialty), None)
            if second is None:
                break
            used.add(second[1].author_id)
            f, l = common[i % len(common)].split(" ", 1)
            display = _pick(rng, ("Dr. {F} {L}", "{F} {L}, MD", "{F} {L} MD", "Dr {F} {L}")).format(F=f, L=l)
            for author, account, values in (first, second):
                values = dict(values, F=f, L=l, f=f.lower(), l=l.lower(), I=f[0], i=f[0].lower())
                account.display_name = display
                account.bio = self._clinician_bio(values, True)
                self.handles.discard(account.handle.lower())
                account.handle = self._handle(_pick(rng, _bank("handle:clinician")), values)
            self.collisions.append({"display_name": display, "author_ids": [first[1].author_id, second[1].author_id],
                                    "specialties": [first[0].specialty, second[0].specialty]})

    def _voice_accounts(self, n_posts: int) -> list[_Account]:
        """Pools of non-clinician accounts per (platform, voice), sized to the posts they will write."""
        rng = self.prng
        out: list[_Account] = []
        counters = {v: 0 for v in VOICES}
        for platform in OPEN_PLATFORMS:
            for voice in VOICES:
                share = VOICE_SHARE[platform][voice]
                if share <= 0:
                    continue
                expected = n_posts * PLATFORM_POST_SHARE[platform] * share
                n = max(1, round(expected / VOICE_POSTS_PER_ACCOUNT[voice]))
                members = []
                for _ in range(n):
                    account = self._voice_account(voice, platform, counters[voice])
                    counters[voice] += 1
                    account.activity = rng.lognormvariate(0.0, VOICE_ACTIVITY_SIGMA[voice])
                    members.append(account)
                self._pool_members[(platform, voice)] = members
                out.extend(members)
        return out

    def _voice_account(self, voice: str, platform: str, index: int) -> _Account:
        rng = self.prng
        median, sigma = VOICE_FOLLOWERS[voice]
        account = _Account(author_id="", person_id="", author_type=VOICE_TYPE[voice], specialty="",
                           followers=max(0, int(rng.lognormvariate(math.log(median), sigma))), primary_platform=platform, voice=voice)
        if voice == "patient":
            product = _Weighted(PRODUCT_ORDER, [PATIENT_PRODUCT_SHARE[p] for p in PRODUCT_ORDER]).draw(rng)
            account.products = _Weighted(PRODUCT_ORDER, [0.85 if p == product else 0.0375 for p in PRODUCT_ORDER])
            first = _pick(rng, _bank("names:first"))
            relative = _pick(rng, _bank("patient:rel")).partition(" || ")[0]
            values = {"F": first, "f": first.lower(), "I": _pick(rng, _bank("names:last"))[0], "i": first[0].lower(),
                      "CITY": _pick(rng, _bank("patient:city")), "PCOND": _pick(rng, _bank(f"pcond:{product}")),
                      "pc": _pick(rng, _bank(f"pcshort:{product}")), "REL": relative}
            account.display_name = self._fill(_pick(rng, _bank("patient:display")), values)
            account.handle = self._handle(_pick(rng, _bank("patient:handle")), values)
            account.bio = self._fill(_pick(rng, _bank("patient:bio")), values) if rng.random() < 0.7 else ""
        elif voice in ("industry", "media"):
            names = _bank(f"{voice}:name")
            line = names[index % len(names)]
            name, _, covers = line.partition(" || ")
            covers = covers.strip()
            rounds = index // len(names)
            if covers == "brand":
                brand = PRODUCT_ORDER[(index // len(names) + names.index(line)) % len(PRODUCT_ORDER)]
                name = name.replace("{BRAND}", brand)
                weights = [1.0 if p == brand else 0.0 for p in PRODUCT_ORDER]
            elif covers and covers != "*":
                listed = covers.split()
                weights = [1.0 if p in listed else 0.0 for p in PRODUCT_ORDER]
                brand = listed[0]
            else:
                weights = [1.0] * len(PRODUCT_ORDER)
                brand = _pick(rng, PRODUCT_ORDER)
            if rounds:
                name = f"{name} {_pick(rng, ('UK', 'Canada', 'EU', 'Global', 'Asia', 'LatAm'))}" + (f" {rounds}" if rounds > 1 else "")
            account.products = _Weighted(PRODUCT_ORDER, weights)
            words = re.findall(r"[A-Za-z0-9]+", name)
            capitals = [w for w in words if w[0].isupper() or w[0].isdigit()]
            short = "".join(w[0] for w in capitals) if len(capitals) >= 3 else "".join(capitals)
            values = {"NAME": name, "brand": brand.lower(), "company": short[:15],
                      "URL": f"https://www.{re.sub(r'[^a-z0-9]', '', name.lower())[:20]}.example"}
            account.display_name = name
            if voice == "industry":
                kind = "agency" if covers == "*" else "company"
                handles = _bank("industry:handle:brand" if covers == "brand" else "industry:handle:company")
            else:
                kind = "journal" if name.startswith("Journal") else ("society" if name.split()[0] in ("Society", "Academy") else "news")
                handles = _bank("media:handle")
            account.handle = self._handle(_pick(rng, handles), values)
            account.bio = self._fill(_pick(rng, _bank(f"{voice}:bio:{kind}")), values) if rng.random() < 0.9 else ""
        else:  # bot
            values: dict[str, str] = {}
            account.display_name = self._fill(_pick(rng, _bank("bot:name")), values)
            account.handle = self._handle(_pick(rng, _bank("bot:handle")), values)
            account.bio = self._fill(_pick(rng, _bank("bot:bio")), values) if rng.random() < 0.6 else ""
            product = _pick(rng, PRODUCT_ORDER)
            for _ in range(rng.randint(2, 3)):
                if rng.random() < 0.75:
                    account.templates.append((_pick(rng, VOICE_UNITS["bot"]["spam"]), product))
                else:
                    account.templates.append((Unit(_pick(rng, VOICE_LINES["bot"]["offtopic"])), ""))
        return account

    # ---- the stream --------------------------------------------------------------------------------------
    def resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item to write for a clinician post leaving the reply window: itself, or a voice post in its
        place (same post id, time and platform; `replaced` holds the clinician truth for the annotator)."""
        corpus = self.corpus
        record, truth = item["record"], item["truth"]
        post_id, platform = record["post_id"], record["platform"]
        referenced = post_id in corpus.referenced
        corpus.referenced.discard(post_id)
        if platform not in OPEN_PLATFORMS or truth.duplicate_of or referenced:
            return item
        rng = self.rng
        if rng.random() >= self.replace_rate[platform]:
            return item
        voice = self.voice_draw[platform].draw(rng)
        account = self.pools[(platform, voice)].draw(rng)
        day = item["day"]
        parent = item["parent"]
        keep_reply = parent is not None and rng.random() < VOICE_REPLY_KEEP[voice]
        # undo the clinician post's counts ------------------------------------------------------------------
        month = _MONTH_OF_DAY[day]
        corpus.tally(truth, month, -1)
        if parent is not None and not keep_reply:
            corpus.n_replies -= 1
        if len(record["mentions"]) > (1 if parent is not None and platform in ("x", "linkedin") else 0):
            corpus.n_mentions -= 1
        if item["pii"]:
            corpus.n_pii -= 1
            self.dropped_pii.add(post_id)
        # the voice post ---------------------------------------------------------------------------------------
        text, vtruth = self.compose(account, platform, parent[2] if keep_reply else None, keep_reply)
        mentions: list[str] = []
        if keep_reply and platform in ("x", "linkedin"):
            mentions.append(parent[1])
            text = f"@{parent[1]} {text}"
        if voice in ("industry", "media") and platform in ("x", "linkedin") and vtruth.products and rng.random() < 0.12:
            kol = corpus.attract.draw(rng).author_id  # brands and journals tag opinion leaders
            if kol not in mentions:
                text = f"{text} {_pick(rng, ('Thanks to', 'With', 'h/t'))} @{kol}"
                mentions.append(kol)
                corpus.n_mentions += 1
        likes, shares, replies = _engagement(rng, account.followers, platform, False)
        new_record = {
            "post_id": post_id,
            "text": text,
            "platform": platform,
            "author_id": account.author_id,
            "author_specialty": "",
            "author_followers": account.followers,
            **profile_fields(account, platform),
            "created_at": record["created_at"],
            "hashtags": list(dict.fromkeys(_HASHTAG_RE.findall(text))),
            "in_reply_to": parent[0] if keep_reply else None,
            "mentions": mentions,
            "likes": likes,
            "shares": shares,
            "replies": replies,
        }
        corpus.tally(vtruth, month, 1)
        self.replaced += 1
        return {"ts": item["ts"], "record": new_record, "truth": vtruth, "replaced": truth}

    def _surface(self, product: str, voice: str) -> tuple[str, str]:
        """How each voice names a product: brands say brand (generic), patients the brand or a misspelling."""
        forms, rng = self.corpus.forms[product], self.rng
        brand, generic = forms["brand"][0], forms["generic"][0]
        r = rng.random()
        if voice == "industry":
            return (f"{brand} ({generic})", brand) if r < 0.4 else (brand, brand)
        if voice == "bot":
            return brand, brand
        if voice == "media":
            return (generic, generic) if r < 0.15 else (brand, brand)
        if r < 0.78:
            text = brand.lower() if rng.random() < 0.12 else brand
        elif r < 0.95:
            text = _pick(rng, forms["variants"])
        else:
            text = generic
        return text, text

    def _url(self, account: _Account, product: str | None) -> str:
        rng = self.rng
        if account.voice == "bot":
            slug = "".join(_pick(rng, "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(7))
            return f"https://{_pick(rng, ('bit.ly', 't.co', 'tinyurl.com', 'rb.gy'))}/{slug}"
        if account.voice == "industry" and product:
            return f"https://www.{product.lower()}.example/{_pick(rng, ('pi', 'hcp', 'isi', 'savings', 'data'))}"
        slug = re.sub(r"[^a-z0-9]", "", account.display_name.lower())[:32]
        return f"https://{slug}.example/{rng.randint(2025, 2026)}/{rng.randint(1000, 9999)}"

    def _filler(self, account: _Account, product: str | None) -> _Slots:
        rng = self.rng
        prof = PRODUCT_PROFILES[product] if product else None

        def fill(key: str) -> str:
            if key in ("P", "Q"):
                return "\x01" if key == "P" else "\x02"
            if key in ("REL", "REL2"):
                relative, _, pronoun = _pick(rng, _bank("patient:rel")).partition(" || ")
                slots["REL"], slots["REL2"] = relative, pronoun
                return slots[key]
            if key == "URL":
                return self._url(account, product)
            if key == "NAME":
                return account.display_name
            if key == "PPOP":
                return _pick(rng, _bank("patient:ppop"))
            if key == "CONF":
                return _pick(rng, SLOTS_COMMON["CONF"])
            if key == "PRICE":
                return str(_pick(rng, (180, 350, 600, 900, 1100, 1400)))
            if key == "MO":
                return str(rng.randint(2, 18))
            if key in ("N", "NN"):
                return str(rng.randint(10, 99))
            if key == "YRS":
                return str(_pick(rng, (2, 3, 3, 5, 10)))
            if prof is not None and key in ("EFF", "AEM", "AES", "ADM", "POP", "COND"):
                return _pick(rng, prof[key.lower()])
            if product and key in ("PEFF", "PCOND", "DOC"):
                return _pick(rng, _bank(f"{key.lower()}:{product}"))
            raise DemoDataError(f"{VOICES_FILE}: unknown slot {{{key}}} (or a product slot in a post without a product)")

        slots = _Slots(fill)
        return slots

    def compose(self, account: _Account, platform: str, parent_product: str | None, reply: bool) -> tuple[str, _Truth]:
        """Text and truth of one voice post, unique for its author (ingest drops verbatim repeats)."""
        for _ in range(4):
            text, truth = self._compose(account, platform, parent_product, reply)
            key = int.from_bytes(hashlib.blake2b(" ".join(text.lower().split()).encode("utf-8"), digest_size=8).digest(), "little")
            if key not in account.seen:
                break
        account.seen.add(key)
        return text, truth

    def _compose(self, account: _Account, platform: str, parent_product: str | None, reply: bool) -> tuple[str, _Truth]:
        rng = self.rng
        voice = account.voice
        if voice == "bot":
            unit, product = _pick(rng, account.templates)
            return self._render(account, platform, product or None, [unit], "", "", reply)
        off_rate = VOICE_OFF_TOPIC[voice] * (0.5 if parent_product else 1.0)
        if rng.random() < off_rate:
            unit = Unit(_pick(rng, VOICE_LINES[voice]["offtopic"]))
            return self._render(account, platform, None, [unit], "", "", reply)
        assert account.products is not None
        product = parent_product if parent_product and rng.random() < 0.75 else account.products.draw(rng)
        n_units = 1
        if voice == "patient":
            n_units = 1 + (rng.random() < (0.45 if platform == "reddit" else 0.25))
        banks: list[str] = []
        draw = self.bank_draw[voice]
        while len(banks) < n_units:
            bank = draw.draw(rng)
            if bank not in banks:
                banks.append(bank)
        units = [_pick(rng, VOICE_UNITS[voice][b]) for b in banks]
        if voice == "industry" and rng.random() < 0.35:
            units.append(_pick(rng, VOICE_UNITS["industry"]["saf0"]))  # fair balance: safety boilerplate
        opener = closer = ""
        lines = VOICE_LINES[voice]
        if voice == "patient":
            if reply:
                opener = _pick(rng, lines["reply"])
            elif rng.random() < (0.4 if platform == "reddit" else 0.15):
                opener = _pick(rng, lines["opener"])
            if rng.random() < (0.35 if platform == "reddit" else 0.1):
                closer = _pick(rng, lines["closer"])
        elif voice == "industry":
            opener = _pick(rng, lines["opener"]) if rng.random() < 0.2 else ""
            closer = _pick(rng, lines["closer"])
        else:
            closer = _pick(rng, lines["closer"])
        return self._render(account, platform, product, units, opener, closer, reply)

    def _render(self, account: _Account, platform: str, product: str | None, units: list[Unit], opener: str, closer: str,
                reply: bool) -> tuple[str, _Truth]:
        """Fill, join and label the sentences (the truth is read off the units, as for clinicians' posts)."""
        rng = self.rng
        voice = account.voice
        slots = self._filler(account, product)
        if voice == "bot" and reply and rng.random() < 0.5:
            opener = _pick(rng, ("Great post!", "So true!", "👇", "Check this out"))
        sentences = [u.text.format_map(slots) for u in units]
        if product and not any("{P}" in u.text for u in units):
            sentences[0] = _pick(rng, PRODUCT_LEADS).format_map(slots) + " " + sentences[0]
        parts = []
        for s in sentences:
            s = s.strip()
            if s[-1] not in ".?!:)🙏💪😩" and not s.split(" ")[-1].startswith("http"):
                s += "."
            parts.append(s[0].upper() + s[1:] if s[0].islower() else s)
        body = " ".join(parts)
        if opener:
            body = f"{opener} {body}"
        if closer:
            body = f"{body} {closer.format_map(slots)}"
        if voice == "patient":
            if platform in ("x", "reddit") and rng.random() < 0.2:
                body = body.lower()
            if rng.random() < 0.15:
                body = _typos(rng, body)
        aspects: set[str] = set()
        needs: set[str] = set()
        ae = False
        for unit in units:
            aspects.update(unit.aspects)
            needs.update(unit.needs)
            ae = ae or unit.ae
            aspects.update(a for a in unit.maybe_aspects if rng.random() < 0.5)
            needs.update(n for n in unit.maybe_needs if rng.random() < 0.5)
        polarities = [u.polarity for u in units if u.polarity]
        n_pos, n_neg = polarities.count(1), polarities.count(-1)
        sentiment = POS if n_pos > n_neg else (NEG if n_neg > n_pos else NEU)
        products: list[str] = []
        if product:
            products.append(product)
            p_first, p_later = self._surface(product, voice)
            if "\x02" in body:
                q_name = _pick(rng, PRODUCT_PROFILES[product]["cmp"])
                q_first, q_later = self._surface(q_name, voice) if q_name in self.corpus.forms else (q_name, q_name)
                body = body.replace("\x02", q_first, 1).replace("\x02", q_later)
                if q_name in self.corpus.forms and q_name != product:
                    products.append(q_name)
            body = body.replace("\x01", p_first, 1).replace("\x01", p_later)
        else:
            sentiment, aspects, needs, ae = NEU, set(), set(), False
        if voice == "patient" and rng.random() < 0.15:
            body = f"{body} {_pick(rng, EMOJI[sentiment])}"
        tags = self._hashtags(voice, platform, product)
        inline = set(_HASHTAG_RE.findall(body))
        missing = [t for t in tags if t not in inline]
        if missing:
            body = body + " " + " ".join("#" + t for t in missing)
        truth = _Truth(products=products, sentiment=sentiment, aspects=[a for a in ASPECTS if a in aspects],
                       needs=[n for n in NEEDS if n in needs], ae=ae)
        return body, truth

    def _hashtags(self, voice: str, platform: str, product: str | None) -> list[str]:
        rng = self.rng
        if platform == "reddit":
            return []
        if voice == "patient":
            return [_pick(rng, _bank(f"ptag:{product}"))] if product and rng.random() < 0.3 else []
        if voice == "bot":
            return [_pick(rng, ("health", "deals", "wellness", "news"))] if rng.random() < 0.5 else []
        if product and rng.random() < (0.6 if platform == "linkedin" else 0.4):
            tags = PRODUCT_PROFILES[product]["hashtags"]
            return [_pick(rng, tags)] + ([_pick(rng, LINKEDIN_TAGS)] if platform == "linkedin" else [])
        return [_pick(rng, LINKEDIN_TAGS)] if platform == "linkedin" and rng.random() < 0.5 else []

    # ---- bookkeeping -------------------------------------------------------------------------------------
    def tally(self, record: dict[str, Any]) -> None:
        account = self.accounts[record["author_id"]]
        account.posts += 1
        account.platforms.add(record["platform"])

    def listed(self) -> list[_Account]:
        """Accounts for authors.csv: every clinician's own account (as before), other accounts that posted."""
        own = {a.author_id for a in self.corpus.authors}
        return sorted((a for a in self.accounts.values() if a.author_id in own or a.posts), key=lambda a: a.author_id)

    def summary(self, posts_by: dict[str, dict[str, int]]) -> dict[str, Any]:
        """The `voices` block of ground_truth.json."""
        listed = self.listed()
        accounts_by_type = {t: sum(1 for a in listed if a.author_type == t) for t in AUTHOR_TYPES}
        pairs = [dict(p) for p in self.pairs if self.accounts[p["author_ids"][1]].posts]
        link_kinds = {k: sum(1 for p in pairs if p["link"] == k) for k in LINK_KINDS}
        posts_by_type = {t: sum(posts_by[p].get(t, 0) for p in PLATFORMS) for t in AUTHOR_TYPES}
        open_total = sum(sum(posts_by[p].values()) for p in OPEN_PLATFORMS) or 1
        return {
            "note": ("author_type per account in authors.csv; person_id links a clinician's two accounts. Non-clinicians "
                     "post on x, linkedin and reddit only, taking the place of clinician posts nobody replied to or "
                     "reposted (same post_id and time)."),
            "author_types": list(AUTHOR_TYPES),
            "accounts_by_type": accounts_by_type,
            "posts_by_type": posts_by_type,
            "posts_by_platform_and_type": {p: {t: posts_by[p].get(t, 0) for t in AUTHOR_TYPES} for p in PLATFORMS},
            "open_platform_share_by_type": {
                t: round(sum(posts_by[p].get(t, 0) for p in OPEN_PLATFORMS) / open_total, 4) for t in AUTHOR_TYPES},
            "target_share_by_platform": VOICE_SHARE,
            "replaced_clinician_posts": self.replaced,
            "cross_platform_persons": len(pairs),
            "link_kinds": link_kinds,
            "cross_platform": [{"person_id": p["person_id"], "author_ids": p["author_ids"], "link": p["link"],
                                "second_platform": p["second_platform"]} for p in pairs],
            "shared_display_names": self.collisions,
        }


def _engagement(rng: random.Random, followers: int, platform: str, leader: bool) -> tuple[int, int, int]:
    scale = {"x": 1.0, "linkedin": 1.3, "doximity": 0.5, "sermo": 0.6, "figure1": 0.8, "medscape": 0.3, "reddit": 1.1}[platform]
    mu = 0.55 * math.log1p(followers) + math.log(scale) - 0.4 + (0.6 if leader else 0.0)
    likes = int(rng.lognormvariate(mu, 1.0))
    share_rate = {"x": 0.18, "linkedin": 0.08, "doximity": 0.02, "sermo": 0.0, "figure1": 0.03, "medscape": 0.0, "reddit": 0.0}[platform]
    shares = int(likes * share_rate * rng.random() * 2)
    extra_replies = int(rng.expovariate(1.0) * (0.6 + 0.05 * math.log1p(likes)))
    return likes, shares, extra_replies


# --------------------------------------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------------------------------------
_CONFUSABLE = {
    LTO: (SIG, RWE), SPP: (PSEL, DOS), CEF: (RWE,), DOS: (PSEL, LTO), RWE: (CEF, LTO), PSEL: (SPP, DOS), SIG: (LTO,),
    EFF: (CMP, SAF), SAF: (EFF,), ACC: (ADM,), ADM: (ACC,), CMP: (EFF,),
}


def _noisy_set(rng: random.Random, labels: list[str], universe: Sequence[str]) -> list[str]:
    chosen = set(labels)
    r = rng.random()
    if chosen and r < 0.4:
        old = _pick(rng, sorted(chosen))
        chosen.discard(old)
        chosen.add(_pick(rng, _CONFUSABLE.get(old, universe)))
    elif chosen and r < 0.7:
        chosen.discard(_pick(rng, sorted(chosen)))
    else:
        base = _pick(rng, sorted(chosen)) if chosen and rng.random() < 0.5 else None
        chosen.add(_pick(rng, _CONFUSABLE.get(base, universe)) if base else _pick(rng, universe))
    return [u for u in universe if u in chosen]


def _noisy_labels(rng: random.Random, truth: _Truth, rate: float) -> tuple[str, list[str], list[str], bool]:
    sentiment, aspects, needs, ae = truth.sentiment, truth.aspects, truth.needs, truth.ae
    if rng.random() < rate * 1.3:  # attitude is the most subjective call
        if sentiment == NEU:
            sentiment = _pick(rng, (POS, NEG))
        elif rng.random() < 0.8:
            sentiment = NEU
        else:
            sentiment = POS if sentiment == NEG else NEG
    if rng.random() < rate:
        aspects = _noisy_set(rng, aspects, ASPECTS)
    if rng.random() < rate:
        needs = _noisy_set(rng, needs, NEEDS)
    if rng.random() < rate * (1.5 if ae else 0.4):  # misses are likelier than false alarms
        ae = not ae
    # under-tagging: in "any number" tasks annotators mostly err by leaving a label out
    aspects = [a for a in aspects if rng.random() >= rate * UNDER_TAGGING]
    needs = [n for n in needs if rng.random() >= rate * UNDER_TAGGING]
    return sentiment, aspects, needs, ae


class _Annotator:
    """Decides which posts are labeled, by whom, and with which (noisy) labels; has its own random stream."""

    def __init__(self, seed: int, labeled_fraction: float, ae_names: dict[str, str], writer: Any, stream: str = "annotations") -> None:
        self.rng = random.Random(f"occ-demo-{stream}-{seed}")
        self.fraction = labeled_fraction
        self.ae_names = ae_names
        self.writer = writer
        self.labeled = 0
        self.rows = 0
        self.multi = 0
        self.single = _Weighted(ANNOTATORS, ANNOTATOR_SHARE)

    def annotate(self, post_id: str, truth: _Truth, write: bool = True) -> list[str] | None:
        """Label `post_id` (or not) and return its annotators. `write=False` makes exactly the same draws and
        writes nothing: a clinician post that a voice took the place of keeps this stream (and so every other
        post's annotations) unchanged, and hands its annotators to the voice post (`label_as`)."""
        rng = self.rng
        if rng.random() >= self.fraction:
            return None
        r = rng.random()
        if r < 1 - MULTI_ANNOTATED:
            who = [self.single.draw(rng)]
        elif r < 1 - MULTI_ANNOTATED * 0.4:
            who = sorted(rng.sample(ANNOTATORS, 2))
        else:
            who = list(ANNOTATORS)
        self._label(post_id, truth, who, write)
        return who

    def label_as(self, post_id: str, truth: _Truth, who: list[str]) -> None:
        """Label `post_id` by exactly `who`: the labeled set, and so the frozen test split, stays as it was."""
        self._label(post_id, truth, who, True)

    def _label(self, post_id: str, truth: _Truth, who: list[str], write: bool) -> None:
        rng = self.rng
        if write:
            self.labeled += 1
            if len(who) > 1:
                self.multi += 1
        consensus = truth
        if rng.random() < SHARED_LABEL_NOISE * 4:  # each of the 4 tasks at SHARED_LABEL_NOISE on average
            s, a, n, e = _noisy_labels(rng, truth, 0.25)
            consensus = _Truth(truth.products, s, a, n, e)
        for annotator in who:
            s, a, n, e = _noisy_labels(rng, consensus, ANNOTATOR_ERROR[annotator])
            if not write:
                continue
            w = self.writer.writerow
            w((post_id, SENTIMENT, s, annotator))
            for task, labels in ((PERCEPTION, a), (NEED, n)):
                if labels:
                    for label in labels:
                        w((post_id, task, label, annotator))
                    self.rows += len(labels)
                else:
                    w((post_id, task, "", annotator))
                    self.rows += 1
            w((post_id, AE, self.ae_names["yes" if e else "no"], annotator))
            self.rows += 2


# --------------------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------------------
def generate_demo(
    out_dir: Path,
    posts: int = 20000,
    seed: int = 13,
    labeled_fraction: float = 0.3,
    *,
    taxonomy: Taxonomy | None = None,
) -> DemoSummary:
    """Write the synthetic demo corpus into `out_dir` (created if needed) and return what was written.

    `taxonomy` defaults to the packaged one; a taxonomy lacking a task or label the generator writes is
    refused with a message naming what is missing, because the corpus's labels are only meaningful under
    the default label definitions.
    """
    if isinstance(posts, bool) or not isinstance(posts, int) or posts < 1:
        raise DemoDataError(f"posts must be a positive integer, got {posts!r}")
    if not 0.0 <= float(labeled_fraction) <= 1.0:
        raise DemoDataError(f"labeled_fraction must be between 0 and 1, got {labeled_fraction!r}")
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    ae_names = _check_taxonomy(taxonomy)
    products_bytes = _products_yaml_bytes()
    forms = _surface_forms(products_bytes)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "posts": out / "posts.jsonl",
        "annotations": out / "annotations.csv",
        "true_labels": out / "true_labels.csv",
        "authors": out / "authors.csv",
        "products": out / "products.yaml",
        "ground_truth": out / "ground_truth.json",
    }
    paths["products"].write_bytes(products_bytes)

    corpus = _Corpus(posts, seed, forms)
    rng = corpus.rng
    day_counts = corpus.day_counts()
    voices = _Voices(corpus, seed, posts)  # profiles and voice accounts: streams of their own
    posts_by: dict[str, dict[str, int]] = {p: {} for p in PLATFORMS}  # platform -> author type -> posts
    clinician_counts = _Tally()  # the planted gaps as clinicians alone write them (what a filtered report sees)
    start_ts = int(datetime(START_DAY.year, START_DAY.month, START_DAY.day, tzinfo=timezone.utc).timestamp())
    hour_w = _Weighted(range(24), [0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 1.2, 1.6, 1.4, 1.2, 1.3, 1.7, 1.5, 1.2, 1.1, 1.2, 1.3, 1.4, 1.6, 1.8, 1.7, 1.2, 0.6])
    month_of_day = _MONTH_OF_DAY
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    author_draw: _Weighted | None = None

    with open(paths["posts"], "w", encoding="utf-8", newline="\n") as f_posts, open(
        paths["annotations"], "w", encoding="utf-8", newline=""
    ) as f_ann, open(paths["true_labels"], "w", encoding="utf-8", newline="") as f_true:
        ann_writer = csv.writer(f_ann, lineterminator="\n")
        ann_writer.writerow(("post_id", "task", "label", "annotator"))
        true_writer = csv.writer(f_true, lineterminator="\n")
        true_writer.writerow(("post_id", "products", SENTIMENT, PERCEPTION, NEED, AE, "duplicate_of"))
        annotator = _Annotator(seed, float(labeled_fraction), ae_names, ann_writer)
        voice_annotator = _Annotator(seed, float(labeled_fraction), ae_names, ann_writer, stream="annotations-voices")
        pending: deque[dict[str, Any]] = deque()

        def flush(until_ts: int | None) -> None:
            while pending and (until_ts is None or pending[0]["ts"] < until_ts):
                item = voices.resolve(pending.popleft())
                record, truth = item["record"], item["truth"]
                voices.tally(record)
                by_type = posts_by[record["platform"]]
                author_type = voices.accounts[record["author_id"]].author_type
                by_type[author_type] = by_type.get(author_type, 0) + 1
                if author_type in ("physician", "other_clinician"):
                    clinician_counts.tally(truth, MONTHS.index(record["created_at"][:7]))
                f_posts.write(dumps(record))
                f_posts.write("\n")
                true_writer.writerow(
                    (record["post_id"], "|".join(truth.products), truth.sentiment, "|".join(truth.aspects),
                     "|".join(truth.needs), ae_names["yes" if truth.ae else "no"], truth.duplicate_of)
                )
                if truth.duplicate_of:  # a verbatim repost is dropped by ingest; annotators label the original
                    continue
                replaced = item.get("replaced")
                if replaced is None:
                    annotator.annotate(record["post_id"], truth)
                else:  # a voice in a clinician post's place: labeled if that post would have been, by the same people
                    who = annotator.annotate(record["post_id"], replaced, write=False)
                    if who:
                        voice_annotator.label_as(record["post_id"], truth, who)

        for day, count in enumerate(day_counts):
            if not count:
                continue
            day_ts = start_ts + day * 86400
            times = sorted(hour_w.draw(rng) * 3600 + int(rng.random() * 3600) for _ in range(count))
            month = month_of_day[day]
            if author_draw is None or day % 30 == 0:  # authors join over the year; refresh monthly
                author_draw = _Weighted(corpus.authors, [w if a.start_day <= day else 0.0 for a, w in zip(corpus.authors, corpus.activity)])
            for offset in times:
                now = day_ts + offset
                flush(now - REPLY_WINDOW_S - 1)
                item = corpus.repost(pending, day, offset, now) if pending and rng.random() < REPOST_RATE else None
                if item is None:
                    item = corpus.new_post(author_draw.draw(rng), day, offset, now)
                pending.append(item)
                corpus.tally(item["truth"], month)
        flush(None)

    listed = voices.listed()
    with open(paths["authors"], "w", encoding="utf-8", newline="") as f_auth:
        w = csv.writer(f_auth, lineterminator="\n")
        w.writerow(("author_id", "specialty", "followers", "is_opinion_leader", "primary_platform", "author_type", "person_id", "platforms"))
        for a in listed:
            w.writerow((a.author_id, a.specialty, a.followers, "true" if a.is_leader else "false", a.primary_platform,
                        a.author_type, a.person_id, "|".join(p for p in PLATFORMS if p in a.platforms)))

    gaps = []
    for g in PLANTED_GAPS:
        key = (g["product"], g["evidence_need"])
        monthly = corpus.gap_counts[key]
        totals = corpus.product_counts[g["product"]]
        gaps.append(
            {
                "product": g["product"],
                "evidence_need": g["evidence_need"],
                "rise_start": g["rise_start"],
                "base_rate": g["base_rate"],
                "final_rate": g["final_rate"],
                "rise": (
                    f"share of on-topic {g['product']} posts that raise {g['evidence_need']} is {g['base_rate']:.0%} until "
                    f"{g['rise_start']}, then climbs to {g['final_rate']:.0%} by 2026-10-31"
                ),
                "monthly_posts": dict(zip(MONTHS, monthly)),  # unique posts (reposts excluded), primary product
                "monthly_share": {m: round(c / t, 4) if t else 0.0 for m, c, t in zip(MONTHS, monthly, totals)},
                "monthly_posts_clinicians": dict(zip(MONTHS, clinician_counts.gap_counts[key])),
                "monthly_share_clinicians": {
                    m: round(c / t, 4) if t else 0.0
                    for m, c, t in zip(MONTHS, clinician_counts.gap_counts[key], clinician_counts.product_counts[g["product"]])},
            }
        )
    pii_records = [r for r in corpus.pii_records if r["post_id"] not in voices.dropped_pii]
    pii_seeds = sorted({r["value"] for r in pii_records})
    ground_truth = {
        "generator": "labeling.demo.generator",
        "seed": seed,
        "posts": posts,
        "labeled_fraction": float(labeled_fraction),
        "taxonomy_version": taxonomy.version,
        "period": {"start": f"{START_DAY.isoformat()}T00:00:00Z", "end": "2026-10-31T23:59:59Z", "months": MONTHS},
        "planted_gaps": gaps,
        "decoys": [
            dict(DECOY_SPIKE, note="transient conference-driven burst that fades; not a rising gap"),
        ],
        "generation_params": {
            "off_topic_rate": OFF_TOPIC_RATE,
            "base_need_rate": BASE_NEED_RATE,
            "base_aspect_rate": BASE_ASPECT_RATE,
            "aspect_polarity_pos_neu_neg": {k: list(v) for k, v in ASPECT_POLARITY.items()},
            "base_ae_rate": BASE_AE_RATE,
            "jakvira_ae_rate_before_after": list(JAKVIRA_AE_RISE),
            "product_share_by_specialty": {s: dict(zip(PRODUCT_ORDER, v[1])) for s, v in SPECIALTIES.items()},
            "platform_share": dict(zip(PLATFORMS, PLATFORM_SHARE)),
            "annotators": {a: {"error_rate": ANNOTATOR_ERROR[a], "share_single": s} for a, s in zip(ANNOTATORS, ANNOTATOR_SHARE)},
            "multi_annotated_share": MULTI_ANNOTATED,
            "shared_label_noise_per_task": SHARED_LABEL_NOISE,
            "under_tagging_per_label": {a: round(ANNOTATOR_ERROR[a] * UNDER_TAGGING, 4) for a in ANNOTATORS},
            "ambiguous_phrasing_truth": "coin flip (0.5) for tags marked ambiguous in the text banks",
            "repost_rate": REPOST_RATE,
            "pii_rate": PII_RATE,
            "reply_window_seconds": REPLY_WINDOW_S,
            "voice_share_by_platform": VOICE_SHARE,
            "second_account_share": SECOND_ACCOUNT_SHARE,
            "link_kind_share": dict(zip(LINK_KINDS, LINK_SHARE)),
            "pa_np_share_of_primary_care": PA_NP_SHARE,
        },
        "counts": {
            "posts": posts,
            "authors": len(listed),
            "clinicians": len(corpus.authors),
            "opinion_leaders": sorted(a.author_id for a in corpus.authors if a.is_leader),
            "replies": corpus.n_replies,
            "posts_with_mentions": corpus.n_mentions,
            "reposts": corpus.n_reposts,
            "posts_with_pii": corpus.n_pii,
            "labeled_posts": annotator.labeled + voice_annotator.labeled,
            "multi_annotated_posts": annotator.multi + voice_annotator.multi,
            "annotation_rows": annotator.rows + voice_annotator.rows,
            "product_posts_by_month": {p: dict(zip(MONTHS, c)) for p, c in corpus.product_counts.items()},
        },
        "pii_seeds": pii_seeds,
        "pii_records": pii_records,
        "voices": voices.summary(posts_by),
    }
    paths["ground_truth"].write_text(json.dumps(ground_truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return DemoSummary(
        posts=posts,
        labeled_posts=annotator.labeled + voice_annotator.labeled,
        annotations=annotator.rows + voice_annotator.rows,
        authors=len(listed),
        files={k: str(v) for k, v in paths.items()},
        posts_by_type={t: sum(posts_by[p].get(t, 0) for p in PLATFORMS) for t in AUTHOR_TYPES},
    )
