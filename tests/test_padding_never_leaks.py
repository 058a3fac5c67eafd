"""Property: masked pooling and losses give the same result (and gradients) whatever the padding holds."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.sequences import last_real_state, lengths_to_mask, masked_cross_entropy, masked_max, masked_mean

GARBAGE = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e30, -1e30, 0.0, 7.0])


@st.composite
def padded_batches(draw):
    batch, steps, width = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    lengths = torch.tensor(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
    seed = draw(st.integers(0, 2**16))
    x = torch.randn(batch, steps, width, generator=torch.Generator().manual_seed(seed))
    return x, lengths, draw(GARBAGE)


def _fill_padding(x, lengths, value):
    mask = lengths_to_mask(lengths, x.shape[1])
    return torch.where(mask.unsqueeze(-1), x, torch.full_like(x, value))


@settings(max_examples=60, deadline=None)
@given(padded_batches())
def test_pooling_ignores_whatever_the_padding_holds(case):
    x, lengths, value = case
    dirty = _fill_padding(x, lengths, value)
    for pool in (masked_mean, masked_max, last_real_state):
        clean_x, dirty_x = x.clone().requires_grad_(), dirty.clone().requires_grad_()
        clean, result = pool(clean_x, lengths), pool(dirty_x, lengths)
        assert torch.equal(clean, result), pool.__name__
        clean.sum().backward()
        result.sum().backward()
        assert torch.equal(clean_x.grad, dirty_x.grad), pool.__name__  # no NaN gradient reaches the padding either


@settings(max_examples=60, deadline=None)
@given(padded_batches(), st.sampled_from(["mean", "sum", "none"]))
def test_masked_cross_entropy_ignores_whatever_the_padding_holds(case, reduction):
    logits, lengths, value = case
    logits = torch.cat([logits, logits.flip(-1)], dim=-1)  # at least 2 classes
    targets = torch.randint(0, logits.shape[-1], logits.shape[:2], generator=torch.Generator().manual_seed(1))
    dirty_targets = torch.where(lengths_to_mask(lengths, logits.shape[1]), targets, torch.full_like(targets, -100))
    clean_x, dirty_x = logits.clone().requires_grad_(), _fill_padding(logits, lengths, value).requires_grad_()
    clean = masked_cross_entropy(clean_x, targets, lengths, reduction=reduction)
    dirty = masked_cross_entropy(dirty_x, dirty_targets, lengths, reduction=reduction)
    assert torch.equal(clean, dirty)
    clean.sum().backward()
    dirty.sum().backward()
    assert torch.equal(clean_x.grad, dirty_x.grad)


def test_the_measured_leak_is_gone():
    """The issue's example: ``masked_mean`` of [1, nan] with length 1 was NaN."""
    assert masked_mean(torch.tensor([[1.0, float("nan")]]).unsqueeze(-1), [1]).item() == 1.0
