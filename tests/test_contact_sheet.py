"""Tests for the benchmark contact sheets."""

from __future__ import annotations

import cv2
import pytest

from framescribe.models.data.contact_sheet import TEXT_STRIP_HEIGHT, write_contact_sheet


@pytest.mark.parametrize("benchmark", ["moving-digits", "lasa-airwriting"])
def test_writes_a_readable_png(tmp_path, benchmark: str) -> None:
    target = tmp_path / "nested" / "dir" / f"{benchmark}.png"
    result = write_contact_sheet(benchmark, target, clips=3, frames_per_clip=5, scale=2)
    assert result == target and target.is_file()
    image = cv2.imread(str(target), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (3 * (64 * 2 + TEXT_STRIP_HEIGHT), 5 * 64 * 2, 3)
    strip = image[64 * 2 : 64 * 2 + TEXT_STRIP_HEIGHT]
    assert strip.max() > 128  # the caption / label text was drawn
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temp files


def test_overwrites_and_accepts_str_path(tmp_path) -> None:
    target = tmp_path / "sheet.png"
    target.write_bytes(b"old")
    write_contact_sheet("moving-digits", str(target), split="validation", clips=1, scale=1)
    image = cv2.imread(str(target))
    assert image.shape == (64 + TEXT_STRIP_HEIGHT, 8 * 64, 3)


def test_bad_names_raise(tmp_path) -> None:
    with pytest.raises(ValueError, match="moving-digits"):
        write_contact_sheet("mnist", tmp_path / "x.png")
    with pytest.raises(ValueError, match="validation"):
        write_contact_sheet("moving-digits", tmp_path / "x.png", split="dev")
    with pytest.raises(ValueError, match="clips"):
        write_contact_sheet("lasa-airwriting", tmp_path / "x.png", clips=0)
    assert not (tmp_path / "x.png").exists()
