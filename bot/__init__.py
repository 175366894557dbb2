"""leaderbot: the weekly Socitm leadership question, its replies, a digest, and report alerts."""

__version__ = "0.1.0"
