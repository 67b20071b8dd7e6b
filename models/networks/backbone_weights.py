"""Pretrained weights for a FrameEncoder's backbone alone (not the whole encoder).

A source is one of:
- a `.weights.h5` file of the backbone (`encoder.backbone.save_weights(path)`, or any model of
  the same architecture);
- a keras-cv / KerasHub preset folder on disk, as Kaggle serves them: `config.json` (the
  serialized backbone: class and architecture arguments; keras-cv also names its weights file
  there) + `model.weights.h5` (+ `metadata.json`). keras-cv 0.9's `from_preset` would fetch
  such a folder from Kaggle; here it is read from disk, and its config is checked against the
  architecture FrameEncoder builds (frame_encoder.backbone_architecture);
- a keras-cv preset name (`fetch_preset`): the folder in presets_dir()/NAME when it is there,
  else downloaded with kagglehub; offline, a BackboneWeightsError in one line that says what to
  fetch elsewhere and where to put it.

Weights are matched to the backbone's layers by structure, so any input size fits (the
convolutions do not depend on it) and include_rescaling does not matter (a Rescaling layer has
no weights; FrameEncoder scales frames to [0, 1] itself, as include_rescaling=True does).
Every problem is a BackboneWeightsError (a ValueError): one line naming the file.

Nothing heavy is imported at module level (keras and h5py only when weights are loaded), so
the CLI can check names and folders before TensorFlow loads.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections import Counter
from pathlib import Path

PRESET_CONFIG = "config.json"
PRESET_WEIGHTS = "model.weights.h5"
PRESETS_ENV = "FRAMESCRIBE_PRESETS"
KAGGLE_MODELS = "https://www.kaggle.com/models/"

# keras-cv 0.9 presets with ImageNet weights for the backbones FrameEncoder builds:
# name -> (FrameEncoder backbone, Kaggle model handle). The handles are keras-cv's own
# (keras_cv.models.<Backbone>.presets[name]["kaggle_handle"]; a test holds the two together).
PRESETS: dict[str, tuple[str, str]] = {
    "mobilenet_v3_small_imagenet": (
        "mobilenet_v3_small", "keras/mobilenetv3/keras/mobilenet_v3_small_imagenet/2"),
    "mobilenet_v3_large_imagenet": (
        "mobilenet_v3_large", "keras/mobilenetv3/keras/mobilenet_v3_large_imagenet/2"),
    "efficientnetv2_b0_imagenet": (
        "efficientnet_v2_b0", "keras/efficientnetv2/keras/efficientnetv2_b0_imagenet/2"),
    "resnet50_imagenet": ("resnet50", "keras/resnetv1/keras/resnet50_imagenet/2"),
}


class BackboneWeightsError(ValueError):
    """Backbone weights that cannot be used: one line naming the file or preset."""


# -- presets by name --------------------------------------------------------------------------
def presets_dir() -> Path:
    """Where preset folders fetched elsewhere go: $FRAMESCRIBE_PRESETS, or
    ~/.cache/framescribe/presets. presets_dir()/NAME is used before any download."""
    return Path(os.environ.get(PRESETS_ENV) or Path.home() / ".cache" / "framescribe" /
                "presets")


def preset_backbone(name: str) -> str:
    """The FrameEncoder backbone a preset's weights are for; BackboneWeightsError listing the
    presets known here for any other name."""
    if name not in PRESETS:
        raise BackboneWeightsError(
            f"unknown backbone preset {name!r}; expected one of {', '.join(PRESETS)} (or a "
            "preset folder on disk with --backbone-weights DIR)")
    return PRESETS[name][0]


def fetch_preset(name: str) -> Path:
    """The local folder of keras-cv preset `name`: presets_dir()/NAME when it holds a
    config.json, else a kagglehub download (its own cache makes that once per host)."""
    preset_backbone(name)  # an unknown name fails before any network
    handle = PRESETS[name][1]
    local = presets_dir() / name
    if (local / PRESET_CONFIG).is_file():
        return local
    try:
        import kagglehub

        return Path(kagglehub.model_download(handle))
    except Exception as error:  # offline, no kagglehub, Kaggle refusing: say what to do instead
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        raise BackboneWeightsError(
            f"backbone preset {name!r} could not be downloaded ({type(error).__name__}: "
            f"{reason}); fetch the Kaggle model {handle} elsewhere ({KAGGLE_MODELS}{handle}, "
            f"or kagglehub.model_download({handle!r})), copy its folder (config.json, "
            f"{PRESET_WEIGHTS}) to {local} and run again, or pass --backbone-weights DIR "
            "for a folder anywhere") from None


# -- preset folders -----------------------------------------------------------------------------
def read_preset_config(folder: str | os.PathLike) -> dict:
    """The serialized backbone in a preset folder's config.json."""
    path = Path(folder) / PRESET_CONFIG
    if not path.is_file():
        raise BackboneWeightsError(
            f"{folder}: no {PRESET_CONFIG} (a preset folder holds {PRESET_CONFIG} and "
            f"{PRESET_WEIGHTS}; or give the backbone's .weights.h5 file itself)")
    try:
        config = json.loads(path.read_text("utf-8"))
    except (ValueError, OSError) as error:
        raise BackboneWeightsError(f"{path}: not a preset config ({error})") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise BackboneWeightsError(f"{path}: not a serialized Keras object (expected "
                                   "'class_name' and 'config')")
    return config


def preset_weights_file(folder: str | os.PathLike) -> Path:
    """The weights file a preset folder's config.json names (keras-cv), else model.weights.h5
    (KerasHub's fixed name)."""
    config = read_preset_config(folder)
    path = Path(folder) / (config.get("weights") or PRESET_WEIGHTS)
    if not path.is_file():
        raise BackboneWeightsError(f"{path}: missing (the preset folder's weights; "
                                   f"{PRESET_CONFIG} describes a {_class_name(config)})")
    return path


def _class_name(config: dict) -> str:
    return str(config.get("class_name") or config.get("registered_name") or "?")


def _architecture_problem(config: dict, backbone: str) -> str | None:
    """Why a preset config's backbone differs from what FrameEncoder builds as `backbone`."""
    from framescribe.models.networks.frame_encoder import backbone_architecture

    if backbone == "tiny_cnn":
        return "tiny_cnn is not a keras-cv backbone (give its .weights.h5 file)"
    class_name, arguments = backbone_architecture(backbone)
    found = _class_name(config)
    if found.split(">")[-1] != class_name:
        return f"it holds a {found}, the {backbone} backbone is a {class_name}"
    values = config["config"]
    for key, expected in arguments.items():
        if key in values and not _same(values[key], expected):
            return f"its {key} is {values[key]}, the {backbone} backbone's is {expected}"
    return None


def _same(found, expected) -> bool:
    """JSON values against Python ones: lists item by item, numbers within rounding."""
    if isinstance(expected, list | tuple):
        return (isinstance(found, list | tuple) and len(found) == len(expected)
                and all(_same(a, b) for a, b in zip(found, expected, strict=True)))
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        return (isinstance(found, int | float) and not isinstance(found, bool)
                and math.isclose(found, expected, rel_tol=1e-6))
    return found == expected


def preset_folder_backbone(folder: str | os.PathLike) -> str | None:
    """Which FrameEncoder backbone a preset folder's config.json describes (None: none)."""
    from framescribe.models.networks.frame_encoder import BACKBONES

    config = read_preset_config(folder)
    return next((name for name in BACKBONES[1:] if _architecture_problem(config, name) is None),
                None)


def source_backbone(source: str | os.PathLike | None = None,
                    preset: str | None = None) -> str | None:
    """The backbone a weights source is for, when it says (a preset name or folder); None for a
    .weights.h5 file, which does not."""
    if preset:
        return preset_backbone(preset)
    if source and Path(source).is_dir():
        return preset_folder_backbone(source)
    return None


# -- loading --------------------------------------------------------------------------------
def weights_file(source: str | os.PathLike, backbone: str) -> Path:
    """The .weights.h5 to load for `source` (a file, or a preset folder checked against the
    architecture of `backbone`)."""
    path = Path(source)
    if path.is_dir():
        config = read_preset_config(path)
        problem = _architecture_problem(config, backbone)
        if problem:
            raise BackboneWeightsError(f"{path}: the preset does not fit the {backbone} "
                                       f"backbone: {problem}")
        return preset_weights_file(path)
    if not path.is_file():
        raise BackboneWeightsError(f"{path}: no such backbone weights file or preset folder")
    if not path.name.endswith(".h5"):
        raise BackboneWeightsError(f"{path}: not a .weights.h5 file or a preset folder")
    return path


def _file_arrays(path: Path) -> list[tuple[str, tuple, str]]:
    """(name, shape, dtype kind) of every array in an HDF5 weights file."""
    import h5py

    found: list[tuple[str, tuple, str]] = []

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            found.append((name, tuple(item.shape), item.dtype.kind))

    try:
        with h5py.File(path, "r") as file:
            file.visititems(visit)
    except OSError as error:
        raise BackboneWeightsError(f"{path}: not an HDF5 weights file ({error})") from None
    return found


def _shape_problem(path: Path, model, backbone: str) -> str | None:
    """Compare the file's float weight arrays with the backbone's before Keras loads anything
    (integer arrays, e.g. random seed states, are not weights that matter here)."""
    import numpy as np

    stored = _file_arrays(path)
    if any(name.startswith("backbone/") for name, _, _ in stored):
        return ("it holds a whole frame encoder's weights, not a backbone's (reuse a bundle's "
                "encoder with --encoder-from)")
    have = Counter(shape for _, shape, kind in stored if kind == "f")
    want = Counter(tuple(w.shape) for w in model.weights
                   if np.dtype(w.dtype).kind == "f")
    if have == want:
        return None
    missing, extra = want - have, have - want
    detail = []
    if missing:
        detail.append(f"the backbone needs {_shapes(missing)} it lacks")
    if extra:
        detail.append(f"it has {_shapes(extra)} the backbone has no place for")
    return (f"{sum(have.values())} weight arrays for the backbone's {sum(want.values())}; "
            + "; ".join(detail))


def _shapes(counter: Counter) -> str:
    items = sorted(counter.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{count}x{list(shape)}" for shape, count in items[:3])
    more = sum(counter.values()) - sum(count for _, count in items[:3])
    return shown + (f" and {more} more" if more else "")


def _keras_problem(error: Exception) -> str:
    """The gist of Keras' (long, multi-line) load error."""
    text = str(error)
    layer = re.search(r"for object <\w+ name=([^,>]+)", text)
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", text)
    if shapes:
        where = f"layer {layer.group(1)}: " if layer else ""
        return f"{where}the backbone has {shapes.group(1)}, the file {shapes.group(2)}"
    return text.splitlines()[0][:200] if text else type(error).__name__


def load_backbone_weights(model, backbone: str, source: str | os.PathLike) -> Path:
    """Load `source` into the built backbone `model` (FrameEncoder's `backbone` of kind
    `backbone`); returns the weights file read. BackboneWeightsError, one line, when it does
    not fit."""
    path = weights_file(source, backbone)
    problem = _shape_problem(path, model, backbone)
    if problem:
        raise BackboneWeightsError(f"{path}: does not fit the {backbone} backbone: {problem} "
                                   "(weights of another backbone? pass the --backbone they "
                                   "were saved from)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns per skipped internal container
            model.load_weights(path)
    except Exception as error:  # Keras raises ValueError with a page of detail
        raise BackboneWeightsError(f"{path}: does not fit the {backbone} backbone: "
                                   f"{_keras_problem(error)}") from None
    return path
