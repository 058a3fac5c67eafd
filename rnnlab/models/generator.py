"""Vector → sequence: a fixed vector (image features, a latent) drives a GRU decoder that emits
tokens until ``<eos>``.

`SequenceGenerator` turns the vector into the decoder's first state and (by default) also feeds it
at every step, so the decoder never has to carry the whole image in its state alone. Training uses
teacher forcing (the true previous word is the next input); generation runs the model freely through
`rnnlab.models.decoding` (greedy, or sampling with a temperature). `ImageCaptioner` puts a small CNN
in front: `ColumnEncoder` keeps the image's columns (max over height) so "left of" survives
encoding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..checks import check_positive, check_probability, check_tokens
from ..data.vocab import BOS, EOS, check_writer_vocab
from ..modes import eval_mode
from ..sequences import masked_cross_entropy
from .decoding import DecoderBase, greedy_decode, sample_decode
from .settings import RecordsSettings

State = dict[str, torch.Tensor]


def _check_features(features: Any, size: int, name: str = "features") -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or not features.dtype.is_floating_point:
        raise TypeError(
            f"{name} must be a float tensor (B, {size}), got "
            f"{getattr(features, 'dtype', type(features).__name__)}"
        )
    if features.dim() != 2 or features.shape[1] != size or features.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (B, {size}) with B ≥ 1, got {tuple(features.shape)}"
        )
    return features


class SequenceGenerator(DecoderBase, RecordsSettings, nn.Module):
    """GRU decoder conditioned on a vector ``(B, feature_size)``; emits ids of a ``vocab_size``
    vocabulary.

    Chapter 1 (captions) uses it, inside `ImageCaptioner`.

    >>> import torch
    >>> from rnnlab.models.generator import SequenceGenerator
    >>> model = SequenceGenerator(vocab_size=10, feature_size=6, hidden_size=8)
    >>> tokens, lengths = model.generate(torch.randn(2, 6), max_len=5)
    >>> tokens.shape[0], bool((lengths <= 5).all())
    (2, True)
    """

    def __init__(
        self,
        vocab_size: int,
        feature_size: int,
        *,
        embed_dim: int = 32,
        hidden_size: int = 128,
        num_layers: int = 1,
        feed_features: bool = True,
    ):
        super().__init__()
        check_positive(
            vocab_size=vocab_size,
            feature_size=feature_size,
            embed_dim=embed_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        check_writer_vocab(vocab_size)
        self.vocab_size = vocab_size
        self.feature_size = feature_size
        self.feed_features = feed_features
        self.num_layers = num_layers
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.init = nn.Linear(feature_size, num_layers * hidden_size)
        self.rnn = nn.GRU(
            embed_dim + (feature_size if feed_features else 0),
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
        )
        self.head = nn.Linear(hidden_size, vocab_size)

    def start(self, features: torch.Tensor) -> State:
        """The decoder state before the first token:
        ``{"hidden": (B, layers, H), "features": (B, F)}`` (batch on dim 0)."""
        features = _check_features(features, self.feature_size)
        # (B, layers*H) -> (B, layers, H)
        hidden = torch.tanh(self.init(features)).view(-1, self.num_layers, self.hidden_size)
        return {"hidden": hidden, "features": features}

    def run(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State, None]:
        """Logits ``(B, L, V)`` after each of ``tokens`` ``(B, L)``, the state after them, and no
        attention weights (`DecoderBase.step` decodes through it)."""
        x = self.embed(tokens)  # (B, L, E)
        if self.feed_features:
            features = state["features"].unsqueeze(1).expand(-1, x.shape[1], -1)  # (B, L, F)
            x = torch.cat([x, features], dim=-1)  # (B, L, E+F)
        # the GRU's state is (layers, B, H), the decoder state's (B, layers, H)
        outputs, hidden = self.rnn(x, state["hidden"].transpose(0, 1).contiguous())
        state = {"hidden": hidden.transpose(0, 1), "features": state["features"]}
        return self.head(outputs), state, None

    def forward(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits ``(B, L, V)`` for ``targets`` ``(B, L)`` (inputs are ``<bos>`` +
        targets shifted right)."""
        targets = check_tokens("targets", targets, self.vocab_size)
        state = self.start(features)
        if targets.shape[0] != features.shape[0]:
            raise ValueError(
                f"targets has {targets.shape[0]} rows but features has {features.shape[0]}"
            )
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
        return self.run(inputs, state)[0]

    def loss(self, features: torch.Tensor, targets: torch.Tensor, lengths: Any) -> torch.Tensor:
        """Mean cross-entropy over real target tokens (the ``<eos>`` included, padding excluded)."""
        return masked_cross_entropy(self(features, targets), targets, lengths)

    @torch.no_grad()
    def generate(
        self,
        features: torch.Tensor,
        *,
        max_len: int = 20,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Free-running output ``(tokens (B, L), lengths (B,))``: greedy, or sampled when
        ``temperature`` is given. Generation is inference: it runs in eval mode (dropout off,
        BatchNorm on its running statistics) and leaves the model's training mode as it was."""
        with eval_mode(self):
            state = self.start(features)
            if temperature is None:
                return greedy_decode(self.step, state, bos=BOS, eos=EOS, max_len=max_len)
            return sample_decode(
                self.step,
                state,
                bos=BOS,
                eos=EOS,
                max_len=max_len,
                temperature=temperature,
                generator=generator,
            )


class ColumnEncoder(RecordsSettings, nn.Module):
    """Image ``(B, 1, H, W)`` → vector: convolutions, max over the height, a convolution along the
    columns, then a linear layer.

    Taking the max over the height (not over the width) keeps one feature vector per column, so the
    final linear layer still knows which digit stood left of which.

    Chapter 1 (captions) uses it, inside `ImageCaptioner`.

    >>> import torch
    >>> from rnnlab.models.generator import ColumnEncoder
    >>> ColumnEncoder(height=8, width=12, feature_size=16)(torch.randn(2, 1, 8, 12)).shape
    torch.Size([2, 16])
    """

    def __init__(
        self,
        height: int,
        width: int,
        feature_size: int = 128,
        channels: int = 32,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive(height=height, width=width, feature_size=feature_size, channels=channels)
        check_probability(dropout=dropout)
        self.height = height
        self.width = width
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels // 2, 3, padding=1),
            nn.BatchNorm2d(channels // 2),
            nn.ReLU(),
            nn.MaxPool2d((2, 1)),
            nn.Conv2d(channels // 2, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )
        self.columns = nn.Sequential(
            nn.Conv1d(channels, channels, 5, padding=2), nn.BatchNorm1d(channels), nn.ReLU()
        )
        self.proj = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * width, feature_size), nn.ReLU()
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        expected = (1, self.height, self.width)
        if not isinstance(images, torch.Tensor) or not images.dtype.is_floating_point:
            raise TypeError(
                f"images must be a float tensor (B, {', '.join(map(str, expected))}), got "
                f"{getattr(images, 'dtype', type(images).__name__)}"
            )
        if images.dim() != 4 or tuple(images.shape[1:]) != expected or images.shape[0] == 0:
            raise ValueError(
                f"images must have shape (B, {', '.join(map(str, expected))}), got "
                f"{tuple(images.shape)}"
            )
        return self.proj(self.columns(self.conv(images).amax(dim=2)))


class ImageCaptioner(RecordsSettings, nn.Module):
    """`ColumnEncoder` → image vector → `SequenceGenerator`: images in, captions (token ids) out.

    Chapter 1 (captions of digit images) uses it.

    >>> import torch
    >>> from rnnlab.models.generator import ImageCaptioner
    >>> model = ImageCaptioner(vocab_size=10, height=8, width=12, feature_size=16, hidden_size=8)
    >>> model(torch.randn(2, 1, 8, 12), torch.randint(3, 10, (2, 4))).shape  # teacher-forced logits
    torch.Size([2, 4, 10])
    """

    def __init__(
        self,
        vocab_size: int,
        height: int,
        width: int,
        *,
        feature_size: int = 128,
        hidden_size: int = 128,
        channels: int = 32,
        dropout: float = 0.0,
        feed_features: bool = True,
    ):
        super().__init__()
        self.encoder = ColumnEncoder(height, width, feature_size, channels, dropout)
        self.decoder = SequenceGenerator(
            vocab_size, feature_size, hidden_size=hidden_size, feed_features=feed_features
        )

    def forward(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, L, V)``."""
        return self.decoder(self.encoder(images), targets)

    def loss(self, images: torch.Tensor, targets: torch.Tensor, lengths: Any) -> torch.Tensor:
        return self.decoder.loss(self.encoder(images), targets, lengths)

    @torch.no_grad()
    def generate(self, images: torch.Tensor, **options: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions for ``images`` in eval mode (the encoder's BatchNorm on its running statistics,
        training mode restored after); ``options`` as in `SequenceGenerator.generate`."""
        with eval_mode(self):
            return self.decoder.generate(self.encoder(images), **options)
