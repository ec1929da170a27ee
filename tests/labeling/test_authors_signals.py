"""Profile signals computed at ingest: credentials (and their false friends), the name key, handles and the
profiles a bio links to."""

from __future__ import annotations

import pytest

from common.settings import AuthorSettings
from labeling.authors.signals import (
    NAME_KEY_FALLBACK,
    credentials_in,
    handle_of,
    linked_profiles,
    name_key,
    name_key_secret,
    normalized_name_words,
)

SECRET = "test-secret"


@pytest.mark.parametrize("display_name, expected", [
    ("Dr. Jane Q. Smith, MD 🩺", ["Dr", "MD"]),
    ("Jane Smith, MD, FACC", ["FACC", "MD"]),
    ("Jane Smith MD PhD", ["MD", "PhD"]),
    ("Jane Smith, M.D.", ["MD"]),
    ("John Doe, DO", ["DO"]),
    ("John Doe D.O.", ["DO"]),
    ("Priya Rao MBBS FRCP", ["FRCP", "MBBS"]),
    ("Sam Lee, PharmD, BCPS", ["BCPS", "PharmD"]),
    ("Amy Lee RN, BSN", ["BSN", "RN"]),
    ("Chris Park, FNP-BC", ["FNP"]),
    ("Pat Kim, PA-C", ["PA-C"]),
    ("Lee Wong, CRNA", ["CRNA"]),
    ("Ana Ruiz DNP, APRN", ["APRN", "DNP"]),
    ("DR. SMITH", ["Dr"]),
    ("Maria Garcia, MD, MPH", ["MD", "MPH"]),
    ("Sarah Jones, MD (she/her)", ["MD"]),
    ("Sarah Jones, MD - Cardiology", ["MD"]),
    ("Sarah Jones MD | Endocrinologist", ["MD"]),
    # false friends
    ("Dr. Reddy's Laboratories", []),
    ("Dr Pepper", []),
    ("Dr. Scholl's", []),
    ("Dr. Oetker Pharma GmbH", []),
    ("Jane, Baltimore MD", []),
    ("Baltimore MD", []),
    ("Sam, Rockville, MD, USA", []),
    ("Kim, Bethesda MD 20814", []),
    ("Jane, Laurelton MD", []),  # a word and MD in a later segment: a place
    ("Bob, Pittsburgh, PA", []),
    ("Anh Do", []),
    ("I DO CARE", []),
    ("I DO", []),
    ("We DO, Inc", []),
    ("LEARN WITH RNA", []),
    ("NP-hard problems", []),
    ("future RN Jess", []),
    ("Jess, MD candidate", []),
    ("Drake", []),
    (None, []),
    ("", []),
])
def test_credentials_in_display_names(display_name: str | None, expected: list[str]) -> None:
    assert credentials_in(display_name, None) == expected


@pytest.mark.parametrize("bio, expected", [
    ("MD, FACC | Interventional cardiology", ["FACC", "MD"]),
    ("MD PhD. Diabetes researcher.", ["MD", "PhD"]),
    ("MD/MPH, health policy", ["MD", "MPH"]),
    ("MD-PhD, endocrinology", ["MD", "PhD"]),
    ("I'm an MD at Hopkins", ["MD"]),
    ("Proud DO. Family med.", ["DO"]),
    ("MD | Cardiology", ["MD"]),
    ("Jane Smith, MD. Endocrinologist.", ["MD"]),
    ("D.O. in family medicine", ["DO"]),
    ("Nurse (R.N.) in Ohio", ["RN"]),
    ("Physician (MD) in Columbia, MD", ["MD"]),
    ("Family doc. DO. Ohio", ["DO"]),
    ("RN, BSN. Night shift.", ["BSN", "RN"]),
    ("PA-C in orthopedics", ["PA-C"]),
    ("Dr. Jane Smith, endocrinologist", ["Dr"]),
    # false friends
    ("Cardiology fan in Baltimore, MD.", []),
    ("Baltimore, MD", []),
    ("Bethesda MD 20814", []),
    ("Rockville, MD, USA", []),
    ("Based in Smalltown, MD", []),
    ("Oncologist at MD Anderson", []),
    ("I do what I love", []),
    ("what we DO matters", []),
    ("WE DO IT ALL", []),
    ("Just do it. DO it now", []),
    ("The MD Anderson team", []),
    ("MD from Johns Hopkins", []),
    ("Pittsburgh, PA | dad", []),
    ("NP-hard problems enthusiast", []),
    ("LEARN more about RNA", []),
    ("future RN", []),
    ("PhD student", []),
    ("wife of an MD", []),
    ("married to a DO", []),
    ("my MD says rest", []),
    ("non-MD health coach", []),
    ("SAVE FACE NOW", []),
    ("#MD #RN hashtags only", []),
    ("Thankful to Dr. Lee and my care team", []),
    ("Made by Dr. Reddy's Laboratories", []),
])
def test_credentials_in_bios(bio: str, expected: list[str]) -> None:
    assert credentials_in(None, bio) == expected


def test_credentials_from_both_fields_are_merged_sorted_and_unique() -> None:
    assert credentials_in("Jane Smith, MD", "MD, FACC. Cardiologist.") == ["FACC", "MD"]


def test_name_key_ignores_titles_credentials_emoji_punctuation_and_case() -> None:
    key = name_key("Dr. Jane Q. Smith, MD 🩺", SECRET)
    assert key is not None and len(key) == 16 and int(key, 16) >= 0
    for same in ("jane q smith", "JANE Q. SMITH", "Jane Q Smith MD PhD", "Dr.Jane Q. Smith", "Jane Q. Smith, FACC",
                 "Prof. Jane Q. Smith 🩺✨", "Smith, Jane Q.", "Jane Q. Smith (she/her)",
                 "Jane Q. Smith - Cardiologist | Boston"):
        assert name_key(same, SECRET) == key, same


def test_name_key_folds_accents_but_not_middle_initials_or_other_names() -> None:
    assert name_key("José Núñez", SECRET) == name_key("jose nunez", SECRET)
    assert name_key("Jane Smith", SECRET) != name_key("Jane Q. Smith", SECRET)
    assert name_key("Jane Smith", SECRET) != name_key("John Smith", SECRET)


def test_name_key_is_keyed_and_none_when_no_name_is_left() -> None:
    assert name_key("Jane Smith", SECRET) != name_key("Jane Smith", "another-secret")
    for empty in (None, "", "🩺", "Dr. MD", " , "):
        assert name_key(empty, SECRET) is None


def test_a_surname_that_spells_a_credential_is_kept() -> None:
    assert normalized_name_words("Anh Do") == ["anh", "do"]
    assert normalized_name_words("Anh Do, DO") == ["anh", "do"]
    assert name_key("Anh Do", SECRET) != name_key("Anh", SECRET)
    assert normalized_name_words("Jane Smith MD") == ["jane", "smith"]


def test_name_key_secret_comes_from_the_named_variable_else_the_fallback() -> None:
    settings = AuthorSettings()
    assert name_key_secret(settings, {settings.name_key_env: "s3cret"}) == "s3cret"
    assert name_key_secret(settings, {}) == NAME_KEY_FALLBACK


@pytest.mark.parametrize("handle, url, author_id, platform, expected", [
    ("@JaneSmith", None, "123", "x", "janesmith"),
    (" jane_smith ", None, None, "x", "jane_smith"),
    (None, "https://x.com/JaneSmith", "123", "x", "janesmith"),
    (None, "https://twitter.com/JaneSmith/", None, "twitter", "janesmith"),
    (None, "twitter.com/JaneSmith?lang=en", None, None, "janesmith"),
    (None, "https://mobile.twitter.com/JaneSmith", None, "x", "janesmith"),
    (None, "https://www.linkedin.com/in/jane-smith-md-12345/", None, "linkedin", "jane-smith-md-12345"),
    (None, "https://uk.linkedin.com/in/jane-smith", None, "linkedin", "jane-smith"),
    (None, "https://www.reddit.com/u/T2D_Jane", None, "reddit", "t2d_jane"),
    (None, "https://old.reddit.com/user/T2D_Jane/", None, "reddit", "t2d_jane"),
    (None, "https://www.doximity.com/pub/jane-smith-md", None, "doximity", "jane-smith-md"),
    (None, None, "@JaneSmith", "x", "janesmith"),
    (None, None, "u/T2D_Jane", "reddit", "t2d_jane"),
    # nothing to go on
    (None, None, "1234567890", "x", None),
    (None, None, "jane", "x", None),
    (None, "https://x.com/home", None, "x", None),
    (None, "https://x.com/i/status/1", None, "x", None),
    (None, "https://www.linkedin.com/company/acme", None, "linkedin", None),
    (None, "https://example.com/jane", None, "x", None),
    (None, "https://x.com/JaneSmith", None, "sermo", None),  # another platform's URL: a linked profile
    ("@[NAME]", None, None, "x", None),
    ("", "", "", "x", None),
])
def test_handle_of(handle: str | None, url: str | None, author_id: str | None, platform: str | None,
                   expected: str | None) -> None:
    assert handle_of(handle, url, author_id, platform) == expected


@pytest.mark.parametrize("bio, url, expected", [
    ("Cardiologist. Find me @JaneSmithMD on X.", None, ["x:janesmithmd"]),
    ("X: @JaneSmithMD | LinkedIn: linkedin.com/in/jane-smith-md", None, ["linkedin:jane-smith-md", "x:janesmithmd"]),
    ("Twitter @Jane_S", None, ["x:jane_s"]),
    ("more at https://twitter.com/Jane_S.", None, ["x:jane_s"]),
    ("Also on reddit: u/T2D_Jane and www.doximity.com/pub/jane-smith-md", None,
     ["doximity:jane-smith-md", "reddit:t2d_jane"]),
    ("Endocrinologist", "https://www.doximity.com/pub/jane-smith-md", ["doximity:jane-smith-md"]),
    ("x.com/jane x.com/jane twitter.com/JANE", None, ["x:jane"]),
    # nothing: redaction tokens, emails, other sites
    ("X: @[NAME] | x.com/[NAME]", None, []),
    ("mail jane@x.com or [EMAIL]", None, []),
    ("fax.com/jane and example.com/in/jane", None, []),
    ("@jane_s on Instagram", None, []),
    (None, None, []),
])
def test_linked_profiles(bio: str | None, url: str | None, expected: list[str]) -> None:
    assert linked_profiles(bio, url) == expected
