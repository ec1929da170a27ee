"""Who leads the conversation: the reply/mention graph, PageRank and digital opinion leaders (DOLs).

An edge A -> B means A paid attention to B: A replied to one of B's posts (`in_reply_to` names the post, whose
author is B) or A mentioned B. Weights count interactions. PageRank on that directed, weighted graph rewards
authors whom well-attended authors attend to, which follower counts alone (bought, or from another audience)
do not show. The graph library is networkx (its PageRank runs on a scipy sparse matrix).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import networkx as nx
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

LEADER_COLUMNS = ["scope", "rank", "author_id", "specialty", "pagerank", "inbound", "posts", "followers",
                  "engagement", "reach", "is_dol"]
"""leaders.csv: one row per (scope, author); scope is `all`, `product:<name>` or `topic:<label>`."""


def interaction_edges(posts: pd.DataFrame, mentions: pd.DataFrame) -> pd.DataFrame:
    """Directed edges (row, source, target, kind) from replies and mentions; self-interactions dropped.

    `posts` needs row, post_id, author_id, in_reply_to; `mentions` row, mention. A reply to a post that is not
    in the scored data has no known author and gives no edge.
    """
    authors = posts[["row", "author_id"]]
    owner = posts.loc[posts["post_id"].notna() & posts["author_id"].notna(), ["post_id", "author_id"]] \
        .drop_duplicates("post_id").rename(columns={"post_id": "in_reply_to", "author_id": "target"})
    replies = posts.loc[posts["in_reply_to"].notna() & posts["author_id"].notna(), ["row", "author_id", "in_reply_to"]] \
        .merge(owner, on="in_reply_to").rename(columns={"author_id": "source"})
    replies["kind"] = "reply"
    ments = mentions.merge(authors, on="row").rename(columns={"author_id": "source", "mention": "target"})
    ments = ments[ments["source"].notna()]
    ments["kind"] = "mention"
    edges = pd.concat([replies[["row", "source", "target", "kind"]], ments[["row", "source", "target", "kind"]]],
                      ignore_index=True)
    edges = edges[edges["source"] != edges["target"]]
    return edges.reset_index(drop=True)


def build_graph(edges: pd.DataFrame, nodes: Sequence[str] = ()) -> nx.DiGraph:
    """A weighted digraph: weight = number of interactions; `nodes` adds authors with no edges."""
    graph = nx.DiGraph()
    graph.add_nodes_from(n for n in nodes if isinstance(n, str))
    if not edges.empty:
        weights = edges.groupby(["source", "target"]).size().reset_index(name="weight")
        # plain lists: iterating a MultiIndex Series costs more than building the graph
        graph.add_weighted_edges_from(zip(weights["source"].tolist(), weights["target"].tolist(),
                                          weights["weight"].astype("int64").tolist()))
    return graph


def pagerank(graph: nx.DiGraph) -> dict[str, float]:
    """PageRank (damping 0.85, edge weights); empty dict for an empty graph."""
    if graph.number_of_nodes() == 0:
        return {}
    try:
        return nx.pagerank(graph, alpha=0.85, weight="weight", max_iter=200, tol=1e-8)
    except nx.PowerIterationFailedConvergence:  # pragma: no cover - weighted PageRank converges in practice
        logger.warning("PageRank did not converge; using in-degree centrality instead")
        return nx.in_degree_centrality(graph)


def author_stats(posts: pd.DataFrame) -> pd.DataFrame:
    """Per author: posts, latest known specialty and follower count, total engagement on their posts."""
    known = posts[posts["author_id"].notna()]
    if known.empty:
        return pd.DataFrame(columns=["posts", "specialty", "followers", "engagement"]).rename_axis("author_id")
    ordered = known.sort_values("created_at", na_position="first") if "created_at" in known else known
    grouped = ordered.groupby("author_id")
    stats = pd.DataFrame({
        "posts": grouped.size(),
        "specialty": grouped["specialty"].last(),
        "followers": grouped["followers"].max(),
        "engagement": grouped["engagement"].sum(),
    })
    return stats


def rank_authors(graph: nx.DiGraph, stats: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Authors of one scope ranked by PageRank, with inbound interactions, followers and engagement reach.

    reach = followers + engagement on the author's posts in this scope (the same definition as a gap's reach).
    """
    scores = pagerank(graph)
    if not scores:
        return pd.DataFrame(columns=LEADER_COLUMNS)
    inbound = dict(graph.in_degree(weight="weight"))
    frame = pd.DataFrame({"author_id": list(scores), "pagerank": list(scores.values())})
    frame["inbound"] = frame["author_id"].map(inbound).fillna(0).astype("int64")
    frame = frame.merge(stats, left_on="author_id", right_index=True, how="left")
    frame["posts"] = frame["posts"].fillna(0).astype("int64")
    frame["engagement"] = frame["engagement"].fillna(0).astype("int64")
    frame["followers"] = frame["followers"].astype("Float64")
    frame["reach"] = frame["followers"].fillna(0).astype("float64") + frame["engagement"]
    frame = frame.sort_values(["pagerank", "inbound", "engagement", "author_id"],
                              ascending=[False, False, False, True]).reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["scope"] = scope
    frame["is_dol"] = False
    return frame


def choose_dols(ranked: pd.DataFrame, top_k: int, min_inbound: int) -> set[str]:
    """The top-k authors by PageRank among those with at least `min_inbound` replies/mentions received.

    The inbound floor matters on sparse graphs: where few people interact, PageRank is nearly uniform and the
    "top k" would otherwise be arbitrary authors nobody talks to.
    """
    eligible = ranked[ranked["inbound"] >= min_inbound]
    return set(eligible.head(top_k)["author_id"])


@dataclass
class LeaderResult:
    """Everything the report shows about opinion leaders."""

    dols: set[str]
    table: pd.DataFrame          # leaders.csv: top authors per scope
    ties: pd.DataFrame           # interactions among the DOLs: source, target, replies, mentions, weight
    graph_nodes: pd.DataFrame    # the network picture: author_id, x, y, pagerank, specialty, is_dol
    graph_edges: pd.DataFrame    # source, target, weight among the pictured nodes
    edges_total: int
    replies_unresolved: int


def analyze_leaders(posts: pd.DataFrame, mentions: pd.DataFrame, products: pd.DataFrame,
                    evidence: pd.DataFrame | None, scope_products: Sequence[str], scope_topics: Sequence[str],
                    top_k: int, min_inbound: int, per_scope: int, network_nodes: int) -> LeaderResult:
    """PageRank overall, per product and per evidence-need topic; the DOL set; ties; a spring layout.

    A product's (topic's) graph holds the interactions made *in posts about that product (topic)*, so a
    cardiologist who leads on one drug is not listed as a leader on another.
    """
    edges = interaction_edges(posts, mentions)
    replies_total = int(posts["in_reply_to"].notna().sum())
    replies_resolved = int((edges["kind"] == "reply").sum()) if not edges.empty else 0
    stats = author_stats(posts)
    graph = build_graph(edges, stats.index.tolist())
    overall = rank_authors(graph, stats, "all")
    dols = choose_dols(overall, top_k, min_inbound)
    tables = [overall.head(max(per_scope, top_k))]

    scopes: list[tuple[str, pd.Series]] = [(f"product:{p}", products.loc[products["product"] == p, "row"])
                                           for p in scope_products]
    if evidence is not None:
        scopes += [(f"topic:{t}", evidence.loc[evidence["topic"] == t, "row"]) for t in scope_topics]
    post_rows = posts["row"].to_numpy()
    edge_rows = edges["row"].to_numpy(dtype="int64")
    size = int(max(post_rows.max(initial=-1), edge_rows.max(initial=-1))) + 1
    for scope, rows in scopes:
        if rows.empty:
            continue
        member = np.zeros(size, dtype=bool)   # row -> in scope, a vectorized lookup (no Python set of a million ids)
        member[rows.to_numpy(dtype="int64")] = True
        scoped_posts = posts[member[post_rows]]
        scoped_edges = edges[member[edge_rows]]
        scoped_stats = author_stats(scoped_posts)
        ranked = rank_authors(build_graph(scoped_edges, scoped_stats.index.tolist()), scoped_stats, scope)
        tables.append(ranked.head(per_scope))
    table = pd.concat([t for t in tables if not t.empty], ignore_index=True) if any(not t.empty for t in tables) \
        else pd.DataFrame(columns=LEADER_COLUMNS)
    table["is_dol"] = table["author_id"].isin(dols)
    table = table[LEADER_COLUMNS]

    ties = _ties(edges, dols)
    nodes, pic_edges = _layout(graph, overall, dols, network_nodes)
    logger.info("interaction graph: %d authors, %d edges; %d DOLs", graph.number_of_nodes(), graph.number_of_edges(), len(dols))
    return LeaderResult(dols, table, ties, nodes, pic_edges, int(len(edges)), replies_total - replies_resolved)


def _ties(edges: pd.DataFrame, dols: set[str]) -> pd.DataFrame:
    among = edges[edges["source"].isin(dols) & edges["target"].isin(dols)]
    if among.empty:
        return pd.DataFrame(columns=["source", "target", "replies", "mentions", "weight"])
    counts = among.groupby(["source", "target", "kind"]).size().unstack("kind", fill_value=0)
    counts = counts.reindex(columns=["reply", "mention"], fill_value=0).rename(columns={"reply": "replies", "mention": "mentions"})
    counts["weight"] = counts["replies"] + counts["mentions"]
    counts.columns.name = None
    return counts.reset_index().sort_values(["weight", "source", "target"], ascending=[False, True, True]).reset_index(drop=True)


def _layout(graph: nx.DiGraph, overall: pd.DataFrame, dols: set[str], n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A spring layout of the top-n authors by PageRank (fixed seed, so the picture is stable across runs)."""
    top = overall.head(n)
    if top.empty:
        return (pd.DataFrame(columns=["author_id", "x", "y", "pagerank", "specialty", "is_dol"]),
                pd.DataFrame(columns=["source", "target", "weight"]))
    sub = graph.subgraph(top["author_id"].tolist()).copy()
    undirected = nx.Graph()
    undirected.add_nodes_from(sub.nodes)
    for s, t, w in sub.edges(data="weight"):
        prior = undirected.get_edge_data(s, t, {"weight": 0})["weight"]
        undirected.add_edge(s, t, weight=prior + w)
    pos = nx.spring_layout(undirected, seed=7, weight="weight") if undirected.number_of_nodes() > 1 \
        else {node: np.array([0.0, 0.0]) for node in undirected.nodes}
    nodes = top[["author_id", "pagerank", "specialty"]].copy()
    nodes["x"] = nodes["author_id"].map(lambda a: float(pos[a][0]))
    nodes["y"] = nodes["author_id"].map(lambda a: float(pos[a][1]))
    nodes["is_dol"] = nodes["author_id"].isin(dols)
    pic_edges = pd.DataFrame([(s, t, int(w)) for s, t, w in undirected.edges(data="weight")],
                             columns=["source", "target", "weight"])
    return nodes, pic_edges
