"""`occ report`: the medical-affairs report from one scored directory.

Writes into REPORT_DIR: `report.html` (one self-contained file that opens offline: plotly.js is inlined once,
no CDN, no server), `gaps.parquet` and `gaps.csv` (the full gap table, every period), `leaders.csv`
(opinion leaders per scope) and `report_summary.json` (the ranking, what could not be computed, provenance).

Every value is escaped at render time (jinja2 autoescape); figure data travel as JSON inside
`<script type="application/json">` with `<`, `>` and `&` written as unicode escapes, so no post text, product
name or hashtag can close a script element or open a tag. CSV text cells are guarded against formula injection.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import html
import io
import json
import logging
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from common.atomic import write_bytes_atomic, write_json_atomic, write_table_atomic
from common.memory import release_memory
from common.settings import ReportSettings, to_dict
from common.spreadsheet import spreadsheet_safe
from inference.insights.gaps import (
    PARTS,
    PostFrames,
    PostSource,
    ReportError,
    ScoredRun,
    Suppression,
    choose_rank_period,
    gap_candidates,
    gap_table,
    gap_trends,
    label_descriptions,
    load_posts,
    open_scored_run,
    perception_over_time,
    pick_examples,
    platform_share,
    product_overview,
    ranked_gaps,
    read_confidence,
    read_post_fields,
    select_products,
    sentiment_over_time,
    top_hashtags,
)
from inference.insights.network import LeaderResult, analyze_leaders
from inference.insights.rows import positions_of
from inference.insights.spark_frames import spark_source
from inference.insights.speakers import attach_authors, read_authors
from inference.insights.voices import VoiceSettings, rising_voices

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
GAPS_PARQUET = "gaps.parquet"
GAPS_CSV = "gaps.csv"
LEADERS_CSV = "leaders.csv"
VOICES_CSV = "rising_voices.csv"
SUMMARY_FILE = "report_summary.json"
EXAMPLE_MAX_CHARS = 1200
"""Example posts are cut here in the HTML (the full redacted text stays in the scored data)."""

PART_TITLES = {"volume": "Volume", "authors": "Authors", "reach": "Reach", "dol_share": "DOL share",
               "growth": "Growth", "negativity": "Negativity"}
PART_HELP = {
    "volume": "log(1 + posts) / log(1 + most posts of any gap this period)",
    "authors": "log(1 + distinct authors) / log(1 + most authors of any gap this period)",
    "reach": "log(1 + reach) / log(1 + largest reach this period); reach = followers of distinct authors + likes, shares, replies",
    "dol_share": "share of the gap's posts written by digital opinion leaders",
    "growth": "log(growth) / log(growth cap), clipped to 0..1; growth = lower confidence bound of the rise in the topic's share of the product's posts",
    "negativity": "share of the gap's posts with negative sentiment",
}
LABEL_COLORS = {"negative": "#c0392b", "neutral": "#95a5a6", "positive": "#27ae60"}
"""Conventional colours where a taxonomy uses these sentiment names; other labels take plotly's palette."""


# ---- orchestration -------------------------------------------------------------------------------------------

def build_report(scored_dir: Path, out_dir: Path, config: ReportSettings, products: Sequence[str] | None = None,
                 safety_task: str | None = "adverse_event",
                 suppression: Suppression | None = None, voices: str | None = None,
                 spark: "SparkSession | None" = None) -> dict[str, Any]:
    """Read a scored directory, aggregate, render and write every report file; returns the summary dict.

    Raises ReportError when the input is not a complete scoring run; anything the run's taxonomy or columns
    cannot support is left out and named in the summary's `notes` instead, so a report always comes out.
    `safety_task` is used only for scoring runs older than the manifest's own record of it. `suppression` (the
    opt-out list) leaves its authors out of everything the report reads, also from a run scored before they
    opted out, and scrubs them from mentions and example texts; the summary counts what it left out.
    With `spark` (a session: `occ report --engine spark`), Spark scans the parts and resolves replies and this
    process builds the same frames from its output (`spark_frames.py` says what runs where).
    """
    started = time.monotonic()
    run = open_scored_run(scored_dir, safety_task)
    with _post_source(spark, run, config, suppression, out_dir) as source:
        frames = load_posts(run, config, suppression, source)
        speakers = attach_authors(frames, read_authors(run.directory), voices or config.voices)
        release_memory()
        notes = list(frames.notes)
        chosen, product_notes = select_products(frames, products)
        notes += product_notes
        rank_period, period_notes = choose_rank_period(frames, config)
        notes += period_notes
        if frames.products.empty and frames.posts.shape[0]:
            notes.append("no post mentions a product: the evidence-gap table is empty")

        overview = product_overview(frames, chosen, rank_period, config)
        release_memory()
        view_products = [p for p in overview["product"] if p in set(chosen)][: config.max_products]
        if len(chosen) > config.max_products:
            notes.append(f"per-product views show the {config.max_products} most-discussed of {len(chosen)} products "
                         "(report.max_products); the gap table covers all of them")

        leaders = analyze_leaders(frames.posts, frames.mentions, frames.products, frames.evidence, view_products,
                                  frames.evidence_labels, config.dol_top_k, config.dol_min_inbound,
                                  config.leaders_per_scope, config.network_nodes)
        if not leaders.dols:
            notes.append(f"no author received at least {config.dol_min_inbound} replies or mentions "
                         "(report.dol_min_inbound): no opinion leaders, DOL share is 0 for every gap")
        if leaders.replies_unresolved:
            notes.append(f"{leaders.replies_unresolved} replies point to posts outside this scored data; "
                         "they add no edge to the interaction graph")

        release_memory()
        rising = rising_voices(frames.posts, frames.mentions, frames.products, frames.evidence, view_products,
                               frames.evidence_labels, rank_period, VoiceSettings.from_report(config))

        release_memory()
        gaps = gap_table(frames, config, chosen, leaders.dols, rank_period)
        release_memory()
        top = ranked_gaps(gaps, config.top_gaps)
        if frames.evidence is not None and not gaps.empty and top.empty:
            notes.append(f"no evidence-need posts in the ranked period {rank_period}: no gap to rank")
        examples = _examples(run, frames, top, config, notes, suppression)
        release_memory()

    context = _context(run, frames, config, chosen, view_products, rank_period, gaps, top, examples, overview,
                       leaders, notes)
    context["speakers"] = speakers.to_dict()
    context["rising"] = _records(rising[rising["scope"] == "all"].head(20))
    context["rising_scoped"] = [{"scope": scope, "rows": _records(sub.head(5))}
                                for scope, sub in rising[rising["scope"] != "all"].groupby("scope", sort=False)]
    html = render_html(context)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_table_atomic(out_dir / GAPS_PARQUET, pa.Table.from_pandas(gaps, preserve_index=False))
    write_bytes_atomic(out_dir / GAPS_CSV, to_safe_csv(gaps).encode("utf-8"))
    write_bytes_atomic(out_dir / LEADERS_CSV, to_safe_csv(leaders.table).encode("utf-8"))
    write_bytes_atomic(out_dir / VOICES_CSV, to_safe_csv(rising).encode("utf-8"))
    write_bytes_atomic(out_dir / REPORT_FILE, html.encode("utf-8"))
    summary = _summary(run, frames, config, chosen, rank_period, gaps, top, examples, leaders, notes,
                       time.monotonic() - started)
    summary["speakers"] = speakers.to_dict()
    summary["rising_voices"] = {str(k): int(v) for k, v in rising["status"].value_counts().sort_index().items()}
    write_json_atomic(out_dir / SUMMARY_FILE, summary)
    logger.info("report for %d posts written to %s in %.1fs (%d notes)", summary["posts"], out_dir,
                summary["seconds"], len(notes))
    return summary


def _examples(run: ScoredRun, frames: PostFrames, top: pd.DataFrame, config: ReportSettings,
              notes: list[str], suppression: Suppression | None = None) -> pd.DataFrame:
    """The example posts of each top gap, with text read for those posts only."""
    columns = ["product", "topic", "period", "post_id", "author_id", "confidence", "engagement", "text",
               "platform", "specialty"]
    if top.empty or config.examples_per_gap == 0:
        return pd.DataFrame(columns=columns)
    candidates = gap_candidates(frames, top)
    release_memory()  # the per-gap arrays: each sub-step's peak then starts from what is live
    scores_col = f"{config.evidence_task}_scores"
    if scores_col in run.columns:
        candidates["confidence"] = read_confidence(run, candidates["post_id"], candidates["topic"], scores_col)
    else:
        candidates["confidence"] = np.nan
        notes.append(f"the scored data has no {scores_col} column: example posts are the most engaged, "
                     "not the most confident")
    release_memory()
    chosen = pick_examples(candidates, config.examples_per_gap)
    texts = read_post_fields(run, chosen["post_id"], ["text"])
    text_by_id = dict(zip(texts["post_id"], texts["text"])) if "text" in texts else {}
    if suppression:  # "@handle" of a suppressed account in another author's post
        text_by_id = {k: suppression.scrub_text(v) if isinstance(v, str) else v for k, v in text_by_id.items()}
    chosen = _with_post_columns(chosen, frames.posts, ["platform", "specialty"])
    chosen["text"] = chosen["post_id"].map(lambda pid: _clip(text_by_id.get(pid)))
    return chosen[columns]


def _with_post_columns(chosen: pd.DataFrame, posts: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`chosen` with the `columns` of its posts (by `row`; NA where a row is not a post), as a left merge on
    the row gave, without the merge's hash table of every post (at 10^7 posts, for a hundred example rows)."""
    at = positions_of(posts, chosen["row"].to_numpy())
    out = chosen.reset_index(drop=True)
    for name in columns:
        out[name] = posts[name].array.take(at, allow_fill=True)
    return out


def _clip(text: Any) -> str:
    if not isinstance(text, str):
        return ""
    return text if len(text) <= EXAMPLE_MAX_CHARS else text[:EXAMPLE_MAX_CHARS].rstrip() + " …"


@contextlib.contextmanager
def _post_source(spark: "SparkSession | None", run: ScoredRun, config: ReportSettings,
                 suppression: Suppression | None, out_dir: Path) -> Iterator[PostSource | None]:
    """Where the posts are read from: None (this process reads the parts) or Spark's compact output."""
    if spark is None:
        yield None
        return
    with spark_source(spark, run, config, suppression, out_dir) as source:
        yield source


# ---- files ---------------------------------------------------------------------------------------------------

def to_safe_csv(frame: pd.DataFrame) -> str:
    """CSV for spreadsheets: every text cell goes through `spreadsheet_safe`; numbers are written as numbers.

    Only text can be a formula; prefixing numbers would turn -0.5 into text and break sorting in a sheet.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerow([spreadsheet_safe(c) for c in frame.columns])
    numeric = {c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) or pd.api.types.is_bool_dtype(frame[c])}
    for row in frame.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(frame.columns, row):
            if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
                cells.append("")
            elif column in numeric:
                cells.append(_number(value))
            else:
                cells.append(spreadsheet_safe(value))
        writer.writerow(cells)
    return buffer.getvalue()


def _number(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(round(float(value), 6))


def _summary(run: ScoredRun, frames: PostFrames, config: ReportSettings, products: Sequence[str],
             rank_period: pd.Period | None, gaps: pd.DataFrame, top: pd.DataFrame, examples: pd.DataFrame,
             leaders: LeaderResult, notes: list[str], seconds: float) -> dict[str, Any]:
    periods = frames.posts["period"].dropna()
    top_rows = []
    for row in top.itertuples(index=False):
        entry = {"rank": int(row.rank), "product": row.product, "topic": row.topic, "period": row.period,
                 "score": round(float(row.score), 4), "posts": int(row.posts), "authors": int(row.authors),
                 "growth": round(float(row.growth), 4), "growth_guarded": bool(row.growth_guarded)}
        entry["parts"] = {p: round(float(getattr(row, f"part_{p}")), 4) for p in PARTS}
        mine = examples[(examples["product"] == row.product) & (examples["topic"] == row.topic)
                        & (examples["period"] == row.period)]
        entry["examples"] = mine["post_id"].tolist()  # post ids, for the review queue to open
        top_rows.append(entry)
    model = run.manifest.get("model") or {}
    counts = run.manifest.get("counts") or {}
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(),
        "period": config.period,
        "rank_period": str(rank_period) if rank_period is not None else None,
        "first_period": str(periods.min()) if not periods.empty else None,
        "last_period": str(periods.max()) if not periods.empty else None,
        "posts": int(len(frames.posts)),
        "posts_with_product": int(frames.products["row"].nunique()),
        "authors": int(frames.posts["author_id"].nunique()),
        "products": list(products),
        "gap_rows": int(len(gaps)),
        "top_gaps": top_rows,
        "dols": sorted(leaders.dols),
        "interaction_edges": leaders.edges_total,
        "notes": notes,
        "weights": config.weights.normalized(),
        "params": {**to_dict(config), "safety_task": run.safety_task},
        "safety": _safety_status(run),
        "model": {k: model.get(k) for k in ("name", "version", "uri", "kind", "taxonomy_version", "run_id")},
        "scoring_counts": {k: counts.get(k) for k in ("rows_read", "rows_scored", "rows_quarantined",
                                                      "duplicates_dropped", "suppressed", "reconciled",
                                                      "adverse_events_flagged")},
        "suppressed_posts": frames.suppressed,
        "files": [REPORT_FILE, GAPS_PARQUET, GAPS_CSV, LEADERS_CSV, VOICES_CSV, SUMMARY_FILE],
        "seconds": round(seconds, 2),
    }


# ---- figures ---------------------------------------------------------------------------------------------------
# Figures are plain plotly.js specs ({"data": [...], "layout": {...}}): plotly.js draws them directly, and building
# dicts is about ten times faster than plotly's validated graph objects (which deep-copy a template per figure).

Figure = dict[str, Any]


def figure_json(fig: Figure) -> str:
    """Figure JSON that is safe inside a <script> element (no `<`, `>`, `&`, line separators; NaN -> null)."""
    text = json.dumps(_jsonable(fig), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not np.isfinite(value) else float(value)
    if value is None or value is pd.NA:
        return None
    return value if isinstance(value, (str, int)) else str(value)


def _plot_text(value: Any) -> str:
    """Text from the data, made literal for plotly.js, which renders <b>, <i>, <a href> and friends in names,
    hover text and tick labels (a product called "<a href=...>" would otherwise become a link)."""
    return html.escape(str(value), quote=False)


def _time_axis(layout: dict[str, Any], freq: str) -> dict[str, Any]:
    layout["xaxis"].update(type="date", tickformat="%b %Y", dtick="M3" if freq.startswith("Q") else "M1")
    return layout


def _period_start(label: str, freq: str) -> str:
    return pd.Period(label, freq=freq).start_time.strftime("%Y-%m-%d")


def _layout(title: str, y_title: str = "", percent: bool = False, **extra: Any) -> dict[str, Any]:
    axis = {"gridcolor": "#e6eaef", "zeroline": False, "automargin": True}
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.02}, "height": 420, "margin": {"l": 60, "r": 20, "t": 60, "b": 40},
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "font": {"size": 12},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.12},
        "xaxis": dict(axis), "yaxis": {**axis, "title": {"text": y_title}},
    }
    if percent:
        layout["yaxis"]["tickformat"] = ".0%"
    layout.update(extra)
    return layout


def gap_trend_figure(trends: pd.DataFrame, top: pd.DataFrame, freq: str, n: int = 10) -> Figure | None:
    """Posts per period of the top-n gaps: a rising gap shows as a rising line, a spike as a spike."""
    if trends.empty:
        return None
    data = []
    for row in top.head(n).itertuples(index=False):
        sub = trends[(trends["product"] == row.product) & (trends["topic"] == row.topic)]
        data.append({"type": "scatter", "mode": "lines+markers",
                     "name": _plot_text(f"#{row.rank} {row.product} · {row.topic}"),
                     "x": [_period_start(p, freq) for p in sub["period"]], "y": sub["posts"].tolist()})
    return {"data": data, "layout": _time_axis(_layout("Posts per period of the top-ranked gaps", "posts"), freq)}


def share_by_product_figure(frame: pd.DataFrame, title: str, freq: str, stacked: bool) -> Figure | None:
    """One trace per label per product; a dropdown shows one product at a time (scales to many products)."""
    if frame.empty:
        return None
    products = list(dict.fromkeys(frame["product"]))
    labels = list(dict.fromkeys(frame["label"]))
    data = []
    for i, product in enumerate(products):
        sub = frame[frame["product"] == product]
        for label in labels:
            rows = sub[sub["label"] == label]
            trace: dict[str, Any] = {"type": "bar" if stacked else "scatter", "name": _plot_text(label),
                                     "visible": i == 0,
                                     "x": [_period_start(p, freq) for p in rows["period"]],
                                     "y": rows["share"].astype("float64").tolist()}
            color = LABEL_COLORS.get(label)
            if stacked:
                trace["marker"] = {"color": color} if color else {}
            else:
                trace.update(mode="lines+markers", line={"color": color} if color else {})
            data.append(trace)
    n = len(labels)
    buttons = [{"label": _plot_text(product), "method": "update",
                "args": [{"visible": [j // n == i for j in range(n * len(products))]},
                         {"title": {"text": _plot_text(f"{title}: {product}"), "x": 0.02}}]}
               for i, product in enumerate(products)]
    layout = _layout(_plot_text(f"{title}: {products[0]}"), "share of the product's posts", percent=True,
                     updatemenus=[{"buttons": buttons, "direction": "down", "x": 1.0, "xanchor": "right", "y": 1.15,
                                   "yanchor": "top", "showactive": True}])
    if stacked:
        layout["barmode"] = "stack"
    return {"data": data, "layout": _time_axis(layout, freq)}


def platform_figure(shares: pd.DataFrame, products: Sequence[str]) -> Figure | None:
    shares = shares[shares["product"].isin(products)]
    if shares.empty:
        return None
    data = []
    for platform in sorted(shares["platform"].unique()):
        sub = shares[shares["platform"] == platform].set_index("product").reindex(list(products))
        data.append({"type": "bar", "orientation": "h", "name": _plot_text(platform),
                     "y": [_plot_text(p) for p in products],
                     "x": sub["share"].fillna(0.0).tolist()})
    layout = _layout("Where each product is discussed: share of its posts per platform", barmode="stack",
                     height=max(300, 60 + 40 * len(products)))
    layout["xaxis"]["tickformat"] = ".0%"
    layout["yaxis"]["autorange"] = "reversed"  # most-discussed product on top, as in the tables
    return {"data": data, "layout": layout}


def network_figure(leaders: LeaderResult) -> Figure | None:
    """A spring layout of the top authors by PageRank; marker size follows PageRank, DOLs in red."""
    nodes = leaders.graph_nodes
    if nodes.empty:
        return None
    pos = {a: (x, y) for a, x, y in zip(nodes["author_id"], nodes["x"], nodes["y"])}
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for s, t in zip(leaders.graph_edges["source"], leaders.graph_edges["target"]):
        edge_x += [pos[s][0], pos[t][0], None]
        edge_y += [pos[s][1], pos[t][1], None]
    data: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines", "x": edge_x, "y": edge_y, "hoverinfo": "skip",
                                   "showlegend": False, "line": {"width": 0.6, "color": "#b0b7c3"}}]
    pr = nodes["pagerank"].astype("float64")
    span = pr.max() - pr.min()
    size = (8 + 30 * (pr - pr.min()) / span) if span > 0 else pd.Series(14.0, index=nodes.index)
    for is_dol, name, color in ((True, "opinion leader (DOL)", "#c0392b"), (False, "other top author", "#2e86c1")):
        mask = nodes["is_dol"] == is_dol
        if not mask.any():
            continue
        sub = nodes[mask]
        data.append({"type": "scatter", "mode": "markers", "name": name, "x": sub["x"].tolist(), "y": sub["y"].tolist(),
                     "marker": {"size": size[mask].tolist(), "color": color, "line": {"width": 1, "color": "white"}},
                     "hoverinfo": "text",
                     "text": [_plot_text(f"{a} ({s if isinstance(s, str) else 'specialty unknown'}), PageRank {p:.4f}")
                              for a, s, p in zip(sub["author_id"], sub["specialty"], sub["pagerank"])]})
    layout = _layout(f"Interactions among the top {len(nodes)} authors by PageRank", height=520)
    layout["xaxis"].update(visible=False)
    layout["yaxis"].update(visible=False)
    return {"data": data, "layout": layout}


# ---- HTML ------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    """One jinja2 environment per process (compiling the template costs more than rendering it)."""
    import jinja2

    # the folder next to this module: found the same way in a checkout, an editable and a wheel install
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v, digits=0: "–" if v is None or _isnan(v) else f"{float(v):.{digits}%}"
    env.filters["num"] = lambda v, digits=0: "–" if v is None or _isnan(v) else f"{float(v):,.{digits}f}"
    return env


def _isnan(value: Any) -> bool:
    try:
        return value is pd.NA or bool(np.isnan(float(value)))
    except (TypeError, ValueError):
        return False


def render_html(context: Mapping[str, Any]) -> str:
    """Render the template; every value is escaped by jinja2, figure JSON is pre-escaped by `figure_json`."""
    from markupsafe import Markup

    figures = [{"id": f["id"], "json": Markup(f["json"])} for f in context["figures"]]
    return _environment().get_template("report.html.j2").render(**{**context, "figures": figures,
                                                                   "plotlyjs": Markup(_plotlyjs())})


@functools.lru_cache(maxsize=1)
def _plotlyjs() -> str:
    """The plotly.js bundle shipped with the plotly package, inlined so the report opens offline."""
    import plotly.offline

    code = plotly.offline.get_plotlyjs()
    if re.search(r"</script", code, re.IGNORECASE):  # pragma: no cover - guards a future plotly.js bundle
        raise ReportError("the bundled plotly.js contains '</script' and cannot be inlined safely")
    return code


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN/NA turned into None (so templates print a dash, not 'nan')."""
    out = []
    for row in frame.to_dict("records"):
        out.append({k: (None if _isnan(v) and not isinstance(v, str) else v) for k, v in row.items()})
    return out


def _context(run: ScoredRun, frames: PostFrames, config: ReportSettings, products: Sequence[str],
             view_products: Sequence[str], rank_period: pd.Period | None, gaps: pd.DataFrame, top: pd.DataFrame,
             examples: pd.DataFrame, overview: pd.DataFrame, leaders: LeaderResult, notes: list[str]) -> dict[str, Any]:
    freq = frames.period_freq
    weights = config.weights.normalized()
    evidence_desc = label_descriptions(run.task(config.evidence_task))
    figures: list[dict[str, str]] = []

    def add(fig_id: str, fig: Any) -> str | None:
        if fig is None:
            return None
        figures.append({"id": fig_id, "json": figure_json(fig)})
        return fig_id

    trend_id = add("fig-gap-trends", gap_trend_figure(gap_trends(gaps, top), top, freq))
    release_memory()  # each figure's arrays are freed when it is drawn: give them back before the next
    sentiment = sentiment_over_time(frames, view_products)
    release_memory()
    sentiment_id = add("fig-sentiment", share_by_product_figure(sentiment, "Sentiment over time", freq, stacked=True))
    perception = perception_over_time(frames, view_products)
    release_memory()
    perception_id = add("fig-perception", share_by_product_figure(perception, "Perception over time", freq, stacked=False))
    platform_id = add("fig-platforms", platform_figure(platform_share(frames, view_products), view_products))
    network_id = add("fig-network", network_figure(leaders))

    gap_rows = []
    for row in _records(top):
        ex = examples[(examples["product"] == row["product"]) & (examples["topic"] == row["topic"])
                      & (examples["period"] == row["period"])]
        row["description"] = evidence_desc.get(row["topic"], "")
        row["examples"] = _records(ex)
        row["parts"] = [{"name": p, "title": PART_TITLES[p], "value": row[f"part_{p}"],
                         "weight": weights[p], "contribution": weights[p] * row[f"part_{p}"]} for p in PARTS]
        gap_rows.append(row)

    leader_table = leaders.table
    overall = leader_table[leader_table["scope"] == "all"].head(max(config.leaders_per_scope, 15))
    scoped = [{"scope": scope, "rows": _records(sub.head(5))}
              for scope, sub in leader_table[leader_table["scope"] != "all"].groupby("scope", sort=False)]
    hashtags = top_hashtags(frames, view_products)
    hashtag_rows = [{"product": p, "tags": _records(hashtags[hashtags["product"] == p])} for p in view_products]
    manifest = run.manifest
    counts = manifest.get("counts") or {}
    ae_known = overview["adverse_event_posts"].notna().any() if not overview.empty else False
    return {
        "title": "Evidence gaps and opinion leaders",
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "period_name": config.period,
        "rank_period": str(rank_period) if rank_period is not None else None,
        "periods": [str(p) for p in sorted(frames.posts["period"].dropna().unique())],
        "n_posts": int(len(frames.posts)),
        "n_authors": int(frames.posts["author_id"].nunique()),
        "n_products": len(products),
        "notes": notes,
        "gaps": gap_rows,
        "top_n": config.top_gaps,
        "weights": [{"name": p, "title": PART_TITLES[p], "weight": weights[p], "help": PART_HELP[p]}
                    for p in PARTS],
        "config": config,
        "evidence_task": config.evidence_task,
        "overview": _records(overview),
        "ae_known": bool(ae_known),
        "safety_task": run.safety_task,
        "safety": _safety_status(run),
        "leaders": _records(overall),
        "scoped_leaders": scoped,
        "ties": _records(leaders.ties.head(20)),
        "ties_total": int(len(leaders.ties)),
        "dols": sorted(leaders.dols),
        "hashtags": hashtag_rows,
        "figures": figures,
        "fig_ids": {"trends": trend_id, "sentiment": sentiment_id, "perception": perception_id,
                    "platforms": platform_id, "network": network_id},
        "model": manifest.get("model") or {},
        "inputs": manifest.get("inputs") or [],
        "counts": counts,
        "taxonomy_version": (manifest.get("taxonomy") or {}).get("version"),
        "finished_at": manifest.get("finished_at"),
        "scored_parts": len(run.parts),
    }


def _safety_status(run: ScoredRun) -> dict[str, Any] | None:
    """What the report says about the model's safety operating point: the recall target, met or not."""
    point = run.safety_operating_point
    if not point:
        return None
    return {**point, "sentence": _safety_sentence(point)}


def _safety_sentence(point: Mapping[str, Any]) -> str:
    state = "met" if point.get("target_met") else "NOT met"
    return (f"The model's {point.get('task')} threshold was set to reach recall {point.get('recall_target', float('nan')):.2f} "
            f"on validation posts; the target was {state}: recall {point.get('validation_recall', float('nan')):.3f} "
            f"at threshold {point.get('threshold', float('nan')):.3f}, flagging "
            f"{point.get('validation_flag_share', float('nan')):.1%} of posts.")

