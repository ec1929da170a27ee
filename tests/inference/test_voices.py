"""Rising voices on a hand-made interaction history whose answer is known."""

from __future__ import annotations

import pandas as pd

from common.settings import ReportSettings
from inference.insights.voices import VoiceSettings, rising_voices, scope_voices

MONTHS = [pd.Period(m, "M") for m in ("2026-06", "2026-07", "2026-08", "2026-09")]


def _history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """`old` leads in June-August and goes quiet; `steady` leads throughout; `riser` posts in July without
    attention and is central in September; `newbie` first appears in September and is mentioned a lot."""
    rows, mentions = [], []

    def post(author: str, month: pd.Period, mention: list[str] | None = None, product: str = "Glucavex") -> None:
        row = len(rows)
        rows.append({"row": row, "author_id": author, "reply_row": pd.NA, "period": month,
                     "created_at": month.start_time, "specialty": "cardiology", "followers": 100.0, "engagement": 1,
                     "product": product})
        for target in mention or []:
            mentions.append({"row": row, "mention": target})

    crowd = [f"c{i}" for i in range(8)]
    for month in MONTHS:
        for c in crowd:
            post(c, month, ["steady"])
        if month != MONTHS[-1]:
            for c in crowd[:6]:
                post(c, month, ["old"])
            post("old", month)
        post("steady", month)
    post("riser", MONTHS[1])
    for c in crowd:
        post(c, MONTHS[-1], ["riser", "newbie"])
    post("riser", MONTHS[-1])
    post("newbie", MONTHS[-1])
    return pd.DataFrame(rows), pd.DataFrame(mentions, columns=["row", "mention"])


def test_statuses_follow_the_history() -> None:
    posts, mentions = _history()
    voices = scope_voices(posts, mentions, "all", MONTHS[-1],
                          VoiceSettings(top_n=3, min_inbound=2, lookback=3, rise_ratio=1.5))
    status = dict(zip(voices["voice"], voices["status"]))
    assert status == {"newbie": "new", "riser": "rising", "steady": "steady", "old": "fading"}
    old = voices.set_index("voice").loc["old"]
    assert old["centrality_now"] == 0.0 and old["best_rank_before"] <= 2 and pd.isna(old["rank_now"])
    assert voices.set_index("voice").loc["newbie", "posts_before"] == 0


def test_scopes_and_empty_inputs() -> None:
    posts, mentions = _history()
    products = posts[["row", "product"]]
    table = rising_voices(posts, mentions, products, None, ["Glucavex", "Renaflo"], [], MONTHS[-1],
                          VoiceSettings(top_n=3, min_inbound=2, lookback=3, rise_ratio=1.5))
    assert set(table["scope"]) == {"all", "product:Glucavex"}  # no Renaflo posts: no voices there
    defaults = VoiceSettings.from_report(ReportSettings())
    assert rising_voices(posts.iloc[0:0], mentions.iloc[0:0], products, None, [], [], MONTHS[-1], defaults).empty
    assert rising_voices(posts, mentions, products, None, [], [], None, defaults).empty
