from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_CAPTIONS: _ClassVar[Task]
    TASK_GESTURES: _ClassVar[Task]

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_RGB24: _ClassVar[ImageFormat]
    IMAGE_FORMAT_BGR24: _ClassVar[ImageFormat]
    IMAGE_FORMAT_GRAY8: _ClassVar[ImageFormat]

class GestureInput(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GESTURE_INPUT_UNSPECIFIED: _ClassVar[GestureInput]
    GESTURE_INPUT_IMAGES: _ClassVar[GestureInput]
    GESTURE_INPUT_LANDMARKS: _ClassVar[GestureInput]
TASK_UNSPECIFIED: Task
TASK_CAPTIONS: Task
TASK_GESTURES: Task
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_RGB24: ImageFormat
IMAGE_FORMAT_BGR24: ImageFormat
IMAGE_FORMAT_GRAY8: ImageFormat
GESTURE_INPUT_UNSPECIFIED: GestureInput
GESTURE_INPUT_IMAGES: GestureInput
GESTURE_INPUT_LANDMARKS: GestureInput

class Image(_message.Message):
    __slots__ = ("format", "data", "width", "height")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    format: ImageFormat
    data: bytes
    width: int
    height: int
    def __init__(self, format: _Optional[_Union[ImageFormat, str]] = ..., data: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Landmarks(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("timestamp_ms", "image", "landmarks")
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    image: Image
    landmarks: Landmarks
    def __init__(self, timestamp_ms: _Optional[int] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., landmarks: _Optional[_Union[Landmarks, _Mapping]] = ...) -> None: ...

class CaptionOptions(_message.Message):
    __slots__ = ("segment_frames", "beam_size")
    SEGMENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    BEAM_SIZE_FIELD_NUMBER: _ClassVar[int]
    segment_frames: int
    beam_size: int
    def __init__(self, segment_frames: _Optional[int] = ..., beam_size: _Optional[int] = ...) -> None: ...

class GestureOptions(_message.Message):
    __slots__ = ("min_confidence", "interim_results")
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    INTERIM_RESULTS_FIELD_NUMBER: _ClassVar[int]
    min_confidence: float
    interim_results: bool
    def __init__(self, min_confidence: _Optional[float] = ..., interim_results: _Optional[bool] = ...) -> None: ...

class FrameList(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    def __init__(self, frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ...) -> None: ...

class AnnotateClipRequest(_message.Message):
    __slots__ = ("tasks", "frames", "video_file", "caption_options", "gesture_options")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FILE_FIELD_NUMBER: _ClassVar[int]
    CAPTION_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    GESTURE_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedScalarFieldContainer[Task]
    frames: FrameList
    video_file: bytes
    caption_options: CaptionOptions
    gesture_options: GestureOptions
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, str]]] = ..., frames: _Optional[_Union[FrameList, _Mapping]] = ..., video_file: _Optional[bytes] = ..., caption_options: _Optional[_Union[CaptionOptions, _Mapping]] = ..., gesture_options: _Optional[_Union[GestureOptions, _Mapping]] = ...) -> None: ...

class CaptionSegment(_message.Message):
    __slots__ = ("start_ms", "end_ms", "text", "log_prob")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LOG_PROB_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    end_ms: int
    text: str
    log_prob: float
    def __init__(self, start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., text: _Optional[str] = ..., log_prob: _Optional[float] = ...) -> None: ...

class GestureEvent(_message.Message):
    __slots__ = ("label", "start_ms", "end_ms", "confidence")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    label: str
    start_ms: int
    end_ms: int
    confidence: float
    def __init__(self, label: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., confidence: _Optional[float] = ...) -> None: ...

class InterimGesture(_message.Message):
    __slots__ = ("timestamp_ms", "label", "confidence")
    TIMESTAMP_MS_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    timestamp_ms: int
    label: str
    confidence: float
    def __init__(self, timestamp_ms: _Optional[int] = ..., label: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class AnnotateClipResponse(_message.Message):
    __slots__ = ("captions", "gestures", "frames_used", "duration_ms")
    CAPTIONS_FIELD_NUMBER: _ClassVar[int]
    GESTURES_FIELD_NUMBER: _ClassVar[int]
    FRAMES_USED_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    captions: _containers.RepeatedCompositeFieldContainer[CaptionSegment]
    gestures: _containers.RepeatedCompositeFieldContainer[GestureEvent]
    frames_used: int
    duration_ms: int
    def __init__(self, captions: _Optional[_Iterable[_Union[CaptionSegment, _Mapping]]] = ..., gestures: _Optional[_Iterable[_Union[GestureEvent, _Mapping]]] = ..., frames_used: _Optional[int] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class StreamConfig(_message.Message):
    __slots__ = ("tasks", "caption_options", "gesture_options")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CAPTION_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    GESTURE_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedScalarFieldContainer[Task]
    caption_options: CaptionOptions
    gesture_options: GestureOptions
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, str]]] = ..., caption_options: _Optional[_Union[CaptionOptions, _Mapping]] = ..., gesture_options: _Optional[_Union[GestureOptions, _Mapping]] = ...) -> None: ...

class StreamAnnotateRequest(_message.Message):
    __slots__ = ("config", "frame", "frames")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    frame: Frame
    frames: FrameList
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., frame: _Optional[_Union[Frame, _Mapping]] = ..., frames: _Optional[_Union[FrameList, _Mapping]] = ...) -> None: ...

class StreamAnnotateResponse(_message.Message):
    __slots__ = ("caption", "gesture", "interim_gesture", "interim_gestures")
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    GESTURE_FIELD_NUMBER: _ClassVar[int]
    INTERIM_GESTURE_FIELD_NUMBER: _ClassVar[int]
    INTERIM_GESTURES_FIELD_NUMBER: _ClassVar[int]
    caption: CaptionSegment
    gesture: GestureEvent
    interim_gesture: InterimGesture
    interim_gestures: InterimGestureList
    def __init__(self, caption: _Optional[_Union[CaptionSegment, _Mapping]] = ..., gesture: _Optional[_Union[GestureEvent, _Mapping]] = ..., interim_gesture: _Optional[_Union[InterimGesture, _Mapping]] = ..., interim_gestures: _Optional[_Union[InterimGestureList, _Mapping]] = ...) -> None: ...

class InterimGestureList(_message.Message):
    __slots__ = ("labels",)
    LABELS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedCompositeFieldContainer[InterimGesture]
    def __init__(self, labels: _Optional[_Iterable[_Union[InterimGesture, _Mapping]]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("bundle_name", "bundle_version", "backbone", "input_size", "frame_rate", "gesture_labels", "vocabulary_size", "runtime", "tasks", "gesture_input", "caption_segment_frames", "max_message_bytes", "max_pixels_per_frame", "max_frames_per_clip", "max_clip_bytes", "max_streams", "max_frames_per_message", "max_concurrent_clips", "max_request_bytes_in_flight", "max_stream_duration_s", "min_stream_frame_rate", "idle_timeout_s", "max_queued_responses", "max_pending_captions", "clip_decode_timeout_s", "landmark_kind")
    BUNDLE_NAME_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKBONE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    GESTURE_LABELS_FIELD_NUMBER: _ClassVar[int]
    VOCABULARY_SIZE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    GESTURE_INPUT_FIELD_NUMBER: _ClassVar[int]
    CAPTION_SEGMENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_PIXELS_PER_FRAME_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_PER_CLIP_FIELD_NUMBER: _ClassVar[int]
    MAX_CLIP_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAMES_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_CLIPS_FIELD_NUMBER: _ClassVar[int]
    MAX_REQUEST_BYTES_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAM_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    MIN_STREAM_FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUED_RESPONSES_FIELD_NUMBER: _ClassVar[int]
    MAX_PENDING_CAPTIONS_FIELD_NUMBER: _ClassVar[int]
    CLIP_DECODE_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    LANDMARK_KIND_FIELD_NUMBER: _ClassVar[int]
    bundle_name: str
    bundle_version: str
    backbone: str
    input_size: int
    frame_rate: float
    gesture_labels: _containers.RepeatedScalarFieldContainer[str]
    vocabulary_size: int
    runtime: str
    tasks: _containers.RepeatedScalarFieldContainer[Task]
    gesture_input: GestureInput
    caption_segment_frames: int
    max_message_bytes: int
    max_pixels_per_frame: int
    max_frames_per_clip: int
    max_clip_bytes: int
    max_streams: int
    max_frames_per_message: int
    max_concurrent_clips: int
    max_request_bytes_in_flight: int
    max_stream_duration_s: float
    min_stream_frame_rate: float
    idle_timeout_s: float
    max_queued_responses: int
    max_pending_captions: int
    clip_decode_timeout_s: float
    landmark_kind: str
    def __init__(self, bundle_name: _Optional[str] = ..., bundle_version: _Optional[str] = ..., backbone: _Optional[str] = ..., input_size: _Optional[int] = ..., frame_rate: _Optional[float] = ..., gesture_labels: _Optional[_Iterable[str]] = ..., vocabulary_size: _Optional[int] = ..., runtime: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[Task, str]]] = ..., gesture_input: _Optional[_Union[GestureInput, str]] = ..., caption_segment_frames: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_pixels_per_frame: _Optional[int] = ..., max_frames_per_clip: _Optional[int] = ..., max_clip_bytes: _Optional[int] = ..., max_streams: _Optional[int] = ..., max_frames_per_message: _Optional[int] = ..., max_concurrent_clips: _Optional[int] = ..., max_request_bytes_in_flight: _Optional[int] = ..., max_stream_duration_s: _Optional[float] = ..., min_stream_frame_rate: _Optional[float] = ..., idle_timeout_s: _Optional[float] = ..., max_queued_responses: _Optional[int] = ..., max_pending_captions: _Optional[int] = ..., clip_decode_timeout_s: _Optional[float] = ..., landmark_kind: _Optional[str] = ...) -> None: ...
