"""Wire frames to arrays: real JPEG/PNG files, raw buffers, landmarks, and every way they fail."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

from framescribe.models.data.sign_datasets import ISLR_LANDMARKS
from framescribe.server.frame_decoding import (
    LANDMARK_VALUES,
    FrameError,
    FrameLimits,
    check_timestamp,
    decode_image,
    decode_landmarks,
    frame_time_seconds,
)
from framescribe.v1 import framescribe_service_pb2 as pb


def rgb_picture(height=48, width=64):
    """A smooth RGB gradient (compresses well, so JPEG stays close to it)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                     np.full_like(x, 128)], axis=2).astype(np.uint8)


def encode(picture_rgb, ext):
    ok, data = cv2.imencode(ext, cv2.cvtColor(picture_rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def test_jpeg_decodes_to_rgb():
    picture = rgb_picture()
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=encode(picture, ".jpg")))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - picture).mean() < 4  # lossy, but RGB order kept


def test_png_decodes_exactly():
    picture = rgb_picture(31, 17)
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=encode(picture, ".png")))
    np.testing.assert_array_equal(out, picture)


def test_grey_png_becomes_three_channels_and_alpha_is_dropped():
    grey = rgb_picture()[:, :, 0]
    ok, data = cv2.imencode(".png", grey)
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=data.tobytes()))
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))
    picture = rgb_picture()
    bgra = np.dstack([cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), np.full((48, 64), 7, np.uint8)])
    ok, data = cv2.imencode(".png", bgra)
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=data.tobytes()))
    np.testing.assert_array_equal(out, picture)


def test_truncated_jpeg_is_rejected():
    data = encode(rgb_picture(), ".jpg")
    with pytest.raises(FrameError, match=r"^frame 3: not a valid JPEG: .*truncated"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=data[: len(data) // 2]),
                     where="frame 3")


def test_truncated_png_is_rejected():
    data = encode(rgb_picture(), ".png")
    with pytest.raises(FrameError, match="not a valid PNG"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=data[: len(data) - 30]))
    with pytest.raises(FrameError, match="not a valid PNG: the IHDR"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=data[:20]))


def test_jpeg_without_frame_header_is_rejected():
    with pytest.raises(FrameError, match="not a valid JPEG"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=b"\xff\xd8\xff\xd9"))
    with pytest.raises(FrameError, match="not a valid JPEG"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=b"\xff\xd8\xff\xe0\x00\x10ab"))


def test_empty_data_and_unset_format_are_rejected():
    with pytest.raises(FrameError, match=r"frame: image data is empty \(0 bytes\)"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG))
    with pytest.raises(FrameError, match="format is not set; use JPEG, PNG, RGB24"):
        decode_image(pb.Image(data=b"abc"))
    with pytest.raises(FrameError, match="unknown image format 99"):
        decode_image(pb.Image(format=99, data=b"abc"))


def test_wrong_magic_for_declared_format():
    png = encode(rgb_picture(), ".png")
    with pytest.raises(FrameError, match="declared JPEG .* FF D8 FF .*looks like PNG"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=png))
    jpeg = encode(rgb_picture(), ".jpg")
    with pytest.raises(FrameError, match="declared PNG .*89 50 4E 47.*looks like JPEG"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=jpeg))
    with pytest.raises(FrameError, match="starts with 68 65 6C 6C 6F\\)"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=b"hello"))


def test_png_bomb_is_rejected_before_decoding(monkeypatch):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))

    def no_decoding(*args):
        raise AssertionError("cv2.imdecode must not be called")

    monkeypatch.setattr(cv2, "imdecode", no_decoding)
    with pytest.raises(FrameError, match="100000x100000 is out of range.*1-8192"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=data))
    with pytest.raises(FrameError, match="10000000000 pixels; at most"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_PNG, data=data),
                     FrameLimits(max_pixels_per_frame=10**9, max_side=200_000))


def test_jpeg_size_is_read_from_the_header_before_decoding(monkeypatch):
    data = encode(rgb_picture(48, 64), ".jpg")
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("decoded"))
    with pytest.raises(FrameError, match=r"JPEG image of 64x48 has 3072 pixels; at most 3000"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=data),
                     FrameLimits(max_pixels_per_frame=3000))


def test_progressive_and_grey_jpeg():
    picture = rgb_picture()
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=data.tobytes()))
    assert out.shape == (48, 64, 3)
    ok, data = cv2.imencode(".jpg", picture[:, :, 0])
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_JPEG, data=data.tobytes()))
    assert out.shape == (48, 64, 3)
    np.testing.assert_array_equal(out[:, :, 0], out[:, :, 2])


def test_raw_rgb_bgr_gray_exact():
    picture = rgb_picture(5, 7)
    rgb = decode_image(pb.Image(format=pb.IMAGE_FORMAT_RGB24, data=picture.tobytes(),
                                width=7, height=5))
    np.testing.assert_array_equal(rgb, picture)
    assert rgb.flags.writeable and rgb.flags.owndata
    bgr = decode_image(pb.Image(format=pb.IMAGE_FORMAT_BGR24,
                                data=picture[:, :, ::-1].tobytes(), width=7, height=5))
    np.testing.assert_array_equal(bgr, picture)
    grey = picture[:, :, 0]
    out = decode_image(pb.Image(format=pb.IMAGE_FORMAT_GRAY8, data=grey.tobytes(),
                                width=7, height=5))
    np.testing.assert_array_equal(out, np.repeat(grey[:, :, None], 3, axis=2))


def test_raw_size_off_by_one():
    data = bytes(640 * 480 * 3 - 1)
    with pytest.raises(FrameError) as error:
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_RGB24, data=data, width=640, height=480),
                     where="frame 12")
    assert str(error.value) == ("frame 12: raw RGB24 image of 640x480 needs 921600 bytes, "
                                "got 921599")
    with pytest.raises(FrameError, match="raw GRAY8 image of 4x4 needs 16 bytes, got 17"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_GRAY8, data=bytes(17), width=4, height=4))


def test_raw_dimensions_required_and_limited():
    with pytest.raises(FrameError, match="need width and height .* got 0x4"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_RGB24, data=bytes(12), height=4))
    with pytest.raises(FrameError, match="9000x1 is out of range; .* 1-8192"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_GRAY8, data=bytes(9000), width=9000,
                              height=1))
    with pytest.raises(FrameError, match="has 100 pixels; at most 99"):
        decode_image(pb.Image(format=pb.IMAGE_FORMAT_GRAY8, data=bytes(100), width=10,
                              height=10), FrameLimits(max_pixels_per_frame=99))


def test_frame_limits_validated():
    with pytest.raises(ValueError, match="max_side must be an integer >= 1"):
        FrameLimits(max_side=0)


def test_decoding_from_a_thread_pool():
    images = [pb.Image(format=pb.IMAGE_FORMAT_PNG, data=encode(rgb_picture(20 + i, 30), ".png"))
              for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(decode_image, images))
    assert [out.shape[0] for out in outs] == [20 + i for i in range(8)]


def test_landmarks():
    assert LANDMARK_VALUES == ISLR_LANDMARKS * 3 == 1629
    values = np.arange(1629, dtype=np.float32) / 1629
    values[468 * 3: 489 * 3] = np.nan  # left hand not found
    out = decode_landmarks(pb.Landmarks(values=values))
    assert out.shape == (543, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.reshape(-1), values)  # NaN kept in place
    assert np.isnan(out[468:489]).all() and not np.isnan(out[:468]).any()


def test_landmarks_wrong_count_and_infinity():
    with pytest.raises(FrameError, match="frame 2: landmarks need 1629 values .* got 1626"):
        decode_landmarks(pb.Landmarks(values=[0.0] * 1626), where="frame 2")
    with pytest.raises(FrameError, match="got 0"):
        decode_landmarks(pb.Landmarks())
    values = [0.0] * 1629
    values[31] = float("-inf")
    with pytest.raises(FrameError, match=r"value 31 \(point 10, y\) is infinite"):
        decode_landmarks(pb.Landmarks(values=values))


def test_timestamps():
    assert frame_time_seconds(pb.Frame(timestamp_ms=1500)) == 1.5
    assert check_timestamp(pb.Frame()) == 0
    with pytest.raises(FrameError, match="frame 4: timestamp_ms must be 0 or more, got -1"):
        frame_time_seconds(pb.Frame(timestamp_ms=-1), where="frame 4")


def test_server_leaf_modules_do_not_import_tensorflow():
    code = ("import sys\n"
            "import framescribe.server.frame_decoding, framescribe.server.server_options\n"
            "import framescribe.server.auth, framescribe.server.metrics\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
