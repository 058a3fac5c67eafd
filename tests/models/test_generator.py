"""SequenceGenerator (vec2seq) and ImageCaptioner: teacher forcing shapes, EOS and max length,
learning, bad input."""

import pytest
import torch

from rnnlab.data.vocab import EOS, PAD
from rnnlab.models.generator import ImageCaptioner, SequenceGenerator

V, F = 9, 5


@pytest.mark.parametrize("batch_size", [1, 6])
@pytest.mark.parametrize("feed_features", [True, False])
def test_teacher_forcing_shapes(batch_size, feed_features):
    model = SequenceGenerator(
        V, F, embed_dim=4, hidden_size=8, num_layers=2, feed_features=feed_features
    )
    targets = torch.randint(4, V, (batch_size, 7))
    assert model(torch.randn(batch_size, F), targets).shape == (batch_size, 7, V)
    tokens, lengths = model.generate(torch.randn(batch_size, F), max_len=5)
    assert tokens.shape[0] == batch_size and tokens.shape[1] <= 5 and lengths.shape == (batch_size,)


def test_stepping_matches_teacher_forcing():
    torch.manual_seed(0)
    model = SequenceGenerator(V, F, hidden_size=8, num_layers=2)
    features, targets = torch.randn(3, F), torch.randint(4, V, (3, 4))
    logits = model(features, targets)
    state = model.start(features)
    previous = torch.full((3,), 2)
    for t in range(4):
        step_logits, state = model.step(previous, state)
        torch.testing.assert_close(step_logits, logits[:, t])
        previous = targets[:, t]


def _always(token):
    """A generator whose output layer always prefers ``token``."""
    model = SequenceGenerator(V, F, hidden_size=4)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[token] = 10.0
    return model


def test_generation_stops_at_eos_and_respects_max_len():
    tokens, lengths = _always(EOS).generate(torch.randn(4, F), max_len=10)
    assert tokens.shape == (4, 1) and (tokens == EOS).all() and (lengths == 1).all()
    tokens, lengths = _always(5).generate(torch.randn(4, F), max_len=6)
    assert tokens.shape == (4, 6) and (tokens == 5).all() and (lengths == 6).all()
    tokens, _ = _always(5).generate(
        torch.randn(4, F), max_len=6, temperature=0.01, generator=torch.Generator().manual_seed(0)
    )
    assert (tokens == 5).all()


def test_sampling_is_repeatable_with_a_seeded_generator():
    torch.manual_seed(0)
    model = SequenceGenerator(V, F, hidden_size=8)
    features = torch.randn(5, F)
    first = model.generate(
        features, max_len=8, temperature=1.5, generator=torch.Generator().manual_seed(1)
    )
    again = model.generate(
        features, max_len=8, temperature=1.5, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(first, again)


def test_a_tiny_captioner_overfits_a_tiny_batch():
    torch.manual_seed(0)
    images = torch.rand(6, 1, 8, 12)
    targets = torch.tensor(
        [[4, 5, EOS], [6, EOS, PAD], [7, 8, EOS], [5, 4, EOS], [8, EOS, PAD], [4, 4, EOS]]
    )
    lengths = torch.tensor([3, 2, 3, 3, 2, 3])
    model = ImageCaptioner(V, 8, 12, feature_size=16, hidden_size=16, channels=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        optimizer.zero_grad()
        loss = model.loss(images, targets, lengths)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05
    tokens, _ = model.eval().generate(images, max_len=5)
    assert torch.equal(tokens[:, :3], targets)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m(torch.randn(2, F), torch.ones(2, 3)), TypeError, "targets must hold integer"),
        (
            lambda m: m(torch.randn(2, F), torch.full((2, 3), V)),
            ValueError,
            f"targets holds id {V}",
        ),
        (
            lambda m: m(torch.randn(2, F + 1), torch.ones(2, 3, dtype=torch.long)),
            ValueError,
            "features must have shape",
        ),
        (
            lambda m: m(torch.randn(3, F), torch.ones(2, 3, dtype=torch.long)),
            ValueError,
            "targets has 2 rows but features has 3",
        ),
        (
            lambda m: m.generate(torch.ones(2, F, dtype=torch.long)),
            TypeError,
            "features must be a float tensor",
        ),
        (lambda m: m.generate(torch.randn(2, F), max_len=0), ValueError, "max_len"),
        (lambda m: m.generate(torch.randn(2, F), temperature=0.0), ValueError, "temperature"),
        (
            lambda m: m.loss(torch.randn(2, F), torch.ones(2, 3, dtype=torch.long), [3, 0]),
            ValueError,
            "≥ 1",
        ),
    ],
)
def test_bad_inputs_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(SequenceGenerator(V, F, hidden_size=4))


def test_captioner_checks_image_shape():
    model = ImageCaptioner(V, 8, 12)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 1, 8, 12\)"):
        model.generate(torch.rand(2, 1, 8, 10))


def _trained_captioner_in_training_mode():
    torch.manual_seed(0)
    model = ImageCaptioner(V, 8, 12, feature_size=16, hidden_size=16, channels=8, dropout=0.3)
    images = torch.rand(16, 1, 8, 12)
    targets = torch.randint(4, V, (16, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(20):  # BatchNorm's running statistics move away from their start
        optimizer.zero_grad()
        model.loss(images, targets, torch.full((16,), 4)).backward()
        optimizer.step()
    return model, images


def test_generation_runs_in_eval_mode_whatever_mode_the_model_is_in():
    model, images = _trained_captioner_in_training_mode()
    # one image six times: BatchNorm in training mode would see no variance at all
    repeated = images[:1].expand(6, -1, -1, -1)
    in_training, _ = model.generate(repeated, max_len=5)
    assert model.training and all(m.training for m in model.modules())  # left as it was
    model.eval()
    in_eval, _ = model.generate(repeated, max_len=5)
    assert torch.equal(in_training, in_eval)


def test_a_cold_sample_is_the_greedy_output_and_a_hot_one_is_not():
    model, images = _trained_captioner_in_training_mode()
    greedy, _ = model.generate(images, max_len=5)
    cold, _ = model.generate(
        images, max_len=5, temperature=1e-3, generator=torch.Generator().manual_seed(0)
    )
    hot, _ = model.generate(
        images, max_len=5, temperature=2.0, generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(cold, greedy)
    assert hot.shape != greedy.shape or not torch.equal(hot, greedy)
