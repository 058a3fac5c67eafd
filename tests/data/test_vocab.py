"""rnnlab.data.vocab: vocabularies round-trip, keep their special tokens and name bad input."""

import pytest
import torch

from rnnlab.data.vocab import BOS, EOS, PAD, UNK, Vocab, char_tokens, word_tokens


def test_vocab_round_trip_and_specials():
    vocab = Vocab.build([word_tokens("I am here."), word_tokens("You are here!")])
    ids = vocab.encode(word_tokens("you are here"), bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and ids.dtype == torch.int64
    assert vocab.decode(ids) == ["you", "are", "here"]
    assert vocab.encode(["zebra"]).tolist() == [UNK]
    assert vocab.decode([PAD, vocab.stoi["am"], EOS, vocab.stoi["here"]]) == ["am"]
    assert Vocab.from_state_dict(vocab.state_dict()).itos == vocab.itos


def test_vocab_min_freq_and_errors():
    vocab = Vocab.build([char_tokens("aab")], min_freq=2)
    assert "a" in vocab and "b" not in vocab
    with pytest.raises(TypeError, match="tokens must be a list"):
        vocab.encode("ab")
    with pytest.raises(ValueError, match="outside this vocabulary"):
        vocab.decode([99])
    assert word_tokens("Don't go!") == ["don't", "go", "!"]


@pytest.mark.parametrize("build", ["char_lm", "generator"])
def test_models_that_write_until_eos_refuse_a_vocabulary_without_the_special_tokens(build):
    from rnnlab.models.char_lm import CharLanguageModel
    from rnnlab.models.generator import SequenceGenerator

    make = {
        "char_lm": lambda v: CharLanguageModel(v, embed_dim=4, hidden_size=4),
        "generator": lambda v: SequenceGenerator(v, feature_size=4, embed_dim=4, hidden_size=4),
    }[build]
    with pytest.raises(ValueError, match="vocab_size must include the special tokens"):
        make(EOS)
    assert make(EOS + 1).vocab_size == EOS + 1
