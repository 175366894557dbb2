"""Feed administration, a service: add, remove and list the feeds watched; alerts on or off
for a channel. The CLI (`leaderbot feeds …`, `leaderbot alerts …`) and the slash command
(`/leadership feeds …`, `/leadership alerts …`) both call it.

It never imports `bot.watch` (services sit below the watcher): what it needs from the feed
world is pure and lives in `bot.domain` (feed_addresses, feed_catalogue); the catalogue's
entries come from `ctx.feed_catalogue`, the loader `bot.runtime` passes in (or an explicit
`catalogue=` argument).

- `admin`: the use cases, every change audited in its own transaction.
- `checks`: what a feed address and keywords must be (URL shape, public address).
"""
