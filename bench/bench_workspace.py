"""Load test of the review workspace: concurrent reviewers and annotators on loopback, bounded in time.

    python bench/bench_workspace.py --scored data/scored --report data/report [--users 20] [--seconds 120]
                                    [--think 2.0] [--db sqlite:///bench/out/workspace.db | postgresql://...]

Starts `occ serve` in its own process on 127.0.0.1 (a fresh database unless --db names one), creates the
accounts, then runs `--users` virtual users for `--seconds`: half reviewers (gap board, a gap's posts page by
page, a comment or a status change, the backlog), half annotators (their next post, then its labels). Prints
p50 / p95 / max latency per page and the error count, then checks that every decision the server acknowledged
(a 303 after a POST) is in the database: count sent = count stored. Target: p95 under 300 ms, no 5xx.
The baseline every figure is read against is the same request against an idle server (`--users 1`).

`--think` is each virtual user's pause between actions (seconds, mean; drawn uniformly from 0.5x to 1.5x).
People read a gap's posts or a post for tens of seconds, so the default of 2 s is already a much busier team
than a real one; `--think 0` is a stress test (closed loop, no pauses) that measures the server's saturation
throughput rather than what a reviewer feels.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PASSWORD = "load-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stats:
    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.acknowledged: dict[str, int] = defaultdict(int)
        self.conflicts = 0

    def add(self, page: str, seconds: float, status: int) -> None:
        self.latency[page].append(seconds)
        if status >= 500:
            self.errors[page] += 1


async def timed(stats: Stats, page: str, call: Any) -> Any:
    start = time.perf_counter()
    response = await call
    stats.add(page, time.perf_counter() - start, response.status_code)
    return response


async def login(client: Any, name: str) -> str:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post("/login", data={"username": name, "password": PASSWORD, "next": "/", "csrf_token": token})
    assert response.status_code == 303, f"login of {name} failed: {response.status_code}"
    home = await client.get(response.headers["location"])
    return re.search(r'data-csrf="([^"]+)"', home.text).group(1)


async def pause(rng: random.Random, think: float) -> None:
    if think > 0:
        await asyncio.sleep(think * rng.uniform(0.5, 1.5))


async def reviewer(base: str, name: str, stop: float, stats: Stats, seed: int, think: float) -> None:
    import httpx

    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30) as client:
        csrf = await login(client, name)
        while time.perf_counter() < stop:
            board = await timed(stats, "GET /gaps", client.get("/gaps"))
            gaps = re.findall(r'data-href="/gaps/(\d+)"', board.text)
            if not gaps:
                await asyncio.sleep(0.5)
                continue
            gap = rng.choice(gaps)
            await pause(rng, think)
            detail = await timed(stats, "GET /gaps/{id}", client.get(f"/gaps/{gap}"))
            pages = int(re.search(r"page \d+ of (\d+)", detail.text).group(1)) if "page 1 of" in detail.text else 1
            if pages > 1:
                await timed(stats, "GET /gaps/{id}?page (htmx)",
                            client.get(f"/gaps/{gap}?page={rng.randint(2, pages)}", headers={"HX-Request": "true"}))
            await pause(rng, think)
            if rng.random() < 0.5:
                response = await timed(stats, "POST comment", client.post(
                    f"/gaps/{gap}/comments", data={"text": f"load test note {seed}-{rng.random():.6f}", "csrf_token": csrf}))
                if response.status_code == 303:
                    stats.acknowledged["comment"] += 1
            else:
                version = re.search(r'name="version" value="(\d+)"', detail.text).group(1)
                response = await timed(stats, "POST status", client.post(
                    f"/gaps/{gap}/status", data={"status": "confirmed", "version": version, "csrf_token": csrf}))
                if response.status_code == 303:
                    stats.acknowledged["gap.status"] += 1
                elif response.status_code == 409:
                    stats.conflicts += 1
            await pause(rng, think)
            await timed(stats, "GET /backlog", client.get("/backlog"))
            await pause(rng, think)


async def annotator(base: str, name: str, stop: float, stats: Stats, seed: int, think: float) -> None:
    import httpx

    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30) as client:
        csrf = await login(client, name)
        while time.perf_counter() < stop:
            page = await timed(stats, "GET /annotate", client.get("/annotate"))
            found = re.search(r'action="/annotate/([^"]+)"', page.text)
            if not found:
                await asyncio.sleep(1.0)
                continue
            form: dict[str, Any] = {"csrf_token": csrf, "action": "submit"}
            for task in re.findall(r'data-task="([^"]+)"', page.text):
                values = re.findall(rf'name="task:{re.escape(task)}" value="([^"]+)"', page.text)
                kind = re.search(rf'data-kind="([a-z]+)" data-task="{re.escape(task)}"', page.text).group(1)
                form[f"task:{task}"] = [v for v in values if rng.random() < 0.2] if kind == "multi" else rng.choice(values)
            await pause(rng, think)
            response = await timed(stats, "POST annotation", client.post(f"/annotate/{found.group(1)}", data=form))
            if response.status_code == 303:
                stats.acknowledged["annotation.submit"] += 1


def stored(db_url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        out = {action: connection.execute(text("SELECT count(*) FROM audit_log WHERE action = :a"), {"a": action}).scalar_one()
               for action in ("gap.comment", "gap.status", "annotation.submit")}
        out["comments"] = connection.execute(text("SELECT count(*) FROM comments")).scalar_one()
        out["annotated"] = connection.execute(text("SELECT count(DISTINCT post_id || '/' || annotator) FROM annotations")).scalar_one()
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scored", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--db", default=None)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--think", type=float, default=2.0, help="mean pause between a user's actions, seconds (0: stress test)")
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    db = args.db or f"sqlite:///{out / 'workspace_load.db'}"
    if db.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(db[len("sqlite:///"):] + suffix).unlink(missing_ok=True)
    occ = [sys.executable, "-m", "occ"]
    reviewers = [f"rev{i:02d}" for i in range((args.users + 1) // 2)]
    annotators = [f"ann{i:02d}" for i in range(args.users // 2)]
    for name in reviewers + annotators:
        role = "reviewer" if name.startswith("rev") else "annotator"
        subprocess.run(occ + ["users", "add", name, "--role", role, "--password-stdin", "--db", db], input=PASSWORD + "\n",
                       text=True, check=True, capture_output=True, cwd=ROOT)
    port = free_port()
    server = subprocess.Popen(occ + ["serve", "--scored", str(args.scored), "--report", str(args.report), "--db", db,
                                     "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"the server did not start: {server.stdout.read() if server.poll() is not None else ''}")
            time.sleep(0.5)
        print(f"server up on {base} ({db}); {len(reviewers)} reviewers + {len(annotators)} annotators for "
              f"{args.seconds:.0f}s, think time {args.think:g}s", flush=True)
        stats = Stats()
        stop = time.perf_counter() + args.seconds

        async def everyone() -> None:
            await asyncio.gather(*[reviewer(base, n, stop, stats, i, args.think) for i, n in enumerate(reviewers)],
                                 *[annotator(base, n, stop, stats, 100 + i, args.think) for i, n in enumerate(annotators)])

        started = time.perf_counter()
        asyncio.run(everyone())
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    total = sum(len(v) for v in stats.latency.values())
    print(f"\n{total} requests in {elapsed:.0f}s ({total / elapsed:.1f}/s), {stats.conflicts} version conflicts (409, expected)")
    print(f"{'page':<28}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'5xx':>6}")
    worst = 0.0
    for page, values in sorted(stats.latency.items()):
        ms = np.array(values) * 1000
        worst = max(worst, float(np.percentile(ms, 95)))
        print(f"{page:<28}{len(ms):>7}{np.percentile(ms, 50):>9.0f}{np.percentile(ms, 95):>9.0f}{ms.max():>9.0f}"
              f"{stats.errors.get(page, 0):>6}")
    found = stored(db)
    print(f"\nacknowledged vs stored: comments {stats.acknowledged['comment']} / {found['gap.comment']} audit rows, "
          f"{found['comments']} comments; status changes {stats.acknowledged['gap.status']} / {found['gap.status']}; "
          f"annotations {stats.acknowledged['annotation.submit']} / {found['annotation.submit']} audit rows, "
          f"{found['annotated']} annotated (post, annotator) pairs")
    ok = (stats.acknowledged["comment"] == found["comments"] == found["gap.comment"]
          and stats.acknowledged["gap.status"] == found["gap.status"]
          and stats.acknowledged["annotation.submit"] == found["annotation.submit"] == found["annotated"])
    print(f"every acknowledged decision stored: {'yes' if ok else 'NO'}; worst page p95 {worst:.0f} ms "
          f"(target < 300); 5xx: {sum(stats.errors.values())}")
    raise SystemExit(0 if ok and not stats.errors else 1)


if __name__ == "__main__":
    main()
