"""Captioned images built from real handwritten digits: 1–3 digits on a small canvas, read left to
right.

Each image places one to three 8×8 digits (the shipped UCI digits) at random, non-overlapping
horizontal positions and random heights on a ``12 × 36`` canvas; its caption names them from left to
right, e.g. ``"three seven one"``. Held-out images are built only from digit images of the held-out
part of `digit_split`, so a captioner is tested on handwriting it has never seen.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ..checks import check_choice, check_int, check_positive
from .digits import digit_split, load_digits
from .vocab import Vocab

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
HEIGHT = 12
WIDTH = 36
DIGIT = 8
MAX_DIGITS = 3
SPLITS = {"train": 0, "val": 1, "test": 2}


class Captioned(NamedTuple):
    images: torch.Tensor  # (N, 1, HEIGHT, WIDTH) float32 in [0, 1]
    tokens: torch.Tensor  # (N, MAX_DIGITS + 1) int64: word ids, <eos>, then <pad>
    lengths: torch.Tensor  # (N,) int64: words + 1 for <eos>
    captions: list[str]
    digits: list[list[int]]  # indices into load_digits() of the digits used, left to right


def caption_vocab() -> Vocab:
    """The caption words: ``<pad> <unk> <bos> <eos>`` then ``zero`` … ``nine``."""
    return Vocab(WORDS)


def compose(digit_images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Place 1–3 digit images ``(n, 8, 8)`` left to right at random gaps and heights on a
    ``12 × 36`` canvas."""
    count = len(digit_images)
    if not 1 <= count <= MAX_DIGITS:
        raise ValueError(f"digit_images must hold 1 to {MAX_DIGITS} digits, got {count}")
    free = WIDTH - DIGIT * count
    # gaps before each digit: a random split of the free width
    cuts = np.sort(rng.integers(0, free + 1, size=count))
    canvas = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    for i, image in enumerate(digit_images):
        x = cuts[i] + DIGIT * i
        y = rng.integers(0, HEIGHT - DIGIT + 1)
        canvas[y : y + DIGIT, x : x + DIGIT] = np.maximum(
            canvas[y : y + DIGIT, x : x + DIGIT], image
        )
    return canvas


def make_captions(
    count: int, split: str = "train", seed: int = 0, digit_seed: int = 0
) -> Captioned:
    """``count`` captioned images whose digits come only from ``split`` ("train", "val" or "test")
    of `digit_split`."""
    check_positive(count=count)
    check_choice("split", split, SPLITS)
    images, labels = load_digits()
    pool = digit_split(digit_seed)[SPLITS[split]]
    rng = np.random.default_rng(seed)
    vocab = caption_vocab()
    canvases = np.zeros((count, 1, HEIGHT, WIDTH), dtype=np.float32)
    tokens = torch.zeros((count, MAX_DIGITS + 1), dtype=torch.int64)
    lengths = torch.zeros(count, dtype=torch.int64)
    captions, used = [], []
    for i in range(count):
        chosen = rng.choice(pool, size=rng.integers(1, MAX_DIGITS + 1), replace=False)
        canvases[i, 0] = compose(images[chosen], rng)
        words = [WORDS[labels[j]] for j in chosen]
        ids = vocab.encode(words, eos=True)
        tokens[i, : len(ids)], lengths[i] = ids, len(ids)
        captions.append(" ".join(words))
        used.append([int(j) for j in chosen])
    return Captioned(torch.from_numpy(canvases), tokens, lengths, captions, used)


def decode_captions(tokens: torch.Tensor) -> list[str]:
    """Caption strings of token rows ``(N, L)`` (stopping at ``<eos>``)."""
    vocab = caption_vocab()
    return [" ".join(vocab.decode(row)) for row in tokens.tolist()]


def exact_match(predicted: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of predicted captions equal to their target word for word, ``<eos>`` included
    (as `rnnlab.translate.exact_match` for strings).

    Both are ``(N, L)`` id rows padded with ``<pad>`` after ``<eos>``; their widths may differ.
    """
    if predicted.dim() != 2 or targets.dim() != 2 or len(predicted) != len(targets):
        raise ValueError(
            f"predicted and targets must be (N, L) with the same N, got {tuple(predicted.shape)} "
            f"and {tuple(targets.shape)}"
        )
    width = max(predicted.shape[1], targets.shape[1])
    grow = lambda t: torch.nn.functional.pad(t, (0, width - t.shape[1]))  # noqa: E731
    return float((grow(predicted.cpu()) == grow(targets.cpu())).all(dim=1).float().mean())


class CaptionStream:
    """Training batches ``(images, tokens, lengths)`` of freshly composed images every epoch (new
    layouts, same digit pool).

    Re-composing each epoch means the captioner never sees the same arrangement twice, so it has to
    learn to read digits and their order rather than remember pictures.
    """

    def __init__(self, count: int, *, batch_size: int = 64, split: str = "train", seed: int = 0):
        check_positive(batch_size=batch_size)
        self.count = count
        self.batch_size = batch_size
        self.split = split
        self.seed = seed
        self.epoch = 0
        make_captions(1, split, seed)  # validate the arguments now rather than at the first epoch

    def __len__(self) -> int:
        return -(-self.count // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Serve pass ``epoch`` next (`rnnlab.fit` pins each epoch so, so a run never depends on
        earlier passes)."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def __iter__(self):
        data = make_captions(self.count, self.split, seed=self.seed * 100_003 + self.epoch)
        self.epoch += 1
        for start in range(0, self.count, self.batch_size):
            part = slice(start, start + self.batch_size)
            yield data.images[part], data.tokens[part], data.lengths[part]
