"""`socialdesk demo`: the whole loop offline, each step printed.

Local emulators stand in for Slack, X and the Graph API; the bot is the real one,
serving real HTTP, and the "agent" clicks by sending signed requests exactly as
Slack would (and Meta's webhook deliveries are signed as Meta signs them).
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.emulators.stack import CHANNEL, LocalStack, card_text
from bot.slack import blocks
from bot.slack.ids import Action, Block, View
from storage import models as m

AGENT = "U0DEMOAGENT"
SLACK_DATE = re.compile(r"<!date\^\d+\^[^|]*\|([^>]*)>")  # printed as its plain fallback

# Written for the demo (not real customers).
CUSTOMERS = [
    ("maya_travels", "Maya Okafor", 48_200, "@acme my order #4471 never arrived and nobody answers my emails. Two weeks! I want a refund."),
    ("devon_builds", "Devon Reyes", 1_350, "@acme is your checkout down? I keep getting an error 500 when I try to pay"),
    ("li.wei", "Li Wei", 220, "@acme how do I change the delivery address on an order I already placed?"),
    ("sunny_side", "Priya Natarajan", 9_800, "@acme shout-out to Sam in your support team, fixed my account in five minutes. Brilliant!"),
    ("grumpy_gus", "Gus Hall", 310, "@acme the blender I bought last month stopped working after 3 uses, really disappointed"),
]
FACEBOOK_POST = "Our spring sale starts today: 20% off everything, in store and online!"
FACEBOOK_COMMENTS = [
    ("Ana Souza", "Ordered the blue kettle 3 weeks ago, still not delivered and no reply to my emails. Really disappointed."),
    ("Tom Becker", "Does the sale include the coffee grinders? Can't find them on the website."),
]


def run_demo(keep_running: bool = False, console: Console | None = None) -> int:
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="socialdesk-demo-"))
    console.print(Panel.fit("socialdesk demo: emulated X, Facebook and Slack on this machine, the real bot in between.\n"
                            f"Database: SQLite at {workdir / 'socialdesk.db'}", title="socialdesk"))
    with LocalStack(f"sqlite:///{workdir / 'socialdesk.db'}") as stack:
        _step(console, 1, f"Bot serving HTTP at {stack.url} (POST /slack/events, /webhooks/x, /webhooks/facebook, GET /healthz, /metrics)")
        console.print(f"   emulated Slack Web API at {stack.slack.api_url}, emulated X API at {stack.x.url}, "
                      f"emulated Graph API at {stack.graph.url}")

        _step(console, 2, "Customers post about @acme on X")
        tweets = {}
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("posting sample tweets", total=len(CUSTOMERS))
            for handle, name, followers, text in CUSTOMERS:
                user = stack.x.add_user(username=handle, name=name, followers=followers)
                tweets[handle] = (user, stack.x.add_tweet(text, user))
                progress.advance(task)
        for handle, _, _, text in CUSTOMERS:
            console.print(f"   [cyan]@{handle}[/cyan]: {text}")

        _step(console, 3, "The bot polls X mentions (tweepy -> emulated X), triages, and posts cards to Slack")
        result = stack.poll()
        console.print(f"   {len(result.new_cases)} new cases, {result.lane} in the low-priority lane, {result.dropped} hidden (spam/own posts), {result.duplicates} duplicates")
        _show_cards(console, stack)

        cases = _cases(stack)
        first, second, third = cases[0], cases[1], cases[2]

        _step(console, 4, f"Agent {AGENT} clicks [bold]Approve[/bold] on the most urgent card (a signed block_actions request)")
        response = stack.click(AGENT, Action.APPROVE, first.id)
        console.print(f"   Slack -> bot: HTTP {response.status_code} (acknowledged within Slack's 3 seconds)")
        reply = _wait_reply(stack, first)
        console.print(f"   bot -> X: reply [green]{reply['id']}[/green] to @{first.root.author_handle}: {reply['text']!r}")
        _show_status(console, stack, first.id)

        _step(console, 5, "Agent clicks [bold]Edit[/bold]: a modal opens with the draft; the agent rewrites it and sends")
        stack.click(AGENT, Action.EDIT, second.id)
        view = stack.slack.wait_for(lambda: stack.slack.opened_views, what="the edit modal")[-1]
        console.print(f"   views.open: modal '{view['title']['text']}' with the draft")
        edited = f"Hi {second.root.author_name.split()[0]}, sorry for the trouble. We're on it and will update you here shortly."
        submit = stack.submit(AGENT, View.EDIT, second.id, {Block.REPLY: edited})
        console.print(f"   view_submission -> HTTP {submit.status_code}")
        reply = _wait_reply(stack, second)
        console.print(f"   bot -> X: {reply['text']!r}")

        _step(console, 6, "Agent clicks [bold]Move to DM[/bold]: a short public reply, the details in a direct message")
        stack.submit(AGENT, View.MOVE_TO_DM, third.id, {
            Block.PUBLIC: "Sorry about this! We've sent you a DM so we can sort it out.",
            Block.PRIVATE: "Hi, thanks for your patience. Could you send us your order number and the email on the account? We'll sort it out right away.",
        })
        reply = _wait_reply(stack, third)
        stack.x.wait_for(lambda: stack.x.dms, what="the DM")
        console.print(f"   bot -> X DM to @{third.root.author_handle}: {stack.x.dms[-1]['text']!r}")
        console.print(f"   bot -> X public reply: {reply['text']!r}")

        _step(console, 7, "A follow-up from the same customer lands in the card's thread, not a new card")
        user, tweet_id = tweets[first.root.author_handle]
        stack.x.add_tweet("@acme thanks, just checked my DMs", user, in_reply_to=tweet_id)
        stack.poll()
        console.print(f"   cards in the channel: {len(stack.cards())} (unchanged); thread replies: {len(stack.slack.thread(CHANNEL, first.card_ts)) - 1}")

        _facebook(console, stack)
        _incident(console, stack)

        _step(console, 12, "Where things stand")
        _show_cards(console, stack)
        if keep_running:
            console.print(f"\nStill running: bot at {stack.url}, Slack emulator at {stack.slack.api_url}. Ctrl-C to stop.")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
    console.print("\n[bold green]Demo finished.[/bold green] Next: connect a real workspace (README, 'Connect a real workspace').")
    return 0


def _facebook(console: Console, stack: LocalStack) -> None:
    """Steps 8-10: comments on the brand's Page, in by webhook and by polling, one answered under the comment."""
    _step(console, 8, "Customers comment on the brand's Facebook Page")
    post_id = stack.graph.add_post(FACEBOOK_POST)
    comments = [stack.graph.add_comment(post_id, text, stack.graph.add_user(name)) for name, text in FACEBOOK_COMMENTS]
    console.print(f"   Page post: {FACEBOOK_POST!r}")
    for name, text in FACEBOOK_COMMENTS:
        console.print(f"   [cyan]{name}[/cyan]: {text}")

    _step(console, 9, "Meta delivers the first comment by webhook; a poll finds both (the first one is not carded twice)")
    response = stack.facebook_webhook(stack.graph.webhook(stack.graph.comment_change(comments[0])))
    console.print(f"   Meta -> bot: POST /webhooks/facebook, signed X-Hub-Signature-256 -> HTTP {response.status_code}")
    stack.slack.wait_for(lambda: _case_of(stack, comments[0]), timeout=15, what="the webhook's case")
    result = stack.poll("facebook")
    version = stack.rt.networks["facebook"].version
    console.print(f"   poll (facebook-sdk -> emulated Graph API {version}): {len(result.new_cases)} new case(s), "
                  f"{result.duplicates} already in from the webhook")
    case = _case_of(stack, comments[0])
    stack.slack.wait_for(lambda: _case_of(stack, comments[0]).card_ts, timeout=15, what="the Facebook card")
    message = next(msg for msg in stack.cards() if msg["ts"] == _case_of(stack, comments[0]).card_ts)
    for line in card_text(message).splitlines():
        if line.startswith(("On:", ":envelope:")):
            console.print("   card: " + SLACK_DATE.sub(r"\1", line))

    _step(console, 10, f"Agent clicks [bold]Approve[/bold] on {case.root.author_name}'s card: the answer goes under the comment")
    stack.click(AGENT, Action.APPROVE, case.id)
    reply = stack.graph.wait_for(lambda: stack.graph.replies_to(comments[0]), timeout=15, what="the reply on Facebook")[-1]
    console.print(f"   bot -> Facebook: POST /{version}/{comments[0]}/comments: {reply['message']!r}")
    _show_status(console, stack, case.id)


OUTAGE = [
    ("kira_b", "@acme checkout is broken, can't pay"), ("omar_t", "@acme is the site down?? checkout won't load"),
    ("jess_w", "@acme error 500 at checkout again"), ("li_na", "@acme checkout keeps failing with error 500"),
]


def _incident(console: Console, stack: LocalStack) -> None:
    """A small incident: one message for several complaints about the same outage, not a card each."""
    from bot.flows import incidents as incident_flow

    _step(console, 11, "Checkout breaks: an agent declares an incident, and complaints about it join it instead of becoming cards")
    response = stack.command(AGENT, "incident start checkout down")
    console.print(f"   /socialdesk incident start checkout down -> {response.json().get('text', '')}")
    message = stack.slack.wait_for(
        lambda: next((c for c in stack.cards() if "Incident #" in (c.get("text") or "")), None), timeout=15, what="the incident message")
    for handle, text in OUTAGE:
        stack.x.add_tweet(text, stack.x.add_user(username=handle, name=handle.split("_")[0].title(), followers=120))
        console.print(f"   [cyan]@{handle}[/cyan]: {text}")
    stack.poll()
    incident_flow.tick(stack.rt)  # the job that batches new posts into the incident's thread
    incident_flow.refresh_due(stack.rt, force=1)
    thread = stack.slack.wait_for(lambda: [r for r in stack.slack.thread(CHANNEL, message["ts"]) if r["ts"] != message["ts"]],
                                  timeout=15, what="the incident's thread")
    console.print(f"   cards in the channel: {len(stack.cards())} (unchanged: no card for the {len(OUTAGE)} complaints)")
    edited = stack.slack.updates(CHANNEL, message["ts"])
    console.print(f"   incident message: {edited[-1]['text'] if edited else message['text']}; its thread: {thread[0]['text']}")


def _case_of(stack: LocalStack, external_id: str) -> m.Case | None:
    return next((c for c in _cases(stack) if c.root.external_id == external_id), None)


def _step(console: Console, number: int, text: str) -> None:
    console.print(f"\n[bold]{number}.[/bold] {text}")


def _cases(stack: LocalStack) -> list[m.Case]:
    order = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
    with stack.rt.db.session() as session:
        cases = list(session.scalars(select(m.Case).options(selectinload(m.Case.posts), selectinload(m.Case.replies))))
    return sorted(cases, key=lambda c: (order.get(c.priority, 9), c.id))


def _wait_reply(stack: LocalStack, case: m.Case) -> dict:
    return stack.x.wait_for(lambda: stack.x.replies_to(case.root.external_id), timeout=15, what="the reply on X")[-1]


def _show_status(console: Console, stack: LocalStack, case_id: int) -> None:
    def status_on_card() -> str | None:
        """The card's status line once chat.update has happened (the database changes a moment before)."""
        with stack.rt.db.session() as session:
            card_ts = session.get(m.Case, case_id).card_ts
        message = next((msg for msg in stack.cards() if msg["ts"] == card_ts), None)
        lines = card_text(message).splitlines() if message else []
        return next((line for line in lines if "Replied by" in line or "Not sent" in line), None)

    status = stack.slack.wait_for(status_on_card, timeout=15, what="the card update")
    console.print("   chat.update: card now says: " + SLACK_DATE.sub(r"\1", status))


def _show_cards(console: Console, stack: LocalStack) -> None:
    table = Table(title=f"#{CHANNEL} (emulated Slack)", show_lines=True)
    for column in ("case", "priority", "from", "post", "triage", "status"):
        table.add_column(column, overflow="fold")
    for case in _cases(stack):
        root = case.root
        table.add_row(
            str(case.id),
            case.priority,
            f"@{root.author_handle}" if root.author_handle else root.author_name,
            root.text[:90],
            " · ".join(blocks.triage_tags(case)),
            case.status + (f" by {case.answered_by}" if case.answered_by else ""),
        )
    console.print(table)
