"""The report's views on arrays (`gaps.py`, `rows.py`, `network.py`) equal the pandas code they replaced.

The over-time figures, platform shares, hashtags and example candidates reach only report.html, which the
parity test does not compare; here the merge-based versions (as they were before, kept below as the oracle)
and the array versions run on the same frames and must give equal frames (values, dtypes, row order); so
must the product overview, interaction edges, author stats, the graph built on codes and the example
confidences read as struct fields. Frames:
the hand-made run of test_report.py with every voice, and with the clinician filter (rows no longer equal
positions), and after a suppression list dropped an author.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pytest

from inference.insights import gaps as G
from inference.insights.gaps import PostFrames, dated, period_range, plain, _plain_index
from inference.insights.network import (KINDS, STAT_COLUMNS, analyze_leaders, author_stats, build_graph,
                                        interaction_edges)
from inference.insights.report import _with_post_columns
from inference.insights.rows import positions_of
from inference.insights.speakers import attach_authors, read_authors
from test_report import config, known_rows, write_authors, write_scored


# ---- the oracle: the merge-based views as they were ------------------------------------------------------------

def merge_gap_candidates(frames: PostFrames, gaps: pd.DataFrame) -> pd.DataFrame:
    if gaps.empty or frames.evidence is None:
        return pd.DataFrame(columns=["product", "topic", "period", "row", "post_id", "author_id", "engagement"])
    posts = dated(frames.posts, ["row", "author_id", "engagement", "period"])
    wanted = gaps[["product", "topic", "period"]]
    products = frames.products[frames.products["product"].isin(set(wanted["product"]))]
    evidence = frames.evidence[frames.evidence["topic"].isin(set(wanted["topic"]))]
    triples = plain(products.merge(evidence, on="row").merge(posts, on="row"))
    triples["period"] = triples["period"].astype("str")
    chosen = triples.merge(wanted, on=["product", "topic", "period"])
    ids = frames.post_ids.lookup(chosen["row"].to_numpy()) if len(chosen) else np.array([], dtype=object)
    chosen.insert(chosen.columns.get_loc("author_id"), "post_id", pd.Series(ids, index=chosen.index, dtype="str"))
    return chosen


def merge_platform_share(frames: PostFrames, products: Sequence[str]) -> pd.DataFrame:
    prod = frames.products[frames.products["product"].isin(products)]
    joined = prod.merge(frames.posts[["row", "platform"]], on="row")
    platform = joined["platform"]
    platform = platform.cat.set_categories(sorted({*platform.cat.categories, "(unknown)"}))
    joined["platform"] = platform.fillna("(unknown)")
    counts = plain(joined.groupby(["product", "platform"], observed=True).size().rename("posts").reset_index())
    counts["share"] = counts["posts"] / counts.groupby("product")["posts"].transform("sum")
    return counts.sort_values(["product", "posts"], ascending=[True, False]).reset_index(drop=True)


def merge_top_hashtags(frames: PostFrames, products: Sequence[str], n: int = 10) -> pd.DataFrame:
    prod = frames.products[frames.products["product"].isin(products)]
    joined = prod.merge(frames.hashtags, on="row")
    counts = plain(joined.groupby(["product", "hashtag"], observed=True).size().rename("posts").reset_index())
    counts = counts.sort_values(["product", "posts", "hashtag"], ascending=[True, False, True])
    return counts.groupby("product").head(n).reset_index(drop=True)


def merge_label_shares(frames: PostFrames, products: Sequence[str], labels_long: pd.DataFrame,
                       labels: Sequence[str]) -> pd.DataFrame:
    posts = dated(frames.posts, ["row", "period"])
    prod = frames.products[frames.products["product"].isin(products)].merge(posts, on="row")
    if prod.empty or not labels:
        return pd.DataFrame(columns=["product", "period", "label", "posts", "share"])
    totals = _plain_index(prod.groupby(["product", "period"], observed=True).size().rename("total"))
    hits = prod.merge(labels_long, on="row")
    counts = _plain_index(hits.groupby(["product", "period", "label"], observed=True).size().rename("posts"))
    present = set(prod["product"])
    grid = pd.MultiIndex.from_product([[p for p in products if p in present], period_range(frames), list(labels)],
                                      names=["product", "period", "label"])
    frame = counts.reindex(grid, fill_value=0).reset_index().merge(totals.reset_index(), on=["product", "period"], how="left")
    frame["total"] = frame["total"].fillna(0).astype("int64")
    frame["share"] = np.where(frame["total"] > 0, frame["posts"] / frame["total"].where(frame["total"] > 0), np.nan)
    frame["period"] = frame["period"].astype("str")
    return frame


def merge_sentiment(frames: PostFrames, products: Sequence[str]) -> pd.DataFrame:
    long = frames.posts.loc[frames.posts["sentiment"].notna(), ["row", "sentiment"]].rename(columns={"sentiment": "label"})
    return merge_label_shares(frames, products, long, frames.sentiment_labels)


def merge_interaction_edges(posts: pd.DataFrame, mentions: pd.DataFrame) -> pd.DataFrame:
    authors = posts[["row", "author_id"]]
    known = posts["author_id"].notna()
    owner = posts.loc[known, ["row", "author_id"]].rename(columns={"row": "reply_row", "author_id": "target"})
    owner["reply_row"] = owner["reply_row"].astype("int64")
    replying = known & posts["reply_row"].fillna(-1).ge(0).to_numpy(dtype=bool)
    replies = posts.loc[replying, ["row", "author_id", "reply_row"]].astype({"reply_row": "int64"}) \
        .merge(owner, on="reply_row").rename(columns={"author_id": "source"})
    replies["kind"] = KINDS[0]
    ments = mentions.merge(authors, on="row").rename(columns={"author_id": "source", "mention": "target"})
    ments = ments[ments["source"].notna()]
    ments["kind"] = KINDS[1]
    edges = pd.concat([replies[["row", "source", "target", "kind"]], ments[["row", "source", "target", "kind"]]],
                      ignore_index=True)
    edges["kind"] = pd.Categorical(edges["kind"], categories=list(KINDS))
    edges = edges[(edges["source"] != edges["target"]).to_numpy(dtype=bool)]
    return edges.reset_index(drop=True)


def sorted_author_stats(posts: pd.DataFrame) -> pd.DataFrame:
    wanted = [c for c in STAT_COLUMNS if c in posts]
    known = posts.loc[posts["author_id"].notna().to_numpy(), wanted]
    if known.empty:
        return pd.DataFrame(columns=["posts", "specialty", "followers", "engagement"]).rename_axis("author_id")
    ordered = known.sort_values("created_at", na_position="first") if "created_at" in known else known
    grouped = ordered.groupby("author_id")
    return pd.DataFrame({"posts": grouped.size(), "specialty": grouped["specialty"].last(),
                         "followers": grouped["followers"].max(), "engagement": grouped["engagement"].sum()})


def merge_product_overview(frames: PostFrames, products: Sequence[str], rank_period: pd.Period | None,
                           negative_label: str) -> pd.DataFrame:
    prod = frames.products[frames.products["product"].isin(products)]
    joined = prod.merge(frames.posts[["row", "author_id", "period", "sentiment", "adverse_event"]], on="row")
    rows = []
    for product in products:
        sub = joined[joined["product"] == product]
        known = sub["sentiment"].notna()
        in_period = sub[sub["period"] == rank_period] if rank_period is not None else sub.head(0)
        ae = sub["adverse_event"]
        rows.append({
            "product": product, "posts": int(len(sub)), "authors": int(sub["author_id"].nunique()),
            "posts_rank_period": int(len(in_period)),
            "negative_share": float((sub.loc[known, "sentiment"] == negative_label).mean()) if known.any() else None,
            "adverse_event_posts": int(ae.fillna(False).sum()) if ae.notna().any() else None,
            "adverse_event_posts_rank_period": int(in_period["adverse_event"].fillna(False).sum())
            if in_period["adverse_event"].notna().any() else (0 if ae.notna().any() else None),
        })
    frame = pd.DataFrame(rows, columns=["product", "posts", "authors", "posts_rank_period", "negative_share",
                                        "adverse_event_posts", "adverse_event_posts_rank_period"])
    return frame.sort_values(["posts", "product"], ascending=[False, True]).reset_index(drop=True)


# ---- frames to compare on ---------------------------------------------------------------------------------------

def _frames(scored: Path, voices: str, suppression: Any = None) -> PostFrames:
    frames = G.load_posts(G.open_scored_run(scored), config(), suppression)
    attach_authors(frames, read_authors(scored), voices)
    return frames


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PostFrames]:
    home = tmp_path_factory.mktemp("views")
    plain_run = write_scored(home / "plain", known_rows())
    typed = write_scored(home / "typed", known_rows())
    write_authors(typed, {"a3": "patient_caregiver", "a4": "patient_caregiver", "b1": "industry"}, {"c1": "p_c", "c2": "p_c"})

    class Without:  # a suppression list naming author a2
        names = frozenset({"a2"})

        def __bool__(self) -> bool:
            return True

        def table_mask(self, table: Any) -> Any:
            import pyarrow.compute as pc
            return pc.equal(table.column("author_id"), "a2")

        def scrub_text(self, text: str) -> str:
            return text

    return {"all": _frames(plain_run, "all"), "clinicians": _frames(typed, "clinicians"),
            "suppressed": _frames(plain_run, "all", Without())}


PRODUCT_LISTS = (None, ["Beta", "Alpha", "Gamma"], ["Gamma"], [])  # every product; a chosen few; none known; none


def _products(frames: PostFrames, wanted: list[str] | None) -> list[str]:
    return G.select_products(frames, None)[0] if wanted is None else wanted


@pytest.mark.parametrize("run", ["all", "clinicians", "suppressed"])
@pytest.mark.parametrize("wanted", PRODUCT_LISTS)
def test_over_time_platforms_and_hashtags_equal_the_merges(runs: dict[str, PostFrames], run: str,
                                                           wanted: list[str] | None) -> None:
    frames = runs[run]
    products = _products(frames, wanted)
    pd.testing.assert_frame_equal(G.sentiment_over_time(frames, products), merge_sentiment(frames, products))
    pd.testing.assert_frame_equal(G.perception_over_time(frames, products),
                                  merge_label_shares(frames, products, frames.perception, frames.perception_labels))
    pd.testing.assert_frame_equal(G.platform_share(frames, products), merge_platform_share(frames, products))
    for period in (None, pd.Period("2026-04", "M"), pd.Period("2026-02", "M")):
        for negative in ("negative", "absent"):
            pd.testing.assert_frame_equal(G.product_overview(frames, products, period, config(negative_label=negative)),
                                          merge_product_overview(frames, products, period, negative))
    for n in (1, 10):
        pd.testing.assert_frame_equal(G.top_hashtags(frames, products, n), merge_top_hashtags(frames, products, n))


@pytest.mark.parametrize("run", ["all", "clinicians", "suppressed"])
def test_gap_candidates_and_example_columns_equal_the_merges(runs: dict[str, PostFrames], run: str) -> None:
    frames = runs[run]
    cfg = config()
    products = G.select_products(frames, None)[0]
    period, _ = G.choose_rank_period(frames, cfg)
    leaders = analyze_leaders(frames.posts, frames.mentions, frames.products, frames.evidence, [], [],
                              cfg.dol_top_k, cfg.dol_min_inbound, cfg.leaders_per_scope, cfg.network_nodes)
    table = G.gap_table(frames, cfg, products, leaders.dols, period)
    for gaps in (G.ranked_gaps(table, 20), table[table["posts"] > 0], table.head(0)):
        new, old = G.gap_candidates(frames, gaps), merge_gap_candidates(frames, gaps)
        assert len(new) or gaps.empty or run == "clinicians"
        pd.testing.assert_frame_equal(new, old)
        rows = new.head(5)[["row", "product"]]
        merged = rows.merge(frames.posts[["row", "platform", "specialty"]], on="row", how="left")
        pd.testing.assert_frame_equal(_with_post_columns(rows, frames.posts, ["platform", "specialty"]), merged)


def test_positions_of_rows_not_among_the_posts(runs: dict[str, PostFrames]) -> None:
    posts = runs["clinicians"].posts
    rows = posts["row"].to_numpy()
    missing = np.setdiff1d(np.arange(rows.max() + 3), rows)
    asked = np.concatenate([rows[::-1], missing])
    expected = np.concatenate([np.arange(len(rows))[::-1], np.full(len(missing), -1)])
    assert positions_of(posts, asked).tolist() == expected.tolist()
    shuffled = posts.iloc[::-1].reset_index(drop=True)   # rows that do not ascend: the row-indexed fallback
    assert positions_of(shuffled, asked).tolist() == [len(rows) - 1 - p if p >= 0 else -1 for p in expected]


@pytest.mark.parametrize("run", ["all", "clinicians", "suppressed"])
def test_interaction_edges_equal_the_merges(runs: dict[str, PostFrames], run: str) -> None:
    frames = runs[run]
    posts, mentions = frames.posts, frames.mentions
    assert len(merge_interaction_edges(posts, mentions)) > 0
    pd.testing.assert_frame_equal(interaction_edges(posts, mentions), merge_interaction_edges(posts, mentions))
    april = posts[(posts["period"] == pd.Period("2026-04", "M")).to_numpy()]   # a scope: replies leave it
    scoped = mentions[mentions["row"].isin(april["row"].to_numpy()[::2])]
    pd.testing.assert_frame_equal(interaction_edges(april, scoped), merge_interaction_edges(april, scoped))
    pd.testing.assert_frame_equal(interaction_edges(posts.head(0), mentions.head(0)),
                                  merge_interaction_edges(posts.head(0), mentions.head(0)))


@pytest.mark.parametrize("run", ["all", "clinicians", "suppressed"])
def test_author_stats_equal_the_sorted_copy(runs: dict[str, PostFrames], run: str) -> None:
    posts = runs[run].posts.copy()
    posts["created_at"] = posts["created_at"].iloc[::-1].to_numpy()   # so that the order differs from the rows'
    posts.loc[posts.index[::7], "created_at"] = pd.NaT
    pd.testing.assert_frame_equal(author_stats(posts), sorted_author_stats(posts))
    scope = (posts["row"] % 3 == 0).to_numpy()
    pd.testing.assert_frame_equal(author_stats(posts, np.flatnonzero(scope)),
                                  sorted_author_stats(posts.loc[scope, STAT_COLUMNS]))
    pd.testing.assert_frame_equal(author_stats(posts, np.zeros(0, "int64")), sorted_author_stats(posts.head(0)))
    strings = posts.astype({"author_id": "str", "specialty": "str"})   # hand-made frames: no categoricals
    pd.testing.assert_frame_equal(author_stats(strings, np.flatnonzero(scope)),
                                  sorted_author_stats(strings.loc[scope, STAT_COLUMNS]))


@pytest.mark.parametrize("run", ["all", "clinicians", "suppressed"])
def test_graph_on_codes_is_the_graph_built_name_by_name(runs: dict[str, PostFrames], run: str) -> None:
    frames = runs[run]
    edges = interaction_edges(frames.posts, frames.mentions)
    stats = author_stats(frames.posts)
    for given in (stats.index, stats.index[::-2], stats.index[:0]):
        on_codes = build_graph(edges, given)
        by_name = build_graph(edges.astype({"source": "object", "target": "object"}), given.tolist())
        assert isinstance(on_codes.nodes, pd.Index) and isinstance(by_name.nodes, list)
        assert list(on_codes.nodes) == by_name.nodes
        for name in ("sources", "targets", "weights"):
            np.testing.assert_array_equal(getattr(on_codes, name), getattr(by_name, name))
            assert getattr(on_codes, name).dtype == getattr(by_name, name).dtype
    empty = build_graph(edges.head(0), stats.index)
    assert list(empty.nodes) == stats.index.tolist() and empty.number_of_edges() == 0


def test_confidence_read_as_arrays_equals_the_dicts(tmp_path: Path) -> None:
    rows = known_rows()
    rows[3]["evidence_need_scores"] = None                      # no scores at all
    rows[-3]["evidence_need_scores"] = {"long_term": 0.0, "dosing": 0.25}   # a score of 0 is no confidence
    scored = write_scored(tmp_path / "scored", rows)
    run = G.open_scored_run(scored)
    frames = G.load_posts(run, config())
    table = G.gap_table(frames, config(), G.select_products(frames, None)[0], set(), None)
    candidates = G.gap_candidates(frames, table[table["posts"] > 0])
    ids = pd.concat([candidates["post_id"], pd.Series(["not-a-post", rows[3]["post_id"], rows[-3]["post_id"]])],
                    ignore_index=True)
    topics = pd.concat([candidates["topic"], pd.Series(["long_term", "long_term", "long_term"])], ignore_index=True)
    as_dicts = G.read_post_fields(run, ids, ["evidence_need_scores"])
    confidence = {pid: s if isinstance(s, dict) else {} for pid, s in zip(as_dicts["post_id"], as_dicts["evidence_need_scores"])}
    expected = np.array([float(confidence.get(pid, {}).get(topic) or np.nan) for pid, topic in zip(ids, topics)])
    got = G.read_confidence(run, ids, topics, "evidence_need_scores")
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[-3:]).all() and not np.isnan(got[:-3]).all()
