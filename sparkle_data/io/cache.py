"""Where sparkle-data caches derived files (tar indexes) on this machine.

The cache root is ``$SPARKLE_DATA_CACHE`` when set, else ``platformdirs.user_cache_dir(
"sparkle-data")`` (``~/.cache/sparkle-data`` on Linux). Files are keyed by a hash of everything
that identifies their source, written atomically, and never trusted blindly: readers check
them against the source (size, etag) and rebuild on any doubt. Deleting the folder is always
safe.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Final

from sparkle_data.errors import IndexCacheWarning

__all__ = ["CACHE_ENV", "IndexCacheWarning", "cache_dir", "cache_path"]

CACHE_ENV: Final = "SPARKLE_DATA_CACHE"


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: ``override``, else ``$SPARKLE_DATA_CACHE``, else the user cache dir."""
    if override is not None:
        return Path(override)
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sparkle-data"))


def cache_path(
    kind: str,
    name: str,
    key: object,
    *,
    suffix: str,
    root: str | os.PathLike[str] | None = None,
) -> Path:
    """``{root}/{kind}/{name}.{hash(key)}{suffix}``; ``key`` must be JSON-serialisable."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100]
    return cache_dir(root) / kind / f"{safe}.{digest}{suffix}"
