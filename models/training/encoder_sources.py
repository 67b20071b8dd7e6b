"""Where a training run's frame encoder comes from, for every recipe that builds one.

Either a bundle's encoder, reused whole and frozen (`encoder_from`: a bundle folder, or the
word "demo" for the shipped demo bundle's 64 px digit encoder, used only when named), or a
fresh FrameEncoder whose backbone starts from
- random weights (nothing given),
- `backbone_weights`: a .weights.h5 of the backbone, or a keras-cv / KerasHub preset folder on
  disk (networks/backbone_weights.py),
- `backbone_preset`: a keras-cv preset name, fetched where the network allows (one line saying
  what to fetch elsewhere and where to put it when it does not).

The checks here are cheap (no TensorFlow), so the CLI runs them before anything loads.
"""

from __future__ import annotations

from pathlib import Path

DEMO = "demo"  # encoder_from naming the shipped demo bundle
DEMO_BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "demo"


def encoder_bundle(encoder_from: str) -> Path:
    """The bundle folder `encoder_from` names ("demo": the shipped demo bundle)."""
    return DEMO_BUNDLE if encoder_from == DEMO else Path(encoder_from)


def flag(option: str) -> str:
    """The CLI flag of an option: backbone_weights -> --backbone-weights."""
    return "--" + option.replace("_", "-")


def encoder_problem(encoder_from: str | None, backbone_weights: str | None,
                    backbone_preset: str | None, backbone: str | None = None,
                    fresh_settings: dict[str, object] | None = None) -> str | None:
    """Why these encoder choices cannot go together (None: they can).

    fresh_settings: other options that only shape a fresh encoder, name -> value (given when
    not None), refused with encoder_from."""
    from framescribe.models.networks.backbone_weights import BackboneWeightsError, preset_backbone

    fresh = {"backbone_weights": backbone_weights, "backbone_preset": backbone_preset,
             **(fresh_settings or {})}
    given = [name for name, value in fresh.items() if value is not None]
    if encoder_from is not None and given:
        drop = ", ".join(f"{name} ({flag(name)})" for name in given)
        return (f"encoder_from reuses a bundle's encoder whole; drop {drop} or encoder_from "
                "(--encoder-from)")
    if backbone_weights is not None and backbone_preset is not None:
        return ("backbone_weights (--backbone-weights) and backbone_preset (--backbone-preset) "
                "both give the backbone's weights; choose one")
    if backbone_preset is not None:
        try:
            wanted = preset_backbone(backbone_preset)
        except BackboneWeightsError as error:
            return str(error)
        if backbone is not None and backbone != wanted:
            return (f"backbone preset {backbone_preset!r} is for the {wanted} backbone, not "
                    f"{backbone}")
    return None


def backbone_weights_source(backbone_weights: str | None,
                            backbone_preset: str | None) -> str | None:
    """The local file or folder to load into a fresh backbone (fetching a preset by name);
    None: random weights."""
    if backbone_preset is not None:
        from framescribe.models.networks.backbone_weights import fetch_preset

        return str(fetch_preset(backbone_preset))
    return backbone_weights


def default_backbone(backbone: str | None, backbone_weights: str | None,
                     backbone_preset: str | None, fallback: str) -> str:
    """The backbone asked for, else the one the weights are for (a preset name or folder),
    else `fallback`."""
    if backbone is not None:
        return backbone
    from framescribe.models.networks.backbone_weights import source_backbone

    return source_backbone(backbone_weights, backbone_preset) or fallback


def describe_weights(backbone_weights: str | None, backbone_preset: str | None,
                     source: str | None) -> str:
    """For the log: where the backbone's weights came from."""
    if backbone_preset is not None:
        return f"preset {backbone_preset} ({source})"
    if source is not None:
        return source
    return "random (no --backbone-weights or --backbone-preset)"
