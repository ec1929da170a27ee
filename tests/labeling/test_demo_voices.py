"""The demo corpus's voices: who writes on each platform, the profiles posts carry, clinicians' second accounts
and how they can (or cannot) be linked, and the ground truth for all of it (authors.csv, ground_truth.json)."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from labeling.demo import generator
from labeling.demo.generator import AUTHOR_TYPES, LINK_KINDS, DemoSummary, generate_demo

N_POSTS = 3000
SEED = 13
OPEN = {"x", "linkedin", "reddit"}
VERIFIED = {"doximity", "sermo", "figure1", "medscape"}
CLINICIAN = {"physician", "other_clinician"}
PROFILE_FIELDS = ("author_handle", "author_display_name", "author_bio", "author_url")
FILES = ("posts.jsonl", "annotations.csv", "true_labels.csv", "authors.csv", "ground_truth.json")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    out = tmp_path_factory.mktemp("voices")
    return out, generate_demo(out, posts=N_POSTS, seed=SEED)


@pytest.fixture(scope="module")
def posts(corpus: tuple[Path, DemoSummary]) -> list[dict]:
    with open(corpus[0] / "posts.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def authors(corpus: tuple[Path, DemoSummary]) -> dict[str, dict[str, str]]:
    with open(corpus[0] / "authors.csv", encoding="utf-8", newline="") as handle:
        return {row["author_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def truth(corpus: tuple[Path, DemoSummary]) -> dict[str, dict[str, str]]:
    with open(corpus[0] / "true_labels.csv", encoding="utf-8", newline="") as handle:
        return {row["post_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def voices(corpus: tuple[Path, DemoSummary]) -> dict:
    return json.loads((corpus[0] / "ground_truth.json").read_text(encoding="utf-8"))["voices"]


def _annotations(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            rows[row["post_id"]].append((row["task"], row["label"], row["annotator"]))
    return rows


def _profile(posts: list[dict]) -> dict[tuple[str, str], tuple]:
    """(author_id, platform) -> the profile its posts show (one per account and platform)."""
    seen: dict[tuple[str, str], tuple] = {}
    for post in posts:
        shown = tuple(post[f] for f in PROFILE_FIELDS)
        assert seen.setdefault((post["author_id"], post["platform"]), shown) == shown, post["post_id"]
    return seen


def test_authors_csv_has_the_ground_truth_columns_and_every_author(authors: dict[str, dict[str, str]], posts: list[dict]) -> None:
    first = next(iter(authors.values()))
    assert list(first) == ["author_id", "specialty", "followers", "is_opinion_leader", "primary_platform",
                           "author_type", "person_id", "platforms"]
    assert {row["author_type"] for row in authors.values()} == set(AUTHOR_TYPES)
    platforms: dict[str, set[str]] = defaultdict(set)
    for post in posts:
        row = authors[post["author_id"]]  # every post's author is listed, with a type
        assert row["author_type"] in AUTHOR_TYPES
        assert all(m in authors for m in post["mentions"])
        platforms[post["author_id"]].add(post["platform"])
        # only verified platforms supply the field (clinicians' own specialty); nobody else has one
        verified = post["platform"] in ("doximity", "sermo", "figure1", "medscape")
        assert post["author_specialty"] == (row["specialty"] if verified else "")
    for author_id, row in authors.items():
        assert set(filter(None, row["platforms"].split("|"))) == platforms.get(author_id, set()), author_id
        assert (row["specialty"] != "") == (row["author_type"] in CLINICIAN), row
        assert row["person_id"] in authors
    assert len(authors) > len({row["person_id"] for row in authors.values()})  # some people have two accounts


def test_verified_platforms_carry_only_clinicians_and_open_ones_the_mix(posts: list[dict], authors: dict[str, dict[str, str]],
                                                                         voices: dict) -> None:
    by_type: dict[str, Counter] = defaultdict(Counter)
    for post in posts:
        by_type[post["platform"]][authors[post["author_id"]]["author_type"]] += 1
    for platform in VERIFIED:
        assert set(by_type[platform]) <= CLINICIAN, (platform, by_type[platform])
    open_posts = Counter()
    for platform in OPEN:
        open_posts.update(by_type[platform])
    total = sum(open_posts.values())
    share = {t: open_posts[t] / total for t in AUTHOR_TYPES}
    assert 0.55 < share["physician"] + share["other_clinician"] < 0.8, share
    assert 0.08 < share["patient_caregiver"] < 0.22 and 0.03 < share["industry"] < 0.12, share
    assert 0.03 < share["media_org"] < 0.12 and 0.015 < share["unknown"] < 0.08, share
    clinicians = sum(c for counts in by_type.values() for t, c in counts.items() if t in CLINICIAN)
    assert clinicians > 0.7 * len(posts)  # clinicians stay the large majority of the corpus
    assert voices["posts_by_type"] == {t: sum(c[t] for c in by_type.values()) for t in AUTHOR_TYPES}


def test_profiles_look_like_each_platform(posts: list[dict], authors: dict[str, dict[str, str]]) -> None:
    urls = {"x": "https://x.com/", "linkedin": "https://www.linkedin.com/in/", "reddit": "https://www.reddit.com/user/",
            "doximity": "https://www.doximity.com/pub/"}
    for post in posts:
        handle, name, bio, url = (post[f] for f in PROFILE_FIELDS)
        assert all(v is None or isinstance(v, str) for v in (handle, name, bio, url))
        if post["platform"] == "sermo":
            assert (handle, name, bio, url) == (None, None, None, None)  # anonymous
        elif post["platform"] in ("medscape", "figure1"):
            assert url is None and bio is None and name
            assert (handle is None) == (post["platform"] == "medscape")
        else:
            assert handle and re.fullmatch(r"\w+", handle) and name and bio is not None
            assert url.lower() == (urls[post["platform"]] + handle).lower()
    names = [p["author_display_name"] for p in posts if p["author_display_name"]]
    assert any(re.search(r"\bDr\.? ", n) for n in names) and any(", MD" in n for n in names)
    assert any("PharmD" in n for n in names) and any("RN" in n for n in names)
    clinician_bios = {p["author_bio"] for p in posts if p["author_bio"] is not None and authors[p["author_id"]]["author_type"] in CLINICIAN}
    assert "" in clinician_bios and any("views my own" in b for b in clinician_bios)


def test_false_friends_in_profiles(posts: list[dict], authors: dict[str, dict[str, str]]) -> None:
    shown: dict[str, set[str]] = defaultdict(set)
    for post in posts:
        kind = authors[post["author_id"]]["author_type"]
        shown[kind].update(filter(None, (post["author_display_name"], post["author_bio"])))
    assert any(", MD" in text for text in shown["patient_caregiver"])  # "Baltimore, MD" is a place, not a degree
    assert any(text.startswith("Dr.") for text in shown["industry"])  # a company named after its founder
    other = [a for a in authors.values() if a["author_type"] == "other_clinician"]
    assert {a["specialty"] for a in other} >= {"nursing", "pharmacy"}


def test_non_clinicians_write_what_makes_a_filter_matter(posts: list[dict], authors: dict[str, dict[str, str]],
                                                         truth: dict[str, dict[str, str]], corpus: tuple[Path, DemoSummary]) -> None:
    kind = {p["post_id"]: authors[p["author_id"]]["author_type"] for p in posts}
    patients = [truth[p] for p, t in kind.items() if t == "patient_caregiver"]
    assert sum(r["adverse_event"] == "yes" for r in patients) > 0.05 * len(patients)
    assert sum(bool(r["evidence_need"]) for r in patients) > 0.1 * len(patients)
    media_needs = [truth[p] for p, t in kind.items() if t == "media_org" and truth[p]["evidence_need"]]
    assert media_needs
    industry = [p for p in posts if kind[p["post_id"]] == "industry"]
    assert any("Prescribing Information" in p["text"] for p in industry)
    assert all(truth[p]["products"] or truth[p]["sentiment"] == "neutral" for p in kind)
    labeled = set(_annotations(corpus[0] / "annotations.csv"))
    assert any(kind[p] == "patient_caregiver" for p in labeled)  # voices are annotated like everyone else


def test_bots_post_near_duplicates_never_exact_ones(posts: list[dict], authors: dict[str, dict[str, str]]) -> None:
    by_bot: dict[str, list[str]] = defaultdict(list)
    for post in posts:
        if authors[post["author_id"]]["author_type"] == "unknown":
            by_bot[post["author_id"]].append(post["text"])
    assert by_bot
    for texts in by_bot.values():
        assert len(set(texts)) == len(texts)  # ingest would drop a verbatim repeat
    stripped = Counter(re.sub(r"https?://\S+|#\w+|@\w+", "", t).strip(" .") for texts in by_bot.values() for t in texts)
    assert stripped.most_common(1)[0][1] >= 3  # the same message with a new link


def test_cross_platform_persons_link_in_every_way_and_some_not_at_all(voices: dict, posts: list[dict],
                                                                      authors: dict[str, dict[str, str]]) -> None:
    profile = _profile(posts)
    pairs = voices["cross_platform"]
    assert voices["cross_platform_persons"] == len(pairs)
    assert {p["link"] for p in pairs} == set(LINK_KINDS) and voices["link_kinds"] == dict(Counter(p["link"] for p in pairs))
    clinicians = {a["person_id"] for a in authors.values() if a["author_type"] in CLINICIAN}
    assert 0.08 < len(pairs) / len(clinicians) < 0.25
    for pair in pairs:
        first, second = (authors[a] for a in pair["author_ids"])
        assert first["author_id"] != second["author_id"] and first["person_id"] == second["person_id"] == pair["person_id"]
        assert (first["specialty"], first["author_type"]) == (second["specialty"], second["author_type"])
        assert second["platforms"] == pair["second_platform"] and pair["second_platform"] not in first["platforms"].split("|")
        one = {pl: profile[(first["author_id"], pl)] for pl in first["platforms"].split("|") if pl}
        two = profile[(second["author_id"], pair["second_platform"])]
        handles1 = {p[0] for p in one.values() if p[0]}
        names1 = {p[1] for p in one.values() if p[1]}
        bios1 = " ".join(p[2] or "" for p in one.values())
        handle2, name2, bio2, _url = two
        if pair["link"] == "same_handle":
            assert handle2 in handles1
        elif pair["link"] == "same_name":
            assert name2 in names1 and handle2 not in handles1
        elif pair["link"] == "bio_link":  # by handle or profile URL (LinkedIn URLs are lower-case)
            assert any(h.lower() in (bio2 or "").lower() for h in handles1) or (handle2 and handle2.lower() in bios1.lower()), pair
        else:
            assert handle2 not in handles1 and name2 not in names1
            assert not any(h.lower() in (bio2 or "").lower() for h in handles1)
            assert not (handle2 and handle2.lower() in bios1.lower())


def test_different_clinicians_share_a_common_display_name(voices: dict, authors: dict[str, dict[str, str]], posts: list[dict]) -> None:
    collisions = voices["shared_display_names"]
    assert collisions
    shown = {p["author_id"]: p["author_display_name"] for p in posts if p["author_display_name"]}
    for item in collisions:
        a, b = (authors[i] for i in item["author_ids"])
        assert a["person_id"] != b["person_id"] and a["specialty"] != b["specialty"]
        assert shown.get(a["author_id"], item["display_name"]) == shown.get(b["author_id"], item["display_name"]) == item["display_name"]
    # apart from those and one person's same-name accounts, a clinician's display name is theirs alone
    names: dict[str, set[str]] = defaultdict(set)
    for author_id, name in shown.items():
        if authors[author_id]["author_type"] in CLINICIAN:
            names[name].add(authors[author_id]["person_id"])
    planted = {item["display_name"] for item in collisions}
    assert {n for n, people in names.items() if len(people) > 1} <= planted


def test_same_seed_is_byte_identical(corpus: tuple[Path, DemoSummary], tmp_path: Path) -> None:
    again = generate_demo(tmp_path / "again", posts=N_POSTS, seed=SEED)
    for name in FILES:
        assert (corpus[0] / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert again.posts_by_type == corpus[1].posts_by_type


def test_voices_leave_the_clinician_stream_and_its_annotations_alone(corpus: tuple[Path, DemoSummary], posts: list[dict],
                                                                     authors: dict[str, dict[str, str]], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """With no voices at all, the same post ids carry the same clinician posts and annotations: the voices only
    take some posts' places, so frozen test ids and metrics stay comparable."""
    monkeypatch.setattr(generator, "VOICE_SHARE", {p: {v: 0.0 for v in generator.VOICES} for p in generator.OPEN_PLATFORMS})
    quiet = generate_demo(tmp_path / "quiet", posts=N_POSTS, seed=SEED)
    assert quiet.posts_by_type["patient_caregiver"] == quiet.posts_by_type["unknown"] == 0
    with open(tmp_path / "quiet" / "posts.jsonl", encoding="utf-8") as handle:
        before = {p["post_id"]: p for p in map(json.loads, handle)}
    assert [p["post_id"] for p in posts] == list(before)
    kept = [p for p in posts if authors[p["author_id"]]["author_type"] in CLINICIAN]
    assert len(kept) > 0.7 * len(posts)

    def same(post: dict) -> dict:  # new accounts' ids depend on how many voice accounts there are
        return dict(post, text=re.sub(r"@hcp\d+", "@", post["text"]), mentions=len(post["mentions"]))

    own = [p for p in kept if authors[p["author_id"]]["person_id"] == p["author_id"]]
    assert len(own) > 0.9 * len(kept)
    assert all(same(p) == same(before[p["post_id"]]) for p in own)
    assert all(same(p)["text"] == same(before[p["post_id"]])["text"] for p in kept)
    voiced, plain = _annotations(corpus[0] / "annotations.csv"), _annotations(tmp_path / "quiet" / "annotations.csv")
    assert set(voiced) == set(plain)  # the same posts are labeled, so a frozen test split keeps its gold labels
    assert all(voiced[p["post_id"]] == plain[p["post_id"]] for p in kept)
