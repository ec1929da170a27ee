"""Author type and specialty on hand-made profiles of each kind of author."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from common.settings import AuthorSettings
from labeling.authors.classify import (
    AUTHOR_TYPES,
    CLINICIAN_TYPES,
    SPECIALTIES,
    AuthorProfile,
    classify_author,
    normalize_specialty,
)
from labeling.authors.signals import credentials_in

SETTINGS = AuthorSettings()


def profile(author_id: str = "a1", platforms: tuple[str, ...] = ("x",), display_name: str | None = None,
            raw_bio: str | None = None, bio: str | None = None, **fields: Any) -> AuthorProfile:
    """A profile as ingest leaves it: credentials from the raw display name and bio, the bio redacted."""
    return AuthorProfile(author_id=author_id, platforms=list(platforms),
                         credentials=credentials_in(display_name, raw_bio if raw_bio is not None else bio),
                         bio=bio, **fields)


def test_a_physician_by_credential() -> None:
    decision = classify_author(profile(display_name="Dr. Jane Smith, MD, FACC",
                                       raw_bio="Dr. Jane Smith, MD. Cardiologist.",
                                       bio="Dr. [NAME], MD. Cardiologist."), SETTINGS)
    assert decision.author_type == "physician" and decision.type_confidence >= 0.97
    assert "credential" in decision.type_evidence and "MD" in decision.type_evidence
    assert decision.specialty == "cardiology" and decision.specialty_confidence >= 0.8


def test_a_credential_alone_gives_the_documented_confidence() -> None:
    decision = classify_author(profile(display_name="John Doe, DO"), SETTINGS)
    assert (decision.author_type, decision.type_confidence) == ("physician", 0.97)
    assert decision.specialty is None


def test_a_nurse_is_another_clinician_in_nursing() -> None:
    decision = classify_author(profile(display_name="Amy Lee RN, BSN", bio="Oncology nurse. Night shift life."),
                               SETTINGS)
    assert decision.author_type == "other_clinician" and decision.type_confidence >= 0.9
    assert decision.specialty == "nursing"


def test_a_pharmacist_by_bio_is_in_pharmacy() -> None:
    decision = classify_author(profile(bio="Clinical pharmacist, anticoagulation clinic."), SETTINGS)
    assert decision.author_type == "other_clinician" and decision.specialty == "pharmacy"


def test_a_verified_platform_without_credentials_is_a_clinician() -> None:
    sermo = classify_author(profile(platforms=("sermo",)), SETTINGS)
    assert (sermo.author_type, sermo.type_confidence) == ("physician", 0.9)
    assert "verified platform sermo" in sermo.type_evidence
    doximity = classify_author(profile(platforms=("doximity",), specialty_field="Internal Medicine - Endocrinology"),
                               SETTINGS)
    assert doximity.author_type == "physician" and 0.6 <= doximity.type_confidence < 0.9
    assert (doximity.specialty, doximity.specialty_confidence) == ("endocrinology", 0.95)
    nurse = classify_author(profile(platforms=("doximity",), bio="Nurse practitioner, cardiology"), SETTINGS)
    assert nurse.author_type == "other_clinician" and nurse.specialty == "cardiology"


def test_verified_platforms_come_from_the_settings() -> None:
    settings = dataclasses.replace(SETTINGS, verified_platforms=("doximity",))
    assert classify_author(profile(platforms=("sermo",)), settings).author_type == "unknown"


def test_a_patient_by_content() -> None:
    texts = ["My doctor put me on Glucavex last month and my blood sugar is finally down",
             "I was prescribed 10mg, anyone else get nausea?",
             "my endo says to wait another month",
             "thanks everyone"]
    decision = classify_author(profile(platforms=("reddit",), texts=texts, n_posts=4), SETTINGS)
    assert decision.author_type == "patient_caregiver"
    assert SETTINGS.min_type_confidence <= decision.type_confidence < 0.9  # posts are a weaker vote than a bio
    assert "3 of 4 posts" in decision.type_evidence
    assert decision.specialty is None


def test_a_single_patient_sounding_post_is_not_enough() -> None:
    decision = classify_author(profile(texts=["my doctor said so", "nice weather"]), SETTINGS)
    assert decision.author_type == "unknown"
    assert "best guess patient_caregiver" in decision.type_evidence


def test_a_pharma_account_named_dr_is_industry() -> None:
    raw_bio = ("Official account of Dr. Reddy's Laboratories Ltd. Pharmaceuticals. "
               "Medical information requests: info@drreddys.example")
    post = "Important Safety Information: see full Prescribing Information. Rx only."
    decision = classify_author(profile(display_name="Dr. Reddy's Laboratories", raw_bio=raw_bio,
                                       bio=raw_bio.replace("info@drreddys.example", "[EMAIL]"), texts=[post]),
                               SETTINGS)
    assert decision.author_type == "industry" and decision.type_confidence >= 0.8
    assert "Dr" not in decision.type_evidence.split("; ")[0]  # the brand's "Dr." is no title
    assert decision.specialty is None


def test_a_journal_is_media() -> None:
    bio = "Official account of the Journal of Clinical Endocrinology. Peer-reviewed research."
    texts = ["New study finds lower HbA1c with early therapy. Read more: https://j.example/1",
             "Published today: a trial of ..."]
    decision = classify_author(profile(bio=bio, texts=texts), SETTINGS)
    assert decision.author_type == "media_org" and decision.type_confidence >= 0.8
    assert "Journal" in decision.type_evidence


def test_a_bot_is_unknown() -> None:
    texts = [f"Buy cheap Glucavex online now, best price guaranteed! https://spam.example/{i}" for i in range(8)]
    decision = classify_author(profile(display_name="Jane Smith MD", texts=texts), SETTINGS)
    assert decision.author_type == "unknown"
    assert "repetitive automated posting" in decision.type_evidence


def test_a_journal_posting_links_to_different_articles_is_not_a_bot() -> None:
    titles = ["Early insulin in type 2 diabetes", "Statins after age 75", "SGLT2 inhibitors and kidney outcomes",
              "GLP-1 agonists and weight", "Aspirin in primary prevention"]
    texts = [f"New article: {t}. Read more https://j.example/{i}" for i, t in enumerate(titles)]
    decision = classify_author(profile(bio="The journal of the endocrine society", texts=texts), SETTINGS)
    assert decision.author_type == "media_org"


def test_a_maryland_patient_is_not_a_physician() -> None:
    decision = classify_author(profile(display_name="Jane, Baltimore MD",
                                       bio="Living with T2D since 2015. Mom of two."), SETTINGS)
    assert decision.author_type == "patient_caregiver"
    assert "credential" not in decision.type_evidence


def test_my_oncologist_in_a_bio_is_a_patient_speaking() -> None:
    decision = classify_author(profile(bio="Breast cancer survivor. Grateful to my oncologist."), SETTINGS)
    assert decision.author_type == "patient_caregiver"


def test_redaction_tokens_are_not_evidence() -> None:
    decision = classify_author(profile(bio="[NAME] [EMAIL] [PHONE]"), SETTINGS)
    assert decision.author_type == "unknown" and decision.type_confidence == 1.0


def test_the_title_alone_is_below_the_threshold_and_a_pharmacist_doctor_is_a_pharmacist() -> None:
    assert classify_author(profile(display_name="Dr. Alex Kim"), SETTINGS).author_type == "unknown"
    decision = classify_author(profile(display_name="Dr. Alex Kim, PharmD"), SETTINGS)
    assert decision.author_type == "other_clinician" and decision.specialty == "pharmacy"


def test_min_type_confidence_comes_from_the_settings() -> None:
    p = profile(platforms=("doximity",))  # physician 0.8
    assert classify_author(p, SETTINGS).author_type == "physician"
    assert classify_author(p, dataclasses.replace(SETTINGS, min_type_confidence=0.85)).author_type == "unknown"


def test_only_texts_per_author_posts_are_read() -> None:
    texts = ["nice weather"] * 5 + ["my doctor says so; I was prescribed it"] * 5
    settings = dataclasses.replace(SETTINGS, texts_per_author=5)
    assert classify_author(profile(texts=texts), settings).author_type == "unknown"
    assert classify_author(profile(texts=texts), SETTINGS).author_type == "patient_caregiver"


def test_specialty_prefers_the_platform_field_then_the_bio_then_hashtags() -> None:
    both = classify_author(profile(display_name="Jane Smith, MD", specialty_field="Cardiovascular Disease",
                                   bio="Oncologist"), SETTINGS)
    assert both.specialty == "cardiology" and "platform specialty" in both.specialty_evidence
    bio = classify_author(profile(display_name="Jane Smith, MD", bio="Rheumatologist, lupus clinic"), SETTINGS)
    assert bio.specialty == "rheumatology"
    tags = classify_author(profile(display_name="Jane Smith, MD", texts=["great data #OncTwitter", "#OncTwitter #ASCO",
                                                                          "on call tonight"]), SETTINGS)
    assert tags.specialty == "oncology" and tags.specialty_confidence < bio.specialty_confidence
    unmapped = classify_author(profile(display_name="Jane Smith, MD", specialty_field="Anesthesiology"), SETTINGS)
    assert unmapped.specialty == "other"


@pytest.mark.parametrize("text, expected", [
    ("Internal Medicine - Endocrinology", "endocrinology"),
    ("Cardiovascular Disease", "cardiology"),
    ("Hematology/Oncology", "oncology"),
    ("Family Medicine", "primary care"),
    ("Internal Medicine", "primary care"),
    ("Obstetrics & Gynecology", "obstetrics"),
    ("Pediatric Endocrinology", "endocrinology"),
    ("Nephrology", "nephrology"),
    ("Emergency Medicine", "emergency medicine"),
    ("Hospitalist", "hospital medicine"),
    ("Infectious Disease", "infectious disease"),
    ("Pulmonary & Critical Care", "pulmonology"),
    ("Psychiatry", "psychiatry"),
    ("Dermatology", "dermatology"),
    ("Gastroenterology", "gastroenterology"),
    ("Neurology", "neurology"),
    ("Pediatrics", "pediatrics"),
    ("Anesthesiology", "other"),
    ("", None),
    (None, None),
])
def test_normalize_specialty(text: str | None, expected: str | None) -> None:
    assert normalize_specialty(text) == expected
    assert expected is None or expected in SPECIALTIES


def test_every_decision_uses_the_declared_vocabularies() -> None:
    profiles = [profile(display_name="Jane Smith, MD", bio="Endocrinologist"), profile(bio="T2D warrior"),
                profile(platforms=("figure1",)), profile()]
    for decision in (classify_author(p, SETTINGS) for p in profiles):
        assert decision.author_type in AUTHOR_TYPES and 0.0 <= decision.type_confidence <= 1.0
        assert decision.specialty is None or (decision.author_type in CLINICIAN_TYPES
                                              and decision.specialty in SPECIALTIES)


def test_everyday_patient_wording_without_a_bio() -> None:
    texts = ["Long time lurker, first post. Month 4 on Jakvira and my flares are finally calmer",
             "my insurance denied it again, so frustrating",
             "Is it ok for my son? he has kidney problems"]
    decision = classify_author(profile(platforms=("reddit",), texts=texts, n_posts=3), SETTINGS)
    assert decision.author_type == "patient_caregiver", decision


def test_a_specialty_hashtag_in_the_bio_names_the_field() -> None:
    decision = classify_author(profile(display_name="Priya Park, DO", bio="runner | #RheumTwitter"), SETTINGS)
    assert decision.specialty == "rheumatology" and decision.specialty_evidence == "specialty hashtag in bio"


def test_the_post_cue_gate_changes_no_evidence(tmp_path) -> None:
    """The literal-anchor gate only skips searches that cannot match: demo posts, every cue in odd casing, and
    the characters that fold to an ASCII letter (dotless i, long s, the Kelvin sign, dotted I) give the same
    evidence, hit counts and first matches both ways."""
    import json
    import random

    from labeling.authors.classify import POST_CUES, _post_evidence
    from labeling.demo.generator import generate_demo

    generate_demo(tmp_path, posts=400, seed=5, labeled_fraction=0.0)
    texts = [json.loads(line)["text"] for line in (tmp_path / "posts.jsonl").read_text(encoding="utf-8").splitlines()]
    phrases = ["my patients", "In My Clinic", "I usually prescribe", "ON ROUNDS", "as a nurse", "my night shift",
               "Important Safety Information", "#AD", "Breaking: new study", "I was prescribed", "my mom's",
               "IANAD", "long-time lurker", "peer-to-peer", "as an endocrinologist", "living with T2D"]
    swaps = {"i": ["\u0131", "\u0130", "I"], "s": ["\u017f", "S"], "k": ["\u212a", "K"]}
    rng = random.Random(7)
    for phrase in phrases:
        for _ in range(6):
            odd = "".join(rng.choice(swaps[c]) if c in swaps and rng.random() < 0.5 else c for c in phrase)
            texts.append(f"{rng.choice(texts)} {odd}. Thoughts?")
    assert any(not t.isascii() for t in texts)
    for start in range(0, len(texts), 20):
        chunk = texts[start:start + 20]
        assert _post_evidence(chunk, gated=True) == _post_evidence(chunk, gated=False)
    assert sum(len(_post_evidence(texts[i:i + 20])) for i in range(0, len(texts), 20)) > len(texts) // 20
    assert set(POST_CUES) <= set(AUTHOR_TYPES)


def test_case_fold_exceptions_are_every_character_that_matches_an_ascii_letter_but_lowers_to_something_else() -> None:
    import re

    from labeling.authors.classify import CASE_FOLD_EXCEPTIONS

    letters = [chr(c) for c in range(128) if chr(c).isalpha()]
    found = set()
    for code in range(128, 0x110000):
        char = chr(code)
        if char.lower() == char and char.upper() == char:  # uncased: matches only itself
            continue
        for letter in letters:
            if char.lower() != letter.lower() and re.fullmatch(re.escape(letter), char, re.IGNORECASE):
                found.add(char)
    assert found == set(CASE_FOLD_EXCEPTIONS)
