"""Core-loop benchmark: mention on (emulated) X -> card request on (emulated) Slack.

Prints latency percentiles per mention, ingest throughput for a backlog, and peak
memory, next to a baseline measured in the same run: the bare SDK round trip
(tweepy read + slack_sdk post, no database, no triage) that no bot can beat.

    python bench/bench_core.py [--mentions 300] [--backlog 1000]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.progress import track  # noqa: E402
from rich.table import Table  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.emulators.stack import CHANNEL, LocalStack  # noqa: E402

TEXTS = [
    "@acme my order never arrived and support does not answer",
    "@acme the app logs me out every five minutes, fix it",
    "@acme I was charged twice this month, I want a refund",
    "@acme where is my parcel? tracking has not moved in a week",
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def card_requests(stack: LocalStack) -> list:
    return stack.slack.received("chat.postMessage")


def bench_latency(stack: LocalStack, n: int) -> list[float]:
    """Per mention: tweet stored on X -> the bot's chat.postMessage reaches Slack."""
    author = stack.x.add_user(username="bench_latency", followers=120)
    latencies = []
    for i in track(range(n), description="socialdesk: mention -> card", transient=True):
        before = len(card_requests(stack))
        stack.x.add_tweet(f"{TEXTS[i % len(TEXTS)]} #{i}", author)
        appeared = time.monotonic()
        stack.poll()
        requests = card_requests(stack)
        assert len(requests) == before + 1, "each mention must make exactly one card"
        latencies.append(requests[-1].received_at - appeared)
    return latencies


def bench_baseline(stack: LocalStack, n: int) -> list[float]:
    """The floor: tweepy reads the mention, slack_sdk posts a plain message; nothing else."""
    network = stack.rt.networks["x"]
    client = WebClient(token=stack.slack.token, base_url=stack.slack.api_url)
    author = stack.x.add_user(username="bench_floor", followers=1)
    user_id = network.own_ids().pop()
    since = stack.x.add_tweet("not a mention, only a since_id marker", author)
    latencies = []
    for i in track(range(n), description="baseline: SDK round trip", transient=True):
        stack.x.add_tweet(f"{TEXTS[i % len(TEXTS)]} floor {i}", author)
        appeared = time.monotonic()
        response = network.client.get_users_mentions(user_id, since_id=since, max_results=100, expansions=["author_id"])
        since = response.meta["newest_id"]
        for tweet in response.data:
            client.chat_postMessage(channel=CHANNEL, text=tweet.text)
        latencies.append(card_requests(stack)[-1].received_at - appeared)
    return latencies


def bench_backlog(stack: LocalStack, n: int) -> tuple[float, int]:
    """A backlog of n mentions (a crisis, or a restart after downtime) in one poll."""
    authors = [stack.x.add_user(username=f"crowd{i}", followers=i * 37) for i in range(50)]
    for i in track(range(n), description="seeding backlog", transient=True):
        stack.x.add_tweet(f"{TEXTS[i % len(TEXTS)]} (backlog {i})", authors[i % len(authors)])
    before = len(card_requests(stack))
    started = time.perf_counter()
    stack.poll()
    elapsed = time.perf_counter() - started
    assert len(card_requests(stack)) - before == n
    return n / elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=300)
    parser.add_argument("--backlog", type=int, default=1000)
    args = parser.parse_args(argv)
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="socialdesk-bench-"))
    with LocalStack(f"sqlite:///{workdir / 'bench.db'}") as stack:
        stack.x.set_limit("mentions", 1_000_000)  # the benchmark polls far more often than X's 15-minute window allows
        stack.poll()  # warm up: get_me, first cursor
        ours = bench_latency(stack, args.mentions)
        baseline = bench_baseline(stack, args.mentions)
        stack.poll()  # the bot catches up with the baseline's mentions before the backlog
        rate, peak = bench_backlog(stack, args.backlog)

    table = Table(title=f"mention -> card request ({args.mentions} mentions, SQLite, emulators on loopback)")
    for column in ("", "p50 ms", "p90 ms", "p99 ms", "mean ms"):
        table.add_column(column, justify="right")
    for name, values in (("baseline: bare SDK round trip", baseline), ("socialdesk: poll, store, triage, card", ours)):
        ms = [v * 1000 for v in values]
        table.add_row(name, f"{pct(ms, 50):.1f}", f"{pct(ms, 90):.1f}", f"{pct(ms, 99):.1f}", f"{statistics.mean(ms):.1f}")
    console.print(table)
    console.print(f"overhead over the floor at p50: {pct(ours, 50) / pct(baseline, 50):.1f}x")
    console.print(f"backlog of {args.backlog} mentions in one poll: {rate:.0f} posts/s into cards, peak RSS of the whole process (bot + emulators) {peak / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
