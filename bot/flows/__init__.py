"""The flows: where the domain, the networks and Slack meet (polling, replies, escalation, digest, notices)."""
