import datetime as dt

import matplotlib.pyplot as plt
import pytest
import torch

from rnnlab import seed_everything
from rnnlab.data.dates import DATE_FORMATS, format_date, make_dates
from rnnlab.data.parallel import encode_pairs, pair_loader, synced_loader
from rnnlab.data.translation import detokenize, load_pairs, normalise, split_pairs, tokens
from rnnlab.data.vocab import BOS, EOS, PAD, Vocab, char_tokens
from rnnlab.models.ctc import CTCTagger
from rnnlab.models.encoder_decoder import Seq2Seq, seq2seq_loss
from rnnlab.models.synced import SyncedTagger, tagger_loss
from rnnlab.plots.translation import plot_accuracy_by_format, plot_accuracy_by_length, plot_attention
from rnnlab.translate import Translator, accuracy_by, bleu, bleu_by, exact_match, score_table, synced_translate, train_translation
from rnnlab.widgets.translation import describe, translate_box

DATES = make_dates(8, seed=3)
SRC_VOCAB = Vocab.build(char_tokens(s) for s, _ in make_dates(300, seed=1))
TGT_VOCAB = Vocab.build(char_tokens("0123456789-"))


def batch_of(pairs, pad_extra=0):
    src, tgt = encode_pairs(pairs, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    s, s_len, t_in, t_out, t_len = next(iter(pair_loader(src, tgt, batch_size=len(pairs), shuffle=False)))
    if pad_extra:
        s, t_in, t_out = (torch.cat([x, x.new_full((x.shape[0], pad_extra * x.shape[1]), PAD)], 1) for x in (s, t_in, t_out))
    return s, s_len, t_in, t_out, t_len


def model(attention="multiplicative", seed=0):
    seed_everything(seed)
    if attention == "initial-state-only":
        return Seq2Seq.build(len(SRC_VOCAB), len(TGT_VOCAB), embed_size=16, hidden_size=32, attention=None, feed_context=False)
    return Seq2Seq.build(len(SRC_VOCAB), len(TGT_VOCAB), embed_size=16, hidden_size=32, attention=attention)


@pytest.mark.parametrize("attention", [None, "initial-state-only", "additive", "multiplicative"])
def test_loss_ignores_padding(attention):
    m = model(attention)
    torch.testing.assert_close(seq2seq_loss(m, batch_of(DATES)), seq2seq_loss(m, batch_of(DATES, pad_extra=1)))


@pytest.mark.parametrize("attention", [None, "initial-state-only", "additive"])
def test_step_by_step_equals_whole_sequence_and_free_running_equals_greedy(attention):
    m = model(attention).eval()
    src, src_len, tgt_in, _, _ = batch_of(DATES)
    whole = m(src, src_len, tgt_in)
    state, steps = m.encode(src, src_len), []
    for t in range(tgt_in.shape[1]):
        logits, state = m.decoder.step(tgt_in[:, t], state)
        steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), whole, atol=1e-5, rtol=1e-4)
    free = m(src, src_len, torch.full_like(tgt_in, BOS), teacher_forcing=0.0).argmax(-1)
    greedy, lengths = m.greedy(src, src_len, max_len=tgt_in.shape[1])
    for row, g, n in zip(free.tolist(), greedy.tolist(), lengths.tolist(), strict=True):
        assert row[:n] == g[:n]


def test_beam_width_one_equals_greedy_on_a_model():
    m = model("additive")
    src, src_len, *_ = batch_of(DATES)
    greedy, lengths = m.greedy(src, src_len, max_len=12)
    beams = m.beam(src, src_len, max_len=12, beam_width=1)
    assert [b[0][0].tolist() for b in beams] == [g[:n] for g, n in zip(greedy.tolist(), lengths.tolist(), strict=True)]
    wide = m.beam(src, src_len, max_len=12, beam_width=4)
    assert all(1 <= len(b) <= 4 and [s for _, s in b] == sorted((s for _, s in b), reverse=True) for b in wide)


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
    return Translator(m, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, max_input_tokens=40, max_output_len=12)


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
    cut = Translator(trained.model, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, max_input_tokens=40,
                     max_output_len=12, truncate=True)
    assert len(cut.translate("1" * 10_000)) <= 12


def test_synced_tagger_trains_on_synced_batches():
    seed_everything(0)
    tagger = SyncedTagger(len(SRC_VOCAB), len(TGT_VOCAB), embed_size=8, hidden_size=16)
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    s, s_len, t, t_len = next(iter(synced_loader(src, [x[1:-1] for x in tgt], batch_size=8, shuffle=False)))
    assert s_len.tolist() == [len(x) for x in src] and t.shape[1] == 10 and t_len.tolist() == [10] * 8
    assert torch.isfinite(tagger_loss(tagger, (s, s_len, t, t_len)))
    assert tagger.greedy(s, s_len, 10).shape == (8, 10)


def test_seq2seq_bad_inputs():
    m = model()
    src, src_len, tgt_in, _, _ = batch_of(DATES)
    with pytest.raises(ValueError, match="teacher_forcing"):
        m(src, src_len, tgt_in, teacher_forcing=1.5)
    with pytest.raises(TypeError, match="src"):
        m(src.float(), src_len, tgt_in)
    with pytest.raises(ValueError, match="src_lengths"):
        m(src, src_len[:-1], tgt_in)
    with pytest.raises(ValueError, match="tgt_in"):
        m(src, src_len, tgt_in[:-1])
    with pytest.raises(ValueError, match="vocabulary"):
        m(src, src_len, tgt_in + 100)
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2Seq.build(10, 10, hidden_size=33)
    with pytest.raises(ValueError, match="feed_context"):
        Seq2Seq.build(10, 10, attention="additive", feed_context=False)
    with pytest.raises(TypeError, match="feed_context"):
        Seq2Seq.build(10, 10, attention=None, feed_context="no")
    with pytest.raises(ValueError, match="no attention"):
        model(None).attention_weights(src, src_len, tgt_in)
    with pytest.raises(TypeError, match="batch"):
        seq2seq_loss(m, (src, tgt_in))


def test_initial_state_only_decoder_sees_the_source_only_through_its_first_state():
    m = model("initial-state-only").eval()
    src, src_len, *_ = batch_of(DATES)
    state = m.encode(src, src_len)
    assert set(state) == {"hidden"} and m.decoder.rnn.input_size == m.decoder.embed.embedding_dim
    assert m.decoder.out.in_features == m.decoder.rnn.hidden_size


def test_make_dates():
    pairs = make_dates(500, seed=7)
    assert pairs == make_dates(500, seed=7) and pairs != make_dates(500, seed=8)
    assert len({h for h, _ in pairs}) == 500
    for human, iso in pairs:
        assert dt.date.fromisoformat(iso).year in range(1950, 2050) and human
    date = dt.date(2019, 4, 22)
    assert format_date(date, "{Wd} {d} {Mon} {yy}") == "Mon 22 Apr 19"
    assert format_date(date, "{W} the {o} of {M}, {y}") == "Monday the 22nd of April, 2019"
    assert len({format_date(date, f) for f in DATE_FORMATS}) == len(DATE_FORMATS)
    with pytest.raises(ValueError, match="n must"):
        make_dates(0)


def test_translation_pairs_normalised_filtered_and_split():
    assert normalise("Va\u202f! Oui\u00a0?  L’homme") == "va ! oui ? l'homme"
    assert tokens("J’ai faim\u202f!") == ["j'", "ai", "faim", "!"]
    assert detokenize(["j'", "ai", "faim", ",", "oui", "."]) == "j'ai faim, oui."
    pairs = load_pairs()
    assert 11_000 < len(pairs) < 12_500 and len(set(pairs)) == len(pairs)
    assert all(e.count(" ") < 10 and f.count(" ") < 10 for e, f in pairs)
    assert all("\u202f" not in f and "\xa0" not in f for _, f in pairs)
    random_split = split_pairs(pairs, seed=0)
    assert random_split == split_pairs(pairs, seed=0) and sum(map(len, random_split)) == len(pairs)
    train, _, test = split_pairs(pairs, seed=0, disjoint_english=True)
    seen = {e for e, _ in train}
    assert test and not any(e in seen for e, _ in test)
    train, _, test = random_split
    seen = {e for e, _ in train}
    assert sum(e in seen for e, _ in test) > len(test) // 3  # why the disjoint split matters


def test_bleu_by_scores_each_group_as_its_own_corpus():
    hyps = ["le chat est noir .", "un deux trois quatre", "il fait beau aujourd'hui ."]
    refs = ["le chat est noir .", "cinq six sept huit", "il fait beau aujourd'hui ."]
    table = bleu_by(["short", "long", "short"], hyps, refs)
    assert list(table) == ["long", "short"] and table["short"] == (pytest.approx(100), 2) and table["long"][0] < 1
    with pytest.raises(ValueError, match="as many keys"):
        bleu_by(["a"], hyps, refs)


def test_score_table_lines_up_models_by_key():
    scores = {"plain": accuracy_by([5, 50, 5], [True, False, True]), "attention": accuracy_by([5, 50, 5], [True, True, False])}
    lines = score_table(scores, key="length").splitlines()
    assert lines[0].split() == ["length", "plain", "attention", "n"]
    assert lines[1].split() == ["5", "1.000", "0.500", "2"] and lines[2].split() == ["50", "0.000", "1.000", "1"]
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


def test_loaders_validate():
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    assert tgt[0][0] == BOS and tgt[0][-1] == EOS
    with pytest.raises(ValueError, match="batch_size"):
        pair_loader(src, tgt, batch_size=0, shuffle=False)
    with pytest.raises(ValueError, match="src has"):
        pair_loader(src, tgt[:-1], batch_size=2, shuffle=False)
    with pytest.raises(ValueError, match="empty source"):
        encode_pairs([("", "2000-01-01")], SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)


def test_train_translation_and_synced_translate(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    src, tgt = encode_pairs(DATES, SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    seed_everything(0)
    m = model()
    history = train_translation("tiny_dates", m, pair_loader(src, tgt, batch_size=4, shuffle=True, bucket=True), epochs=2, lr=0.01,
                                seed=0, progress=False)
    assert len(history) == 2 and list(tmp_path.glob("tiny_dates-*.pt"))
    synced_batches = synced_loader(src, [t[1:-1] for t in tgt], batch_size=4, shuffle=True)
    texts = ["1.2.03", "Monday, May 1, 2000"]
    tagger = SyncedTagger(len(SRC_VOCAB), len(TGT_VOCAB), embed_size=8, hidden_size=16, delay=True)
    history = train_translation("tiny_synced", tagger, synced_batches, synced_batches, epochs=3, lr=0.01, seed=0, patience=1,
                                lr_decay=0.5, progress=False)
    assert 1 <= len(history) <= 3 and "val_loss" in history.last
    out = synced_translate(tagger, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, out_len=10)
    assert len(out) == 2 and all(isinstance(o, str) and len(o) <= 10 for o in out)
    ctc = CTCTagger(len(SRC_VOCAB), len(TGT_VOCAB), embed_size=8, hidden_size=16, upsample=3)
    train_translation("tiny_ctc", ctc, synced_batches, epochs=1, lr=0.01, seed=0, progress=False)
    for beam_width in (1, 3):
        out = synced_translate(ctc, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, beam_width=beam_width)
        assert len(out) == 2 and all(isinstance(o, str) for o in out)
    with pytest.raises(ValueError, match="out_len"):
        synced_translate(ctc, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join, out_len=10)
    with pytest.raises(ValueError, match="out_len"):
        synced_translate(tagger, texts, SRC_VOCAB, TGT_VOCAB, tokenize=char_tokens, detokenize="".join)
    with pytest.raises(TypeError, match="Seq2Seq, a SyncedTagger or a CTCTagger"):
        train_translation("bad", torch.nn.Linear(2, 2), None, epochs=1, lr=0.1, seed=0)
    with pytest.raises(ValueError, match="lr_decay"):
        train_translation("bad", tagger, synced_batches, epochs=1, lr=0.1, seed=0, lr_decay=0)
    with pytest.raises(TypeError, match="val_loader"):
        train_translation("bad", tagger, synced_batches, [1], epochs=1, lr=0.1, seed=0)


def test_bucketed_loader_batches_similar_lengths():
    src, tgt = encode_pairs(make_dates(64, seed=2), SRC_VOCAB, TGT_VOCAB, char_tokens, char_tokens)
    bucketed = pair_loader(src, tgt, batch_size=8, shuffle=True, bucket=True)
    plain = pair_loader(src, tgt, batch_size=8, shuffle=True)
    assert sorted(i for b in bucketed for i in b[1].tolist()) == sorted(len(s) for s in src)
    assert sum(b[0].numel() for b in bucketed) < 0.8 * sum(b[0].numel() for b in plain)


def test_accuracy_by_plots_and_widget(trained):
    assert accuracy_by([3, 1, 3], [True, False, False]) == {1: (0.0, 1), 3: (0.5, 2)}
    hits = {"a": [True, False, True, True], "b": [False, False, True, True]}
    assert plot_accuracy_by_length([5, 9, 12, 30], hits).axes
    assert plot_accuracy_by_format(["x", "y", "x", "z"], hits).axes
    with pytest.raises(ValueError, match="correct"):
        plot_accuracy_by_length([1, 2], hits)
    source, output, weights = trained.attention(DATES[0][0])
    assert plot_attention(source, output, weights).axes
    with pytest.raises(ValueError, match="weights"):
        plot_attention(source, output[:-1], weights)
    info = describe(trained, DATES[1][0], beam_width=2)
    assert info["translation"] == DATES[1][1] and info["candidates"][0][0] == DATES[1][1] and info["attention"] is not None
    assert describe(trained, "")["error"]
    box = translate_box({"dates": trained}, examples={"dates": DATES[2][0]})
    box.children[1].value = DATES[3][0]
    box.children[0].children[1].value = 1
    plt.close("all")


def test_make_dates_with_formats():
    triples = make_dates(50, seed=4, with_formats=True)
    assert [t[:2] for t in triples] == make_dates(50, seed=4)
    assert all(format_date(dt.date.fromisoformat(iso), fmt) == human for human, iso, fmt in triples)
