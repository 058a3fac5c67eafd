"""Every rnnlab model records its constructor settings, rebuilds from them, and any changed setting
is a new cache key."""

import importlib
import inspect
import pkgutil

import pytest
import torch
from torch import nn

import rnnlab.models
from rnnlab.cache import cache_key
from rnnlab.distributed.parallel import LayerPerDeviceLSTM, PackedLSTMEncoder
from rnnlab.distributed.pipeline import ClockedLSTM, WavefrontLSTM
from rnnlab.models.attention import AdditiveAttention, MultiplicativeAttention
from rnnlab.models.char_lm import CharLanguageModel
from rnnlab.models.ctc import CTCTagger
from rnnlab.models.encoder_decoder import AttentionDecoder, Decoder, Encoder, Seq2Seq
from rnnlab.models.forecast import SequenceRegressor
from rnnlab.models.generator import ColumnEncoder, ImageCaptioner, SequenceGenerator
from rnnlab.models.seq2vec import SequenceClassifier
from rnnlab.models.settings import RecordsSettings
from rnnlab.models.synced import FrameRNN, SyncedTagger
from rnnlab.models.unroll import NextStepLSTM
from rnnlab.models.video import (
    FrameCNN,
    MeanFramesClassifier,
    MiddleFrameClassifier,
    VideoClassifier,
)

# For each model: small valid arguments, and for EVERY constructor argument another valid value.
CASES = {
    SequenceClassifier: (
        lambda: dict(vocab_size=20, num_classes=2, embed_dim=4, hidden_size=4),
        dict(
            vocab_size=21,
            num_classes=3,
            embed_dim=5,
            hidden_size=5,
            cell="lstm",
            num_layers=2,
            bidirectional=True,
            pooling="mean",
            dropout=0.1,
            word_dropout=0.1,
            padding_idx=None,
            mask_padding=False,
        ),
    ),
    SequenceRegressor: (
        lambda: dict(input_size=1, output_size=2, hidden_size=4),
        dict(
            input_size=2,
            output_size=3,
            hidden_size=5,
            cell="lstm",
            num_layers=2,
            dropout=0.1,
            every_step=False,
            residual=True,
        ),
    ),
    CharLanguageModel: (
        lambda: dict(vocab_size=8, embed_dim=4, hidden_size=4),
        dict(vocab_size=9, embed_dim=5, hidden_size=5, num_layers=2, cell="lstm", dropout=0.1),
    ),
    SequenceGenerator: (
        lambda: dict(vocab_size=8, feature_size=4, embed_dim=4, hidden_size=4),
        dict(
            vocab_size=9,
            feature_size=5,
            embed_dim=5,
            hidden_size=5,
            num_layers=2,
            feed_features=False,
        ),
    ),
    ColumnEncoder: (
        lambda: dict(height=8, width=8, feature_size=4, channels=4),
        dict(height=12, width=12, feature_size=5, channels=8, dropout=0.1),
    ),
    ImageCaptioner: (
        lambda: dict(vocab_size=8, height=8, width=8, feature_size=4, hidden_size=4, channels=4),
        dict(
            vocab_size=9,
            height=12,
            width=12,
            feature_size=5,
            hidden_size=5,
            channels=8,
            dropout=0.1,
            feed_features=False,
        ),
    ),
    AdditiveAttention: (
        lambda: dict(query_size=4, memory_size=4),
        dict(query_size=5, memory_size=5, attention_size=3),
    ),
    MultiplicativeAttention: (
        lambda: dict(query_size=4, memory_size=4),
        dict(query_size=5, memory_size=5),
    ),
    Encoder: (
        lambda: dict(vocab_size=8, embed_dim=4, hidden_size=4),
        dict(vocab_size=9, embed_dim=5, hidden_size=5, bidirectional=False, dropout=0.1),
    ),
    Decoder: (
        lambda: dict(vocab_size=8, embed_dim=4, hidden_size=4, memory_size=4),
        dict(
            vocab_size=9, embed_dim=5, hidden_size=5, memory_size=5, dropout=0.1, feed_context=False
        ),
    ),
    AttentionDecoder: (
        lambda: dict(vocab_size=8, embed_dim=4, hidden_size=4, memory_size=4),
        dict(
            vocab_size=9,
            embed_dim=5,
            hidden_size=5,
            memory_size=5,
            attention="additive",
            dropout=0.1,
        ),
    ),
    Seq2Seq: (
        lambda: dict(encoder=Encoder(8, 4, 2), decoder=Decoder(8, 4, 4, 4)),
        dict(
            encoder=Encoder(8, 4, 2, dropout=0.1), decoder=Decoder(8, 4, 4, 4, feed_context=False)
        ),
    ),
    FrameRNN: (
        lambda: dict(src_vocab_size=8, tgt_vocab_size=8, embed_dim=4, hidden_size=4),
        dict(
            src_vocab_size=9,
            tgt_vocab_size=9,
            embed_dim=5,
            hidden_size=5,
            num_layers=2,
            bidirectional=True,
        ),
    ),
    SyncedTagger: (
        lambda: dict(src_vocab_size=8, tgt_vocab_size=8, embed_dim=4, hidden_size=4),
        dict(
            src_vocab_size=9,
            tgt_vocab_size=9,
            embed_dim=5,
            hidden_size=5,
            num_layers=2,
            bidirectional=True,
            delay=True,
        ),
    ),
    CTCTagger: (
        lambda: dict(src_vocab_size=8, tgt_vocab_size=8, embed_dim=4, hidden_size=4),
        dict(
            src_vocab_size=9,
            tgt_vocab_size=9,
            embed_dim=5,
            hidden_size=5,
            num_layers=2,
            bidirectional=True,
            upsample=2,
        ),
    ),
    FrameCNN: (
        lambda: dict(size=8, feature_size=4, channels=(2, 2)),
        dict(size=12, feature_size=5, channels=(2, 3)),
    ),
    VideoClassifier: (
        lambda: dict(num_classes=3, hidden_size=4, size=8, feature_size=4),
        dict(
            num_classes=4,
            per_frame=True,
            cell="lstm",
            hidden_size=5,
            bidirectional=True,
            size=12,
            feature_size=5,
        ),
    ),
    MiddleFrameClassifier: (
        lambda: dict(num_classes=3, hidden_size=4, size=8, feature_size=4),
        dict(num_classes=4, hidden_size=5, size=12, feature_size=5),
    ),
    MeanFramesClassifier: (
        lambda: dict(num_classes=3, hidden_size=4, size=8, feature_size=4),
        dict(num_classes=4, hidden_size=5, size=12, feature_size=5),
    ),
    LayerPerDeviceLSTM: (
        lambda: dict(input_size=2, hidden_size=3, devices=["cpu"]),
        dict(input_size=3, hidden_size=4, devices=["cpu", "cpu"]),
    ),
    WavefrontLSTM: (
        lambda: dict(input_size=2, hidden_size=3, devices=["cpu"]),
        dict(input_size=3, hidden_size=4, devices=["cpu", "cpu"], time_blocks=2),
    ),
    ClockedLSTM: (
        lambda: dict(input_size=2, hidden_size=3, devices=["cpu"]),
        dict(input_size=3, hidden_size=4, devices=["cpu", "cpu"], pieces=2, split="time"),
    ),
    PackedLSTMEncoder: (
        lambda: dict(input_size=2, hidden_size=3),
        dict(input_size=3, hidden_size=4, keep_total_length=False),
    ),
    NextStepLSTM: (lambda: dict(hidden_size=3), dict(hidden_size=4, seed=1)),
}


def _rnnlab_models():
    """Every public nn.Module class defined in rnnlab.models.*, rnnlab.distributed.parallel and
    rnnlab.distributed.pipeline."""
    names = [f"rnnlab.models.{m.name}" for m in pkgutil.iter_modules(rnnlab.models.__path__)] + [
        "rnnlab.distributed.parallel",
        "rnnlab.distributed.pipeline",
    ]
    found = set()
    for name in names:
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            # an abstract base such as Attention has no settings
            if (
                inspect.isclass(value)
                and issubclass(value, nn.Module)
                and value.__module__ == name
                and not attr.startswith("_")
                and value.__init__ is not nn.Module.__init__
            ):
                found.add(value)
    return found


def _key(model):
    return cache_key("m", model, config={}, data=None, seed=0)


def _build(cls, kwargs):
    torch.manual_seed(0)
    return cls(**kwargs)


def test_every_rnnlab_model_records_settings_and_is_covered_here():
    models = _rnnlab_models()
    assert models - set(CASES) == set(), (
        "add these models to CASES (a valid build and another value for each argument)"
    )
    assert all(issubclass(cls, RecordsSettings) for cls in models)


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_settings_rebuild_the_model_and_any_changed_argument_changes_the_key(cls):
    base, changes = CASES[cls]
    arguments = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert sorted(changes) == sorted(arguments), f"CASES[{cls.__name__}] must change every argument"
    model = _build(cls, base())
    assert list(model.settings) == arguments
    rebuilt = _build(cls, model.settings)
    assert rebuilt.settings == model.settings and _key(rebuilt) == _key(model)
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    for name, value in changes.items():
        changed = _build(cls, base() | {name: value})
        assert changed.settings[name] is value or changed.settings[name] == value
        assert _key(changed) != _key(model), f"{cls.__name__}({name}={value!r}) has the same key"


def test_repr_shows_the_settings_and_subclasses_record_their_own():
    assert "residual=True" in repr(SequenceRegressor(1, 2, residual=True))
    assert WavefrontLSTM(2, 3, ["cpu"], time_blocks=2).settings == {
        "input_size": 2,
        "hidden_size": 3,
        "devices": ["cpu"],
        "time_blocks": 2,
    }

    class Wider(SequenceRegressor):
        def __init__(self, width: int, **options):
            super().__init__(1, 1, hidden_size=width, **options)

    assert Wider(7, residual=True).settings == {"width": 7, "residual": True}
    assert Wider(**Wider(7, residual=True).settings).rnn.hidden_size == 7
