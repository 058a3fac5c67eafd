"""rnnlab.translate: a tiny model learns dates by heart; translation, scores, training and the views
built on them."""

import matplotlib.pyplot as plt
import pytest
import torch

from rnnlab import seed_everything
from rnnlab.data.parallel import encode_pairs, pair_loader, synced_loader
from rnnlab.data.vocab import char_tokens
from rnnlab.models.ctc import CTCTagger
from rnnlab.models.encoder_decoder import seq2seq_loss
from rnnlab.models.synced import SyncedTagger
from rnnlab.plots.translation import (
    plot_accuracy_by_length,
    plot_attention,
)
from rnnlab.translate import (
    Translator,
    accuracy_by,
    bleu,
    bleu_by,
    exact_match,
    score_table,
    synced_translate,
    train_translation,
)
from rnnlab.widgets.translation import describe, translate_box
from tests.tiny_dates import DATES, SRC_VOCAB, TGT_VOCAB, batch_of, model


@pytest.fixture(scope="module")
def trained():
    """A tiny attention model that has learned a handful of dates by heart."""
    m = model("multiplicative", seed=1)
    batch = batch_of(DATES)
    opt = torch.optim.Adam(m.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        loss = seq2seq_loss(m, batch)
        loss.backward()
        opt.step()
    return Translator(
        m,
        SRC_VOCAB,
        TGT_VOCAB,
        tokenize=char_tokens,
        detokenize="".join,
        max_input_tokens=40,
        max_output_len=12,
    )


def test_tiny_model_round_trips_dates(trained):
    sources, targets = zip(*DATES, strict=True)
    assert trained.translate(list(sources)) == list(targets)
    assert trained.translate(sources[0], beam_width=3) == targets[0]
    best, score = trained.candidates(sources[0], beam_width=3)[0]
    assert best == targets[0] and score <= 0
    src_tokens, out_tokens, weights = trained.attention(sources[0])
    assert out_tokens[-1] == "<eos>" and weights.shape == (len(out_tokens), len(src_tokens))
    assert weights.sum(1) == pytest.approx(1.0, abs=1e-5)


def test_translate_odd_input(trained):
    with pytest.raises(ValueError, match="nothing to translate"):
        trained.translate("")
    with pytest.raises(ValueError, match="max_input_tokens"):
        trained.translate("1" * 10_000)
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        trained.translate(["1 May 2000", ""])
    with pytest.raises(TypeError, match="str"):
        trained.translate([12])
    for odd in ("?!.,", "日本語の日付", "   "[:1] + "x"):
        assert isinstance(trained.translate(odd), str)
    assert trained.unknown("日本 May") == ["日", "本"]
    cut = Translator(
        trained.model,
        SRC_VOCAB,
        TGT_VOCAB,
        tokenize=char_tokens,
        detokenize="".join,
        max_input_tokens=40,
        max_output_len=12,
        truncate=True,
    )
    assert len(cut.translate("1" * 10_000)) <= 12


def test_bleu_by_scores_each_group_as_its_own_corpus():
    hyps = ["le chat est noir .", "un deux trois quatre", "il fait beau aujourd'hui ."]
    refs = ["le chat est noir .", "cinq six sept huit", "il fait beau aujourd'hui ."]
    table = bleu_by(["short", "long", "short"], hyps, refs)
    assert (
        list(table) == ["long", "short"]
        and table["short"] == (pytest.approx(100), 2)
        and table["long"][0] < 1
    )
    with pytest.raises(ValueError, match="as many keys"):
        bleu_by(["a"], hyps, refs)


def test_score_table_lines_up_models_by_key():
    scores = {
        "plain": accuracy_by([5, 50, 5], [True, False, True]),
        "attention": accuracy_by([5, 50, 5], [True, True, False]),
    }
    lines = score_table(scores, key="length").splitlines()
    assert lines[0].split() == ["length", "plain", "attention", "n"]
    assert lines[1].split() == ["5", "1.000", "0.500", "2"] and lines[2].split() == [
        "50",
        "0.000",
        "1.000",
        "1",
    ]
    with pytest.raises(ValueError, match="same examples"):
        score_table({"a": accuracy_by([1], [True]), "b": accuracy_by([2], [True])}, key="k")


def test_bleu_and_exact_match():
    assert bleu(["le chat est noir ."], ["le chat est noir ."]) == pytest.approx(100)
    assert bleu(["un deux trois quatre"], ["cinq six sept huit"]) < 1
    assert exact_match(["a", "b"], ["a", "c"]) == 0.5
    with pytest.raises(ValueError, match="as many"):
        bleu(["a"], [])
    with pytest.raises(TypeError, match="lists"):
        bleu("a", "a")


def test_train_translation_and_synced_translate(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    seed_everything(0)
    m = model()
    history = train_translation(
        "tiny_dates",
        m,
        pair_loader(src, tgt, batch_size=4, shuffle=True, bucket=True),
        epochs=2,
        lr=0.01,
        seed=0,
        progress=False,
    )
    assert len(history) == 2 and list(tmp_path.glob("tiny_dates-*.pt"))
    synced_batches = synced_loader(src, [t[1:-1] for t in tgt], batch_size=4, shuffle=True)
    texts = ["1.2.03", "Monday, May 1, 2000"]
    tagger = SyncedTagger(len(SRC_VOCAB), len(TGT_VOCAB), embed_dim=8, hidden_size=16, delay=True)
    history = train_translation(
        "tiny_synced",
        tagger,
        synced_batches,
        synced_batches,
        epochs=3,
        lr=0.01,
        seed=0,
        patience=1,
        lr_decay=0.5,
        progress=False,
    )
    assert 1 <= len(history) <= 3 and "val_loss" in history.last
    out = synced_translate(
        tagger, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, out_len=10
    )
    assert len(out) == 2 and all(isinstance(o, str) and len(o) <= 10 for o in out)
    ctc = CTCTagger(len(SRC_VOCAB), len(TGT_VOCAB), embed_dim=8, hidden_size=16, upsample=3)
    train_translation("tiny_ctc", ctc, synced_batches, epochs=1, lr=0.01, seed=0, progress=False)
    for beam_width in (1, 3):
        out = synced_translate(
            ctc,
            texts,
            SRC_VOCAB,
            TGT_VOCAB,
            tokenize=char_tokens,
            detokenize="".join,
            beam_width=beam_width,
        )
        assert len(out) == 2 and all(isinstance(o, str) for o in out)
    with pytest.raises(ValueError, match="out_len"):
        synced_translate(
            ctc, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, out_len=10
        )
    with pytest.raises(ValueError, match="out_len"):
        synced_translate(
            tagger, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join
        )
    with pytest.raises(TypeError, match="no batch_loss method.*pass loss="):
        train_translation("bad", torch.nn.Linear(2, 2), None, epochs=1, lr=0.1, seed=0)
    with pytest.raises(ValueError, match="lr_decay"):
        train_translation("bad", tagger, synced_batches, epochs=1, lr=0.1, seed=0, lr_decay=0)
    with pytest.raises(TypeError, match="val_loader"):
        train_translation("bad", tagger, synced_batches, [1], epochs=1, lr=0.1, seed=0)


def test_accuracy_by_plots_and_widget(trained):
    assert accuracy_by([3, 1, 3], [True, False, False]) == {1: (0.0, 1), 3: (0.5, 2)}
    hits = {"a": [True, False, True, True], "b": [False, False, True, True]}
    assert plot_accuracy_by_length([5, 9, 12, 30], hits).axes
    with pytest.raises(ValueError, match="correct"):
        plot_accuracy_by_length([1, 2], hits)
    source, output, weights = trained.attention(DATES[0][0])
    assert plot_attention(source, output, weights).axes
    with pytest.raises(ValueError, match="weights"):
        plot_attention(source, output[:-1], weights)
    info = describe(trained, DATES[1][0], beam_width=2)
    assert (
        info["translation"] == DATES[1][1]
        and info["candidates"][0][0] == DATES[1][1]
        and info["attention"] is not None
    )
    assert describe(trained, "")["error"]
    box = translate_box({"dates": trained}, examples={"dates": DATES[2][0]})
    box.children[1].value = DATES[3][0]
    box.children[0].children[1].value = 1
    plt.close("all")
