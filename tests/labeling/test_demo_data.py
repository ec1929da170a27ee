"""The synthetic demo corpus: deterministic, on-contract, labeled with taxonomy names, and carrying the trends,
graph, duplicates and fake personal data that later stages (and their tests) rely on."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

import labeling
from labeling.demo.generator import PLANTED_GAPS, DemoDataError, DemoSummary, generate_demo
from labeling.ingest.schema import coerce_post
from labeling.taxonomy import load_taxonomy, taxonomy_from_dict

N_POSTS = 4000
SEED = 13
FILES = ("posts.jsonl", "annotations.csv", "true_labels.csv", "authors.csv", "products.yaml", "ground_truth.json")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate_demo(out, posts=N_POSTS, seed=SEED)


@pytest.fixture(scope="module")
def posts(corpus: tuple[Path, DemoSummary]) -> list[dict]:
    with open(corpus[0] / "posts.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def annotations(corpus: tuple[Path, DemoSummary]) -> list[dict[str, str]]:
    with open(corpus[0] / "annotations.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def truth(corpus: tuple[Path, DemoSummary]) -> dict[str, dict[str, str]]:
    with open(corpus[0] / "true_labels.csv", encoding="utf-8", newline="") as handle:
        return {row["post_id"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def ground_truth(corpus: tuple[Path, DemoSummary]) -> dict:
    return json.loads((corpus[0] / "ground_truth.json").read_text(encoding="utf-8"))


def test_same_seed_gives_identical_files_and_another_seed_differs(corpus: tuple[Path, DemoSummary], tmp_path: Path) -> None:
    out, summary = corpus
    again = generate_demo(tmp_path / "again", posts=N_POSTS, seed=SEED)
    for name in FILES:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert (again.posts, again.labeled_posts, again.annotations, again.authors) == (
        summary.posts, summary.labeled_posts, summary.annotations, summary.authors)
    other = tmp_path / "other"
    generate_demo(other, posts=N_POSTS, seed=SEED + 1)
    assert (other / "posts.jsonl").read_bytes() != (out / "posts.jsonl").read_bytes()
    assert (other / "annotations.csv").read_bytes() != (out / "annotations.csv").read_bytes()


def test_labeled_fraction_changes_annotations_only(corpus: tuple[Path, DemoSummary], tmp_path: Path) -> None:
    summary = generate_demo(tmp_path, posts=N_POSTS, seed=SEED, labeled_fraction=0.1)
    assert (tmp_path / "posts.jsonl").read_bytes() == (corpus[0] / "posts.jsonl").read_bytes()
    assert summary.labeled_posts < corpus[1].labeled_posts


def test_summary_counts_match_files(corpus: tuple[Path, DemoSummary], posts: list[dict], annotations: list[dict[str, str]]) -> None:
    out, summary = corpus
    assert summary.posts == len(posts) == N_POSTS
    assert summary.annotations == len(annotations)
    assert summary.labeled_posts == len({row["post_id"] for row in annotations})
    assert 0.25 * N_POSTS < summary.labeled_posts < 0.35 * N_POSTS
    with open(out / "authors.csv", encoding="utf-8", newline="") as handle:
        authors = list(csv.DictReader(handle))
    assert summary.authors == len(authors)  # every account: clinicians' main and second accounts, other voices
    assert sum(a["author_id"] == a["person_id"] and a["author_type"] in ("physician", "other_clinician")
               for a in authors) == round(300 * N_POSTS / 20_000)
    assert set(summary.files) >= {"posts", "annotations", "products", "ground_truth", "authors", "true_labels"}
    assert all(Path(path).is_file() for path in summary.files.values())
    assert (out / "products.yaml").read_bytes() == (Path(labeling.__file__).parent / "ingest" / "products.yaml").read_bytes()


def test_every_post_meets_the_contract(corpus: tuple[Path, DemoSummary], posts: list[dict]) -> None:
    types = {
        "post_id": str, "text": str, "platform": str, "author_id": str, "author_specialty": str,
        "author_followers": int, "created_at": str, "hashtags": list, "mentions": list,
        "likes": int, "shares": int, "replies": int,
    }
    seen: set[str] = set()
    with open(corpus[0] / "authors.csv", encoding="utf-8", newline="") as handle:
        authors = {row["author_id"] for row in csv.DictReader(handle)}
    for post in posts:
        for name, kind in types.items():
            assert isinstance(post[name], kind) and not isinstance(post[name], bool), (name, post)
        assert post["in_reply_to"] is None or post["in_reply_to"] in seen  # replies point back in time
        assert post["post_id"] not in seen
        seen.add(post["post_id"])
        assert post["text"].strip()
        assert post["hashtags"] == list(dict.fromkeys(re.findall(r"#(\w+)", post["text"])))  # without '#', as written
        assert post["author_id"] in authors and all(m in authors for m in post["mentions"])
        assert all(f"@{m}" in post["text"] for m in post["mentions"])
        coerce_post(post)  # the ingest contract accepts every row as is
    assert len({p["platform"] for p in posts}) >= 6
    assert len({p["author_specialty"] for p in posts}) >= 8


def test_timestamps_cover_the_twelve_months_in_order(posts: list[dict]) -> None:
    stamps = [p["created_at"] for p in posts]
    assert all(len(s) == 20 and s.endswith("Z") for s in stamps)
    assert stamps == sorted(stamps)
    assert "2025-11-01T00:00:00Z" <= stamps[0] and stamps[-1] <= "2026-10-31T23:59:59Z"
    assert {s[:7] for s in stamps} == {f"2025-{m}" for m in ("11", "12")} | {f"2026-{m:02d}" for m in range(1, 11)}


def test_platform_styles_differ(posts: list[dict]) -> None:
    lengths: dict[str, list[int]] = defaultdict(list)
    tagged: Counter = Counter()
    for post in posts:
        lengths[post["platform"]].append(len(post["text"]))
        tagged[post["platform"]] += bool(post["hashtags"])
    median = {p: sorted(v)[len(v) // 2] for p, v in lengths.items()}
    assert median["x"] < median["sermo"] and median["x"] < median["doximity"]
    assert tagged["x"] / len(lengths["x"]) > 0.4 and tagged["sermo"] / len(lengths["sermo"]) < 0.05


def test_annotations_use_taxonomy_labels_with_overlap_and_disagreement(annotations: list[dict[str, str]]) -> None:
    taxonomy = load_taxonomy()
    kinds = {t.name: t.kind for t in taxonomy.tasks}
    rows_by: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for row in annotations:
        task = taxonomy.task(row["task"])
        if row["label"] == "":
            assert task.kind == "multi", row  # empty label = "labeled, none apply", multi-label tasks only
        else:
            assert row["label"] in task.label_names, row
        rows_by[(row["post_id"], row["annotator"], row["task"])].append(row["label"])
    assert {row["annotator"] for row in annotations} == {"ann_a", "ann_b", "ann_c"}
    assert {row["label"] for row in annotations if row["task"] == "adverse_event"} == {"yes", "no"}
    per_post: dict[str, set[str]] = defaultdict(set)
    for post_id, annotator, _ in rows_by:
        per_post[post_id].add(annotator)
    for post_id, who in per_post.items():  # every annotator labels every task of a post
        for annotator in who:
            for task, kind in kinds.items():
                labels = rows_by[(post_id, annotator, task)]
                assert labels, (post_id, annotator, task)
                assert kind == "multi" or len(labels) == 1
                assert "" not in labels or labels == [""]
    multi = [p for p, who in per_post.items() if len(who) > 1]
    assert 0.15 < len(multi) / len(per_post) < 0.35
    assert any(len(who) == 3 for who in per_post.values())
    disagree = sum(
        len({tuple(sorted(rows_by[(p, a, "sentiment")])) for a in per_post[p]}) > 1 for p in multi
    )
    assert 0.02 < disagree / len(multi) < 0.4


def test_true_labels_are_consistent_with_the_text(posts: list[dict], truth: dict[str, dict[str, str]]) -> None:
    products = yaml.safe_load((Path(labeling.__file__).parent / "ingest" / "products.yaml").read_text(encoding="utf-8"))["products"]
    by_id = {p["post_id"]: p for p in posts}
    assert set(truth) == set(by_id)
    off_topic = sum(not row["products"] for row in truth.values()) / len(truth)
    assert 0.08 < off_topic < 0.25
    ae = [row for row in truth.values() if row["adverse_event"] == "yes"]
    assert 0.03 < len(ae) / len(truth) < 0.15
    for row in truth.values():
        text = by_id[row["post_id"]]["text"].lower()
        for product in filter(None, row["products"].split("|")):
            assert any(term.lower() in text for term in products[product]["terms"]), (product, text)
        if row["adverse_event"] == "yes":
            assert row["products"] and "safety_tolerability" in row["perception"].split("|")
        if not row["products"]:
            assert row["perception"] == row["evidence_need"] == "" and row["sentiment"] == "neutral"


def test_planted_gaps_rise_over_the_last_months(posts: list[dict], truth: dict[str, dict[str, str]], ground_truth: dict) -> None:
    month = {p["post_id"]: p["created_at"][:7] for p in posts}
    first, last = {"2025-11", "2025-12", "2026-01"}, {"2026-08", "2026-09", "2026-10"}
    gaps = ground_truth["planted_gaps"]
    assert 3 <= len(gaps) == len(PLANTED_GAPS) <= 4
    for gap in gaps:
        counts: Counter = Counter()
        for row in truth.values():
            if not row["duplicate_of"] and row["products"].split("|")[0] == gap["product"] and gap["evidence_need"] in row["evidence_need"].split("|"):
                counts[month[row["post_id"]]] += 1
        early = sum(counts[m] for m in first)
        late = sum(counts[m] for m in last)
        assert late > 2 * max(early, 1), (gap["product"], gap["evidence_need"], early, late)
        assert dict(counts) == {m: c for m, c in gap["monthly_posts"].items() if c}
        assert gap["rise"] and gap["evidence_need"] in load_taxonomy().task("evidence_need").label_names


def test_pii_seeds_are_injected_into_posts(posts: list[dict], ground_truth: dict) -> None:
    seeds = ground_truth["pii_seeds"]
    kinds = {r["kind"] for r in ground_truth["pii_records"]}
    assert kinds >= {"name", "surname", "email", "phone", "mrn", "ssn", "address", "dob"}
    texts = {p["post_id"]: p["text"] for p in posts}
    for record in ground_truth["pii_records"]:
        assert record["value"] in texts[record["post_id"]], record
    everything = "\n".join(texts.values())
    assert seeds and all(seed in everything for seed in seeds)
    with_pii = {r["post_id"] for r in ground_truth["pii_records"]}
    assert 0.01 < len(with_pii) / len(posts) < 0.05


def test_reposts_replies_and_opinion_leaders(corpus: tuple[Path, DemoSummary], posts: list[dict], truth: dict[str, dict[str, str]]) -> None:
    reposts = [row for row in truth.values() if row["duplicate_of"]]
    by_id = {p["post_id"]: p for p in posts}
    assert 0.002 * len(posts) < len(reposts) < 0.01 * len(posts)
    for row in reposts:
        copy, source = by_id[row["post_id"]], by_id[row["duplicate_of"]]
        assert (copy["author_id"], copy["text"]) == (source["author_id"], source["text"])
    replies_to: Counter = Counter(p["in_reply_to"] for p in posts if p["in_reply_to"])
    assert 0.15 < sum(replies_to.values()) / len(posts) < 0.45
    assert all(by_id[parent]["replies"] >= n for parent, n in replies_to.items())
    with open(corpus[0] / "authors.csv", encoding="utf-8", newline="") as handle:
        authors = {row["author_id"]: row for row in csv.DictReader(handle)}
    indegree: Counter = Counter()
    for post in posts:
        if post["in_reply_to"]:
            indegree[by_id[post["in_reply_to"]]["author_id"]] += 1
        indegree.update(post["mentions"])
    leaders = {a for a, row in authors.items() if row["is_opinion_leader"] == "true"}
    top = [a for a, _ in indegree.most_common(len(leaders))]
    assert len(set(top) & leaders) >= len(leaders) // 2  # central opinion leaders emerge from the graph
    followers = sorted(int(row["followers"]) for row in authors.values())
    assert followers[-1] > 20 * followers[len(followers) // 2]  # heavy tail


def test_taxonomy_without_a_needed_label_is_refused(tmp_path: Path) -> None:
    data = load_taxonomy().to_dict()
    for task in data["tasks"]:
        if task["name"] == "evidence_need":
            task["labels"] = [l for l in task["labels"] if l["name"] != "safety_signal"]
    with pytest.raises(DemoDataError, match="safety_signal"):
        generate_demo(tmp_path, posts=10, taxonomy=taxonomy_from_dict(data))
    with pytest.raises(DemoDataError, match="posts"):
        generate_demo(tmp_path, posts=0)
