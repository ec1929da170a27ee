"""Linking accounts across platforms on hand-made pairs, persons under reviewers' decisions, and the decisions
file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from common.errors import OccError
from common.settings import AuthorSettings
from labeling.authors.classify import AuthorDecision, AuthorProfile, classify_author
from labeling.authors.linking import (
    LINK_DECISION_COLUMNS,
    MAX_BUCKET,
    Link,
    LinkDecision,
    LinkDecisionError,
    assign_persons,
    candidate_links,
    person_id_for,
    read_link_decisions,
    write_link_decision,
)
from labeling.authors.signals import credentials_in, name_key

SECRET = "test-secret"
THRESHOLD = AuthorSettings().link_threshold
WHEN = "2026-05-01T09:30:00Z"


def account(author_id: str, platform: str, handle: str | None = None, display_name: str | None = None,
            bio: str | None = None, linked: tuple[str, ...] = (), **fields: Any) -> AuthorProfile:
    return AuthorProfile(author_id=author_id, platforms=[platform], handle=handle,
                         name_key=name_key(display_name, SECRET), credentials=credentials_in(display_name, bio),
                         bio=bio, linked=list(linked), **fields)


def links_of(*profiles: AuthorProfile) -> list[Link]:
    decisions = {p.author_id: classify_author(p, AuthorSettings()) for p in profiles}
    return candidate_links(profiles, decisions)


def test_the_same_handle_on_two_platforms_with_agreeing_types_is_linked() -> None:
    (link,) = links_of(account("x:1", "x", "janesmithmd", "Jane Smith, MD", bio="Endocrinologist"),
                       account("li:9", "linkedin", "janesmithmd", "Jane Smith MD", bio="Endocrinology, Mercy Hospital"))
    assert (link.author_a, link.author_b, link.confidence) == ("li:9", "x:1", 0.97)
    assert link.reason.startswith("same handle janesmithmd")


def test_the_same_handle_alone_is_below_the_threshold() -> None:
    (link,) = links_of(account("x:1", "x", "jsmith"), account("r:1", "reddit", "jsmith"))
    assert link.confidence == 0.75 < THRESHOLD and link.reason == "same handle jsmith only"


def test_a_bio_that_links_the_other_profile() -> None:
    (link,) = links_of(account("x:1", "x", "jane_s", bio="Cardiologist. Also www.doximity.com/pub/jane-smith-md",
                               linked=("doximity:jane-smith-md",)),
                       account("dox:7", "doximity", "jane-smith-md"))
    assert link.confidence == 0.99 and link.reason.startswith("bio links doximity:jane-smith-md")


def test_same_name_same_credentials_same_specialty_is_linked() -> None:
    (link,) = links_of(account("x:1", "x", "heartdoc", "Dr. Jane Q. Smith, MD 🩺", bio="Cardiologist"),
                       account("dox:7", "doximity", None, "Jane Q. Smith, MD", specialty_field="Cardiology"))
    assert link.confidence == 0.96 and link.reason == "same name key, credentials and specialty"
    assert "jane" not in link.reason.lower() and "smith" not in link.reason.lower()


def test_same_name_different_specialty_is_not_linked() -> None:
    assert links_of(account("x:1", "x", "heartdoc", "Jane Smith, MD", bio="Cardiologist"),
                    account("dox:7", "doximity", None, "Jane Smith, MD", specialty_field="Medical Oncology")) == []


def test_same_name_only_is_a_weak_candidate() -> None:
    (link,) = links_of(account("x:1", "x", "js1", "Jane Smith"), account("r:2", "reddit", "js2", "jane smith"))
    assert link.confidence == 0.6 and link.reason == "same name key only"


def test_a_physician_and_a_company_with_the_same_handle_are_not_linked() -> None:
    assert links_of(account("x:1", "x", "acmehealth", "Jane Smith, MD", bio="Cardiologist"),
                    account("li:2", "linkedin", "acmehealth", "Acme Health",
                            bio="Official account of Acme Pharmaceuticals Inc.")) == []


def test_accounts_on_the_same_platform_are_never_linked() -> None:
    assert links_of(account("x:1", "x", "janesmithmd", "Jane Smith, MD", bio="Cardiologist",
                            linked=("x:janesmithmd2",)),
                    account("x:2", "x", "janesmithmd2", "Jane Smith, MD", bio="Cardiologist")) == []
    assert links_of(account("x:1", "x", "same"), account("x:2", "twitter", "same")) == []  # twitter is x


def test_a_bio_linking_its_own_profile_is_no_link() -> None:
    assert links_of(account("x:1", "x", "jane", linked=("x:jane",))) == []


def test_common_handles_are_not_compared() -> None:
    crowd = [account(f"a{i}", f"site{i}", "admin") for i in range(MAX_BUCKET + 1)]
    assert candidate_links(crowd, {}) == []


def test_links_without_decisions_use_profile_evidence_only() -> None:
    a = account("x:1", "x", "js", "Jane Smith, MD")
    b = account("li:1", "linkedin", "js", "Jane Smith, MD")
    (link,) = candidate_links([a, b], {})
    assert link.confidence == 0.97 and "credentials" in link.reason
    unknown = AuthorDecision("unknown", 1.0, "no evidence")
    assert candidate_links([a, b], {"x:1": unknown, "li:1": unknown}) == [link]


def _link(a: str, b: str, confidence: float = 0.95) -> Link:
    return Link(min(a, b), max(a, b), confidence, "test")


def _decision(a: str, b: str, decision: str) -> LinkDecision:
    return LinkDecision(a, b, decision, "dr_lee", WHEN)


def test_assign_persons_joins_linked_accounts_and_names_persons_stably() -> None:
    persons = assign_persons(["B", "A", "C", "D"], [_link("A", "B"), _link("C", "D", 0.5)], THRESHOLD, [])
    assert persons["A"] == persons["B"] == person_id_for("A")
    assert persons["C"] == person_id_for("C") != persons["D"] == person_id_for("D")
    assert persons["A"].startswith("p_") and len(persons["A"]) == 14
    assert assign_persons(["D", "C", "B", "A"], [_link("B", "A")], THRESHOLD, []) == \
        assign_persons(["A", "B", "C", "D"], [_link("A", "B")], THRESHOLD, [])


def test_a_split_between_a_and_c_blocks_the_chain_a_b_c() -> None:
    links = [_link("A", "B", 0.97), _link("B", "C", 0.95)]
    assert len(set(assign_persons("ABC", links, THRESHOLD, []).values())) == 1
    persons = assign_persons("ABC", links, THRESHOLD, [_decision("C", "A", "split")])
    assert persons["A"] == persons["B"] != persons["C"]


def test_confirm_forces_a_link_and_split_forbids_one() -> None:
    persons = assign_persons("AB", [_link("A", "B", 0.3)], THRESHOLD, [_decision("A", "B", "confirm")])
    assert persons["A"] == persons["B"]
    persons = assign_persons("AB", [_link("A", "B", 0.99)], THRESHOLD, [_decision("B", "A", "split")])
    assert persons["A"] != persons["B"]
    persons = assign_persons("AB", [], THRESHOLD, [_decision("A", "B", "split"), _decision("A", "B", "confirm")])
    assert persons["A"] == persons["B"]  # the last decision on a pair wins


def test_decisions_and_links_about_other_authors_are_ignored() -> None:
    persons = assign_persons("AC", [_link("A", "B"), _link("B", "C")], THRESHOLD, [_decision("A", "Z", "confirm")])
    assert persons["A"] != persons["C"] and set(persons) == {"A", "C"}


def test_contradicting_decisions_are_a_user_error() -> None:
    decisions = [_decision("A", "B", "confirm"), _decision("B", "C", "confirm"), _decision("A", "C", "split")]
    with pytest.raises(LinkDecisionError, match="A and C"):
        assign_persons("ABC", [], THRESHOLD, decisions)


def test_decisions_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "review" / "link_decisions.csv"
    assert read_link_decisions(path) == []
    first = LinkDecision("x:1", "doximity:7", "confirm", "dr_lee", WHEN)
    second = LinkDecision("@jane", "-x", "split", "=HYPERLINK()", "2026-05-02T10:00:00+00:00")
    write_link_decision(path, first)
    write_link_decision(path, second)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(LINK_DECISION_COLUMNS)
    assert "'@jane" in text and "'=HYPERLINK" in text  # formula-safe for spreadsheets ...
    assert read_link_decisions(path) == [first, second]  # ... and read back as written
    assert not list(tmp_path.glob("review/.tmp-*"))


def test_an_empty_or_header_only_file_has_no_decisions(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("", encoding="utf-8")
    assert read_link_decisions(path) == []
    path.write_text(",".join(LINK_DECISION_COLUMNS) + "\n\n", encoding="utf-8")
    assert read_link_decisions(path) == []


@pytest.mark.parametrize("rows, message", [
    ("x:1,x:2,confirm,lee\n", "line 2: expected 5 fields"),
    ("x:1,x:2,merge,lee," + WHEN + "\n", "line 2: expected decision confirm or split, found 'merge'"),
    ("x:1,x:2,confirm,lee," + WHEN + "\nx:1,,split,lee," + WHEN + "\n", "line 3: expected two author ids"),
    ("x:1,x:1,split,lee," + WHEN + "\n", "line 2: expected two different authors"),
    ("x:1,x:2,split,," + WHEN + "\n", "line 2: expected the reviewer's name"),
    ("x:1,x:2,split,lee,yesterday\n", "line 2: expected decided_at as an ISO 8601 time"),
])
def test_a_bad_row_names_the_line_and_what_was_expected(tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(",".join(LINK_DECISION_COLUMNS) + "\n" + rows, encoding="utf-8")
    with pytest.raises(LinkDecisionError, match=message) as caught:
        read_link_decisions(path)
    assert isinstance(caught.value, OccError) and str(path) in str(caught.value)


def test_a_wrong_header_is_refused_on_read_and_on_write(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,decision\n", encoding="utf-8")
    with pytest.raises(LinkDecisionError, match="line 1: expected the header"):
        read_link_decisions(path)
    with pytest.raises(LinkDecisionError, match="line 1: expected the header"):
        write_link_decision(path, LinkDecision("x:1", "x:2", "split", "lee", WHEN))
    assert path.read_text(encoding="utf-8") == "a,b,decision\n"


def test_an_invalid_decision_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    with pytest.raises(LinkDecisionError, match="expected decision confirm or split"):
        write_link_decision(path, LinkDecision("x:1", "x:2", "maybe", "lee", WHEN))
    assert not path.exists()
