"""Prometheus metrics served on GET /metrics.

`socialdesk run` is two processes (bot.worker_process): it sets
``PROMETHEUS_MULTIPROC_DIR`` before anything imports prometheus_client, each
process keeps its counters in files there, and /metrics adds them up
(prometheus_client's multiprocess mode).  The gauges are set by the web process
only; in that mode they report its latest value.
"""
import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

POSTS_INGESTED = Counter("socialdesk_posts_ingested_total", "Posts stored (triage follows in batches)", ["network"])
POSTS_SET_ASIDE = Counter("socialdesk_posts_set_aside_total", "Posts triage could not handle (carded as not triaged, or put in the lane with the reason)")
POLL_ERRORS = Counter("socialdesk_poll_errors_total", "Failed polls of a network", ["network", "kind"])
CARDS_POSTED = Counter("socialdesk_slack_messages_posted_total", "Cards and follow-ups carried into Slack")
REPLIES = Counter("socialdesk_replies_total", "Replies by outcome", ["network", "kind", "outcome"])
WEBHOOKS = Counter("socialdesk_webhooks_total", "Webhook deliveries by outcome", ["network", "outcome"])
SLACK_REQUESTS = Histogram("socialdesk_slack_request_seconds", "Time to answer a Slack request")

DEPENDENCY_UP = Gauge("socialdesk_dependency_up", "1 when the last call to the dependency worked, 0 when it failed, -1 before any call", ["dependency"], multiprocess_mode="mostrecent")
DEPENDENCY_FAILING = Gauge("socialdesk_dependency_failing_seconds", "How long the dependency has been failing (0 when it works)", ["dependency"], multiprocess_mode="mostrecent")
DEPENDENCY_LAST_SUCCESS = Gauge("socialdesk_dependency_last_success_timestamp_seconds", "Unix time of the last call that worked", ["dependency"], multiprocess_mode="mostrecent")
POSTS_WAITING = Gauge("socialdesk_posts_waiting_for_triage", "Posts stored and not yet triaged", multiprocess_mode="mostrecent")
POSTS_KEPT_ASIDE = Gauge("socialdesk_posts_set_aside_kept", "Posts set aside by triage, kept in the database (reviewable: /socialdesk review set_aside)", multiprocess_mode="mostrecent")
HEALTHY = Gauge("socialdesk_health_status", "0 ok, 1 degraded, 2 down (what /healthz says)", multiprocess_mode="mostrecent")


def record_health(body: dict) -> None:
    """The /healthz body as gauges, so /metrics says the same thing."""
    from datetime import datetime

    HEALTHY.set({"ok": 0, "degraded": 1}.get(body["status"], 2))
    DEPENDENCY_UP.labels(dependency="database").set(1 if body["database"]["ok"] else 0)
    DEPENDENCY_FAILING.labels(dependency="database").set(0)
    for name, dep in [("slack", body["slack"]), *body["networks"].items()]:
        DEPENDENCY_UP.labels(dependency=name).set(-1 if dep["ok"] is None else int(dep["ok"]))
        DEPENDENCY_FAILING.labels(dependency=name).set(dep["failing_for_seconds"])
        if dep["last_success"]:
            DEPENDENCY_LAST_SUCCESS.labels(dependency=name).set(datetime.fromisoformat(dep["last_success"].replace("Z", "+00:00")).timestamp())


def exposition() -> bytes:
    """The text /metrics serves: this process's metrics, or every process's where they share a directory."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)
