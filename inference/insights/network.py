"""Who leads the conversation: the reply/mention graph, PageRank and digital opinion leaders (DOLs).

An edge A -> B means A paid attention to B: A replied to one of B's posts (`in_reply_to` names the post, whose
author is B) or A mentioned B. Weights count interactions. PageRank on that directed, weighted graph rewards
authors whom well-attended authors attend to, which follower counts alone (bought, or from another audience)
do not show.

The graph is held as arrays (node names, edge sources, targets and weights) and PageRank runs on a scipy sparse
matrix, step for step what networkx's `pagerank` does (same node order, same matrix, same iteration), so the
numbers are the ones networkx gave: a networkx DiGraph costs about 350 bytes an edge, which at 10^7 posts (two
million author-to-author edges) alone would take most of the report's memory budget. networkx still draws the
small picture of the top authors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sparse

from common.memory import release_memory
from inference.insights.rows import positions_of, take_column

logger = logging.getLogger(__name__)

LEADER_COLUMNS = ["scope", "rank", "author_id", "specialty", "pagerank", "inbound", "posts", "followers",
                  "engagement", "reach", "is_dol"]
"""leaders.csv: one row per (scope, author); scope is `all`, `product:<name>` or `topic:<label>`."""


def interaction_edges(posts: pd.DataFrame, mentions: pd.DataFrame) -> pd.DataFrame:
    """Directed edges (row, source, target, kind) from replies and mentions; self-interactions dropped.

    `posts` needs row, author_id, reply_row (the row of the post replied to, -1 when that post is not in the
    data, NA for no reply: `gaps.load_posts` resolves it); `mentions` row, mention. A reply to a post that is not
    among `posts` has no known author and gives no edge.

    The author of a replied-to or mentioning post is found by its position (`rows.positions_of`), not by
    merging onto the posts: at 10^7 posts those two merges built hash tables of every post and were the
    leaders' memory peak. Edges come in the order the merges gave: replies, then mentions, each in its frame's
    order.
    """
    rows = posts["row"].to_numpy()
    author = posts["author_id"]
    known = author.notna().to_numpy()
    reply_rows = posts["reply_row"].to_numpy(dtype="int64", na_value=-1)
    replying = np.flatnonzero(known & (reply_rows >= 0))
    owner = positions_of(posts, reply_rows[replying])
    del reply_rows
    owned = owner >= 0
    owned[owned] = known[owner[owned]]
    replying, owner = replying[owned], owner[owned]
    replies = pd.DataFrame({"row": rows[replying], "source": author.array.take(replying),
                            "target": author.array.take(owner),
                            "kind": pd.Categorical.from_codes(np.zeros(len(replying), "int8"), categories=list(KINDS))})
    del replying, owner, owned
    mention_rows = mentions["row"].to_numpy()
    by = positions_of(posts, mention_rows)
    found = np.flatnonzero(by >= 0)
    found = found[known[by[found]]]
    ments = pd.DataFrame({"row": mention_rows[found], "source": author.array.take(by[found]),
                          "target": mentions["mention"].array.take(found),
                          "kind": pd.Categorical.from_codes(np.ones(len(found), "int8"), categories=list(KINDS))})
    del by, found
    edges = pd.concat([replies, ments], ignore_index=True)
    edges["kind"] = pd.Categorical(edges["kind"], categories=list(KINDS))
    edges = edges[(edges["source"] != edges["target"]).to_numpy(dtype=bool)]
    return edges.reset_index(drop=True)


KINDS = ("reply", "mention")


@dataclass
class Graph:
    """A weighted digraph as arrays: `nodes` in the order networkx would hold them (the given authors, then
    each new name as an edge brings it), edges (source index, target index, weight = interactions)."""

    nodes: Sequence[str]   # a list, or a string Index (`build_graph` on codes)
    sources: np.ndarray
    targets: np.ndarray
    weights: np.ndarray

    def number_of_nodes(self) -> int:
        return len(self.nodes)

    def number_of_edges(self) -> int:
        return len(self.sources)

    def in_degree(self) -> np.ndarray:
        """Weighted in-degree per node (interactions received)."""
        return np.bincount(self.targets, weights=self.weights, minlength=len(self.nodes)).astype("int64")


def build_graph(edges: pd.DataFrame, nodes: Sequence[str] | pd.Index = ()) -> Graph:
    """A weighted digraph: weight = number of interactions; `nodes` adds authors with no edges.

    Where the names are categoricals of one category list (the report's frames: `author_id` and `mention`
    share theirs, and `author_stats` is indexed by it), the graph is built on their codes (`_graph_on_codes`);
    otherwise name by name."""
    if _shared_categories(edges, nodes) is not None:
        return _graph_on_codes(edges, nodes)  # type: ignore[arg-type]
    index: dict[str, int] = {}
    for node in nodes:
        if isinstance(node, str) and node not in index:
            index[node] = len(index)
    if edges.empty:
        empty = np.zeros(0, dtype="int64")
        return Graph(list(index), empty, empty, np.zeros(0, dtype="float64"))
    weights = edges.groupby(["source", "target"], observed=True).size().reset_index(name="weight")
    sources, targets = [], []
    for s, t in zip(weights["source"].tolist(), weights["target"].tolist()):
        sources.append(index.setdefault(s, len(index)))
        targets.append(index.setdefault(t, len(index)))
    return Graph(list(index), np.array(sources, dtype="int64"), np.array(targets, dtype="int64"),
                 weights["weight"].to_numpy(dtype="float64"))


def _shared_categories(edges: pd.DataFrame, nodes: Sequence[str] | pd.Index) -> pd.Index | None:
    """The one category list of the edges' source and target and of `nodes` (a CategoricalIndex, or empty),
    None where they are not all categoricals of the same categories."""
    columns = [edges[name] for name in ("source", "target") if name in edges]
    if len(columns) != 2 or not all(isinstance(c.dtype, pd.CategoricalDtype) for c in columns):
        return None
    categories = columns[0].cat.categories
    if not columns[1].cat.categories.equals(categories):
        return None
    if isinstance(nodes, pd.CategoricalIndex):
        return categories if nodes.categories.equals(categories) else None
    return categories if len(nodes) == 0 else None


def _graph_on_codes(edges: pd.DataFrame, nodes: pd.CategoricalIndex | Sequence[str]) -> Graph:
    """`build_graph` on category codes, node for node and edge for edge the graph the name-by-name loop built:
    the given nodes first (first occurrences, in order), then each new name in the order the grouped edges
    bring it (source, then target). At 10^7 posts (a million authors, two million edges) the loop's Python
    strings, ints and dict cost about half a GB."""
    categories = edges["source"].cat.categories
    node_of = np.full(len(categories), -1, dtype="int64")
    given = np.asarray(nodes.codes if isinstance(nodes, pd.CategoricalIndex) else [], dtype="int64")
    given = given[given >= 0]
    _, first = np.unique(given, return_index=True)
    given = given[np.sort(first)]
    node_of[given] = np.arange(len(given))
    order = [given]
    sources = targets = np.zeros(0, dtype="int64")
    weight = np.zeros(0, dtype="float64")
    if not edges.empty:
        weights = edges.groupby(["source", "target"], observed=True).size().reset_index(name="weight")
        s_codes = weights["source"].cat.codes.to_numpy().astype("int64")
        t_codes = weights["target"].cat.codes.to_numpy().astype("int64")
        seen = np.empty(2 * len(s_codes), dtype="int64")   # the loop's order: s0, t0, s1, t1, ...
        seen[0::2], seen[1::2] = s_codes, t_codes
        codes, first = np.unique(seen, return_index=True)
        new = node_of[codes] < 0
        fresh = codes[new][np.argsort(first[new], kind="stable")]
        node_of[fresh] = len(given) + np.arange(len(fresh))
        order.append(fresh)
        sources, targets = node_of[s_codes], node_of[t_codes]
        weight = weights["weight"].to_numpy(dtype="float64")
    names = pd.Index(categories.take(np.concatenate(order)), dtype="str")
    return Graph(names, sources, targets, weight)


def pagerank(graph: Graph, alpha: float = 0.85, max_iter: int = 200, tol: float = 1e-8) -> np.ndarray:
    """PageRank per node (damping 0.85, edge weights), networkx's scipy power iteration step for step: the
    row-normalized weight matrix, dangling nodes spread uniformly, stop when the L1 change < N * tol."""
    n = graph.number_of_nodes()
    if n == 0:
        return np.zeros(0, dtype="float64")
    # edges in networkx's order (by source node, then as added), as networkx builds its COO matrix
    order = np.argsort(graph.sources, kind="stable")
    matrix = sparse.coo_array((graph.weights[order], (graph.sources[order], graph.targets[order])),
                              shape=(n, n), dtype=float).asformat("csr")
    s = matrix.sum(axis=1)
    s[s != 0] = 1.0 / s[s != 0]
    q = sparse.dia_array((s.T, 0), shape=matrix.shape).tocsr()
    matrix = q @ matrix
    x = np.repeat(1.0 / n, n)
    p = np.repeat(1.0 / n, n)
    dangling = np.where(s == 0)[0]
    for _ in range(max_iter):
        last = x
        x = alpha * (x @ matrix + sum(x[dangling]) * p) + (1 - alpha) * p
        if np.absolute(x - last).sum() < n * tol:
            return x
    logger.warning("PageRank did not converge; using in-degree centrality instead")  # pragma: no cover
    return graph.in_degree() / max(n - 1, 1)  # pragma: no cover


STAT_COLUMNS = ["author_id", "created_at", "specialty", "followers", "engagement"]


def author_stats(posts: pd.DataFrame, positions: np.ndarray | None = None) -> pd.DataFrame:
    """Per author: posts, latest known specialty and follower count, total engagement on their posts.

    `positions`: only the posts at these positions of `posts` (a scope), default every post. Posts, followers
    and engagement do not depend on the order of the posts and are grouped on the posts' own columns; the
    latest specialty does, and is read from the posts in the order `sort_values("created_at")` gave
    (`_by_time`). Copying the posts, then a sorted copy of them, cost about 70 bytes a post: the leaders'
    largest peak at 10^7 posts."""
    has_author = posts["author_id"].notna().to_numpy()
    known = np.flatnonzero(has_author) if positions is None else positions[has_author[positions]]
    del has_author
    if not len(known):
        return pd.DataFrame(columns=["posts", "specialty", "followers", "engagement"]).rename_axis("author_id")
    if not all(isinstance(posts[c].dtype, pd.CategoricalDtype) for c in ("author_id", "specialty")):
        return _stats_of_sorted(posts.iloc[known])   # hand-made frames of strings: sort a copy
    columns = ["author_id", "followers", "engagement"]
    scope = posts[columns] if positions is None else pd.DataFrame({c: take_column(posts[c], known) for c in columns})
    grouped = scope.groupby("author_id")   # a post without author is in no group, as when it was filtered out
    counts = grouped.size()
    stats = pd.DataFrame({
        "posts": counts,
        "specialty": _latest_specialty(posts, known, counts.index),
        "followers": grouped["followers"].max(),
        "engagement": grouped["engagement"].sum(),
    })
    return stats


def _stats_of_sorted(known: pd.DataFrame) -> pd.DataFrame:
    """`author_stats` of posts that all have an author, on a copy sorted by `created_at` (any dtypes)."""
    wanted = [c for c in STAT_COLUMNS if c in known]
    ordered = known[wanted].sort_values("created_at", na_position="first") if "created_at" in wanted else known[wanted]
    grouped = ordered.groupby("author_id")
    return pd.DataFrame({
        "posts": grouped.size(),
        "specialty": grouped["specialty"].last(),
        "followers": grouped["followers"].max(),
        "engagement": grouped["engagement"].sum(),
    })


def _latest_specialty(posts: pd.DataFrame, known: np.ndarray, authors: pd.CategoricalIndex) -> pd.Series:
    """Per author of `authors`, the last known specialty of their posts at `known` in time order (what
    `groupby(...)["specialty"].last()` gave on the posts sorted by `created_at`), on codes."""
    if "created_at" in posts:
        known = known[_by_time(take_column(posts["created_at"], known))]
    author = posts["author_id"].cat.codes.to_numpy()[known]
    specialty = posts["specialty"].cat.codes.to_numpy()[known]
    del known
    stated = specialty >= 0
    author, specialty = author[stated][::-1], specialty[stated][::-1]   # the last in time comes first
    firsts, at = np.unique(author, return_index=True)
    latest = np.full(len(posts["author_id"].cat.categories), -1, dtype="int64")
    latest[firsts] = specialty[at]
    codes = latest[np.asarray(authors.codes, dtype="int64")]
    return pd.Series(pd.Categorical.from_codes(codes, dtype=posts["specialty"].dtype), index=authors, name="specialty")


def _by_time(created: pd.api.extensions.ExtensionArray | np.ndarray) -> np.ndarray:
    """The permutation `sort_values(na_position="first")` gives, as pandas' `nargsort` computes it: NaT first,
    then numpy's default argsort of the other values, on the very values and dtype it sorts (the order of ties
    depends on the algorithm, and numpy sorts datetime64 and int64 with different ones), with fewer
    full-length temporaries than the frame's sort."""
    if isinstance(created, np.ndarray):
        values, missing = created, np.asarray(pd.isna(created))
    else:
        values = created._values_for_argsort()   # what ExtensionArray.argsort hands to nargsort
        missing = np.asarray(created.isna())
    present = np.flatnonzero(~missing)
    order = values[present].argsort(kind="quicksort")
    return np.concatenate([np.flatnonzero(missing), present[order]])


def rank_authors(graph: Graph, stats: pd.DataFrame, scope: str) -> pd.DataFrame:
    """Authors of one scope ranked by PageRank, with inbound interactions, followers and engagement reach.

    reach = followers + engagement on the author's posts in this scope (the same definition as a gap's reach).
    """
    scores = pagerank(graph)
    if not len(scores):
        return pd.DataFrame(columns=LEADER_COLUMNS)
    frame = pd.DataFrame({"author_id": pd.Series(graph.nodes, dtype="str"), "pagerank": scores,
                          "inbound": graph.in_degree()})
    frame = frame.merge(_plain_stats(stats), left_on="author_id", right_index=True, how="left")
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


def _plain_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """`author_stats` with a string index and specialty, to join onto a graph's node names."""
    stats = stats.copy()
    stats.index = pd.Index(stats.index.astype(object), dtype="str", name=stats.index.name)
    if isinstance(stats["specialty"].dtype, pd.CategoricalDtype):
        stats["specialty"] = stats["specialty"].astype(stats["specialty"].cat.categories.dtype)
    return stats


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
    release_memory()  # the lookups' arrays, before the stats sort the posts (each step's peak on what is live)
    replies_total = int(posts["reply_row"].notna().sum())
    replies_resolved = int((edges["kind"] == "reply").sum()) if not edges.empty else 0
    stats = author_stats(posts)
    release_memory()
    graph = build_graph(edges, stats.index)
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
        scoped_edges = edges[member[edge_rows]]
        scoped_stats = author_stats(posts, np.flatnonzero(member[post_rows]))
        ranked = rank_authors(build_graph(scoped_edges, scoped_stats.index), scoped_stats, scope)
        tables.append(ranked.head(per_scope).copy())  # a copy: the head of a frame keeps all of it alive
        release_memory()
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
    among = among.astype({"source": "str", "target": "str", "kind": "str"})
    counts = among.groupby(["source", "target", "kind"]).size().unstack("kind", fill_value=0)
    counts = counts.reindex(columns=["reply", "mention"], fill_value=0).rename(columns={"reply": "replies", "mention": "mentions"})
    counts["weight"] = counts["replies"] + counts["mentions"]
    counts.columns.name = None
    return counts.reset_index().sort_values(["weight", "source", "target"], ascending=[False, True, True]).reset_index(drop=True)


def _layout(graph: Graph, overall: pd.DataFrame, dols: set[str], n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A spring layout of the top-n authors by PageRank (fixed seed, so the picture is stable across runs)."""
    top = overall.head(n)
    if top.empty:
        return (pd.DataFrame(columns=["author_id", "x", "y", "pagerank", "specialty", "is_dol"]),
                pd.DataFrame(columns=["source", "target", "weight"]))
    chosen = top["author_id"].tolist()
    member = np.asarray(pd.Index(graph.nodes, dtype="str").isin(chosen))  # the chosen are among the nodes
    inside = member[graph.sources] & member[graph.targets]
    undirected = nx.Graph()
    undirected.add_nodes_from(chosen)
    for s, t, w in zip(graph.sources[inside], graph.targets[inside], graph.weights[inside].astype("int64")):
        s, t, w = graph.nodes[s], graph.nodes[t], int(w)
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
