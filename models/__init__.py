"""framescribe models: Keras models, bundles, datasets, training, evaluation, export, pipeline."""
