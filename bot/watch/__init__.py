"""Watching news feeds for new Socitm reports (issue 5).

- `watcher.run_cycle(ctx)`: the one scheduler job; polls due feeds, queues alerts.
- `fetcher.SafeFetcher`: httpx with every limit explicit and each address checked.
- `parser.parse_feed`: feedparser on bytes, in a worker process, bounded.
- `admin`: add, remove and list feeds; alerts on/off (the CLI and the slash command).
- `catalogue`: feeds/catalogue.toml and feeds/rules.toml. Matching itself is pure:
  `bot.domain.feed_match`.
"""
