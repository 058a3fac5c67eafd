"""rnnlab.models.video: the frame CNN, the clip classifiers and their baselines, prediction, bad
input."""

import pytest
import torch

from rnnlab.data.videos import make_digit_videos
from rnnlab.models.video import (
    FrameCNN,
    MeanFramesClassifier,
    MiddleFrameClassifier,
    VideoClassifier,
    predict,
)
from tests.conftest import CLIP_SIZE

SIZE = CLIP_SIZE  # the frame size of the clips fixture


def test_frame_cnn_folds_time_and_skips_padding(clips):
    torch.manual_seed(0)
    cnn = FrameCNN(SIZE, feature_size=16).eval()
    feats = cnn(clips.videos, clips.lengths)
    assert feats.shape == (6, 8, 16)
    padding = torch.arange(8)[None, :] >= clips.lengths[:, None]
    assert (feats[padding] == 0).all()
    # the same frame gives the same features wherever it sits in the batch
    one = cnn(clips.videos[2:3, :1])
    assert torch.allclose(one[0, 0], feats[2, 0], atol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_shapes_for_variable_lengths(clips, cell, bidirectional):
    torch.manual_seed(0)
    clip_model = VideoClassifier(
        10, cell=cell, bidirectional=bidirectional, size=SIZE, hidden_size=8, feature_size=8
    ).eval()
    frame_model = VideoClassifier(
        5,
        per_frame=True,
        cell=cell,
        bidirectional=bidirectional,
        size=SIZE,
        hidden_size=8,
        feature_size=8,
    ).eval()
    assert clip_model(clips.videos, clips.lengths).shape == (6, 10)
    assert frame_model(clips.videos, clips.lengths).shape == (6, 8, 5)
    # padding never changes the answer: a clip alone, cut to its length, scores the same as in the
    # padded batch
    i = int(clips.lengths.argmin())
    alone = clips.videos[i : i + 1, : int(clips.lengths[i])]
    assert torch.allclose(
        clip_model(alone), clip_model(clips.videos, clips.lengths)[i : i + 1], atol=1e-5
    )


def test_running_predictions_end_with_the_clip_answer(clips):
    torch.manual_seed(0)
    model = VideoClassifier(10, size=SIZE, hidden_size=8, feature_size=8).eval()
    running = model.running_predictions(clips.videos, clips.lengths)
    assert running.shape == (6, 8, 10) and torch.allclose(running.sum(-1)[:, 0], torch.ones(6))
    last = running[torch.arange(6), clips.lengths - 1]
    assert torch.allclose(last, model(clips.videos, clips.lengths).softmax(-1), atol=1e-5)
    with pytest.raises(ValueError, match="causal clip model"):
        VideoClassifier(10, bidirectional=True, size=SIZE).running_predictions(clips.videos)


def test_baselines_shapes_and_order_blindness(clips):
    torch.manual_seed(0)
    mean_model = MeanFramesClassifier(10, size=SIZE, hidden_size=8, feature_size=8).eval()
    middle = MiddleFrameClassifier(10, size=SIZE, hidden_size=8, feature_size=8).eval()
    assert (
        mean_model(clips.videos, clips.lengths).shape
        == middle(clips.videos, clips.lengths).shape
        == (6, 10)
    )
    back = clips.reversed()
    assert torch.allclose(
        mean_model(clips.videos, clips.lengths), mean_model(back.videos, back.lengths), atol=1e-5
    )


def test_tiny_model_overfits_a_tiny_batch():
    torch.manual_seed(0)
    data = make_digit_videos(12, frames=5, size=SIZE, seed=1)
    model = VideoClassifier(10, size=SIZE, hidden_size=32, feature_size=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(data.videos, data.lengths), data.labels)
        loss.backward()
        optimizer.step()
    model.eval()
    assert (model(data.videos, data.lengths).argmax(1) == data.labels).all()


@pytest.mark.parametrize(
    ("videos", "lengths", "error", "match"),
    [
        (torch.zeros(3, SIZE, SIZE), None, ValueError, "4 dims"),
        (torch.zeros(2, 3, 1, SIZE, SIZE), None, ValueError, "4 dims"),
        (torch.zeros(2, 0, SIZE, SIZE), None, ValueError, "at least one frame"),
        (torch.zeros(2, 3, 28, 28), None, ValueError, "built for 24×24"),
        (torch.zeros(2, 3, SIZE, SIZE, dtype=torch.uint8), None, TypeError, "float tensor"),
        (torch.zeros(2, 3, SIZE, SIZE), [3, 0], ValueError, "lengths"),
        (torch.zeros(2, 3, SIZE, SIZE), [3, 4], ValueError, "lengths"),
        (torch.zeros(2, 3, SIZE, SIZE), [3], ValueError, "lengths"),
    ],
)
@pytest.mark.parametrize(
    "make",
    [
        lambda: VideoClassifier(4, size=SIZE),
        lambda: MeanFramesClassifier(4, size=SIZE),
        lambda: MiddleFrameClassifier(4, size=SIZE),
        lambda: FrameCNN(SIZE),
    ],
)
def test_bad_inputs_fail_clearly(make, videos, lengths, error, match):
    with pytest.raises(error, match=match):
        make()(videos, lengths)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="cell must be one of"):
        VideoClassifier(4, cell="transformer")
    with pytest.raises(ValueError, match="num_classes"):
        VideoClassifier(1)
    with pytest.raises(ValueError, match="size must be"):
        FrameCNN(30)


def test_predict_batches_and_keeps_order(clips):
    torch.manual_seed(0)
    model = MeanFramesClassifier(10, size=SIZE, hidden_size=8, feature_size=8)
    whole = predict(model, clips.videos, clips.lengths, batch_size=6)
    assert torch.allclose(
        predict(model, clips.videos, clips.lengths, batch_size=4), whole, atol=1e-6
    )
    with pytest.raises(ValueError, match="batch_size"):
        predict(model, clips.videos, clips.lengths, batch_size=0)
