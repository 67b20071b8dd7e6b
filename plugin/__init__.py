"""framescribe client: SDK, video readers, subtitle writers, CLI (imports without TensorFlow)."""
