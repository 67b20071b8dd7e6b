"""MediaPipe Tasks, imported on first use and without TensorFlow.

`mediapipe` (1.2.x, the Tasks API over its bundled C library) is only imported by the code that
extracts landmarks or builds the .task files, never at module import time: the server, the
client and the encoder workers do not load it.

MediaPipe's `optional_dependencies` module tries ``from tensorflow.tools.docs import
doc_controls`` (API-doc decorators only); where TensorFlow is installed, as on our model side,
that import alone costs ~15 s and hundreds of MB. A stand-in with the same no-op decorator is
put in its place before MediaPipe is imported, unless TensorFlow is already loaded (then the
real import is cheap).
"""

from __future__ import annotations

import sys
import types
from typing import Any

MEDIAPIPE_VERSION = "1.2.3"  # the Tasks-only wheel `make setup` installs (with --no-deps)
INSTALL_HINT = (f"pip install --no-deps mediapipe=={MEDIAPIPE_VERSION} plus what it imports, "
                "pip install 'framescribe[landmarks]' (what `make setup` does)")
_DOCS_MODULE = "mediapipe.tasks.python.core.optional_dependencies"


def _stand_in_for_doc_controls() -> None:
    if _DOCS_MODULE in sys.modules or "tensorflow" in sys.modules:
        return
    stand_in = types.ModuleType(_DOCS_MODULE, "framescribe stand-in: MediaPipe's doc_controls "
                                "without importing TensorFlow")
    stand_in.doc_controls = types.SimpleNamespace(do_not_generate_docs=lambda item: item)
    sys.modules[_DOCS_MODULE] = stand_in


def import_mediapipe() -> Any:
    """The `mediapipe` package (Tasks API); ImportError naming the install command if absent."""
    _stand_in_for_doc_controls()
    try:
        import mediapipe
        from mediapipe.tasks.python import vision  # noqa: F401  (the landmarkers' module)
    except ImportError as error:
        raise ImportError(f"MediaPipe Tasks cannot be imported ({error}): {INSTALL_HINT}") \
            from error
    return mediapipe


def tflite_schemas() -> tuple[Any, Any]:
    """MediaPipe's generated flatbuffers modules: (TFLite model schema, TFLite metadata schema)."""
    import_mediapipe()
    from mediapipe.tasks.metadata import metadata_schema_py_generated, schema_py_generated

    return schema_py_generated, metadata_schema_py_generated
