"""Short grey-scale clips of real handwritten digits moving on a canvas: the data of chapter 3.

Every class is defined by *motion*, never by what a single frame looks like: a digit glides left,
turns, bounces back; two digits meet, part or cross. Start positions are random and the time
reversal of a clip of one class is a clip of another (left ↔ right, turn left ↔ turn right,
meet ↔ part), so a model that ignores the order of frames cannot tell those pairs apart. Half of the
one-mover clips carry a second, still digit, so even counting digits reveals nothing.

Two tasks share one generator:

- ``task="motion"``: one class per clip (`MOTION_CLASSES`), for seq2vec classification;
- ``task="actions"``: one digit strings together segments of `ACTIONS` ("still", "left", …), for
  seq2seq labelling of every frame.

Both give per-frame labels: ``frame_labels[b, t]`` is what the first digit does *between frame t and
frame t+1* (the last real frame repeats the label before it), so the first frame of a motion is only
known to a model that may look one frame ahead. Digit images come from `digit_split`, so clips of
the ``"test"`` split use handwriting never seen in ``"train"``. Generation is vectorised NumPy:
a thousand clips take a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..checks import check_choice, check_int, check_number, check_positive
from .digits import digit_split, load_digits

MOTION_CLASSES = (
    "left",
    "right",
    "up",
    "down",
    "turn left",
    "turn right",
    "bounce",
    "meet",
    "part",
    "cross",
)
REVERSED = {
    "left": "right",
    "right": "left",
    "up": "down",
    "down": "up",
    "turn left": "turn right",
    "turn right": "turn left",
    "bounce": "bounce",
    "meet": "part",
    "part": "meet",
    "cross": "cross",
}
ACTIONS = ("still", "left", "right", "up", "down")
PAD_LABEL = -100  # frame label on padding frames; torch's cross-entropy ignores it by default
DIGIT = 8  # side of a digit image in pixels
SPLITS = ("train", "val", "test")
TASKS = ("motion", "actions")

# unit steps (dy, dx) of the four directions, in ACTIONS order after "still"
_DIRECTIONS = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]], dtype=np.int64)


@dataclass(frozen=True)
class DigitVideos:
    """A batch of clips. Shapes: ``videos (N, T, S, S)`` float32 in [0, 1], zero after each clip's
    length; ``lengths (N,)``; ``labels (N,)`` clip classes (indices into ``class_names``;
    `PAD_LABEL` for the actions task, which has none); ``frame_labels (N, T)``
    indices into `ACTIONS`, `PAD_LABEL` on padding; ``positions (N, 2, T, 2)`` top-left (y, x) of
    each digit (first digit, second digit), ``visible (N, 2)`` whether each digit is drawn."""

    videos: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    frame_labels: torch.Tensor
    positions: torch.Tensor
    visible: torch.Tensor
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.videos.shape[0])

    def reversed(self) -> DigitVideos:
        """The same clips played backwards (each within its own length), with the labels that motion
        now earns."""
        lengths = self.lengths.numpy()
        order = torch.from_numpy(_reverse_order(lengths, self.videos.shape[1]))
        # order (N, T) -> (N, 1, T, 1) -> (N, 2, T, 2): one frame order for both digits, y and x
        positions = self.positions.gather(
            2, order.view(-1, 1, order.shape[1], 1).expand_as(self.positions)
        )
        # order (N, T) -> (N, T, 1, 1) -> (N, T, S, S)
        videos = self.videos.gather(1, order.view(*order.shape, 1, 1).expand_as(self.videos))
        labels = self.labels
        if self.class_names:
            labels = torch.tensor(
                [self.class_names.index(REVERSED[name]) for name in self.class_names]
            )[labels]
        frame_labels = torch.from_numpy(_frame_labels(positions[:, 0].numpy(), lengths))
        return replace(
            self, videos=videos, positions=positions, labels=labels, frame_labels=frame_labels
        )


def action_starts(frame_labels: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` bool: True on each real frame where a new action begins (frame 0, or a label
    unlike the one before).

    These are the frames a one-way model cannot label: the move that starts there shows only in the
    next frame.
    """
    if (
        not isinstance(frame_labels, torch.Tensor)
        or frame_labels.dim() != 2
        or frame_labels.dtype != torch.int64
    ):
        raise TypeError(
            "frame_labels must be an (N, T) int64 tensor, got "
            f"{getattr(frame_labels, 'dtype', type(frame_labels).__name__)}"
        )
    changed = torch.ones_like(frame_labels, dtype=torch.bool)
    changed[:, 1:] = frame_labels[:, 1:] != frame_labels[:, :-1]
    return changed & (frame_labels != PAD_LABEL)


def _reverse_order(lengths: np.ndarray, frames: int) -> np.ndarray:
    """Index ``(N, T)`` that plays frame ``L-1-t`` at ``t`` for ``t < L`` and leaves padding in
    place."""
    t = np.arange(frames)[None, :]
    return np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)


def _frame_labels(first: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Action of the first digit between frame t and t+1 (positions ``(N, T, 2)``); the last frame
    repeats."""
    n, frames = first.shape[:2]
    step = np.diff(first, axis=1)  # (N, T-1, 2)
    labels = np.zeros((n, frames), dtype=np.int64)
    for k, direction in enumerate(_DIRECTIONS, start=1):
        labels[:, :-1][(np.sign(step) == direction).all(axis=2)] = k
    rows = np.arange(n)
    labels[rows, lengths - 1] = labels[rows, np.maximum(lengths - 2, 0)]
    labels[np.arange(frames)[None, :] >= lengths[:, None]] = PAD_LABEL
    return labels


def _motion_offsets(
    rng: np.random.Generator, classes: np.ndarray, lengths: np.ndarray, frames: int, room: int
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets ``(N, 2, T, 2)`` of both digits relative to the first digit's start, and whether
    digit 2 moves with it."""
    n = len(classes)
    t = np.arange(frames - 1)[None, :]
    real = t < (lengths[:, None] - 1)
    name = np.array(MOTION_CLASSES)[classes]
    # a turn shows plainly
    speed = np.where(np.isin(name, ["turn left", "turn right", "bounce"]), 2, rng.integers(1, 3, n))
    # glides, turns and bounces: one mover, heading one way until the turning step, then maybe
    # another
    glides = ("left", "right", "up", "down")
    # (N, 2) as (dy, dx)
    first = _DIRECTIONS[np.select([name == g for g in glides], range(4), rng.integers(0, 4, n))]
    # on screen (y down): right → down → left → up
    clockwise = np.stack([first[:, 1], -first[:, 0]], axis=1)
    then = np.select(
        [(name == "bounce")[:, None], (name == "turn right")[:, None]], [-first, clockwise], first
    )
    turn = (lengths * rng.uniform(0.35, 0.65, n)).astype(np.int64)
    # (N, T-1, 2)
    heading = np.where((t >= turn[:, None])[..., None], then[:, None, :], first[:, None, :])
    steps = np.zeros((n, 2, frames - 1, 2), dtype=np.int64)
    steps[:, 0] = heading * (speed[:, None] * real)[..., None]
    # two movers along one axis: "meet" closes the gap then stays; "cross" passes the other digit
    pair = np.isin(name, ["meet", "part", "cross"])
    axis = _DIRECTIONS[rng.integers(0, 2, n) * 2 + 1]  # (0, 1) horizontal or (1, 0) vertical
    approach = np.clip(
        (lengths * rng.uniform(0.35, 0.65, n)).astype(np.int64), 1, max(1, (room - DIGIT) // 2)
    )
    meeting = np.isin(name, ["meet", "part"])
    moving = np.where(meeting[:, None], t < approach[:, None], real)
    pair_speed = np.where(meeting, 1, speed)
    along = (moving * pair_speed[:, None])[..., None] * axis[:, None, :]
    steps[pair, 0] = along[pair]
    steps[pair, 1] = -along[pair]
    offsets = np.concatenate(
        [np.zeros((n, 2, 1, 2), dtype=np.int64), np.cumsum(steps, axis=2)], axis=2
    )
    # where the second digit starts: touching after the approach ("meet"), at the far end ("cross")
    travelled = (moving * pair_speed[:, None]).sum(axis=1)
    gap = np.where(meeting, DIGIT + 2 * travelled, travelled)
    side = rng.integers(-DIGIT, DIGIT + 1, n) * ~meeting  # crossing digits pass beside each other
    across = axis[:, ::-1]
    offsets[:, 1] += (gap[:, None] * axis + side[:, None] * across)[:, None, :]
    return offsets, pair


def _action_offsets(rng: np.random.Generator, lengths: np.ndarray, frames: int) -> np.ndarray:
    """Offsets ``(N, 2, T, 2)`` of one digit doing a run of actions, each lasting 3–6 frames, at 2
    pixels a frame."""
    n = len(lengths)
    ends = np.cumsum(rng.integers(3, 7, (n, frames)), axis=1)
    segment = (ends[:, None, :] <= np.arange(frames - 1)[None, :, None]).sum(axis=2)  # (N, T-1)
    kinds = (
        rng.integers(0, len(ACTIONS), (n, 1))
        + np.cumsum(rng.integers(1, len(ACTIONS), (n, frames)), axis=1)
    ) % len(ACTIONS)
    action = np.take_along_axis(kinds, segment, axis=1)
    unit = np.concatenate([np.zeros((1, 2), dtype=np.int64), _DIRECTIONS])[action]  # (N, T-1, 2)
    unit *= (np.arange(frames - 1)[None, :] < (lengths[:, None] - 1))[..., None]
    offsets = np.zeros((n, 2, frames, 2), dtype=np.int64)
    offsets[:, 0, 1:] = np.cumsum(2 * unit, axis=1)  # 2 pixels a frame: every move is plain to see
    return offsets


def _place(
    rng: np.random.Generator,
    offsets: np.ndarray,
    together: np.ndarray,
    lengths: np.ndarray,
    room: int,
) -> np.ndarray:
    """Absolute positions: a random start that keeps every moving digit on the canvas for the whole
    clip."""
    n, _, frames, _ = offsets.shape
    real = (np.arange(frames)[None, :] < lengths[:, None])[:, None, :, None]
    used = real & np.stack([np.ones(n, bool), together], axis=1)[:, :, None, None]
    low = np.where(used, offsets, np.iinfo(np.int64).max).min(axis=(1, 2))  # (N, 2)
    high = np.where(used, offsets, np.iinfo(np.int64).min).max(axis=(1, 2))
    if (high - low > room).any():
        raise AssertionError(
            "a trajectory is wider than the canvas; the generator's speeds do not fit this size"
        )
    start = rng.integers(-low, room - high + 1)  # (N, 2), inclusive of the last fitting start
    positions = offsets + start[:, None, None, :]
    # a still distractor
    positions[~together, 1] = rng.integers(0, room + 1, (int((~together).sum()), 1, 2))
    return positions


def _render(
    images: np.ndarray, positions: np.ndarray, visible: np.ndarray, lengths: np.ndarray, size: int
) -> np.ndarray:
    """Draw digit ``images (N, 2, 8, 8)`` at ``positions (N, 2, T, 2)`` on blank canvases (overlaps
    keep the brighter pixel)."""
    n, _, frames, _ = positions.shape
    canvas = np.zeros((n, frames, size, size), dtype=np.float32)
    grid = np.arange(DIGIT)
    for d in range(2):
        clip, t = np.nonzero(visible[:, d, None] & (np.arange(frames)[None, :] < lengths[:, None]))
        rows = positions[clip, d, t, 0][:, None, None] + grid[None, :, None]
        cols = positions[clip, d, t, 1][:, None, None] + grid[None, None, :]
        index = (clip[:, None, None], t[:, None, None], rows, cols)
        canvas[index] = np.maximum(canvas[index], images[clip, d])
    return canvas


def _check_args(
    n: object, frames: object, size: object, split: object, task: object, noise: object
) -> tuple[int, int]:
    check_positive(n=n)
    pair = frames if isinstance(frames, tuple) else (frames, frames)
    if len(pair) != 2:
        raise ValueError(f"frames must be an int or a (min, max) pair of ints, got {frames!r}")
    # a motion needs a few frames
    shortest, longest = (check_int("frames", f, minimum=4, maximum=32) for f in pair)
    if shortest > longest:
        raise ValueError(f"frames must be (min, max) with min ≤ max, got {frames!r}")
    size = check_int("size", size, minimum=2 * DIGIT + 8, maximum=128)  # the canvas side in pixels
    check_choice("split", split, SPLITS)
    check_choice("task", task, TASKS)
    check_number("noise", noise, minimum=0, maximum=0.5)
    # a glide at 2 px per step must fit: 2 * (frames - 1) ≤ size - 8
    if 2 * (longest - 1) > size - DIGIT:
        raise ValueError(
            f"frames={frames!r} is too long for size={size}: a fast glide would leave the canvas; "
            f"use at most {(size - DIGIT) // 2 + 1} frames or a larger size"
        )
    return shortest, longest


def make_digit_videos(
    n: int,
    frames: int | tuple[int, int] = 12,
    size: int = 32,
    seed: int = 0,
    split: str = "train",
    task: str = "motion",
    noise: float = 0.0,
) -> DigitVideos:
    """Generate ``n`` clips of real digits moving on a ``size``×``size`` canvas (see the module
    docstring).

    ``frames`` is a clip length, or ``(min, max)`` for clips of random lengths padded to ``max``.
    ``split`` picks which digit images are used (``digit_split(0)``: train / val / test handwriting
    never overlaps). ``noise`` adds Gaussian pixel noise of that standard deviation (clipped to [0,
    1]). The same arguments always give the same clips; classes are balanced in expectation.
    """
    shortest, longest = _check_args(n, frames, size, split, task, noise)
    rng = np.random.default_rng([seed, SPLITS.index(split), TASKS.index(task)])
    lengths = rng.integers(shortest, longest + 1, n)
    room = size - DIGIT
    if task == "motion":
        names = MOTION_CLASSES
        classes = rng.integers(0, len(names), n)
        # a "turn left" / "part" clip is made as its reverse class and played backwards, so reversal
        # is exact
        made_as = np.array(
            [
                names.index(REVERSED[c]) if c in ("turn left", "part") else i
                for i, c in enumerate(names)
            ]
        )
        offsets, together = _motion_offsets(rng, made_as[classes], lengths, longest, room)
        visible = np.stack([np.ones(n, bool), together | (rng.random(n) < 0.5)], axis=1)
    else:
        names, classes = (), np.full(n, PAD_LABEL)
        offsets = _action_offsets(rng, lengths, longest)
        together = np.zeros(n, bool)
        visible = np.stack([np.ones(n, bool), rng.random(n) < 0.5], axis=1)
    positions = _place(rng, offsets, together, lengths, room)
    backwards = made_as[classes] != classes if task == "motion" else np.zeros(n, bool)
    order = _reverse_order(lengths[backwards], longest)
    positions[backwards] = np.take_along_axis(positions[backwards], order[:, None, :, None], axis=2)
    images, _ = load_digits()
    pool = digit_split(0)[SPLITS.index(split)]
    videos = _render(images[rng.choice(pool, (n, 2))], positions, visible, lengths, size)
    if noise:
        real = (np.arange(longest)[None, :] < lengths[:, None])[:, :, None, None]
        videos = np.clip(
            videos + rng.normal(0, noise, videos.shape).astype(np.float32) * real, 0, 1
        )
    frame_labels = _frame_labels(positions[:, 0], lengths)
    return DigitVideos(
        videos=torch.from_numpy(videos),
        lengths=torch.from_numpy(lengths),
        labels=torch.from_numpy(classes),
        frame_labels=torch.from_numpy(frame_labels),
        positions=torch.from_numpy(positions),
        visible=torch.from_numpy(visible),
        class_names=names,
    )


class VideoStream:
    """Fresh training clips every epoch: pass ``k`` of a loop over this stream generates ``n`` new
    clips from ``(seed, k)``.

    Generating is cheaper than a training step, so a model never sees the same clip twice and cannot
    memorise its training set. Yields ``(videos, lengths, targets)`` batches, where ``targets`` is
    ``labels`` (clip classes) or ``frame_labels``; other keyword arguments go to
    `make_digit_videos`. The sequence of epochs is fixed by ``seed``, so a run repeats exactly.
    """

    def __init__(
        self, n: int, batch_size: int = 64, *, seed: int = 0, targets: str = "labels", **kwargs: Any
    ) -> None:
        check_positive(n=n)
        batch_size = check_int("batch_size", batch_size, minimum=1, maximum=n)
        check_choice("targets", targets, ("labels", "frame_labels"))
        # fail now, not at the first epoch, on a bad argument
        make_digit_videos(1, seed=seed, **kwargs)
        self.n = n
        self.batch_size = batch_size
        self.seed = seed
        self.targets = targets
        self.kwargs = kwargs
        self.epoch = 0

    def __len__(self) -> int:
        return self.n // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Serve pass ``epoch`` (≥ 1) next; `rnnlab.fit` pins each epoch so, so that models sharing
        a stream see the same clips."""
        self.epoch = check_int("epoch", epoch, minimum=1) - 1  # __iter__ counts the pass it serves

    def __repr__(self) -> str:  # stable across runs: part of the train-once cache key
        options = "".join(f", {k}={v!r}" for k, v in sorted(self.kwargs.items()))
        return (
            f"VideoStream(n={self.n}, batch_size={self.batch_size}, seed={self.seed}, "
            f"targets={self.targets!r}{options})"
        )

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        self.epoch += 1
        clips = make_digit_videos(self.n, seed=self.seed * 100_003 + self.epoch, **self.kwargs)
        targets = getattr(clips, self.targets)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            part = slice(start, start + self.batch_size)
            yield clips.videos[part], clips.lengths[part], targets[part]
