"""X webhook benchmark: what filing replies under their thread root costs.

An Account Activity event names only a reply's parent, so socialdesk asks X for
the thread root (one batched GET /2/tweets per delivery, billed as a post read)
before storing it; a top-level mention needs no lookup. Both go through the
bot's real /webhooks/x endpoint (signature check, parse, store, 200) against
the emulators; the top-level mentions are the baseline, measured in the same run.

    python bench/bench_x_webhook.py [--deliveries 200]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bot.emulators.stack import LocalStack  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def deliver(stack: LocalStack, tweet_ids: list[str]) -> list[float]:
    """Seconds from POST to the bot's 200, per delivery of one tweet."""
    took = []
    for tweet_id in tweet_ids:
        started = time.perf_counter()
        response = stack.x_webhook([tweet_id])
        took.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalStack(f"sqlite:///{tmp}/bench.db") as stack:
        author = stack.x.add_user(username="bench_author", followers=50)
        other = stack.x.add_user(username="bench_other", followers=50)
        roots, replies = [], []
        for i in range(args.deliveries):
            root = stack.x.add_tweet(f"@acme my order #{i} never arrived", other)
            middle = stack.x.add_tweet(f"@bench_other @acme same here #{i}", other, in_reply_to=root)
            replies.append(stack.x.add_tweet(f"@bench_other @acme and mine, day 9 #{i}", author, in_reply_to=middle))
            roots.append(stack.x.add_tweet(f"@acme the app logs me out #{i}", author))
        deliver(stack, roots[:5] + replies[:5])  # warm up: first get_me, connections, model load
        baseline = deliver(stack, roots[5:])
        measured = deliver(stack, replies[5:])
        lookups = len(stack.x.received("lookup"))
    table = Table(title=f"X webhook delivery -> 200 ({args.deliveries - 5} deliveries each)")
    for column in ("", "p50", "p90", "p99", "mean"):
        table.add_column(column)
    for name, values in (("baseline: top-level mention (no lookup)", baseline),
                         ("reply: thread root looked up on X", measured)):
        table.add_row(name, *(f"{pct(values, p) * 1000:.1f} ms" for p in (50, 90, 99)),
                      f"{statistics.mean(values) * 1000:.1f} ms")
    Console().print(table)
    Console().print(f"GET /2/tweets lookups made: {lookups} (one per delivery with replies)")


if __name__ == "__main__":
    main()
