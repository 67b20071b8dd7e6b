"""The model side (TensorFlow and Keras, or LiteRT) is not in the client install (`pip install
.`); `pip install 'framescribe[server]'` adds it. Every command that runs the models (train, eval,
export, serve, annotate, caption --embedded, batch) calls `require_model_side` first, so a client
install answers with one line on stderr and exit status 2, never a traceback.

It only looks the modules up (importlib.util.find_spec): nothing heavy is imported here.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable

INSTALL = "pip install 'framescribe[server]'"
RUNTIME_MODULES = {"tf": ("tensorflow", "keras"), "litert": ("ai_edge_litert",)}


def quiet_tensorflow() -> None:
    """TensorFlow's C++ start-up logging off (before it is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class ModelSideMissing(RuntimeError):
    """A command needs the model side and this install lacks it (cli.main: exit 2)."""


def missing_modules(names: Iterable[str]) -> list[str]:
    """The top-level modules of `names` that cannot be imported here."""
    missing = []
    for name in names:
        if name in sys.modules:
            if sys.modules[name] is None:  # blocked (how the tests stand in for a client install)
                missing.append(name)
            continue
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def require_model_side(command: str, runtime: str = "tf", *, also: Iterable[str] = (),
                       alternative: str = "") -> None:
    """Raise ModelSideMissing (one line: what is missing, what to install) unless the modules
    of `runtime` ("tf" or "litert") and `also` can be imported. `alternative`: another way to
    do the job without the model side, added to the line."""
    missing = missing_modules((*RUNTIME_MODULES.get(runtime, ()), *also))
    if missing:
        raise ModelSideMissing(
            f"`framescribe {command}` runs the models in this process and needs the model "
            f"side, which this install lacks ({', '.join(missing)} missing): {INSTALL}"
            f"{'; ' + alternative if alternative else ''}")
