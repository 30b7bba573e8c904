"""Torture: kill the real `socialdesk run` at random moments, restart it on the same database, check nothing broke.

    python bench/torture.py [--kills 100] [--rate 0.3] [--seed 1]     # kill -9 and SIGTERM, then converge
    python bench/torture.py --kills 0 --faults 0.2 --duration 180     # one process, 20% of all API calls failing

While mentions arrive on the emulated X, comments on the emulated Facebook Page
(pushed by signed webhooks that are redelivered until acknowledged, as Meta
does), and an agent clicks Approve on cards, the bot is killed soon after it
serves: at a random moment 0.1-1.5 s after it answers /healthz (ingest,
carding), right after a click was acknowledged (clicking), or while a reply is
on its way to X (sending); one kill in five is a SIGTERM (which must exit 0
within its drain bound). With --faults, the emulated Slack, X and Graph answer
that share of all calls with 429, 500, 503 or a hang past the client's timeout.
Then the workload stops, faults stop, one last process runs, and the checks:

* lost posts: written on a network but never shown (card, incident thread, lane);
* duplicate cards: one post in more than one Slack message;
* lost approvals: a click Slack saw acknowledged with no approval behind it;
* duplicate replies: more than one reply from the brand to one post;
* cards not converged: a card whose status line is not the case's state;
* time to converge after the last start.

Exit status 1 if any count is not 0 (CI runs it). The baseline printed beside
the figures is one start of the same process with no kills: how much of the run
is start-up.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import selectinload  # noqa: E402

from bot.domain import incidents  # noqa: E402
from bot.domain.states import CaseStatus, SlackState  # noqa: E402
from bot.emulators.graph import webhook_body, webhook_headers  # noqa: E402
from bot.emulators.process import BotProcess  # noqa: E402
from bot.emulators.stack import CHANNEL, FB_APP_SECRET, LocalStack, card_text  # noqa: E402
from bot.slack import blocks  # noqa: E402
from bot.slack.ids import Action  # noqa: E402
from storage import models as m  # noqa: E402

COMPLAINTS = [
    "@acme my order never arrived and nobody answers, I want a refund",
    "@acme you charged me twice this month, fix it now",
    "@acme the app crashes every time I try to pay, this is unacceptable",
    "@acme still waiting for my refund after three weeks, terrible service",
    "@acme my parcel is lost and support keeps ignoring me",
]
# Where a post may end up and still be seen by a person (the lane and hidden ones are counted and reviewable).
SHOWN = (SlackState.POSTED, SlackState.LANE, SlackState.GLANCED, SlackState.HIDDEN, SlackState.SKIPPED, incidents.LISTED)


class Workload:
    """Customers writing, Meta redelivering webhooks, and an agent clicking Approve."""

    def __init__(self, stack: LocalStack, bot: BotProcess, rng: random.Random, *, rate: float):
        self.stack, self.bot, self.rng, self.rate = stack, bot, rng, rate
        self.stop = threading.Event()           # no more posts or clicks...
        self.finished = threading.Event()       # ...while Meta keeps redelivering what was not acknowledged
        self.tweets: list[str] = []
        self.comments: list[str] = []
        self.webhooks: list[bytes] = []          # deliveries not yet acknowledged
        self.approved: dict[int, float] = {}    # case id -> when Slack saw the click acknowledged
        self.clicked_ok = threading.Event()     # set on each acknowledged click (a kill may follow at once)
        self.page_post = stack.graph.add_post("Spring sale starts today")
        self.n = 0
        self.http = requests.Session()
        self.http.trust_env = False

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=f, daemon=True) for f in (self._write, self._deliver, self._click)]
        for t in threads:
            t.start()
        return threads

    def _write(self):
        while not self.stop.wait(1 / self.rate):
            self.n += 1
            text = f"{self.rng.choice(COMPLAINTS)} (#{self.n})"
            if self.n % 3:
                # Names differ, so suggested replies ("Hi {name}, ...") do too: X refuses duplicate content.
                user = self.stack.x.add_user(username=f"cust{self.n}", name=f"Sam{self.n} K", followers=self.rng.randrange(10, 5000))
                self.tweets.append(self.stack.x.add_tweet(text, user))
            else:
                user = self.stack.graph.add_user(f"Fan{self.n} K")
                comment = self.stack.graph.add_comment(self.page_post, text.replace("@acme ", ""), user)
                self.comments.append(comment)
                self.webhooks.append(webhook_body(self.stack.graph.webhook(self.stack.graph.comment_change(comment))))

    def _deliver(self):
        while not self.finished.wait(0.2):
            for body in list(self.webhooks):
                try:
                    ok = self.http.post(f"{self.bot.url}/webhooks/facebook", data=body, headers=webhook_headers(FB_APP_SECRET, body), timeout=5).status_code == 200
                except requests.RequestException:
                    ok = False
                if ok:
                    self.webhooks.remove(body)
                else:
                    break  # the bot is down: Meta tries again later

    def _click(self):
        while not self.stop.wait(0.3):
            with self.stack.rt.db.session() as session:
                open_cases = list(session.scalars(select(m.Case.id).where(m.Case.card_ts.is_not(None), m.Case.status == CaseStatus.OPEN)))
            todo = [c for c in open_cases if c not in self.approved]
            if not todo:
                continue
            case_id = self.rng.choice(todo)
            try:
                response = self.bot.click("U0AGENT", Action.APPROVE, case_id, timeout=5)
            except requests.RequestException:
                continue  # no answer: Slack shows the person an error, nothing was promised
            if response.status_code == 200:
                self.approved[case_id] = time.monotonic()
                self.clicked_ok.set()


def check(stack: LocalStack, work: Workload) -> dict[str, int | list]:
    """The invariants, counted."""
    with stack.rt.db.session() as session:
        posts = {(p.network, p.external_id): p for p in session.scalars(select(m.Post))}
        cases = list(session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))))
        found_sent = session.scalar(select(func.count(m.AuditEvent.id)).where(m.AuditEvent.action == "found_sent")) or 0
    generated = [("x", t) for t in work.tweets] + [("facebook", c) for c in work.comments]
    # Two-stage ingest marks a post triaged ("done") or set aside with a reason; before it, a stored post is triaged.
    triaged = ("done", "set_aside")
    lost = [key for key in generated if key not in posts or getattr(posts[key], "triage_state", "done") not in triaged
            or (getattr(posts[key], "triage_state", "done") == "done" and posts[key].slack_state not in SHOWN)]
    set_aside = [key for key in generated if key in posts and getattr(posts[key], "triage_state", "") == "set_aside"]
    in_incidents = [key for key in generated if key in posts and posts[key].slack_state == incidents.LISTED]
    routed_away = [key for key in generated if key in posts and posts[key].slack_state in (SlackState.LANE, SlackState.GLANCED, SlackState.HIDDEN)]
    messages = stack.slack.messages(CHANNEL)  # thread replies included
    carded = Counter((msg.get("metadata") or {}).get("event_payload", {}).get("post_id") for msg in messages
                     if (msg.get("metadata") or {}).get("event_type") == "socialdesk_post")
    duplicate_cards = [post_id for post_id, n in carded.items() if n > 1]
    by_case = {c.id: c for c in cases}
    lost_approvals = [case_id for case_id in work.approved
                      if case_id not in by_case or not by_case[case_id].replies or by_case[case_id].status == CaseStatus.OPEN]
    duplicate_replies = [t for t in work.tweets if len(stack.x.replies_to(t)) > 1]
    duplicate_replies += [c for c in work.comments if len(stack.graph.replies_to(c)) > 1]
    by_ts = {msg["ts"]: msg for msg in messages}
    not_converged = [c.id for c in cases if c.card_ts and (c.card_ts not in by_ts or blocks.status_line(c) not in card_text(by_ts[c.card_ts]))]
    unsettled = [c.id for c in cases if c.status == CaseStatus.REPLYING]
    return {
        "posts": len(generated), "lost posts": len(lost), "set aside (shown with a reason)": len(set_aside),
        "routed to the lane or hidden": len(routed_away), "listed in an incident": len(in_incidents),
        "cards": sum(carded.values()), "duplicate cards": len(duplicate_cards),
        "approvals acknowledged": len(work.approved), "lost approvals": len(lost_approvals),
        "answered": sum(1 for c in by_case.values() if c.status == CaseStatus.ANSWERED),
        "failed, shown with Retry": sum(1 for c in by_case.values() if c.status == CaseStatus.FAILED),
        "may have been sent (looked up)": sum(1 for c in by_case.values() if c.status == CaseStatus.FAILED
                                              and any(r.uncertain for r in c.replies)),
        "found on the network, not resent": found_sent,
        "still sending": len(unsettled),
        "duplicate replies": len(duplicate_replies), "cards not converged": len(not_converged),
        "_reasons": Counter((c.last_error or "?")[:90] for c in by_case.values() if c.status == CaseStatus.FAILED).most_common(4),
        "_detail": {"lost": lost[:10], "duplicate_cards": duplicate_cards[:10], "lost_approvals": lost_approvals[:10],
                    "duplicate_replies": duplicate_replies[:10], "not_converged": not_converged[:10], "unsettled": unsettled[:10]},
    }


BAD = ("lost posts", "duplicate cards", "lost approvals", "duplicate replies", "cards not converged", "still sending")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--faults", type=float, default=0.0, help="share of all API calls that fail (0.2 = 20%%)")
    parser.add_argument("--duration", type=float, default=0.0, help="how long the process runs under load before the kills")
    parser.add_argument("--rate", type=float, default=0.3, help="new posts per second (Slack takes about 1 message/s per channel)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--converge", type=float, default=300.0, help="seconds allowed to converge at the end")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    folder = Path(tempfile.mkdtemp(prefix="socialdesk-torture-"))
    stack = LocalStack(f"sqlite:///{folder / 'torture.db'}").start()
    for route in ("mentions", "search", "create_tweet", "dm", "me"):
        stack.x.set_limit(route, 1_000_000)  # the bot's pacing is not under test here
    # Every post its own card (no incident grouping), so carding and clicking are what gets killed.
    (folder / "socialdesk.toml").write_text("[incidents]\nmin_posts = 1000000\n")
    bot = BotProcess(stack, folder / "bot.log", extra_env={"POLL_INTERVAL_SECONDS": "5", "SOCIALDESK_DRAIN_SECONDS": "10",
                                                           "SOCIALDESK_CONFIG": str(folder / "socialdesk.toml")})
    work = Workload(stack, bot, rng, rate=args.rate)
    started = time.monotonic()
    kills = Counter()
    unclean, startups = [], []
    figures: dict = {}

    def start() -> None:
        t0 = time.monotonic()
        bot.start().wait_ready(120)
        startups.append(time.monotonic() - t0)

    try:
        start()  # the baseline: one start with nothing killed
        work.run()
        if args.faults:
            for emulator in (stack.slack, stack.x, stack.graph):
                emulator.chaos(args.faults, seed=rng.randrange(1 << 30))
        if args.duration:
            time.sleep(args.duration)
        for i in range(args.kills):
            mode = rng.choice(("ingest or carding", "ingest or carding", "after a click", "while sending"))
            if mode == "after a click":
                work.clicked_ok.clear()
                work.clicked_ok.wait(3)
            elif mode == "while sending":
                before = len(stack.x.received("create_tweet"))
                deadline = time.monotonic() + 3
                while len(stack.x.received("create_tweet")) == before and time.monotonic() < deadline:
                    time.sleep(0.005)
            else:
                time.sleep(rng.uniform(0.1, 1.5))
            sig = signal.SIGTERM if rng.random() < 0.2 else signal.SIGKILL
            t0 = time.monotonic()
            bot.signal(sig)
            code = bot.wait(60)
            kills[f"{'SIGTERM' if sig == signal.SIGTERM else 'kill -9'} ({mode})"] += 1
            if sig == signal.SIGTERM and (code != 0 or time.monotonic() - t0 > 15):
                unclean.append((code, round(time.monotonic() - t0, 1)))
            start()
            print(f"\r{i + 1}/{args.kills} kills, {work.n} posts written", end="", flush=True, file=sys.stderr)
        work.stop.set()
        for emulator in (stack.slack, stack.x, stack.graph):
            emulator.clear_faults()
        print(file=sys.stderr)
        last_start = time.monotonic()
        deadline = last_start + args.converge
        while True:
            figures = check(stack, work)
            if work.webhooks:
                figures["lost posts"] = max(figures["lost posts"], len(work.webhooks))
            if all(figures[k] == 0 for k in BAD) or time.monotonic() > deadline:
                break
            time.sleep(1)
        converged_in = time.monotonic() - last_start
    finally:
        work.stop.set()
        work.finished.set()
        bot.stop(30)
        stack.stop()
    total = time.monotonic() - started
    detail = figures.pop("_detail", {})
    reasons = figures.pop("_reasons", [])
    print(f"torture: {sum(kills.values())} kills in {total:.0f}s at {args.rate} posts/s"
          + (f", {args.faults:.0%} of Slack/X/Graph calls failing" + (f" for {args.duration:.0f}s" if args.duration else "") if args.faults else ""))
    for kind, n in sorted(kills.items()):
        print(f"  {kind:<34} {n}")
    for name, value in figures.items():
        print(f"  {name:<34} {value}")
    for reason, n in reasons:
        print(f"    failed: {n} x {reason}")
    print(f"  {'SIGTERM exits not clean (0, <15s)':<34} {len(unclean)}")
    print(f"  {'time to converge after last start':<34} {converged_in:.1f}s")
    print(f"  {'start-up (baseline: first start)':<34} {startups[0]:.1f}s; restarts median {statistics.median(startups[1:] or [0]):.1f}s, "
          f"max {max(startups[1:] or [0]):.1f}s, {sum(startups):.0f}s of {total:.0f}s in all")
    broken = [k for k in BAD if figures.get(k)] + (["unclean SIGTERM"] if unclean else [])
    if broken:
        print("BROKEN:", ", ".join(broken), detail, unclean, f"(log: {folder / 'bot.log'})")
        return 1
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
