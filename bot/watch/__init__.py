"""Watching news feeds for new Socitm reports (issue 5).

- `cycle.run_cycle(ctx)` (also `watcher.run_cycle`): the one scheduler job; polls due feeds,
  queues alerts. Its parts: `feed_state`, `stories`, `alerts`, `seeding`.
- `fetcher.SafeFetcher`: httpx with every limit explicit and each address checked; its
  `transport.GuardedTransport` sends the requests through aiohttp.
- `parser.parse_feed`: feedparser on bytes, in a worker process, bounded.
- `catalogue`: where feeds/catalogue.toml and feeds/rules.toml are.
Managing feeds (add, remove, list; alerts on/off) is a service: `bot.services.feeds`.
Matching, address checks and catalogue parsing are pure: `bot.domain.feed_*`.
"""
