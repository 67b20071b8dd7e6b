"""Small, checked edits of TFLite model files, so MediaPipe 0.10.14's models fit the Tasks graphs.

- `with_image_normalization`: TFLite metadata for a model that has none, saying how its float
  image input is normalised (the Tasks graphs refuse a float image input without it).
- `with_gathered_output`: one more GATHER op on an output along its last axis, e.g. 1404 face
  landmark values (468 x 3) -> 1434 (478 x 3), the count the Tasks face graph reads.

Models are read and written with MediaPipe's own generated flatbuffers code (mediapipe_import);
constant buffers are written 16-byte aligned, as the TFLite converter writes them. The same input
gives the same bytes, so the .task files built from them can be pinned by SHA-256.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from framescribe.models.landmarks.mediapipe_import import tflite_schemas

TFLITE_FILE_IDENTIFIER = b"TFL3"
METADATA_FILE_IDENTIFIER = b"M001"
METADATA_NAME = "TFLITE_METADATA"  # the Model.metadata entry MediaPipe reads
METADATA_MIN_PARSER_VERSION = "1.0.0"  # NormalizationOptions and ImageProperties need no newer
BUFFER_ALIGNMENT = 16  # bytes, as the converter aligns constant data (schema: force_align 16)


def read_model(data: bytes):
    """A TFLite flatbuffer as MediaPipe's object API tree (ModelT); ValueError if it is not one."""
    schema, _ = tflite_schemas()
    if data[4:8] != TFLITE_FILE_IDENTIFIER:
        raise ValueError(f"not a TFLite model (file identifier {bytes(data[4:8])!r}, expected "
                         f"{TFLITE_FILE_IDENTIFIER!r})")
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))


def write_model(model) -> bytes:
    """The TFLite flatbuffer of a ModelT, its constant buffers 16-byte aligned."""
    import flatbuffers

    schema, _ = tflite_schemas()
    for buffer in model.buffers or ():
        buffer.__class__ = _aligned_buffer_class(schema)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), TFLITE_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _aligned_buffer_class(schema):
    """schema.BufferT, packing its data vector at BUFFER_ALIGNMENT (the generated code aligns
    uint8 vectors to 1 byte)."""

    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder):  # noqa: N802 (the generated API's name)
            data = None
            if self.data is not None:
                payload = np.asarray(self.data, np.uint8).tobytes()
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head -= len(payload)
                builder.Bytes[builder.head:builder.head + len(payload)] = payload
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBufferT


def _tensor_name(tensor) -> str:
    name = tensor.name
    return name.decode("utf-8") if isinstance(name, bytes) else str(name)


def with_image_normalization(data: bytes, mean: float, std: float, description: str) -> bytes:
    """`data` plus TFLite metadata: input 0 is an RGB image normalised as (pixel - mean) / std
    (mean 0, std 255: values 0-1), outputs named after their tensors. ValueError if the model
    already has metadata or has more than one input."""
    schema, metadata = tflite_schemas()
    model = read_model(data)
    if any(entry.name in (METADATA_NAME, METADATA_NAME.encode()) for entry in
           model.metadata or ()):
        raise ValueError(f"{description}: already has {METADATA_NAME}")
    graph = model.subgraphs[0]
    if len(graph.inputs) != 1:
        raise ValueError(f"{description}: {len(graph.inputs)} inputs (expected 1 image input)")

    image = metadata.TensorMetadataT()
    image.name = "image"
    image.content = metadata.ContentT()
    image.content.contentPropertiesType = metadata.ContentProperties.ImageProperties
    image.content.contentProperties = metadata.ImagePropertiesT()
    image.content.contentProperties.colorSpace = metadata.ColorSpaceType.RGB
    normalization = metadata.ProcessUnitT()
    normalization.optionsType = metadata.ProcessUnitOptions.NormalizationOptions
    normalization.options = metadata.NormalizationOptionsT()
    normalization.options.mean = [float(mean)]
    normalization.options.std = [float(std)]
    image.processUnits = [normalization]
    outputs = []
    for index in graph.outputs:
        output = metadata.TensorMetadataT()
        output.name = _tensor_name(graph.tensors[index])
        outputs.append(output)
    subgraph = metadata.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = outputs
    model_metadata = metadata.ModelMetadataT()
    model_metadata.name = description
    model_metadata.subgraphMetadata = [subgraph]
    model_metadata.minParserVersion = METADATA_MIN_PARSER_VERSION

    import flatbuffers

    builder = flatbuffers.Builder(0)
    builder.Finish(model_metadata.Pack(builder), METADATA_FILE_IDENTIFIER)
    model.buffers.append(schema.BufferT(data=np.frombuffer(bytes(builder.Output()), np.uint8)))
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*(model.metadata or ()), entry]
    return write_model(model)


def with_gathered_output(data: bytes, output: int, indices: Sequence[int],
                         description: str) -> bytes:
    """`data` with subgraph output number `output` replaced by GATHER(output, indices) along its
    last axis (TFLite's GATHER op, int32 constant indices). The new output keeps the old name;
    the old tensor becomes an intermediate named `<name>_before_gather`."""
    schema, _ = tflite_schemas()
    model = read_model(data)
    graph = model.subgraphs[0]
    if not 0 <= output < len(graph.outputs):
        raise ValueError(f"{description}: no output {output} ({len(graph.outputs)} outputs)")
    source_index = int(graph.outputs[output])
    source = graph.tensors[source_index]
    shape = [int(v) for v in source.shape]
    indices = np.asarray(indices, np.int32)
    if indices.ndim != 1 or indices.min() < 0 or indices.max() >= shape[-1]:
        raise ValueError(f"{description}: gather indices must be 1-D in 0-{shape[-1] - 1}")
    if source.type != schema.TensorType.FLOAT32:
        raise ValueError(f"{description}: output {output} is not float32")

    name = _tensor_name(source)
    source.name = f"{name}_before_gather"
    model.buffers.append(schema.BufferT(data=np.frombuffer(indices.astype("<i4").tobytes(),
                                                           np.uint8)))
    index_tensor = schema.TensorT(shape=[len(indices)], type=schema.TensorType.INT32,
                                  buffer=len(model.buffers) - 1, name=f"{name}_gather_indices")
    model.buffers.append(schema.BufferT())  # the output's (empty) buffer
    gathered = schema.TensorT(shape=[*shape[:-1], len(indices)], type=schema.TensorType.FLOAT32,
                              buffer=len(model.buffers) - 1, name=name)
    graph.tensors.extend([index_tensor, gathered])
    options = schema.GatherOptionsT()
    options.axis = len(shape) - 1
    operator = schema.OperatorT(
        opcodeIndex=_opcode_index(model, schema, schema.BuiltinOperator.GATHER),
        inputs=[source_index, len(graph.tensors) - 2], outputs=[len(graph.tensors) - 1],
        builtinOptionsType=schema.BuiltinOptions.GatherOptions, builtinOptions=options)
    graph.operators.append(operator)
    graph.outputs = [*graph.outputs]
    graph.outputs[output] = len(graph.tensors) - 1
    return write_model(model)


def _opcode_index(model, schema, builtin: int) -> int:
    """The index of `builtin` in the model's operator codes, added if missing."""
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = builtin  # < 127: the field older runtimes read
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1
