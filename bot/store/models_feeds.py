"""Feed tables (issue 5): feeds, their items and the dedupe keys. Created in migration 0002."""

from __future__ import annotations
