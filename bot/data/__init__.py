"""Data files that ship inside the package: the bundled question set and the feed catalogue.

They live under `bot/data/` (not at the repository root) so that a non-editable install, such
as `pip install /path/to/leaderbot` or a wheel, carries them; `pyproject.toml` lists them as
package data. Callers get a real `Path` because the loaders report errors by file name and the
rules loader watches the file's mtime.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from importlib.resources import as_file, files
from pathlib import Path

# Holds files extracted from a zipped install (zipimport) until the process exits.
_extracted = ExitStack()
atexit.register(_extracted.close)


def bundled(relative: str) -> Path:
    """The path of a bundled data file, e.g. `bundled("prompts/socitm-2025.toml")`."""
    resource = files(__name__).joinpath(*relative.split("/"))
    if isinstance(resource, Path):
        return resource
    # Not on the file system (a zipped install): extract a copy that lasts as long as we do.
    return _extracted.enter_context(as_file(resource))
