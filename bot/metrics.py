"""Prometheus metrics served on GET /metrics."""
from prometheus_client import Counter, Histogram

POSTS_INGESTED = Counter("socialdesk_posts_ingested_total", "Posts stored as new cases or follow-ups", ["network"])
POLL_ERRORS = Counter("socialdesk_poll_errors_total", "Failed polls of a network", ["network", "kind"])
CARDS_POSTED = Counter("socialdesk_slack_messages_posted_total", "Cards and follow-ups carried into Slack")
REPLIES = Counter("socialdesk_replies_total", "Replies by outcome", ["network", "kind", "outcome"])
WEBHOOKS = Counter("socialdesk_webhooks_total", "Webhook deliveries by outcome", ["network", "outcome"])
SLACK_REQUESTS = Histogram("socialdesk_slack_request_seconds", "Time to answer a Slack request")
