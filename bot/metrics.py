"""What monitoring can see: Prometheus metrics, served at GET /metrics by `bot.serving`.

One registry of our own (not the library's global one), so a test or a second Context in one
process never double-registers, and /metrics shows only leaderbot's figures. Counters are
counted where the thing happens; the outbox backlog is read from the database when scraped
(`bot.serving`), since another process may be the one sending.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

POSTS = Counter(
    "leaderbot_posts",
    "Outbox deliveries by platform and outcome (sent, found, missed, failed, deferred).",
    ["platform", "outcome"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "leaderbot_outbox_backlog",
    "Posts due and not yet sent (pending or being sent).",
    registry=REGISTRY,
)
OUTBOX_OLDEST_DUE_AGE = Gauge(
    "leaderbot_outbox_oldest_due_age_seconds",
    "How long the oldest post due and not yet sent has been due (0 when none).",
    registry=REGISTRY,
)
REQUESTS = Histogram(
    "leaderbot_http_request_seconds",
    "Inbound HTTP requests (events, commands, activities) by route and status: the time to ack.",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
FEED_POLLS = Counter(
    "leaderbot_feed_polls",
    "Feed fetches by outcome (ok, not_modified, or the failure's code).",
    ["outcome"],
    registry=REGISTRY,
)
DIGEST_BUILD = Histogram(
    "leaderbot_digest_build_seconds",
    "Time to build a set of channel digests (reconciliation included).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
RECONCILED = Counter(
    "leaderbot_reconciled_replies",
    "Changes made by reconciling threads with the platform (added, updated, removed).",
    ["change"],
    registry=REGISTRY,
)
