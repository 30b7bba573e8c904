"""Ingest benchmark: posts/s through store + triage + cases on one core, and webhook acknowledgement latency.

    python bench/bench_ingest.py [--posts 3000] [--texts dev|incidents] [--authors 700] [--webhooks 400] [--batch 64] [--profile]
    python bench/bench_ingest.py --unseen [--repeat 5] [--authors 700]

Throughput: one process pinned to one core, a fresh SQLite file per line, the
shipped dev texts (real complaint-set tweets), the full default triage (language,
n-gram model + int8 encoder, rules), next to, in the same run:

* minimal loop       — store the posts with the cursor and nothing else (one transaction): the floor;
* classify() alone   — the triage of every post one by one, no database: what triage costs by itself;
* one by one         — the design before the stages: per post, classify() then the post and its case;
* every post encoded — socialdesk as below with the cascade off: the encoder reads every post;
* socialdesk         — stage 1 (store with the cursor) then stage 2 (claimed batches, batched triage,
                       cases, incidents), as `poll` runs them, in a database that already holds
                       1,200 answered cases (each new card offers the reply to the most similar one).

`--profile` prints where stage 2's time goes (cProfile, top functions by own time).

`--unseen` measures socialdesk on posts its n-gram model never saw (the dev posts
flatter the cascade: the shipped model was trained on them): each tenth of the dev
posts ingested by a model fitted on the other nine tenths, next to the minimal loop.

Webhook acknowledgement: `socialdesk run` as a real process (its web process and
its worker process, both pinned to one core) on the emulators, which stand for
Slack and X and run on the other core(s) with the sender: signed X deliveries of
one new post each, sent one after the other by the sender process and timed
there, the worker triaging and carding what they stored; baseline: a bare
Starlette endpoint under the same server, on the bot's core, that checks the
signature and answers 200. Then the same deliveries while the worker works
through a backlog of stored posts.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bot.config import FileConfig  # noqa: E402
from bot.domain import ingest, sla  # noqa: E402
from bot.domain.posts import Author, Post  # noqa: E402
from bot.domain.states import CaseStatus, ReplyStatus  # noqa: E402
from bot.emulators.process import BotProcess  # noqa: E402
from bot.emulators.stack import X_SECRET, LocalStack, Server  # noqa: E402
from bot.emulators.x import sign_webhook  # noqa: E402
from bot.flows import workflows  # noqa: E402
from bot.networks import catalogue  # noqa: E402
from bot.serve import freeze_startup_objects  # noqa: E402
from bot.triage import classify, clear_caches, suggest_reply  # noqa: E402
from bot.triage.model import clean_text, get_model, unsure  # noqa: E402
from bot.triage.rules import detect_topics  # noqa: E402
from storage import models as m  # noqa: E402
from storage.db import Database  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "bot" / "triage" / "data" / "complaints_dev.csv"


BOT_CPU = 0  # the core the bot (and both ingest stages) runs on; a webhook sender runs on the others


def pin_one_core() -> str:
    try:
        os.sched_setaffinity(0, {BOT_CPU})
        return f"cpu {BOT_CPU}"
    except (AttributeError, OSError):
        return "unpinned"


def leave_bot_core() -> None:
    """Every thread of this process (the emulators, the sender's waits) onto the other core(s)."""
    try:
        others = set(range(os.cpu_count() or 1)) - {BOT_CPU}
        for tid in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(tid), others or {BOT_CPU})
    except (AttributeError, OSError):
        pass


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


#: Which posts to ingest: "dev", the complaint set's real tweets (the n-gram model was trained on
#: them, so it is surer of them than of new posts), or "incidents", the labelled burst set written
#: for the grouping benchmark (short posts no model was trained on).
SOURCE = {"texts": "dev", "authors": 700}
INCIDENT_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "incident_set.jsonl"


def texts(n: int) -> list[str]:
    if SOURCE["texts"] == "incidents":
        import json

        with INCIDENT_SET.open(encoding="utf-8") as f:
            rows = [json.loads(line)["text"] for line in f if line.strip()]
    else:
        with DATA.open(newline="", encoding="utf-8") as f:
            rows = [r["text"] for r in csv.DictReader(f)]
    return [rows[i % len(rows)] for i in range(n)]


def make_posts(n: int, start: int = 0, bodies: list[str] | None = None) -> list[Post]:
    """Posts of ``texts(n)`` (or ``bodies``); authors take turns, 700 of them by default, so none posts twice within a batch
    (``--authors 50``: a crisis, where the same people complain again and again)."""
    now = datetime.now(timezone.utc)
    authors = SOURCE["authors"]
    return [
        Post(network="x", external_id=str(10_000_000 + start + i), text=text,
             author=Author(external_id=str(500 + i % authors), handle=f"user{i % authors}", name=f"User {i % authors}",
                           followers=(i * 37) % 5000),
             created_at=now, conversation_id=str(10_000_000 + start + i))
        for i, text in enumerate(texts(n) if bodies is None else bodies)
    ]


#: Answered cases in the database before a socialdesk line starts: a team that has been at work for a while.
HISTORY = 1200


def fresh_db(folder: Path, name: str, *, history: int = 0) -> Database:
    db = Database(f"sqlite:///{folder / name}.db")
    db.upgrade()
    if history:
        answered_history(db, history)
    return db


def answered_history(db: Database, n: int) -> None:
    """n answered cases, each with its reply sent, on the topics triage names: every new card is compared with
    them ("sent for a similar case"). Their authors post nothing in the lines, so triage decides as before."""
    now = datetime.now(timezone.utc)
    with db.session() as session:
        for i, text in enumerate(texts(n)):
            topics = detect_topics(clean_text(text))
            case = m.Case(network="x", conversation_id=f"h{i}", author_external_id=f"h{i}", status=CaseStatus.ANSWERED,
                          category="complaint", topic=topics[0] if topics else "general", channel="C1", created_at=now)
            session.add(case)
            session.flush()
            session.add(m.Post(network="x", external_id=f"h{i}", text=text, author_external_id=f"h{i}", created_at=now,
                               case_id=case.id, category="complaint", triage_state=ingest.DONE))
            session.add(m.Reply(case_id=case.id, approval_id=f"h{i}", kind="public", text=f"Sorry about that (answer {i}).",
                                requested_by="U1", status=ReplyStatus.SENT, sent_at=now))


class Clock:
    """Wall time and this process's CPU time: on a shared machine the CPU time says what one core of its own would do."""

    def __enter__(self) -> "Clock":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def minimal_loop(db: Database, posts: list[Post]) -> Clock:
    with Clock() as clock, db.session() as session:
        ingest.store(session, posts, own_ids=set())
        session.add(m.Cursor(stream="x:mentions", value=posts[-1].external_id))
    return clock


def classify_alone(posts: list[Post]) -> Clock:
    with Clock() as clock:
        for post in posts:
            classify(post.text, followers=post.author.followers, engagement=post.engagement)
    return clock


def one_by_one(db: Database, posts: list[Post]) -> Clock:
    """Per post: classify, then the post row and its case (what ingest did before the stages)."""
    config = FileConfig()
    with Clock() as clock, db.session() as session:
        for post in posts:
            triage = classify(post.text, followers=post.author.followers, engagement=post.engagement)
            case = m.Case(network="x", conversation_id=post.conversation_id, author_external_id=post.author.external_id, status="open",
                          category=triage.category, priority=triage.priority, severity=triage.severity, sentiment=triage.sentiment,
                          topic=triage.topic, reasons=list(triage.reasons), channel="C1",
                          suggested_reply=suggest_reply(triage, name=post.author.name, handle=post.author.handle, network="x"),
                          due_at=sla.due_at(config, "x", triage.priority, datetime.now(timezone.utc)))
            session.add(case)
            session.flush()
            session.add(m.Post(network="x", external_id=post.external_id, text=post.text, author_external_id=post.author.external_id,
                               author_handle=post.author.handle, author_name=post.author.name, created_at=post.created_at,
                               case_id=case.id, category=triage.category, triage_state="done"))
            session.flush()
        session.add(m.Cursor(stream="x:mentions", value=posts[-1].external_id))
    return clock


def two_stages(db: Database, posts: list[Post], batch: int, profile: bool = False, stream: str = "x:mentions") -> tuple[Clock, dict[str, float]]:
    """Both stages as `poll` runs them; also how long storing and classifying took of the whole."""
    rt = SimpleNamespace(db=db, config=FileConfig(), channel="C1", stopping=threading.Event())
    parts = {"store": 0.0, "classify": 0.0}

    def timed_classifier(items):
        t0 = time.perf_counter()
        try:
            return ingest.classify_all(items)
        finally:
            parts["classify"] += time.perf_counter() - t0

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: stable on a shared machine
        profiler.enable()
    with Clock() as clock:
        start = time.perf_counter()
        with db.session() as session:
            ingest.store(session, posts, own_ids=set())
            session.add(m.Cursor(stream=stream, value=posts[-1].external_id))
        parts["store"] = time.perf_counter() - start
        result = workflows.triage_stored(rt, batch=batch, classifier=timed_classifier)
    elapsed = clock.wall
    if profiler is not None:
        import pstats

        profiler.disable()
        print("\nwhere the two stages' time goes (cProfile, own time):")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        print("by cumulative time:")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
    settled = len(result.new_cases) + len(result.follow_ups) + result.dropped + result.lane
    assert settled == len(posts), f"every post settled ({settled} of {len(posts)})"
    parts["claim, read, settle (cases, incidents)"] = elapsed - parts["store"] - parts["classify"]
    return clock, parts


def forget_scores() -> None:
    """Each line triages the same posts: nothing may be remembered (scores, words, cues) from the line before."""
    clear_caches()


@contextlib.contextmanager
def every_post_encoded():
    """The shipped triage with the cascade off: the encoder reads every post (the design before the cascade)."""
    enc = get_model().encoder
    meta = enc.meta
    enc.meta = {**meta, "blend": {k: v for k, v in meta["blend"].items() if k != "cascade"}}
    try:
        yield
    finally:
        enc.meta = meta


def encoder_share(posts: list[Post]) -> str:
    """How many of these posts the cascade sends to the encoder."""
    model = get_model()
    band = model.encoder.meta["blend"].get("cascade")
    ngram = np.array([p.score for p in copy.copy(model).attach_encoder(None).predict_many([p.text for p in posts])])
    return f"the encoder read {int(unsure(ngram, band).sum())} of {len(posts)} posts (n-gram score inside {tuple(band) if band else 'everything'})"


def unseen(folder: Path, batch: int, folds: int = 10, repeat: int = 1) -> None:
    """socialdesk on dev posts its n-gram model never saw: for each of 10 folds, a model fitted on the
    other nine ingests the fold (the shipped encoder read every post in training, which changes its
    scores, not its cost). The dev line reads fewer posts with the encoder than new traffic would.

    The folds' models are fitted once; with ``repeat`` the whole ingest (every fold into a fresh
    database, beside a fresh minimal loop) runs that many times, and the median run is the figure:
    this machine's speed drifts by several percent from one minute to the next."""
    from sklearn.model_selection import StratifiedKFold

    from bot.triage.model import set_model
    from bot.triage.training import train as train_mod

    rows = train_mod.load_rows()
    shipped = get_model()
    split = list(StratifiedKFold(folds, shuffle=True, random_state=train_mod.CV_SEED).split(rows, train_mod._labels(rows)))
    models = [train_mod.fit_model(rows=[rows[i] for i in fit], tune_threshold=False).attach_encoder(shipped.encoder) for fit, _ in split]
    posts = make_posts(len(rows), bodies=[r["text"] for r in rows])
    runs = []
    try:
        for r in range(repeat):
            db = fresh_db(folder, f"unseen{r}", history=HISTORY)  # one database for all folds, as one bot would have
            wall = cpu = 0.0
            read = 0
            spent: dict[str, float] = {}
            for k, ((_, held), model) in enumerate(zip(split, models)):
                set_model(model)
                model.predict("warm up")  # builds the model's fast path, as loading does in the bot
                freeze_startup_objects()  # as the worker does with its model
                clear_caches()
                fold = make_posts(len(held), start=len(rows) * k, bodies=[rows[i]["text"] for i in held])
                clock, parts = two_stages(db, fold, batch, stream=f"x:fold{k}")
                wall, cpu = wall + clock.wall, cpu + clock.cpu
                for name, t in parts.items():
                    spent[name] = spent.get(name, 0.0) + t
                read += model.encoder.cache_counts()[0]
            floor = minimal_loop(fresh_db(folder, f"unseen-floor{r}"), posts)
            runs.append((len(posts) / wall, len(posts) / cpu, len(posts) / floor.wall, len(posts) / floor.cpu, read, spent, wall))
    finally:
        set_model(shipped)
    runs.sort(key=lambda run: run[0])
    ours, ours_cpu, floor_wall, floor_cpu, read, spent, wall = runs[len(runs) // 2]
    print(f"ingest of the {len(posts)} dev posts, each triaged by an n-gram model fitted without it ({folds} folds), one core"
          + (f"; the median of {repeat} runs, each beside its own minimal loop" if repeat > 1 else ""))
    print(f"  {'minimal loop: store + cursor, no triage':<48} {floor_wall:>8.0f} posts/s   {floor_cpu:>8.0f} posts/CPU-s")
    print(f"  {'socialdesk: stored, then triaged in batches':<48} {ours:>8.0f} posts/s   {ours_cpu:>8.0f} posts/CPU-s")
    if repeat > 1:
        print("    every run, slowest first: " + ", ".join(f"{run[0]:.0f} (minimal loop {run[2]:.0f})" for run in runs))
    print(f"    the encoder ran on {read} of {len(posts)} posts")
    print("    socialdesk's wall time: " + ", ".join(f"{name} {100 * t / wall:.0f}%" for name, t in spent.items()))


def bare_webhook_app() -> Starlette:
    async def hook(request: Request):
        body = await request.body()
        digest = base64.b64encode(hmac.new(X_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        ok = hmac.compare_digest(request.headers.get("x-twitter-webhooks-signature", ""), "sha256=" + digest)
        return PlainTextResponse("ok" if ok else "no", status_code=200 if ok else 401)

    return Starlette(routes=[Route("/webhooks/x", hook, methods=["POST"])])


def time_webhooks(url: str, bodies: list[bytes]) -> list[float]:
    """Seconds from POST to 200 per delivery, sent one after the other by another process (as X sends them):
    the sender shares neither the bot's core nor its GIL."""
    import json
    import subprocess

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([base64.b64encode(b).decode() for b in bodies], f)
    try:
        sender = subprocess.run([sys.executable, __file__, "--send", url, f.name], capture_output=True, text=True, check=True,
                                env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"}, timeout=900)
    finally:
        os.unlink(f.name)
    return json.loads(sender.stdout)


def send(url: str, path: str) -> None:
    """The sender process: every body in the file, signed, one after the other; prints the timings as JSON."""
    import json

    try:
        os.sched_setaffinity(0, set(os.sched_getaffinity(0)) - {BOT_CPU} or os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    with open(path) as f:
        bodies = [base64.b64decode(b) for b in json.load(f)]
    out = []
    with requests.Session() as http:
        http.trust_env = False
        for body in bodies:
            headers = {"Content-Type": "application/json", "x-twitter-webhooks-signature": sign_webhook(X_SECRET, body)}
            start = time.perf_counter()
            response = http.post(f"{url}/webhooks/x", data=body, headers=headers, timeout=30)
            out.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
    print(json.dumps(out))


def triaged(stack: LocalStack) -> int:
    with stack.rt.db.session() as session:
        return session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state.in_(("done", "set_aside"))))


def bench_webhooks(folder: Path, n: int, backlog: int) -> dict[str, list[float]]:
    """`socialdesk run` as a real process (its web process and its triage process) on the bench's core."""
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    stack = LocalStack(f"sqlite:///{folder / 'webhooks.db'}").start()
    bot = None
    try:
        author = stack.x.add_user(username="bench_hooks", followers=100)
        sample = texts(2 * n)
        # Not mentions: only the webhook brings them (no poll races the deliveries).
        bodies = [stack.x.account_activity_payload([stack.x.add_tweet(sample[i], author)]) for i in range(2 * n)]
        bare = Server(bare_webhook_app()).start()
        try:
            time_webhooks(bare.url, bodies[:20])  # warm-up
            baseline = time_webhooks(bare.url, bodies[:n])
        finally:
            bare.stop()
        # Started from this process, pinned to its core: the bot's web and worker processes share one core. The
        # emulators stand for Slack and X, which run elsewhere: they move to the sender's core(s).
        bot = BotProcess(stack, folder / "bot.log", extra_env={"POLL_INTERVAL_SECONDS": "3600"}).start()
        leave_bot_core()
        bot.wait_ready(120)
        time_webhooks(bot.url, bodies[:10])  # warm-up (first requests; the triage process loads its models)
        stack.slack.wait_for(lambda: triaged(stack) == 10, timeout=120, what="warm-up triaged")
        quiet = time_webhooks(bot.url, bodies[10:n])
        stack.slack.wait_for(lambda: triaged(stack) == n, timeout=300, what="every delivered post triaged")
        # A backlog stored at once (a poll after an outage): the first delivery below wakes the triage process.
        with stack.rt.db.session() as session:
            ingest.store(session, make_posts(backlog, start=5_000_000), own_ids=set())
        busy = time_webhooks(bot.url, bodies[n:2 * n])
        overlapped = triaged(stack) < 2 * n + backlog
        stack.slack.wait_for(lambda: triaged(stack) == 2 * n + backlog, timeout=900, what="backlog and deliveries triaged")
        return {"baseline": baseline, "quiet": quiet, "busy": busy, "busy_overlapped": [1.0 if overlapped else 0.0]}
    finally:
        if bot is not None:
            bot.stop()
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2400)  # the dev set has 2,413 distinct posts: no repeats
    parser.add_argument("--webhooks", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=workflows.CLASSIFY_BATCH)
    parser.add_argument("--texts", choices=("dev", "incidents"), default="dev", help="the posts to ingest (see SOURCE)")
    parser.add_argument("--authors", type=int, default=SOURCE["authors"], help="how many people post, taking turns")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--skip-webhooks", action="store_true")
    parser.add_argument("--unseen", action="store_true", help="ingest the dev posts with n-gram models that never saw them (10 folds, ~2 min of fitting)")
    parser.add_argument("--repeat", type=int, default=1, help="with --unseen: ingest this many times and report the median run")
    parser.add_argument("--settle-batch", type=int, default=workflows.SETTLE_BATCH)
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval for the bot (s)")
    parser.add_argument("--send", nargs=2, metavar=("URL", "BODIES"), help=argparse.SUPPRESS)  # the sender process
    args = parser.parse_args()
    if args.send:
        send(*args.send)
        return
    where = pin_one_core()
    SOURCE["texts"], SOURCE["authors"] = args.texts, args.authors
    workflows.CLASSIFY_BATCH, workflows.SETTLE_BATCH = args.batch, args.settle_batch
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    classify("warm up the models")  # model load is not ingest
    classify("@acme mi pedido nunca llegó")  # nor lingua's
    catalogue()  # nor importing the network adapters, which the worker does at start (building its networks)
    freeze_startup_objects()  # as the worker process does once its models are loaded
    if args.unseen:
        with tempfile.TemporaryDirectory() as tmp:
            unseen(Path(tmp), args.batch, repeat=args.repeat)
        return
    posts = make_posts(args.posts)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        floor = minimal_loop(fresh_db(folder, "floor"), posts)
        forget_scores()
        alone = classify_alone(posts)
        forget_scores()
        before = one_by_one(fresh_db(folder, "before"), posts)
        forget_scores()
        ours, parts = two_stages(fresh_db(folder, "stages", history=HISTORY), posts, args.batch)
        runs, remembered = get_model().encoder.cache_counts() if get_model().encoder is not None else (0, 0)
        forget_scores()
        with every_post_encoded():
            uncascaded, _ = two_stages(fresh_db(folder, "uncascaded", history=HISTORY), posts, args.batch)
        forget_scores()
        print(f"ingest, {args.posts} {args.texts} posts, one core ({where}), SQLite, full default triage, classify batch {args.batch}, "
              f"settle batch {args.settle_batch}; posts per second of wall time, and per CPU second of this process")
        for label, clock in (("minimal loop: store + cursor, no triage", floor), ("classify() one by one, no database", alone),
                             ("one by one: classify + post + case per post", before),
                             ("socialdesk, every post through the encoder", uncascaded),
                             ("socialdesk: stored, then triaged in batches", ours)):
            print(f"  {label:<48} {args.posts / clock.wall:>8.0f} posts/s   {args.posts / clock.cpu:>8.0f} posts/CPU-s")
        print(f"    {encoder_share(posts)}: {runs} model runs, {remembered} identical token sequences scored from memory")
        print("    socialdesk's wall time: " + ", ".join(f"{name} {100 * t / ours.wall:.0f}%" for name, t in parts.items()))
        if args.profile:
            two_stages(fresh_db(folder, "profiled", history=HISTORY), posts[:1000], args.batch, profile=True)
        if args.skip_webhooks:
            return
        acks = bench_webhooks(folder, args.webhooks, args.backlog)
        print(f"webhook acknowledgement, {args.webhooks} signed X deliveries one after another from another process, "
              f"the bot and its triage on {where}")
        for label, key in (("baseline: bare endpoint, signature check", "baseline"),
                           ("socialdesk: verify, parse, store, ack", "quiet"),
                           (f"socialdesk, {args.backlog}-post backlog triaging", "busy")):
            ms = [v * 1000 for v in acks[key]]
            print(f"  {label:<44} p50 {pct(ms, 50):6.1f} ms   p90 {pct(ms, 90):6.1f} ms   p99 {pct(ms, 99):6.1f} ms   max {max(ms):6.1f} ms")
        if not acks["busy_overlapped"][0]:
            print("  (the backlog finished triage before the last delivery: raise --backlog for full overlap)")


if __name__ == "__main__":
    main()
