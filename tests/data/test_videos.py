import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.data.digits import digit_split, load_digits
from rnnlab.data.videos import (
    ACTIONS,
    MOTION_CLASSES,
    PAD_LABEL,
    REVERSED,
    VideoStream,
    action_starts,
    make_digit_videos,
)


def _centre_x(videos: torch.Tensor) -> torch.Tensor:
    """Brightness-weighted mean column of every frame: (N, T)."""
    columns = torch.arange(videos.shape[-1], dtype=torch.float32)
    return (videos.sum(dim=2) * columns).sum(dim=-1) / videos.sum(dim=(2, 3)).clamp_min(1e-6)


def test_shapes_range_and_labels():
    clips = make_digit_videos(64, frames=(6, 10), size=32, seed=3)
    assert clips.videos.shape == (64, 10, 32, 32) and clips.videos.dtype == torch.float32
    assert clips.videos.min() >= 0 and clips.videos.max() <= 1
    assert clips.lengths.min() >= 6 and clips.lengths.max() <= 10
    assert (
        set(clips.labels.tolist()) <= set(range(len(MOTION_CLASSES)))
        and clips.class_names == MOTION_CLASSES
    )
    padding = torch.arange(10)[None, :] >= clips.lengths[:, None]
    assert (clips.frame_labels[padding] == PAD_LABEL).all() and (clips.videos[padding] == 0).all()
    real = clips.frame_labels[~padding]
    assert real.min() >= 0 and real.max() < len(ACTIONS)
    assert (clips.videos.sum(dim=(2, 3))[~padding] > 0).all()  # every real frame shows a digit


def test_deterministic_by_seed_and_split():
    a = make_digit_videos(20, seed=5)
    b = make_digit_videos(20, seed=5)
    assert torch.equal(a.videos, b.videos) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.videos, make_digit_videos(20, seed=6).videos)
    assert not torch.equal(a.videos, make_digit_videos(20, seed=5, split="test").videos)


def test_test_split_uses_unseen_handwriting():
    images, _ = load_digits()
    train_pool = images[digit_split(0)[0]]
    clips = make_digit_videos(20, seed=0, split="test")
    # the first digit, cut from the first frame of a clip without a distractor, is no training image
    for i in range(20):
        if not clips.visible[i, 1]:
            y, x = clips.positions[i, 0, 0].tolist()
            patch = clips.videos[i, 0, y : y + 8, x : x + 8].numpy()
            assert not any(np.array_equal(patch, img) for img in train_pool)
            assert any(np.array_equal(patch, img) for img in images)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_reversing_a_left_clip_gives_a_right_clip(seed):
    clips = make_digit_videos(60, frames=(6, 12), seed=seed)
    left = clips.labels == MOTION_CLASSES.index("left")
    if not left.any():
        return
    alone = left & ~clips.visible[:, 1]  # no still distractor to pull the centre
    back = clips.reversed()
    assert (back.labels[left] == MOTION_CLASSES.index("right")).all()
    for i in alone.nonzero().flatten().tolist():
        n = int(clips.lengths[i])
        forward = _centre_x(clips.videos[i : i + 1, :n])[0]
        backward = _centre_x(back.videos[i : i + 1, :n])[0]
        assert (forward.diff() < 0).all() and (backward.diff() > 0).all()
        assert (clips.frame_labels[i, :n] == ACTIONS.index("left")).all()
        assert (back.frame_labels[i, :n] == ACTIONS.index("right")).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_reversal_maps_every_class_and_is_an_involution(seed):
    clips = make_digit_videos(80, frames=(5, 12), seed=seed)
    back = clips.reversed()
    expected = [MOTION_CLASSES.index(REVERSED[MOTION_CLASSES[c]]) for c in clips.labels.tolist()]
    assert back.labels.tolist() == expected
    twice = back.reversed()
    assert torch.equal(twice.videos, clips.videos) and torch.equal(
        twice.frame_labels, clips.frame_labels
    )
    # the bag of frames is unchanged: an order-blind model sees the same input
    assert torch.allclose(back.videos.sum(dim=1), clips.videos.sum(dim=1))


def test_frame_labels_follow_the_first_digit():
    clips = make_digit_videos(50, task="actions", frames=12, seed=1)
    assert (clips.labels == PAD_LABEL).all() and clips.class_names == ()
    step = clips.positions[:, 0, 1:] - clips.positions[:, 0, :-1]  # (N, T-1, 2) as (dy, dx)
    moves = {
        ACTIONS.index(a): d
        for a, d in (("left", (0, -1)), ("right", (0, 1)), ("up", (-1, 0)), ("down", (1, 0)))
    }
    for label, (dy, dx) in moves.items():
        where = clips.frame_labels[:, :-1] == label
        assert (step[where].sign() == torch.tensor([dy, dx])).all()
    still = clips.frame_labels[:, :-1] == ACTIONS.index("still")
    assert (step[still] == 0).all()
    changes = (clips.frame_labels[:, 1:] != clips.frame_labels[:, :-1]).sum()
    assert changes > 50  # several actions per clip


def test_thousand_clips_generate():
    clips = make_digit_videos(1000, frames=12, seed=0)
    assert len(clips) == 1000 and len(set(clips.labels.tolist())) == len(MOTION_CLASSES)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be"),
        ({"n": 2, "frames": 2}, ValueError, r"frames must be an int in \[4, 32\], got 2"),
        ({"n": 2, "frames": (10, 6)}, ValueError, "frames must be .min, max. with min ≤ max"),
        ({"n": 2, "frames": 8.0}, TypeError, "frames must be"),
        ({"n": 2, "frames": 20, "size": 32}, ValueError, "too long for size"),
        ({"n": 2, "size": 10}, ValueError, "size must be"),
        ({"n": 2, "split": "dev"}, ValueError, "split must be"),
        ({"n": 2, "task": "dance"}, ValueError, "task must be"),
        ({"n": 2, "noise": -1}, ValueError, "noise must be"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_digit_videos(**kwargs)


def test_action_starts_marks_new_actions():
    labels = torch.tensor([[0, 0, 1, 1, 1, PAD_LABEL], [2, 2, 2, 3, 3, 3]])
    assert action_starts(labels).tolist() == [
        [True, False, True, False, False, False],
        [True, False, False, True, False, False],
    ]
    with pytest.raises(TypeError, match="frame_labels"):
        action_starts(labels.float())


def test_video_stream_gives_fresh_clips_each_epoch():
    stream = VideoStream(10, 4, seed=3, frames=6, size=24)
    assert len(stream) == 2
    first, second = list(stream), list(stream)
    assert [b[0].shape for b in first] == [(4, 6, 24, 24)] * 2
    assert not torch.equal(first[0][0], second[0][0])
    again = VideoStream(10, 4, seed=3, frames=6, size=24)
    assert torch.equal(next(iter(again))[0], first[0][0])  # a run repeats
    with pytest.raises(ValueError, match="batch_size"):
        VideoStream(10, 11)
    with pytest.raises(ValueError, match="targets"):
        VideoStream(10, 2, targets="pixels")
    with pytest.raises(ValueError, match="split must be"):
        VideoStream(10, 2, split="dev")
