"""rnnlab.models.synced: the (delayed) synced tagger of chapter 2: shapes, what each output can see,
bad input."""

import pytest
import torch

from rnnlab import seed_everything
from rnnlab.models.ctc import CTCTagger, ctc_beam_search, ctc_greedy, upsample
from rnnlab.models.synced import SyncedTagger, tagger_loss


@pytest.mark.parametrize("delay", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_synced_tagger_shapes_and_batch_independence(delay, bidirectional, tagging_batch):
    seed_everything(0)
    m = SyncedTagger(
        12, 7, embed_dim=8, hidden_size=10, num_layers=2, bidirectional=bidirectional, delay=delay
    ).eval()
    src, lengths, tgt, tgt_lengths = tagging_batch
    logits = m(src, lengths, 4)
    assert logits.shape == (5, 4, 7)
    # each row alone, unpadded, gives the same outputs: padding and batch mates are never read
    for i in range(5):
        alone = m(src[i : i + 1, : lengths[i]], lengths[i : i + 1], 4)
        torch.testing.assert_close(alone[0], logits[i], atol=1e-5, rtol=1e-4)
    assert torch.isfinite(tagger_loss(m, (src, lengths, tgt, tgt_lengths)))


def test_frame_layouts_write_while_reading_or_after_reading():
    src = torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]])
    lengths = torch.tensor([3, 5])
    synced = SyncedTagger(12, 7, embed_dim=4, hidden_size=4)
    frames, frame_lengths, positions = synced.frames(src, lengths, 4)
    assert frame_lengths.tolist() == [4, 5] and positions.tolist() == [[0, 1, 2, 3]] * 2
    # one blank frame: the input is shorter than the output
    assert frames[0, :4].tolist() == [
        4,
        5,
        6,
        0,
    ]
    delayed = SyncedTagger(12, 7, embed_dim=4, hidden_size=4, delay=True)
    frames, frame_lengths, positions = delayed.frames(src, lengths, 4)
    assert frame_lengths.tolist() == [7, 9] and positions.tolist() == [[3, 4, 5, 6], [5, 6, 7, 8]]
    assert frames[1].tolist() == [4, 5, 6, 7, 8, 0, 0, 0, 0]


def test_one_way_synced_output_ignores_later_input_but_delayed_output_does_not():
    seed_everything(0)
    src, lengths = torch.randint(4, 12, (2, 8)), torch.tensor([8, 8])
    later = src.clone()
    later[:, 6] = 4 if int(src[0, 6]) != 4 else 5
    synced = SyncedTagger(12, 7, embed_dim=8, hidden_size=10).eval()
    torch.testing.assert_close(synced(later, lengths, 4), synced(src, lengths, 4))
    delayed = SyncedTagger(12, 7, embed_dim=8, hidden_size=10, delay=True).eval()
    assert not torch.allclose(delayed(later, lengths, 4), delayed(src, lengths, 4))


def test_bad_inputs_name_the_argument(tagging_batch):
    with pytest.raises(TypeError, match="delay"):
        SyncedTagger(12, 7, delay="yes")
    with pytest.raises(TypeError, match="bidirectional"):
        CTCTagger(12, 7, bidirectional=1)
    with pytest.raises(ValueError, match="upsample"):
        CTCTagger(12, 7, upsample=0)
    with pytest.raises(ValueError, match="hidden_size"):
        SyncedTagger(12, 7, hidden_size=0)
    m = SyncedTagger(12, 7, embed_dim=4, hidden_size=4)
    src, lengths, tgt, tgt_lengths = tagging_batch
    with pytest.raises(TypeError, match="src"):
        m(src.float(), lengths, 4)
    with pytest.raises(ValueError, match="src"):
        m(src + 20, lengths, 4)
    with pytest.raises(ValueError, match="src_lengths"):
        m(src, lengths[:2], 4)
    with pytest.raises(ValueError, match="out_len"):
        m(src, lengths, 0)
    with pytest.raises(TypeError, match="batch"):
        tagger_loss(m, (src, lengths))
    with pytest.raises(ValueError, match="beam_width"):
        ctc_beam_search(torch.zeros(1, 2, 3), [2], beam_width=0)
    with pytest.raises(ValueError, match="log_probs"):
        ctc_greedy(torch.zeros(2, 3), [2])
    with pytest.raises(ValueError, match="lengths"):
        ctc_greedy(torch.zeros(1, 2, 3), [3])
    with pytest.raises(TypeError, match="src"):
        upsample([[4, 5]], [2], 2)
    with pytest.raises(ValueError, match="factor"):
        upsample(torch.tensor([[4, 5]]), [2], 0)
    with pytest.raises(ValueError, match="prune"):
        ctc_beam_search(torch.zeros(1, 2, 3), [2], beam_width=2, prune=1.5)
