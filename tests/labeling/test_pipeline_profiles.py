"""An author's stored profile is worked out once per distinct profile (`PostPipeline._profile`): every post
must still get exactly what a pipeline that never saw the profile before would store, and its own copies."""

from __future__ import annotations

from common.settings import IngestSettings
from labeling.ingest.pipeline import PostPipeline
from labeling.ingest.readers import RawRecord

PROFILE = {
    "author_id": "a1",
    "author_handle": "drjane",
    "author_display_name": "Dr. Jane Smith, MD, FACC",
    "author_bio": "Cardiologist. Call me at 617-555-0199 or jane.smith@example.org. Also x.com/janesmith_md",
    "author_url": "https://www.linkedin.com/in/jane-smith-md",
}


def _row(i: int, **profile: str) -> RawRecord:
    record = {"post_id": f"p{i}", "platform": "x", "created_at": "2026-01-0%dT10:00:00Z" % (1 + i % 9),
              "text": f"Post {i}: apixaban long-term data in CKD?", **PROFILE, **profile}
    return RawRecord("dump.jsonl", i + 1, record)


def test_repeated_profile_stores_what_a_fresh_pipeline_stores() -> None:
    shared = PostPipeline(IngestSettings())
    rows = [_row(i) for i in range(5)] + [_row(5, author_bio="Nurse practitioner, NP. jane@example.org")] + [_row(6)]
    for raw in rows:
        cached = shared.judge(raw)
        fresh = PostPipeline(IngestSettings()).judge(raw)
        assert cached.row == fresh.row
        assert cached.redactions == fresh.redactions
    first = shared.judge(_row(7)).row
    assert first["author_credentials"] and first["author_links"] and first["author_name_key"]
    assert "617-555-0199" not in first["author_bio"] and "jane.smith@example.org" not in first["author_bio"]
    assert shared._profile.cache_info().hits >= 6  # the cache is really used: 8 posts, 2 distinct profiles


def test_each_post_gets_its_own_lists_and_counts() -> None:
    pipeline = PostPipeline(IngestSettings())
    first = pipeline.judge(_row(0))
    expected_links, expected_credentials = list(first.row["author_links"]), list(first.row["author_credentials"])
    first.row["author_links"].append("x:someone_else")
    first.row["author_credentials"].clear()
    first.redactions.clear()
    second = pipeline.judge(_row(1))
    assert second.row["author_links"] == expected_links
    assert second.row["author_credentials"] == expected_credentials
    assert second.redactions["phone"] >= 1 and second.redactions["email"] >= 1  # the bio's counts, on every post


def test_a_long_profile_is_worked_out_but_not_remembered() -> None:
    from labeling.authors.signals import CACHED_PROFILE_CHARS, _credentials_cached

    long_bio = "Cardiologist, MD. Reach me at jane.smith@example.org. " + "x" * CACHED_PROFILE_CHARS
    pipeline = PostPipeline(IngestSettings())
    before = _credentials_cached.cache_info().currsize
    for i in range(3):
        verdict = pipeline.judge(_row(i, author_bio=long_bio))
        assert verdict.row == PostPipeline(IngestSettings()).judge(_row(i, author_bio=long_bio)).row
        assert "jane.smith@example.org" not in verdict.row["author_bio"] and "MD" in verdict.row["author_credentials"]
    assert pipeline._profile.cache_info().currsize == 0
    assert _credentials_cached.cache_info().currsize == before
