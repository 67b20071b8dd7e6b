"""Word-level caption vocabulary: text <-> token ids, saved as one word per line."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PAD, START, END, UNKNOWN = "<pad>", "<start>", "<end>", "<unk>"
SPECIAL_TOKENS = (PAD, START, END, UNKNOWN)
_WORD = re.compile(r"[a-z0-9']+")


def tokenize(text: str) -> list[str]:
    """Lower-case words and numbers; punctuation is dropped."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class CaptionVocabulary:
    """Ids 0-3 are <pad>, <start>, <end>, <unk>; words follow in file order."""

    words: tuple[str, ...]

    def __post_init__(self):
        if self.words[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"vocabulary must start with {SPECIAL_TOKENS}, got {self.words[:4]}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("vocabulary has duplicate words")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    pad_id = 0
    start_id = 1
    end_id = 2
    unknown_id = 3

    @classmethod
    def from_captions(cls, captions: Iterable[str]) -> CaptionVocabulary:
        found = sorted({w for text in captions for w in tokenize(text)})
        return cls(SPECIAL_TOKENS + tuple(w for w in found if w not in SPECIAL_TOKENS))

    @classmethod
    def load(cls, path: str | os.PathLike) -> CaptionVocabulary:
        with open(path, encoding="utf-8") as f:
            words = tuple(line.rstrip("\n") for line in f if line.strip())
        try:
            return cls(words)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(self.words) + "\n")

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """Word ids of `text`, without <start>/<end>."""
        return [self._index.get(w, self.unknown_id) for w in tokenize(text)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, stopping at <end> and skipping the other special tokens."""
        words = []
        for i in ids:
            if i == self.end_id:
                break
            if i >= len(SPECIAL_TOKENS):
                words.append(self.words[i])
        return " ".join(words)

    def teacher_forcing_arrays(self, captions: Sequence[str], max_length: int):
        """(inputs, targets), each (len(captions), max_length) int32: <start> w1.. and w1.. <end>.

        Captions longer than max_length - 1 words raise ValueError.
        """
        import numpy as np

        inputs = np.zeros((len(captions), max_length), np.int32)
        targets = np.zeros((len(captions), max_length), np.int32)
        for row, text in enumerate(captions):
            ids = self.encode(text)
            if len(ids) + 1 > max_length:
                raise ValueError(f"caption longer than {max_length - 1} words: {text!r}")
            inputs[row, : len(ids) + 1] = [self.start_id, *ids]
            targets[row, : len(ids) + 1] = [*ids, self.end_id]
        return inputs, targets
