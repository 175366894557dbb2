"""The feed watcher's public face. `bot.scheduling.jobs` runs `run_cycle` from here and
`bot.app` imports this module so that the alert content builder is registered; the work is
done in:

- `cycle`: the poll cycle (claim due feeds, fetch, parse, record, save);
- `feed_state`: one feed's state across polls (validators, failures, backoff) and saving it;
- `stories`: items resolved to canonical stories (dedupe keys), recorded per feed;
- `alerts`: alert posts and failure notices queued in the outbox; alert content at send time;
- `seeding`: the catalogue's feeds added to the database.
"""

from __future__ import annotations

from bot.watch.alerts import alert_channels, alert_payload, build_alert
from bot.watch.cycle import CycleReport, WatchOptions, run_cycle
from bot.watch.feed_state import FeedOutcome, FeedState
from bot.watch.seeding import seed_catalogue

__all__ = [
    "CycleReport",
    "FeedOutcome",
    "FeedState",
    "WatchOptions",
    "alert_channels",
    "alert_payload",
    "build_alert",
    "run_cycle",
    "seed_catalogue",
]
