"""Writing the clone's cache files (hashes, resolved params, validated specs, check markers):
whole or not at all, and never an error, since a cache that cannot be written only costs time.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_cache(path: Path, data: bytes) -> bool:
    """Replace ``path`` with ``data`` atomically (a temporary file beside it, then a rename,
    so a reader sees the old file or the new one); False, and nothing left behind, when the
    file system refuses."""
    import tempfile  # only when a cache changes: not paid by every `check`

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True
