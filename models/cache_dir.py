"""Where framescribe keeps files it fetches or builds outside git (model assets, test media).

``$FRAMESCRIBE_CACHE_DIR`` when set, else ``~/.cache/framescribe``; each user of it takes a
subfolder (``mediapipe/``: the landmark models, ``debian/``: media from Debian packages).
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FRAMESCRIBE_CACHE_DIR"
DEFAULT_CACHE_DIR = "~/.cache/framescribe"


def cache_dir(*parts: str) -> Path:
    """The cache folder (or a subfolder of it, from `parts`); not created here."""
    root = os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR
    return Path(root).expanduser().joinpath(*parts)
