"""Rising voices: which opinion leaders are new, rising, steady or fading, per product and topic, over periods.

A leader list of one month says who is central now; medical affairs also asks who is *becoming* central (a
clinician to brief before they are everywhere) and who is fading. Per scope (all posts, each product, each
evidence-need topic) and per period, the interaction graph of that period's posts is ranked by PageRank
(`network.rank_authors`), and the rank period is compared with the `lookback` periods before it:

- centrality is PageRank times the number of voices in that period's graph (1.0 = an average voice), so that
  periods with more or fewer people compare;
- `new`: a leader now (top `top_n`, at least `min_inbound` interactions received) with no post in the scope in
  the earlier periods;
- `rising`: a leader now whose centrality is at least `rise_ratio` times their best earlier centrality, or who
  was active earlier without being a leader;
- `steady`: a leader now and before;
- `fading`: a leader in an earlier period who is not now, with centrality now below their earlier best divided
  by `rise_ratio`.

Voices are persons where accounts are linked (`person_id`), so a clinician posting on two platforms counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from common.memory import release_memory
from common.settings import ReportSettings
from inference.insights.network import (
    author_stats,
    build_graph,
    interaction_edges,
    rank_authors,
)
from inference.insights.rows import membership, row_array, row_size

VOICE_COLUMNS = ["scope", "status", "voice", "specialty", "rank_now", "centrality_now", "reach_now", "posts_now",
                 "best_rank_before", "centrality_before", "reach_before", "posts_before"]
STATUSES = ("new", "rising", "steady", "fading")


@dataclass(frozen=True)
class VoiceSettings:
    """The report settings rising voices read, under the names this module uses (values: `report` in params.yaml)."""

    top_n: int
    min_inbound: int
    lookback: int
    rise_ratio: float

    @classmethod
    def from_report(cls, config: ReportSettings) -> "VoiceSettings":
        """Leaders per scope, their inbound floor and the baseline periods are the report's own."""
        return cls(top_n=config.leaders_per_scope, min_inbound=config.dol_min_inbound,
                   lookback=config.growth_baseline_periods, rise_ratio=config.rise_ratio)


def _period_ranks(posts: pd.DataFrame, edges: pd.DataFrame, period: pd.Period, scope: str) -> pd.DataFrame:
    in_period = posts[posts["period"] == period]
    scoped_edges = edges[edges["row"].isin(in_period["row"].to_numpy())]
    stats = author_stats(in_period)
    ranked = rank_authors(build_graph(scoped_edges, stats.index), stats, scope)
    if ranked.empty:
        return ranked.assign(centrality=pd.Series(dtype="float64"))
    ranked["centrality"] = ranked["pagerank"] * len(ranked)
    return ranked


def scope_voices(posts: pd.DataFrame, mentions: pd.DataFrame, scope: str, now: pd.Period,
                 settings: VoiceSettings) -> pd.DataFrame:
    """The voices of one scope: `posts` (row, author_id, reply_row, period, created_at, specialty, followers,
    engagement) are the scope's posts, with `author_id` already the voice (person) id."""
    edges = interaction_edges(posts, mentions)
    before_periods = [now - k for k in range(settings.lookback, 0, -1)]
    current = _period_ranks(posts, edges, now, scope)
    earlier = [_period_ranks(posts, edges, p, scope) for p in before_periods]
    earlier = [e for e in earlier if not e.empty]

    def leaders(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["inbound"] >= settings.min_inbound].head(settings.top_n)

    now_leaders = leaders(current) if not current.empty else current
    if earlier:
        history = pd.concat(earlier, ignore_index=True)
        before = history.groupby("author_id").agg(centrality_before=("centrality", "max"),
                                                  reach_before=("reach", "max"), posts_before=("posts", "sum"))
        best_rank = pd.concat([leaders(e) for e in earlier], ignore_index=True).groupby("author_id")["rank"].min()
        before["best_rank_before"] = best_rank
    else:
        before = pd.DataFrame(columns=["centrality_before", "reach_before", "posts_before", "best_rank_before"])
    candidates = sorted(set(now_leaders["author_id"]) | set(before.index[before["best_rank_before"].notna()]))
    if not candidates:
        return pd.DataFrame(columns=VOICE_COLUMNS)
    cur = current.set_index("author_id") if not current.empty else pd.DataFrame(
        columns=["rank", "centrality", "reach", "posts", "specialty"])
    rows = []
    now_set = set(now_leaders["author_id"])
    for voice in candidates:
        c = cur.loc[voice] if voice in cur.index else None
        b = before.loc[voice] if voice in before.index else None
        centrality_now = float(c["centrality"]) if c is not None else 0.0
        centrality_before = float(b["centrality_before"]) if b is not None else None
        was_leader = b is not None and pd.notna(b["best_rank_before"])
        if voice in now_set:
            if b is None:
                status = "new"
            elif not was_leader or centrality_now >= settings.rise_ratio * (centrality_before or 0.0):
                status = "rising"
            else:
                status = "steady"
        elif was_leader and centrality_now < (centrality_before or 0.0) / settings.rise_ratio:
            status = "fading"
        else:
            continue
        rows.append({
            "scope": scope, "status": status, "voice": voice,
            "specialty": (c["specialty"] if c is not None else None),
            "rank_now": int(c["rank"]) if c is not None and voice in now_set else None,
            "centrality_now": round(centrality_now, 4),
            "reach_now": float(c["reach"]) if c is not None else 0.0,
            "posts_now": int(c["posts"]) if c is not None else 0,
            "best_rank_before": int(b["best_rank_before"]) if was_leader else None,
            "centrality_before": round(centrality_before, 4) if centrality_before is not None else None,
            "reach_before": float(b["reach_before"]) if b is not None else None,
            "posts_before": int(b["posts_before"]) if b is not None else 0,
        })
    frame = pd.DataFrame(rows, columns=VOICE_COLUMNS)
    order = {s: i for i, s in enumerate(STATUSES)}
    frame["_o"] = frame["status"].map(order)
    frame = frame.sort_values(["_o", "centrality_now", "voice"], ascending=[True, False, True])
    return frame.drop(columns="_o").reset_index(drop=True)


def rising_voices(posts: pd.DataFrame, mentions: pd.DataFrame, products: pd.DataFrame,
                  evidence: pd.DataFrame | None, scope_products: Sequence[str], scope_topics: Sequence[str],
                  now: pd.Period | None, settings: VoiceSettings) -> pd.DataFrame:
    """New, rising, steady and fading voices overall, per product and per topic (one table, `VOICE_COLUMNS`)."""
    if now is None or posts.empty:
        return pd.DataFrame(columns=VOICE_COLUMNS)
    window = {now - k for k in range(settings.lookback + 1)}
    needed = [c for c in ("row", "author_id", "reply_row", "period", "created_at", "specialty", "followers",
                          "engagement") if c in posts]
    posts = posts.loc[posts["period"].isin(window).to_numpy(), needed]
    release_memory()
    scopes: list[tuple[str, np.ndarray | None]] = [("all", None)]
    scopes += [(f"product:{p}", products.loc[products["product"] == p, "row"].to_numpy()) for p in scope_products]
    if evidence is not None:
        scopes += [(f"topic:{t}", evidence.loc[evidence["topic"] == t, "row"].to_numpy()) for t in scope_topics]
    frames = []
    size = row_size(posts["row"], mentions["row"], *(rows for _, rows in scopes if rows is not None))
    for scope, rows in scopes:
        # a row-indexed mask, as `isin` answered: `isin` hashed the scope's rows, millions at 10^7 posts
        member = membership(rows, size) if rows is not None else None
        scoped = posts if member is None else posts[member[row_array(posts["row"])]]
        scoped_mentions = mentions if member is None else mentions[member[row_array(mentions["row"])]]
        frame = scope_voices(scoped, scoped_mentions, scope, now, settings)
        release_memory()  # each scope's graphs are freed: give them back before the next scope's
        if not frame.empty:
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=VOICE_COLUMNS)
