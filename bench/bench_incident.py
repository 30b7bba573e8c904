"""A crisis burst against an emulated Slack that enforces ~1 message/s per channel (429 + Retry-After).

The whole product runs as in production (real scheduler, real HTTP, real SDKs, SQLite
file): N complaints about one outage arrive within `--seconds` (80% found by polling
X, 20% pushed by signed Facebook webhooks), mixed with a few unrelated and safety
complaints. Printed next to a minimal baseline measured in the same run (one card per
post, posted as fast as Slack lets it, retrying after Retry-After, into another channel):

  - posts sent / stored (0 lost) and safety posts that kept their own card,
  - seconds from the spike being detectable (min_posts complaints stored) to the incident message,
  - Slack calls during the run (chat.postMessage + chat.update), 429s, and retries before Retry-After,
  - how long the last post waits to be visible in Slack.

    python bench/bench_incident.py [--posts 2000] [--seconds 60] [--settle 40]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_sdk import WebClient  # noqa: E402
from slack_sdk.errors import SlackApiError  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.config import FileConfig  # noqa: E402
from bot.emulators.stack import CHANNEL, LocalStack  # noqa: E402
from bot.scheduler import Scheduler  # noqa: E402
from storage import models as m  # noqa: E402

OUTAGE = [
    "@acme checkout is broken", "@acme can't pay, error 500", "@acme is the site down??", "@acme checkout keeps failing with error 500",
    "@acme error 500 when I try to pay", "@acme checkout down for everyone?", "@acme your site is down, can't check out",
    "@acme stuck at checkout, error 500", "@acme payment page won't load, site down?", "@acme checkout error again, fix it",
]
UNRELATED = ["@acme my parcel never arrived, order {i}", "@acme the kettle I bought leaks, order {i}"]
SAFETY = "@acme the charger caught fire and burned my hand, order {i}"


def baseline(slack_url: str, token: str, seconds: float) -> dict:
    """The minimal loop: one message per post, as fast as Slack allows, honouring Retry-After."""
    client = WebClient(token=token, base_url=slack_url, retry_handlers=[])
    posted = calls = limited = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        calls += 1
        try:
            client.chat_postMessage(channel="C0BASELINE", text=f"card {posted}")
            posted += 1
        except SlackApiError as exc:
            limited += 1
            time.sleep(float(exc.response.headers.get("Retry-After", 1)))
    return {"posted": posted, "calls": calls, "429": limited}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=40, help="seconds to watch after the burst")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    stack = LocalStack(f"sqlite:///{tmp}/bench.db", config=FileConfig(), poll_interval_seconds=5).start()
    scheduler = Scheduler(stack.rt)
    scheduler.start()
    page = stack.graph.add_post("Black Friday: 30% off everything today!")
    n_fb = args.posts // 5
    plan = []  # (network, text, is_outage, is_safety)
    for i in range(args.posts):
        if i % 50 == 7:
            text, outage, safety = UNRELATED[i % 2].format(i=i), False, False
        elif i % 200 == 13:
            text, outage, safety = SAFETY.format(i=i), False, True
        else:
            text, outage, safety = f"{OUTAGE[i % len(OUTAGE)]} ({i})", True, False
        plan.append(("facebook" if i < n_fb * 5 and i % 5 == 0 else "x", text, outage, safety))
    sent = {"x": 0, "facebook": 0}
    acks: list[float] = []
    failed_deliveries: list[int] = []
    started = time.monotonic()
    min_posts = stack.rt.config.incidents.min_posts
    seen = {"detectable": None, "incident": None}
    watching = threading.Event()

    def watch() -> None:
        """When the spike became detectable (min_posts complaints stored) and when the incident message appeared."""
        while not watching.is_set() and seen["incident"] is None:
            with stack.rt.db.session() as session:
                complaints = session.scalar(select(func.count(m.Case.id)).where(m.Case.category == "complaint"))
            if seen["detectable"] is None and complaints >= min_posts:
                seen["detectable"] = time.monotonic()
            if any("Incident #" in (msg.get("text") or "") for msg in stack.slack.messages(CHANNEL)):
                seen["incident"] = time.monotonic()
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def push_facebook(text: str, i: int) -> None:
        user = stack.graph.add_user(f"Fan {i}")
        comment = stack.graph.add_comment(page, text, user)
        delivery = stack.graph.webhook(stack.graph.comment_change(comment))
        for _ in range(3):  # Meta retries a delivery that failed or timed out
            t = time.perf_counter()
            try:
                ok = stack.facebook_webhook(delivery).status_code == 200
            except OSError:
                ok = False
            acks.append(time.perf_counter() - t)
            if ok:
                return
            failed_deliveries.append(i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        for i, (network, text, _, _) in enumerate(plan):
            due = started + args.seconds * i / len(plan)
            time.sleep(max(0.0, due - time.monotonic()))
            if network == "x":
                stack.x.add_tweet(text, stack.x.add_user(username=f"p{i}", name=f"Person {i}", followers=i % 900))
            else:
                futures.append(pool.submit(push_facebook, text, i))
            sent[network] += 1
        for f in futures:
            f.result()
    burst_done = time.monotonic()
    deadline = burst_done + args.settle
    while time.monotonic() < deadline:
        with stack.rt.db.session() as session:
            stored = session.scalar(select(func.count(m.Post.id)))
        if stored >= len(plan) and seen["incident"] is not None and time.monotonic() > burst_done + 10:
            with stack.rt.db.session() as session:
                pending = session.scalar(select(func.count(m.Post.id)).where(m.Post.slack_state.in_(("pending", "posting"))))
                waiting = session.scalar(select(func.count(m.SlackMessage.id)).where(m.SlackMessage.state != "posted"))
            if not pending and not waiting:
                break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    watching.set()
    detectable, incident_at = seen["detectable"], seen["incident"]
    scheduler.stop()
    with stack.rt.db.session() as session:
        stored = session.scalar(select(func.count(m.Post.id)))
        in_incident = session.scalar(select(func.count(m.Case.id)).where(m.Case.incident_id.is_not(None)))
        safety_cards = session.scalar(
            select(func.count(m.Post.id)).where(m.Post.text.like("%caught fire%"), m.Post.slack_state == "posted"))
        pending = session.scalar(select(func.count(m.Post.id)).where(m.Post.slack_state.in_(("pending", "posting"))))
        incidents_opened = session.scalar(select(func.count(m.Incident.id)))
    posts_calls = len(stack.slack.received("chat.postMessage"))
    update_calls = len(stack.slack.received("chat.update"))
    all_calls = len([r for r in stack.slack.received() if r.route not in (None, "upload", "response")])
    ours = {"429": len(stack.slack.rate_limited), "early": stack.slack.early_retries}
    stack.slack.rate_limited.clear()
    base = baseline(stack.slack.api_url, stack.slack.token, elapsed)
    stack.stop()
    acks.sort()
    p99 = acks[int(len(acks) * 0.99) - 1] * 1000 if acks else 0
    print(f"burst: {len(plan)} posts in {args.seconds:.0f}s ({sent['x']} X by poll, {sent['facebook']} Facebook by webhook); "
          f"emulated Slack: 1 msg/s/channel, burst {stack.slack.post_burst}")
    print(f"{'':44}{'socialdesk':>14}{'baseline':>12}")
    print(f"{'posts stored (sent ' + str(len(plan)) + ')':44}{stored:>14}{'-':>12}")
    print(f"{'  ...in one incident / incidents opened':44}{f'{in_incident} / {incidents_opened}':>14}{'-':>12}")
    print(f"{'  ...safety posts with their own card':44}{safety_cards:>14}{'-':>12}")
    print(f"{'  ...still waiting for Slack at the end':44}{pending:>14}{len(plan) - base['posted']:>12}")
    latency = f"{incident_at - detectable:.1f}s" if incident_at and detectable else "never"
    print(f"{'incident message after spike detectable':44}{latency:>14}{'-':>12}")
    print(f"{'chat.postMessage calls':44}{posts_calls:>14}{base['calls']:>12}")
    print(f"{'chat.update calls':44}{update_calls:>14}{0:>12}")
    print(f"{'all Slack Web API calls':44}{all_calls:>14}{base['calls']:>12}")
    limited = f"{ours['429']} ({ours['early']})"
    print(f"{'429 answers (early retries)':44}{limited:>14}{base['429']:>12}")
    print(f"{'Facebook webhook ack p99 (failed, retried)':44}{p99:>12.0f}ms{'-':>12}  ({len(failed_deliveries)})")
    print(f"run: {elapsed:.0f}s (the baseline loop ran as long)")


if __name__ == "__main__":
    main()
