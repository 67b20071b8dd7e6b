"""Caption vocabulary: round trips, special tokens, teacher-forcing arrays."""

import pytest

from framescribe.models.networks.caption_vocabulary import CaptionVocabulary, tokenize


def test_round_trip_and_special_tokens(tmp_path):
    vocabulary = CaptionVocabulary.from_captions(["digit 3 is standing still", "Digit 8, moving!"])
    ids = vocabulary.encode("digit 8 is standing still")
    assert vocabulary.decode(ids + [vocabulary.end_id, ids[0]]) == "digit 8 is standing still"
    assert vocabulary.encode("digit 9")[-1] == vocabulary.unknown_id
    vocabulary.save(tmp_path / "v.txt")
    assert CaptionVocabulary.load(tmp_path / "v.txt") == vocabulary
    assert tokenize("A --> b") == ["a", "b"]


def test_teacher_forcing_arrays():
    vocabulary = CaptionVocabulary.from_captions(["a b c"])
    inputs, targets = vocabulary.teacher_forcing_arrays(["a b", "c"], max_length=4)
    assert inputs[0].tolist() == [1, *vocabulary.encode("a b"), 0]
    assert targets[0].tolist() == [*vocabulary.encode("a b"), 2, 0]
    with pytest.raises(ValueError, match="longer than 1 words"):
        vocabulary.teacher_forcing_arrays(["a b c"], max_length=2)


def test_bad_vocabulary_file_is_named(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="v.txt: vocabulary must start with"):
        CaptionVocabulary.load(path)
