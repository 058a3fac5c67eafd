"""CNN + RNN for video: a CNN describes each frame, an RNN reads the descriptions in order.

- `FrameCNN` turns clips ``(B, T, H, W)`` into feature sequences ``(B, T, F)`` in one call, by
  folding time into the batch (``B·T`` images through the same convolutions; no Python loop over
  frames).
- `VideoClassifier` runs a GRU or LSTM over those features: one class per clip (seq2vec) or one
  label per frame (seq2seq), causal (one-way) or bidirectional, for clips of different lengths
  (`rnnlab.sequences.run_rnn`, so padding frames never reach a real frame's output).
- Two order-blind baselines share the same CNN: `MiddleFrameClassifier` (one frame) and
  `MeanFramesClassifier` (the average of all frame features, then an MLP).

Every model takes ``(videos, lengths=None)``; ``lengths`` defaults to every clip being full length.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..checks import check_bool, check_int, check_positive
from ..modes import eval_mode
from ..sequences import check_lengths, lengths_to_mask, masked_mean, run_rnn
from .cells import recurrent_layer
from .settings import RecordsSettings


def check_videos(videos: Any, lengths: Any, size: int | None = None) -> torch.Tensor:
    """Validate a batch of grey-scale clips ``(B, T, size, size)`` (any frame size when ``size`` is
    None) and return its lengths (all ``T`` when ``lengths`` is None)."""
    if not isinstance(videos, torch.Tensor) or not videos.dtype.is_floating_point:
        raise TypeError(
            "videos must be a float tensor (B, T, H, W), got "
            f"{getattr(videos, 'dtype', type(videos).__name__)}"
        )
    if videos.dim() != 4:
        raise ValueError(
            "videos must have 4 dims (B, T, H, W) — batch, frames, height, width — got shape "
            f"{tuple(videos.shape)}; "
            "for a single clip use videos.unsqueeze(0)"
        )
    batch, frames, height, width = videos.shape
    if batch == 0 or frames == 0:
        raise ValueError(
            "videos must hold at least one clip of at least one frame, got shape "
            f"{tuple(videos.shape)}"
        )
    if size is not None and (height, width) != (size, size):
        raise ValueError(
            f"videos has frames of {height}×{width} pixels, but this model was built for "
            f"{size}×{size}"
        )
    if lengths is None:
        return torch.full((batch,), frames, dtype=torch.int64, device=videos.device)
    return check_lengths(lengths, batch_size=batch, max_len=frames).to(videos.device)


class FrameCNN(RecordsSettings, nn.Module):
    """Frames ``(B, T, S, S)`` → features ``(B, T, feature_size)``: two strided conv–ReLU blocks,
    then a linear layer.

    The last layer sees the whole feature map (no global pooling), so *where* a digit is stays in
    the features: position over time is what the RNN needs to see motion.

    Chapter 3 (digit videos) uses it in every video model.

    >>> import torch
    >>> from rnnlab.models.video import FrameCNN
    >>> FrameCNN(size=32, feature_size=16)(torch.randn(2, 5, 32, 32)).shape  # a vector per frame
    torch.Size([2, 5, 16])
    """

    def __init__(
        self, size: int = 32, feature_size: int = 64, channels: tuple[int, int] = (8, 16)
    ) -> None:
        super().__init__()
        if check_int("size", size, minimum=4) % 4:
            raise ValueError(
                f"size must be a multiple of 4 (two stride-2 convolutions), got {size!r}"
            )
        check_positive(feature_size=feature_size)
        self.size = size
        self.feature_size = feature_size
        self.convs = nn.Sequential(
            nn.Conv2d(1, channels[0], 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(channels[0], channels[1], 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.project = nn.Sequential(
            nn.Flatten(), nn.Linear(channels[1] * (size // 4) ** 2, feature_size), nn.ReLU()
        )

    def forward(self, videos: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        lengths = check_videos(videos, lengths, self.size)
        batch, frames = videos.shape[:2]
        mask = lengths_to_mask(lengths, frames)
        # (real frames, 1, S, S): time folded into the batch, padding skipped
        real = videos[mask].unsqueeze(1)
        out = videos.new_zeros(batch, frames, self.feature_size)
        out[mask] = self.project(self.convs(real))
        return out


class VideoClassifier(RecordsSettings, nn.Module):
    """FrameCNN → GRU/LSTM → a class per clip (``per_frame=False``) or a label per frame
    (``per_frame=True``).

    A clip's summary is the RNN's state after its last real frame (and, when bidirectional, the
    backward state after its first frame). Output: ``(B, num_classes)`` or ``(B, T, num_classes)``.

    Chapter 3 (digit videos: CNN then GRU) uses it.

    >>> import torch
    >>> from rnnlab.models.video import VideoClassifier
    >>> model = VideoClassifier(num_classes=7, hidden_size=8, feature_size=16)
    >>> model(torch.randn(2, 5, 32, 32)).shape  # 2 clips of 5 frames -> 7 motion scores
    torch.Size([2, 7])
    """

    def __init__(
        self,
        num_classes: int,
        *,
        per_frame: bool = False,
        cell: str = "gru",
        hidden_size: int = 64,
        bidirectional: bool = False,
        size: int = 32,
        feature_size: int = 64,
    ) -> None:
        super().__init__()
        check_int("num_classes", num_classes, minimum=2)
        check_positive(hidden_size=hidden_size)
        self.per_frame = check_bool("per_frame", per_frame)
        self.bidirectional = check_bool("bidirectional", bidirectional)
        self.cnn = FrameCNN(size, feature_size)
        self.rnn = recurrent_layer(cell, feature_size, hidden_size, bidirectional=bidirectional)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def _encode(self, videos: torch.Tensor, lengths: Any) -> tuple[torch.Tensor, Any]:
        """RNN outputs ``(B, T, H·directions)`` (zeros on padding) and final states, for clips of
        any lengths."""
        lengths = check_videos(videos, lengths, self.cnn.size)
        return run_rnn(self.rnn, self.cnn(videos, lengths), lengths)

    def forward(self, videos: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        outputs, final = self._encode(videos, lengths)
        if self.per_frame:
            return self.head(outputs)
        final = final[0] if isinstance(final, tuple) else final  # an LSTM returns (h, c)
        summary = torch.cat([final[-2], final[-1]], dim=1) if self.bidirectional else final[-1]
        return self.head(summary)

    def running_predictions(self, videos: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        """Class probabilities ``(B, T, C)`` after each frame: what a causal clip model would answer
        if the clip stopped there."""
        if self.per_frame or self.bidirectional:
            raise ValueError(
                "running_predictions needs a causal clip model (per_frame=False, "
                "bidirectional=False): "
                "a bidirectional model's output at frame t has already seen the frames after t"
            )
        return self.head(self._encode(videos, lengths)[0]).softmax(dim=-1)


class _FrameBaseline(RecordsSettings, nn.Module):
    """What both baselines share: a `FrameCNN` and an MLP head (Linear–ReLU–Linear) on one feature
    vector per clip."""

    def __init__(
        self, num_classes: int, *, hidden_size: int = 64, size: int = 32, feature_size: int = 64
    ) -> None:
        super().__init__()
        check_int("num_classes", num_classes, minimum=2)
        check_positive(hidden_size=hidden_size)
        self.cnn = FrameCNN(size, feature_size)
        self.head = nn.Sequential(
            nn.Linear(feature_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, num_classes)
        )


class MiddleFrameClassifier(_FrameBaseline):
    """Baseline that sees one frame: the middle real frame of each clip → FrameCNN → MLP → class.

    Chapter 3 uses it as the one-frame baseline.

    >>> import torch
    >>> from rnnlab.models.video import MiddleFrameClassifier
    >>> MiddleFrameClassifier(num_classes=7, hidden_size=8)(torch.randn(2, 5, 32, 32)).shape
    torch.Size([2, 7])
    """

    def forward(self, videos: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        lengths = check_videos(videos, lengths, self.cnn.size)
        middle = videos[torch.arange(videos.shape[0], device=videos.device), (lengths - 1) // 2]
        # (B, S, S) -> (B, 1, S, S): a one-frame clip for FrameCNN, whose (B, 1, F) output -> (B, F)
        return self.head(self.cnn(middle.unsqueeze(1))[:, 0])


class MeanFramesClassifier(_FrameBaseline):
    """Order-blind baseline: FrameCNN on every frame, the mean of the features over real frames,
    then an MLP.

    It sees every frame (so it knows every position a digit visited) but not their order: a clip and
    the same clip played backwards get exactly the same answer.

    Chapter 3 uses it as the baseline that ignores frame order.

    >>> import torch
    >>> from rnnlab.models.video import MeanFramesClassifier
    >>> MeanFramesClassifier(num_classes=7, hidden_size=8)(torch.randn(2, 5, 32, 32)).shape
    torch.Size([2, 7])
    """

    def forward(self, videos: torch.Tensor, lengths: Any = None) -> torch.Tensor:
        lengths = check_videos(videos, lengths, self.cnn.size)
        return self.head(masked_mean(self.cnn(videos, lengths), lengths))


@torch.no_grad()
def predict(
    model: nn.Module, videos: torch.Tensor, lengths: Any = None, batch_size: int = 250
) -> torch.Tensor:
    """A model's outputs for many clips, ``batch_size`` clips at a time, on the model's device
    (result on the CPU).

    The model runs in eval mode and is put back in its previous mode after.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_positive(batch_size=batch_size)
    lengths = check_videos(videos, lengths)
    device = next(model.parameters()).device
    with eval_mode(model):
        parts = [
            model(
                videos[i : i + batch_size].to(device), lengths[i : i + batch_size].to(device)
            ).cpu()
            for i in range(0, len(videos), batch_size)
        ]
    return torch.cat(parts)
