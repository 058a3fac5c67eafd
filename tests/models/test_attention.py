import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.models.attention import (
    AdditiveAttention,
    MultiplicativeAttention,
    make_attention,
    masked_softmax,
)
from rnnlab.sequences import lengths_to_mask

KINDS = ["additive", "multiplicative"]


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    lengths=st.lists(st.integers(1, 7), min_size=1, max_size=5),
    steps=st.integers(1, 4),
    seed=st.integers(0, 1000),
)
def test_weights_sum_to_one_on_real_tokens_and_are_zero_on_padding(kind, lengths, steps, seed):
    torch.manual_seed(seed)
    attention = make_attention(kind, 6, 5)
    mask = lengths_to_mask(lengths, 7)
    memory = torch.randn(len(lengths), 7, 5)
    query = torch.randn(len(lengths), steps, 6)
    context, weights = attention(query, memory, mask)
    assert weights.shape == (len(lengths), steps, 7) and context.shape == (len(lengths), steps, 5)
    assert torch.all(weights[~mask.unsqueeze(1).expand_as(weights)] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(len(lengths), steps))
    # whatever sits in the padding of the memory never reaches the context
    garbage = memory.masked_fill(~mask.unsqueeze(-1), 1e3)
    torch.testing.assert_close(attention(query, garbage, mask)[0], context)


@pytest.mark.parametrize("cls", [AdditiveAttention, MultiplicativeAttention])
def test_single_query_matches_sequence_of_queries_and_prepared_keys(cls):
    torch.manual_seed(0)
    attention = cls(4, 3)
    memory, mask = torch.randn(2, 5, 3), lengths_to_mask([5, 2])
    queries = torch.randn(2, 3, 4)
    context, weights = attention(queries, memory, mask)
    for t in range(3):
        c, w = attention(queries[:, t], memory, mask, keys=attention.prepare(memory))
        torch.testing.assert_close(c, context[:, t])
        torch.testing.assert_close(w, weights[:, t])


def test_attention_bad_inputs():
    attention = MultiplicativeAttention(4, 3)
    memory = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="mask"):
        attention(torch.randn(2, 4), memory, torch.ones(2, 4, dtype=torch.bool))
    # a source of length 0 is refused where lengths enter (masks are made from them), so the
    # attention itself reads nothing back: a row without a real position has no weights to give
    with pytest.raises(ValueError, match="≥ 1"):
        lengths_to_mask([5, 0], 5)
    _, weights = attention(
        torch.randn(2, 4),
        memory,
        lengths_to_mask([5, 1], 5) & torch.tensor([True, False]).unsqueeze(1),
    )
    assert torch.isnan(weights[1]).all() and not torch.isnan(weights[0]).any()
    with pytest.raises(ValueError, match="memory"):
        attention(torch.randn(2, 4), torch.randn(3, 5, 3), torch.ones(3, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="query"):
        attention(torch.randn(4), memory, torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="attention must be"):
        make_attention("dot-product-ish", 4, 3)
    with pytest.raises(ValueError, match="mask must be a bool"):
        masked_softmax(torch.randn(2, 1, 5), torch.ones(2, 5))
