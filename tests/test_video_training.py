"""rnnlab.video_training: the video recipe trains and records validation accuracy."""

import torch

from rnnlab.data.videos import VideoStream, make_digit_videos
from rnnlab.models.video import VideoClassifier
from rnnlab.video_training import train_video_model

SIZE = 24


def test_train_video_model_records_val_acc(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path))
    torch.manual_seed(0)
    model = VideoClassifier(5, per_frame=True, size=SIZE, hidden_size=8, feature_size=8)
    stream = VideoStream(
        32, 16, seed=0, targets="frame_labels", frames=(4, 6), size=SIZE, task="actions"
    )
    val = make_digit_videos(8, frames=(4, 6), size=SIZE, seed=1, split="val", task="actions")
    history = train_video_model("tiny_frames", model, stream, val, epochs=2, device="cpu")
    assert len(history) == 2 and 0 <= history["val_acc"][-1] <= 1
    assert stream.epoch == 2 and "targets='frame_labels'" in repr(stream)
