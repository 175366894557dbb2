"""Microsoft Teams: the adapter (outbound `platform`, inbound `inbound`), peers of Slack's.

Map:
- `ids`          channel ids, thread conversation ids, deep links
- `tokens`       client-credentials access tokens (connector and Graph scopes), cached
- `http`         the httpx client, Graph paging, and HTTP errors as the port's errors
- `pacing`       Teams' per-conversation rate limits for a bot
- `directory`    which team a channel belongs to (service URL, group id, tenant), in the database
- `cards`        Adaptive Cards for questions, nudges, notices, alerts; the outbox-key tag
- `digest_cards` a digest as several cards within Teams' message size
- `html_text`    Teams' HTML message bodies to plain text
- `platform`     TeamsPlatform, the ChatPlatform port
- `auth`         inbound JWT verification (OpenID metadata, JWKS)
- `activities`   inbound activities parsed into the port's events
- `inbound`      POST /api/messages: verify, parse, hand to the core; @mention commands
- `package`      the app package (manifest + icons) to upload to Teams

The Teams SDK (microsoft-teams-apps) is not used at run time: see `inbound` for why.

Not built yet (say so rather than pretend):
- `member_count` counts the team's members: a private or shared channel's own members need
  Graph's channel members (ChannelMember.Read.Group), not requested.
- Personal and group chats, card actions (invoke activities) and proactive installation.
"""
