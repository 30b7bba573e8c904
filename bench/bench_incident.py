"""A crisis burst against an emulated Slack that enforces ~1 message/s per channel (429 + Retry-After).

The whole product runs as in production (real scheduler, real HTTP, real SDKs, SQLite
file; X's monthly budget off, see `main`): N complaints about one outage arrive within
`--seconds` (80% found by polling X, 20% pushed by signed Facebook webhooks), mixed with
a few unrelated and safety complaints. Printed next to a minimal baseline measured in the same run (one card per
post, posted as fast as Slack lets it, retrying after Retry-After, into another channel):

  - posts sent / stored (0 lost), outage posts in an incident (and in the largest one), incidents
    opened, unrelated or safety posts in an incident, and safety posts that kept their own card,
  - seconds from the spike being detectable (min_posts complaints stored) to the incident message,
  - Slack calls during the run (chat.postMessage + chat.update), 429s, and retries before Retry-After,
  - how long the last post waits to be visible in Slack.

    python bench/bench_incident.py [--posts 2000] [--seconds 60] [--settle 40]

With `--answer`, the bulk answer instead: a real `socialdesk run` process holds an
incident of `--posts` complaints (X and Facebook), the team approves one answer for
all, and the emulated networks enforce their rate limits (X: `--x-writes` replies
per `--x-window` seconds, 429 past that; the Graph API: `--fb-limited` rate-limit
errors). Half-way through, the process is killed with `kill -9` and started again
on the same database. Then every post's replies are counted on the X and Graph
emulators. The baseline is the minimal loop: one reply per post straight through
the same network adapters, sleeping out each Retry-After, measured in the same run.

    python bench/bench_incident.py --answer [--posts 400] [--x-writes 60] [--x-window 10]
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime, timezone
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_sdk import WebClient  # noqa: E402
from slack_sdk.errors import SlackApiError  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.config import FileConfig, XConfig  # noqa: E402
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


ANSWER = "We know checkout is down and are fixing it right now. Sorry, and thank you for your patience."


def _wait(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        time.sleep(interval)


def answer_run(args) -> None:
    """The bulk answer through a real process, with kill -9 half-way: each post answered exactly once?"""
    from bot.emulators.process import BotProcess

    tmp = Path(tempfile.mkdtemp())
    stack = LocalStack(f"sqlite:///{tmp}/bench.db", config=FileConfig()).start()
    stack.x.set_limit("create_tweet", args.x_writes, window_seconds=args.x_window)
    page = stack.graph.add_post("Black Friday: 30% off everything today!")
    (tmp / "socialdesk.toml").write_text("[incidents]\nmin_posts = 1000000  # only the declared incident: no spike opens a second one\n")
    env = {"POLL_INTERVAL_SECONDS": "5", "SOCIALDESK_CONFIG": str(tmp / "socialdesk.toml")}
    bots = [BotProcess(stack, tmp / "bot.log", extra_env=env)]
    try:
        _answer_run(args, stack, bots, page, env)
    finally:
        for bot in bots:
            bot.stop()
        stack.stop()


def _answer_run(args, stack, bots: list, page: str, env: dict) -> None:
    from bot.emulators import slack_client
    from bot.emulators.process import BotProcess
    from bot.networks.base import NetworkError, Target
    from bot.slack.ids import Block, View, incident_ref

    bot = bots[0].start().wait_ready()
    signed = lambda body: slack_client.post(f"{bot.url}/slack/events", body, stack.signer, timeout=30)  # noqa: E731
    signed(slack_client.slash_command("U0AGENT", text="incident start checkout down", channel_id=CHANNEL))
    tweets, comments = [], []
    for i in range(args.posts):
        text = f"{OUTAGE[i % len(OUTAGE)]} ({i})"
        if i % 5 == 0:
            comments.append(stack.graph.add_comment(page, text.replace("@acme ", ""), stack.graph.add_user(f"Fan {i}")))
        else:
            tweets.append(stack.x.add_tweet(text, stack.x.add_user(username=f"p{i}", name=f"Person {i}", followers=i % 900)))

    def triaged() -> int:
        """Stored and triaged (ingest stores first and triages in batches): each is now a card or in the incident."""
        with stack.rt.db.session() as session:
            return session.scalar(select(func.count(m.Post.id)).where(m.Post.triage_state == "done"))
    _wait(lambda: triaged() >= args.posts, 300, "every post stored and triaged")
    with stack.rt.db.session() as session:
        members = set(session.scalars(select(m.Post.external_id).join(m.Case, m.Post.case_id == m.Case.id).where(m.Case.incident_id == 1)))
    tweets, comments = [t for t in tweets if t in members], [c for c in comments if c in members]  # the rest got cards of their own
    eligible = len(tweets) + len(comments)
    if args.fb_limited:
        stack.graph.rate_limit("comment", code=4, times=args.fb_limited)

    def replies() -> tuple[dict[str, int], dict[str, int]]:
        return ({t: len(stack.x.replies_to(t)) for t in tweets}, {c: len(stack.graph.replies_to(c)) for c in comments})

    def answered() -> int:
        x, fb = replies()
        return sum(1 for n in [*x.values(), *fb.values()] if n)

    started = time.monotonic()
    body = slack_client.view_submission("U0AGENT", View.INCIDENT_ANSWER.value, incident_ref(1),
                                        {Block.REPLY.value: {"incident_draft": ANSWER}})
    assert signed(body).status_code == 200
    _wait(lambda: answered() >= eligible // 2, 600, "half the posts answered", interval=0.02)
    bot.process.kill()  # kill -9: no drain, whatever was being sent is cut off
    bot.wait(30)
    killed_at, at_kill = time.monotonic() - started, answered()
    with stack.rt.db.session() as session:
        in_flight = session.scalar(select(func.count(m.Reply.id)).where(m.Reply.status == "sending"))
    bots.append(BotProcess(stack, bot.log_path, extra_env=env))  # the same database, a new process
    bot = bots[-1].start().wait_ready()

    seen = {}

    def settled() -> bool:
        """Nothing queued and nothing in flight: a send cut off by kill -9 is settled after the outbox's SENDING_TIMEOUT,
        by looking for the reply on the network before anything is resent."""
        if "all" not in seen and answered() >= eligible:
            seen["all"] = time.monotonic() - started
        with stack.rt.db.session() as session:
            return not session.scalar(select(func.count(m.Reply.id)).where(m.Reply.status.in_(("queued", "sending"))))
    _wait(settled, 1200, "every reply settled")
    took = time.monotonic() - started
    on_network = seen.get("all", took)
    bot.stop()
    x, fb = replies()
    counts = Counter([*x.values(), *fb.values()])
    with stack.rt.db.session() as session:
        states = Counter(session.scalars(select(m.Reply.status)))
        x_calls = len(stack.x.received("create_tweet"))
    ours_429 = stack.x.limited.get("create_tweet", 0) + args.fb_limited

    # the baseline: the same number of fresh posts, answered straight through the adapters, sleeping out Retry-After
    stack.x.set_limit("create_tweet", args.x_writes, window_seconds=args.x_window)
    stack.x.limited.clear()
    if args.fb_limited:
        stack.graph.rate_limit("comment", code=4, times=args.fb_limited)
    targets = []
    for i in range(eligible):
        if i % 5 == 0:
            c = stack.graph.add_comment(page, f"base {i}", stack.graph.add_user(f"Base {i}"))
            targets.append(("facebook", Target(external_id=c, author_external_id="", author_handle="", created_at=datetime.now(timezone.utc),
                                               kind="comment")))
        else:
            user = stack.x.add_user(username=f"b{i}", name=f"B {i}")
            t = stack.x.add_tweet(f"@acme base {i}", user)
            targets.append(("x", Target(external_id=t, author_external_id=user, author_handle=f"b{i}", created_at=datetime.now(timezone.utc))))
    base_started = time.monotonic()
    for network, target in targets:
        while True:
            try:
                stack.rt.networks[network].reply_public(target, f"@{target.author_handle} {ANSWER}" if network == "x" else ANSWER)
                break
            except NetworkError as exc:
                time.sleep(exc.retry_after or 1.0)
    base_took = time.monotonic() - base_started
    base_429 = stack.x.limited.get("create_tweet", 0) + args.fb_limited
    print(f"bulk answer: {eligible} of {args.posts} posts in the incident ({len(tweets)} X, {len(comments)} Facebook); X allows {args.x_writes} "
          f"replies per {args.x_window}s (429 past that), the Graph API answers {args.fb_limited} rate-limit errors")
    print(f"{'':48}{'socialdesk':>14}{'baseline':>12}")
    print(f"{'posts answered exactly once':48}{counts.get(1, 0):>14}{len(targets):>12}")
    print(f"{'posts answered twice or more':48}{sum(v for k, v in counts.items() if k > 1):>14}{0:>12}")
    print(f"{'posts not answered':48}{counts.get(0, 0):>14}{0:>12}")
    print(f"{'  ...of which cut off mid-send by kill -9':48}{in_flight:>14}{'-':>12}")
    outbox = "/".join(str(states.get(s, 0)) for s in ("sent", "failed", "sending"))
    print(f"{'replies in the outbox (sent/failed/sending)':48}{outbox:>14}{'-':>12}")
    print(f"{'rate-limit answers met (X 429 + Graph)':48}{ours_429:>14}{base_429:>12}")
    print(f"{'seconds until every post had its reply':48}{on_network:>14.1f}{base_took:>12.1f}")
    print(f"{'seconds until the outbox settled':48}{took:>14.1f}{base_took:>12.1f}  (a send cut off mid-way is looked up "
          "on the network after SENDING_TIMEOUT, never resent blindly)")
    print(f"kill -9 after {killed_at:.1f}s with {at_kill} posts answered; X create_tweet calls: {x_calls}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=40, help="seconds to watch after the burst")
    parser.add_argument("--answer", action="store_true", help="the bulk answer with kill -9 half-way (see the docstring)")
    parser.add_argument("--x-writes", type=int, default=60)
    parser.add_argument("--x-window", type=int, default=10)
    parser.add_argument("--fb-limited", type=int, default=0, help="Graph (#4) errors to inject; each makes both sides wait Meta's 5 min")
    args = parser.parse_args()
    if args.answer:
        answer_run(args)
        return
    tmp = tempfile.mkdtemp()
    # No X budget: the default $100 a month paces polling to the month's straight line plus one day's share,
    # so on the 1st of a month this burst's polls stop after about $4 of reads (800 of 1,600 posts, measured
    # 1 Dec) and the rest wait for the budget; the run would measure the calendar, not the crisis.
    stack = LocalStack(f"sqlite:///{tmp}/bench.db", config=FileConfig(x=XConfig(monthly_budget=0)), poll_interval_seconds=5).start()
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
    seen = {"detectable": None, "opened": None, "incident": None}
    watching = threading.Event()

    def watch() -> None:
        """When the spike became detectable (min_posts complaints stored) and when the incident message appeared."""
        while not watching.is_set() and seen["incident"] is None:
            with stack.rt.db.session() as session:
                complaints = session.scalar(select(func.count(m.Case.id)).where(m.Case.category == "complaint"))
                opened = session.scalar(select(func.count(m.Incident.id)))
            if seen["detectable"] is None and complaints >= min_posts:
                seen["detectable"] = time.monotonic()
            if seen["opened"] is None and opened:
                seen["opened"] = time.monotonic()
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
        joined = session.execute(select(m.Post.text, m.Case.incident_id).join(m.Case, m.Post.case_id == m.Case.id)).all()
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
    outage_texts = {text for _, text, outage, _ in plan if outage}
    sizes = Counter(incident for text, incident in joined if incident and text in outage_texts)
    print(f"{'  ...in an incident / incidents opened':44}{f'{in_incident} / {incidents_opened}':>14}{'-':>12}")
    print(f"{'  ...outage posts in an incident (of ' + str(len(outage_texts)) + ')':44}{sum(sizes.values()):>14}{'-':>12}")
    print(f"{'  ...of which in the largest incident':44}{max(sizes.values(), default=0):>14}{'-':>12}")
    main_incident = sizes.most_common(1)[0][0] if sizes else None
    others = Counter(i == main_incident for text, i in joined if i and text not in outage_texts)  # unrelated and safety posts
    print(f"{'  ...other posts in it / in another incident':44}{f'{others[True]} / {others[False]}':>14}{'-':>12}")
    print(f"{'  ...safety posts with their own card':44}{safety_cards:>14}{'-':>12}")
    print(f"{'  ...still waiting for Slack at the end':44}{pending:>14}{len(plan) - base['posted']:>12}")
    latency = f"{incident_at - detectable:.1f}s" if incident_at and detectable else "never"
    print(f"{'incident message after spike detectable':44}{latency:>14}{'-':>12}")
    opened_at = seen["opened"]
    if opened_at and detectable and incident_at:
        print(f"{'  ...incident opened (detection)':44}{f'{opened_at - detectable:.1f}s':>14}{'-':>12}")
        print(f"{'  ...then in Slack (the queue)':44}{f'{incident_at - opened_at:.1f}s':>14}{'-':>12}")
    print(f"{'chat.postMessage calls':44}{posts_calls:>14}{base['calls']:>12}")
    print(f"{'chat.update calls':44}{update_calls:>14}{0:>12}")
    print(f"{'all Slack Web API calls':44}{all_calls:>14}{base['calls']:>12}")
    limited = f"{ours['429']} ({ours['early']})"
    print(f"{'429 answers (early retries)':44}{limited:>14}{base['429']:>12}")
    print(f"{'Facebook webhook ack p99 (failed, retried)':44}{p99:>12.0f}ms{'-':>12}  ({len(failed_deliveries)})")
    print(f"run: {elapsed:.0f}s (the baseline loop ran as long)")


if __name__ == "__main__":
    main()
