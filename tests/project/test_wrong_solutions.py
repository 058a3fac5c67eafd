"""Wrong and shortcut solutions, as learners write them, must lose marks: the exercises grade the
idea.

Each entry below answers one question of one exercise the wrong way (a common mistake, or a shortcut
that skips the question's core idea: calling the library function it asks for, a lookup table
instead of a model, an untrained network beside a hand-written rule) on top of the reference answers
to every other question. It is graded in this process by `exercise_harness` with the autograder's
own test files and points, so dozens of answers cost seconds; training cells are replaced by the
wrong answer's own (shortcuts train nothing). A mistake must score below the question's full marks;
a shortcut below a quarter of them.

Grading in this process: ``otter run`` starts a Jupyter kernel per submission (seconds each) and
runs every training cell. Here the cells run in one fresh ``__main__``-like namespace per answer,
and the autograder's test files (``tests/qN.py`` in its archive: public and hidden cases with their
points) are scored with `otter.test_files.OKTestFile`, the class ``otter run`` scores them with.
Cells are compiled under file names that `linecache` knows, as IPython does, so `inspect.getsource`
(used by the source checks) works on the answers as it does in a notebook.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import linecache
import tempfile
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from otter.test_files import OKTestFile

from rnnlab.data.dates import DATE_FORMATS, format_date
from rnnlab.grading import build

NAMES = [p.stem for p in build.masters()]
FULL, QUARTER = "below full marks", "below a quarter"


@dataclass(frozen=True)
class Wrong:
    """One wrong answer: ``edits`` are ``(cell prefix, old, new)`` substitutions in the reference
    cells, ``cells`` whole replacement cells (by prefix)."""

    exercise: str
    question: str
    what: str
    bound: str
    edits: tuple[tuple[str, str, str], ...] = ()
    cells: dict[str, str] = field(default_factory=dict)


def student_cells(student: Path) -> list[str]:
    """The code cells of a student copy, without otter's set-up and check cells."""
    nb = nbformat.read(student, as_version=4)
    return [
        c.source
        for c in nb.cells
        if c.cell_type == "code" and "otter" not in c.source and "grader." not in c.source
    ]


def answer(cells: list[str], answers: dict[str, str]) -> list[str]:
    """``cells`` with each cell that starts with a key of ``answers`` replaced by its value (every
    key must match once)."""
    out, used = [], set()
    for source in cells:
        keys = [k for k in answers if source.startswith(k)]
        if len(keys) > 1:
            raise ValueError(f"answer keys {keys} all match one cell")
        if keys:
            used.add(keys[0])
            source = answers[keys[0]]
        out.append(source)
    missing = set(answers) - used
    if missing:
        raise ValueError(f"no cell starts with {sorted(missing)}")
    return out


def run_cells(cells: list[str], tag: str, preset: dict | None = None) -> dict:
    """Execute ``cells`` in one fresh ``__main__``-like namespace; a cell that raises is skipped, as
    a notebook run goes on."""
    namespace: dict = {"__name__": "__main__", **(preset or {})}
    for i, source in enumerate(cells):
        filename = f"<{tag}-{id(namespace)}-cell-{i}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(Exception):
            exec(compile(source, filename, "exec"), namespace)
    return namespace


def score(
    autograder: Path, namespace: dict, questions: tuple[str, ...] | None = None
) -> dict[str, tuple[float, float]]:
    """``{question: (score, possible)}`` from the autograder's test files run on ``namespace`` (all,
    or ``questions``)."""
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="rnnlab-harness-") as tmp,
        zipfile.ZipFile(autograder) as archive,
    ):
        for member in archive.namelist():
            if (
                member.startswith("tests/")
                and member.endswith(".py")
                and (questions is None or Path(member).stem in questions)
            ):
                path = Path(tmp) / Path(member).name
                path.write_bytes(archive.read(member))
                test = OKTestFile.from_file(str(path))
                with contextlib.redirect_stdout(io.StringIO()):
                    test.run(namespace)
                results[test.name] = (float(test.score), float(test.possible))
    return dict(sorted(results.items()))


def points(autograder: Path) -> dict[str, list[tuple[bool, float]]]:
    """``{question: [(hidden, points) per case]}`` as otter resolved them."""
    out = {}
    with (
        tempfile.TemporaryDirectory(prefix="rnnlab-harness-") as tmp,
        zipfile.ZipFile(autograder) as archive,
    ):
        for member in archive.namelist():
            if member.startswith("tests/") and member.endswith(".py"):
                path = Path(tmp) / Path(member).name
                path.write_bytes(archive.read(member))
                test = OKTestFile.from_file(str(path))
                out[test.name] = [(case.hidden, float(case.points)) for case in test.test_cases]
    return dict(sorted(out.items()))


def grade(
    student: Path, autograder: Path, answers: dict[str, str], tag: str = "answer"
) -> dict[str, tuple[float, float]]:
    """Score the student copy with ``answers`` in place of its stubs:
    ``{question: (score, possible)}``."""
    return score(autograder, run_cells(answer(student_cells(student), answers), tag))


def code(text: str) -> str:
    """A cell's source written as an indented triple-quoted block."""
    return textwrap.dedent(text).strip("\n") + "\n"


# Training cells of the reference solutions, replaced by "build the model, train nothing" whenever a
# wrong answer does not replace them itself (grading a wrong Q1 must not pay for Q2's training).
UNTRAINED = {
    "02_attention": {
        "_ = torch.manual_seed(0)": code("""
        model = Seq2Seq.build(
            len(src_vocab), len(tgt_vocab), embed_dim=32, hidden_size=64, attention="additive"
        )
        model.decoder.attention = OneQueryAtATime(MaskedAdditiveAttention(64, 64, 64))
        """)
    },
    "03_video": {"_ = torch.manual_seed(0)": "model = ClipClassifier(num_classes)\n"},
    "07_reber": {"torch.manual_seed(0)": "model = ReberNet()\n"},
    "08_date_translation": {
        "_ = torch.manual_seed(0)": "model = Translator(len(src_vocab), len(tgt_vocab))\n"
    },
}

# A lookup table from every way make_dates can write a date to its ISO form: no model at all. The
# table (650 000 entries, seconds to build) is built once and handed to each answer as DATE_TABLE.
DATE_TABLE = code("""
    def translate(texts):
        return [DATE_TABLE.get(t, "") for t in texts]
    """)


@functools.cache
def _date_table() -> dict[str, str]:
    first, last = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
    days = [first + dt.timedelta(days=d) for d in range((last - first).days + 1)]
    return {format_date(day, f): day.isoformat() for day in days for f in DATE_FORMATS}


# Which way a digit glides, from where its ink is in the first and the last frame: no CNN, no RNN.
CENTRE_OF_MASS = code("""
    def classify(videos, lengths):
        frames = videos[:, :, 0]
        ys, xs = torch.arange(frames.shape[-2]).float(), torch.arange(frames.shape[-1]).float()
        def centre(f):
            mass = f.sum(dim=(-1, -2)).clamp_min(1e-6)
            return (f.sum(-1) * ys).sum(-1) / mass, (f.sum(-2) * xs).sum(-1) / mass
        y0, x0 = centre(frames[:, 0])
        y1, x1 = centre(frames[torch.arange(len(frames)), lengths - 1])
        dy = y1 - y0
        dx = x1 - x0
        horizontal = torch.where(dx < 0, 0, 1)
        vertical = torch.where(dy < 0, 2, 3)
        return torch.where(dx.abs() >= dy.abs(), horizontal, vertical).long()
    """)

# The grammar checked by hand, beside a network that never learnt it.
OWN_VALIDATOR = code("""
    def _valid(s):
        if len(s) < 9 or s[0] != "B" or s[-1] != "E" or s[2] != "B":
            return False
        if s[1] not in "TP" or s[-2] != s[1]:
            return False
        state = 0
        for c in s[3:-2]:
            arrows = dict(GRAPH.get(state, []))
            if c not in arrows:
                return False
            state = arrows[c]
        return state == -1
    def predict(strings):
        return torch.tensor([_valid(s) for s in strings])
    """)

SUNSPOT = (
    '"reading the monthly sunspot record as it comes in and forecasting, every month, '
    "the next month's number\""
)
PACKED_LSTM = """
    def {name}(lstm, x, lengths):
        out, (h, _) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], h[0]
    """

WRONG = [
    # 01: shapes and the last real state
    Wrong(
        "01_architectures",
        "q1",
        "one wrong answer: the streaming sunspot forecast as seq2vec",
        FULL,
        edits=(("SHAPES = {", f'{SUNSPOT}: "seq2seq"', f'{SUNSPOT}: "seq2vec"'),),
    ),
    Wrong(
        "01_architectures",
        "q1",
        "the same shape for everything",
        QUARTER,
        edits=(
            (
                "SHAPES = {",
                "SHAPES.update({",
                "SHAPES = {k: 'seq2vec' for k in SHAPES}\n_ = dict({",
            ),
        ),
    ),
    Wrong(
        "01_architectures",
        "q2",
        "states[:, -1]: the state after the padding",
        QUARTER,
        cells={
            "class LastStateClassifier(": code("""
        class LastStateClassifier(nn.Module):
            def __init__(self, vocab_size, embed_dim=16, hidden_size=32, num_classes=2):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
                self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
                self.head = nn.Linear(hidden_size, num_classes)
            def forward(self, tokens, lengths):
                states, _ = self.rnn(self.embed(tokens))
                return self.head(states[:, -1])
        """)
        },
    ),
    Wrong(
        "01_architectures",
        "q2",
        "the library's last_real_state",
        QUARTER,
        cells={
            "class LastStateClassifier(": code("""
        from rnnlab.sequences import last_real_state
        class LastStateClassifier(nn.Module):
            def __init__(self, vocab_size, embed_dim=16, hidden_size=32, num_classes=2):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
                self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
                self.head = nn.Linear(hidden_size, num_classes)
            def forward(self, tokens, lengths):
                states, _ = self.rnn(self.embed(tokens))
                return self.head(last_real_state(states, lengths))
        """)
        },
    ),
    Wrong(
        "01_architectures",
        "q2",
        "the right state, detached: the GRU never learns",
        FULL,
        edits=(
            (
                "class LastStateClassifier(",
                "return self.head(h_n[-1])",
                "return self.head(h_n[-1].detach())",
            ),
        ),
    ),
    # 02: attention, and a translator that uses it
    Wrong(
        "02_attention",
        "q1",
        "the library's AdditiveAttention inside",
        QUARTER,
        cells={
            "class MaskedAdditiveAttention(": code("""
        from rnnlab.models.attention import AdditiveAttention
        class MaskedAdditiveAttention(nn.Module):
            def __init__(self, query_size, memory_size, attention_size):
                super().__init__()
                self.inner = AdditiveAttention(query_size, memory_size, attention_size)
            def forward(self, query, memory, mask):
                return self.inner(query, memory, mask)
        """)
        },
    ),
    Wrong(
        "02_attention",
        "q1",
        "no mask: padding gets weight",
        FULL,
        edits=(
            (
                "class MaskedAdditiveAttention(",
                'scores.masked_fill(~mask, float("-inf"))',
                "scores",
            ),
        ),
    ),
    Wrong(
        "02_attention",
        "q1",
        "padding zeroed after the softmax: weights no longer sum to 1",
        FULL,
        edits=(
            (
                "class MaskedAdditiveAttention(",
                'scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)',
                "scores.softmax(dim=-1) * mask",
            ),
        ),
    ),
    Wrong(
        "02_attention",
        "q2",
        "a lookup table of every date, no trained model",
        QUARTER,
        cells={"def translate(": DATE_TABLE},
    ),
    Wrong(
        "02_attention",
        "q2",
        "a lookup table, and the library's attention in the model",
        QUARTER,
        cells={
            "def translate(": DATE_TABLE,
            "_ = torch.manual_seed(0)": (
                "model = Seq2Seq.build(len(src_vocab), len(tgt_vocab), attention='additive')\n"
            ),
        },
    ),
    # 03: the fold, and a clip classifier
    Wrong(
        "03_video",
        "q1",
        "the fold with B and T swapped on the way back",
        FULL,
        edits=(("def frames_through(", "reshape(B, T, -1)", "reshape(T, B, -1).transpose(0, 1)"),),
    ),
    Wrong(
        "03_video",
        "q1",
        "one CNN call per frame: no fold",
        QUARTER,
        cells={
            "def frames_through(": code("""
        def frames_through(cnn, videos):
            return torch.stack([cnn(videos[:, t]) for t in range(videos.shape[1])], dim=1)
        """)
        },
    ),
    Wrong(
        "03_video",
        "q2",
        "the digit's centre of mass, first frame to last: no CNN, no RNN",
        QUARTER,
        cells={"def classify(": CENTRE_OF_MASS},
    ),
    # 04: one step, the masked loop, the shrinking loop, what TF1 did
    Wrong(
        "04_unrolling",
        "q1",
        "calling the LSTM itself on one step",
        QUARTER,
        cells={
            "def lstm_cell_step(": code("""
        def lstm_cell_step(lstm, x_t, h, c):
            _, (h, c) = lstm(x_t.unsqueeze(1), (h.unsqueeze(0), c.unsqueeze(0)))
            return h[0], c[0]
        """)
        },
    ),
    Wrong(
        "04_unrolling",
        "q1",
        "nn.LSTMCell with the LSTM's weights",
        QUARTER,
        cells={
            "def lstm_cell_step(": code("""
        def lstm_cell_step(lstm, x_t, h, c):
            cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size)
            cell.weight_ih, cell.weight_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
            cell.bias_ih, cell.bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
            return cell(x_t, (h, c))
        """)
        },
    ),
    Wrong(
        "04_unrolling",
        "q1",
        "gates in the order i, g, f, o",
        FULL,
        edits=(
            (
                "def lstm_cell_step(",
                "i, f, g, o = gates.chunk(4, dim=1)",
                "i, g, f, o = gates.chunk(4, dim=1)",
            ),
        ),
    ),
    Wrong(
        "04_unrolling",
        "q2",
        "the masked loop runs to T, not to the batch's longest sequence",
        FULL,
        edits=(("def run_masked(", "for t in range(int(lengths.max())):", "for t in range(T):"),),
    ),
    Wrong(
        "04_unrolling",
        "q2",
        "no copy-through: finished rows keep being updated",
        FULL,
        edits=(
            (
                "def run_masked(",
                "h, c = torch.where(running, h_new, h), torch.where(running, c_new, c)",
                "h, c = h_new, c_new",
            ),
        ),
    ),
    Wrong(
        "04_unrolling",
        "q2",
        "nn.LSTM on a packed batch instead of the loop",
        QUARTER,
        cells={"def run_masked(": code(PACKED_LSTM.format(name="run_masked"))},
    ),
    Wrong(
        "04_unrolling",
        "q3",
        "the masked loop handed in as the shrinking one: no sequence stops early",
        QUARTER,
        cells={
            "def run_shrinking(": (
                "def run_shrinking(lstm, x, lengths):\n    return run_masked(lstm, x, lengths)\n"
            )
        },
    ),
    Wrong(
        "04_unrolling",
        "q3",
        "the state detached at every step",
        FULL,
        edits=(
            (
                "def run_shrinking(",
                "h = torch.cat([h_n, h[n:]])",
                "h = torch.cat([h_n.detach(), h[n:]])",
            ),
        ),
    ),
    Wrong(
        "04_unrolling",
        "q3",
        "nn.LSTM on a packed batch instead of the loop",
        QUARTER,
        cells={"def run_shrinking(": code(PACKED_LSTM.format(name="run_shrinking"))},
    ),
    Wrong(
        "04_unrolling",
        "q4",
        "the old mapping: dynamic_rnn stops each sequence at its end",
        FULL,
        edits=(
            (
                "MASKED_STEPS = ",
                '{"shrinking", "packed"}',
                '{"dynamic_rnn", "shrinking", "packed"}',
            ),
        ),
    ),
    Wrong(
        "04_unrolling",
        "q4",
        "the masked loop runs T steps",
        FULL,
        edits=(
            ("MASKED_STEPS = ", "MASKED_STEPS = 6", "MASKED_STEPS = 10"),
            ("MASKED_STEPS = ", "MASKED_ROW_STEPS = 24", "MASKED_ROW_STEPS = 40"),
        ),
    ),
    # 05: mask, masked loss, EOS-aware decoding
    Wrong(
        "05_variable_length",
        "q1",
        "a wrapper around rnnlab's lengths_to_mask",
        QUARTER,
        cells={
            "def lengths_to_mask(": code("""
        from rnnlab.sequences import lengths_to_mask as _library
        def lengths_to_mask(lengths, max_len=None):
            return _library(lengths, max_len)
        """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q1",
        "the batch size as the width",
        FULL,
        edits=(
            ("def lengths_to_mask(", "width = int(lengths.max()) if", "width = len(lengths) if"),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q1",
        "an int mask, not a bool one",
        QUARTER,
        edits=(
            (
                "def lengths_to_mask(",
                "return torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)",
                "return (torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)).long()",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q1",
        "max_len ignored",
        FULL,
        edits=(
            (
                "def lengths_to_mask(",
                "width = int(lengths.max()) if max_len is None else max_len",
                "width = int(lengths.max())",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q1",
        "the visible answers hard-coded",
        QUARTER,
        cells={
            "def lengths_to_mask(": code("""
        def lengths_to_mask(lengths, max_len=None):
            if max_len == 3:
                return torch.tensor([[True, True, False], [True, False, False]])
            return torch.tensor([[True, True, False, False], [True, True, True, True],
                                 [True, False, False, False], [True, True, True, False],
                                 [True, False, False, False]])
        """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "a wrapper around rnnlab's masked_cross_entropy",
        QUARTER,
        cells={
            "def masked_cross_entropy(": code(
                """
        from rnnlab.sequences import masked_cross_entropy as _library
        def masked_cross_entropy(logits, targets, lengths):
            return _library(logits, targets, lengths)
        """
            )
        },
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "the mean over every position, padding included",
        QUARTER,
        cells={
            "def masked_cross_entropy(": code(
                """
        def masked_cross_entropy(logits, targets, lengths):
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        """
            )
        },
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "the sum over real positions divided by B",
        FULL,
        cells={
            "def masked_cross_entropy(": code("""
        def masked_cross_entropy(logits, targets, lengths):
            mask = lengths_to_mask(lengths, logits.shape[1])
            return F.cross_entropy(logits[mask], targets[mask], reduction="sum") / len(lengths)
        """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "the visible answer hard-coded",
        QUARTER,
        cells={
            "def masked_cross_entropy(": (
                "def masked_cross_entropy(logits, targets, lengths):\n"
                "    return torch.tensor(4.7833)\n"
            )
        },
    ),
    Wrong(
        "05_variable_length",
        "q3",
        "a wrapper around rnnlab's greedy_decode",
        QUARTER,
        cells={
            "def greedy_decode(": code("""
        from rnnlab.models.decoding import greedy_decode as _library
        def greedy_decode(step, state, batch_size, bos, eos, max_len):
            tokens, lengths = _library(step, state, bos=bos, eos=eos, max_len=max_len)
            rows = zip(tokens, lengths.tolist())
            return [[t for t in row[:n].tolist() if t != eos] for row, n in rows]
        """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q3",
        "always max_len steps",
        FULL,
        edits=(("def greedy_decode(", "        if done.all():\n            break\n", ""),),
    ),
    Wrong(
        "05_variable_length",
        "q3",
        "tokens after a sequence's EOS kept",
        FULL,
        edits=(
            ("def greedy_decode(", "if not done[b] and tokens[b] != eos:", "if tokens[b] != eos:"),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q3",
        "the EOS kept in the output",
        FULL,
        edits=(("def greedy_decode(", "if not done[b] and tokens[b] != eos:", "if not done[b]:"),),
    ),
    # 06: gradient averaging
    Wrong(
        "06_multi_gpu",
        "q1",
        "divided by 2, not by the world size",
        FULL,
        edits=(("def average_gradients(", "p.grad /= world", "p.grad /= 2"),),
    ),
    Wrong(
        "06_multi_gpu",
        "q1",
        "a parameter without gradient not skipped",
        QUARTER,
        edits=(("def average_gradients(", "if p.grad is not None:", "if True:"),),
    ),
    Wrong(
        "06_multi_gpu",
        "q2",
        "the per-worker batch, and the same learning rate",
        QUARTER,
        edits=(
            ("SAME_AS_BATCH = ", "SAME_AS_BATCH = 64", "SAME_AS_BATCH = 32"),
            ("SAME_AS_BATCH = ", "LR_IF_SUMMED = 2", "LR_IF_SUMMED = 1"),
        ),
    ),
    # 07: the generator, and a model that remembers
    Wrong(
        "07_reber",
        "q1",
        "rnnlab's generator",
        QUARTER,
        cells={
            "GRAPH = {": code("""
        from rnnlab.data.reber import embedded_reber_string
        def embedded_reber(rng):
            return embedded_reber_string(rng)
        """)
        },
    ),
    Wrong(
        "07_reber",
        "q1",
        "choices from the global random module, not from rng",
        FULL,
        edits=(
            (
                "GRAPH = {",
                "symbol, state = rng.choice(GRAPH[state])",
                "symbol, state = random.choice(GRAPH[state])",
            ),
        ),
    ),
    Wrong(
        "07_reber",
        "q2",
        "rnnlab's validator beside an untrained network",
        QUARTER,
        cells={
            "def predict(": code("""
        from rnnlab.data.reber import is_embedded_reber
        def predict(strings):
            return torch.tensor([is_embedded_reber(s) for s in strings])
        """)
        },
    ),
    Wrong(
        "07_reber",
        "q2",
        "a hand-written validator beside an untrained network",
        QUARTER,
        cells={"def predict(": OWN_VALIDATOR},
    ),
    # 08: ids, batches, the attention step, the decoding loop, the trained translator
    Wrong(
        "08_date_translation",
        "q1",
        "tgt_in without BOS",
        FULL,
        edits=(
            (
                "def encode_pair(",
                "tgt_vocab.encode(char_tokens(iso), bos=True)",
                "tgt_vocab.encode(char_tokens(iso))",
            ),
        ),
    ),
    Wrong(
        "08_date_translation",
        "q2",
        "every target assumed 11 tokens long",
        FULL,
        edits=(("def collate(", "lengths(tgt_in)", "torch.full((len(pairs),), 11)"),),
    ),
    Wrong(
        "08_date_translation",
        "q3",
        "Luong's order: the attention reads the new state",
        FULL,
        edits=(
            ("class Translator(", "context, weights = self.attention(h, memory, mask)\n", ""),
            (
                "class Translator(",
                "h = self.cell(torch.cat([self.tgt_embed(tokens), context], dim=-1), h)\n",
                "h = self.cell(torch.cat([self.tgt_embed(tokens), torch.zeros_like(h)], dim=-1), "
                "h)\n"
                "        context, weights = self.attention(h, memory, mask)\n",
            ),
        ),
    ),
    Wrong(
        "08_date_translation",
        "q3",
        "rnnlab's AdditiveAttention pasted in",
        QUARTER,
        cells={
            "class MaskedAdditiveAttention(": code("""
        from rnnlab.models.attention import AdditiveAttention
        class MaskedAdditiveAttention(AdditiveAttention):
            def forward(self, query, memory, mask):
                return super().forward(query, memory, mask)
        """)
        },
    ),
    Wrong(
        "08_date_translation",
        "q3",
        "the attention query detached",
        FULL,
        edits=(
            (
                "class Translator(",
                "self.attention(h, memory, mask)",
                "self.attention(h.detach(), memory, mask)",
            ),
        ),
    ),
    Wrong(
        "08_date_translation",
        "q4",
        "rnnlab's greedy_decode",
        QUARTER,
        cells={
            "def greedy(": code("""
        from rnnlab.models.decoding import greedy_decode
        def greedy(model, src, src_lengths, max_len):
            memory, mask, h = model.encode(src, src_lengths)
            def step(tokens, state):
                logits, h, _ = model.step(tokens, state["h"], state["memory"], state["mask"])
                return logits, {**state, "h": h}
            state = {"h": h, "memory": memory, "mask": mask}
            tokens, lengths = greedy_decode(step, state, bos=BOS, eos=EOS, max_len=max_len)
            rows = zip(tokens, lengths.tolist())
            return [[t for t in row[:n].tolist() if t != EOS] for row, n in rows]
        """)
        },
    ),
    Wrong(
        "08_date_translation",
        "q4",
        "always max_len steps",
        FULL,
        edits=(("def greedy(", "            if done.all():\n                break\n", ""),),
    ),
    Wrong(
        "08_date_translation",
        "q5",
        "a lookup table of every date, no trained model",
        QUARTER,
        cells={"def translate(": DATE_TABLE},
    ),
    # 01, 02, 03, 04: the baseline, and the "predict, then run" questions
    Wrong(
        "01_architectures",
        "q3",
        "padding counted: every position of the batch",
        FULL,
        edits=(
            (
                "def bag_of_words(",
                "one_hot = F.one_hot(tokens, vocab_size) * real.unsqueeze(-1)",
                "one_hot = F.one_hot(tokens, vocab_size)",
            ),
        ),
    ),
    Wrong(
        "01_architectures",
        "q3",
        "presence, not counts: each word once",
        FULL,
        edits=(
            (
                "def bag_of_words(",
                "return one_hot.sum(dim=1).float()",
                "return one_hot.amax(dim=1).float()",
            ),
        ),
    ),
    Wrong(
        "01_architectures",
        "q3",
        "the padding mask from rnnlab's lengths_to_mask",
        QUARTER,
        edits=(
            (
                "def bag_of_words(",
                "real = torch.arange(tokens.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)",
                "from rnnlab.sequences import lengths_to_mask\n"
                "    real = lengths_to_mask(lengths, tokens.shape[1])",
            ),
        ),
    ),
    Wrong(
        "01_architectures",
        "q3",
        "a GRU handed in as the baseline: not blind to order",
        FULL,
        cells={
            "def bag_of_words(": code("""
        def bag_of_words(tokens, lengths, vocab_size):
            real = torch.arange(tokens.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
            return (F.one_hot(tokens, vocab_size) * real.unsqueeze(-1)).sum(dim=1).float()
        class BagOfWords(nn.Module):
            def __init__(self, vocab_size, num_classes=2):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, 8)
                self.rnn = nn.GRU(8, 16, batch_first=True)
                self.head = nn.Linear(16, num_classes)
            def forward(self, tokens, lengths):
                return self.head(self.rnn(self.embed(tokens))[0].mean(dim=1))
        """)
        },
    ),
    Wrong(
        "01_architectures",
        "q4",
        "an empty prediction",
        QUARTER,
        cells={"PREDICTION = ": 'PREDICTION = ""\n'},
    ),
    Wrong(
        "01_architectures",
        "q4",
        "the prediction left as the placeholder",
        QUARTER,
        cells={"PREDICTION = ": "PREDICTION = ...\n"},
    ),
    Wrong(
        "01_architectures",
        "q4",
        "a one-word prediction",
        QUARTER,
        cells={"PREDICTION = ": 'PREDICTION = "bag"\n'},
    ),
    Wrong(
        "01_architectures",
        "q4",
        "the accuracies typed in, not measured",
        FULL,
        cells={"def measure(": "MEASURED = (0.9, 0.99)\n"},
    ),
    Wrong(
        "01_architectures",
        "q4",
        "accuracies measured on the training sentences",
        FULL,
        edits=(
            (
                "def compare(",
                "return accuracy(rnn_model, *test), accuracy(bag_model, *test)",
                "return accuracy(rnn_model, *train), accuracy(bag_model, *train)",
            ),
        ),
    ),
    Wrong(
        "01_architectures",
        "q4",
        "a baseline that peeks at the test labels: trained on the test sentences",
        FULL,
        edits=(
            (
                "def compare(",
                "bag_model = fit(BagOfWords(vocab_size), *train)",
                "bag_model = fit(BagOfWords(vocab_size), *test)",
            ),
        ),
    ),
    Wrong(
        "01_architectures",
        "q4",
        "the GRU left untrained beside a trained baseline",
        FULL,
        edits=(
            (
                "def compare(",
                "rnn_model = fit(LastStateClassifier(vocab_size), *train)",
                "rnn_model = LastStateClassifier(vocab_size).eval()",
            ),
        ),
    ),
    Wrong(
        "02_attention",
        "q3",
        "an empty prediction",
        QUARTER,
        cells={"PREDICTION = ": 'PREDICTION = ""\n'},
    ),
    Wrong(
        "02_attention",
        "q3",
        "the measurements typed in",
        QUARTER,
        cells={"check_pairs = ": "MEASURED = (1.0, 0.0)\n"},
    ),
    Wrong(
        "03_video",
        "q3",
        "the prediction left as the placeholder",
        QUARTER,
        cells={"PREDICTION = ": "PREDICTION = ...\n"},
    ),
    Wrong(
        "03_video",
        "q3",
        "the measurements typed in",
        QUARTER,
        cells={"check_videos, ": "MEASURED = (1.0, 0.25)\n"},
    ),
    Wrong(
        "04_unrolling",
        "q5",
        "an empty prediction",
        QUARTER,
        cells={"PREDICTION = ": 'PREDICTION = "   "\n'},
    ),
    Wrong(
        "04_unrolling",
        "q5",
        "the times typed in, with loops that disagree",
        QUARTER,
        cells={
            "_ = torch.manual_seed(0)\nlstm = nn.LSTM(16": (
                'MEASURED = {"masked": 0.01, "shrinking": 0.001}\n'
            ),
            "def run_shrinking(": (
                "def run_shrinking(lstm, x, lengths):\n    return torch.zeros(1), torch.zeros(1)\n"
            ),
        },
    ),
    Wrong(
        "07_reber",
        "q3",
        "an empty prediction",
        QUARTER,
        cells={"PREDICTION = ": 'PREDICTION = ""\n'},
    ),
    Wrong(
        "07_reber",
        "q3",
        "the measurements typed in",
        QUARTER,
        cells={
            "from rnnlab.data.reber import embedded_reber_string": (
                "MEASURED = ((12.0, 1.0), (40.0, 1.0))\n"
            )
        },
    ),
]


def _apply(cells: list[str], wrong: Wrong) -> list[str]:
    out = list(cells)
    for prefix, old, new in wrong.edits:
        matches = [i for i, c in enumerate(out) if c.startswith(prefix)]
        assert len(matches) == 1 and old in out[matches[0]], (
            f"{wrong.what}: no single cell starting with {prefix!r} holds {old!r}"
        )
        out[matches[0]] = out[matches[0]].replace(old, new)
    replacements = {**UNTRAINED.get(wrong.exercise, {}), **wrong.cells}
    return answer(out, replacements)


@pytest.fixture(scope="module")
def autograders(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("autograders")
    for name in NAMES:
        build.autograder_for(name, autograder_dir=out, student_dir=out / "student")
    return out


def test_every_visible_example_is_worth_at_most_a_fifth_of_its_question(autograders):
    for name in NAMES:
        for question, cases in points(autograders / f"{name}.zip").items():
            visible = sum(p for hidden, p in cases if not hidden)
            total = sum(p for _, p in cases)
            assert any(hidden for hidden, _ in cases) and visible <= 0.2 * total + 1e-9, (
                name,
                question,
                cases,
            )


@pytest.mark.parametrize("name", ["01_architectures", "04_unrolling", "05_variable_length"])
def test_the_harness_gives_the_reference_answers_full_marks(autograders, name):
    scores = score(
        autograders / f"{name}.zip",
        run_cells(student_cells(autograders / f"{name}.solution.ipynb"), name),
    )
    assert scores and all(got == possible > 0 for got, possible in scores.values()), scores


def test_untouched_student_copies_score_zero(autograders):
    for name in NAMES:
        scores = grade(
            autograders / "student" / f"{name}.ipynb", autograders / f"{name}.zip", {}, tag=name
        )
        assert scores and all(got == 0 < possible for got, possible in scores.values()), (
            name,
            scores,
        )


@pytest.mark.parametrize("wrong", WRONG, ids=[f"{w.exercise}-{w.question}-{w.what}" for w in WRONG])
def test_a_wrong_solution_loses_marks(autograders, wrong):
    cells = student_cells(autograders / f"{wrong.exercise}.solution.ipynb")
    preset = {"DATE_TABLE": _date_table()} if DATE_TABLE in wrong.cells.values() else {}
    scores = score(
        autograders / f"{wrong.exercise}.zip",
        run_cells(_apply(cells, wrong), wrong.exercise, preset),
        (wrong.question,),
    )
    got, possible = scores[wrong.question]
    limit = possible / 4 if wrong.bound == QUARTER else possible
    assert got < limit, f"{wrong.what}: {got} of {possible} points ({wrong.bound} expected)"


def _define(source: str) -> dict:
    return run_cells([textwrap.dedent(source)], "checks")


@pytest.mark.parametrize(
    "source",
    [
        "from rnnlab.sequences import lengths_to_mask as m\ndef f(lengths):\n    return "
        "m(lengths)\n",
        "import rnnlab.sequences\ndef helper(lengths):\n    return "
        "rnnlab.sequences.lengths_to_mask(lengths)\n"
        "def f(lengths):\n    return helper(lengths)\n",
        "def f(lengths):\n    from rnnlab.sequences import lengths_to_mask\n    return "
        "lengths_to_mask(lengths)\n",
        "from rnnlab.models.attention import AdditiveAttention\nclass f(AdditiveAttention):\n    "
        "pass\n",
        "from rnnlab.sequences import lengths_to_mask as f\n",
    ],
)
def test_the_source_check_finds_the_library_however_it_is_reached(source):
    from rnnlab.grading.checks import assert_own_code

    with pytest.raises(AssertionError, match="rnnlab"):
        assert_own_code(_define(source)["f"], what="f")


def test_the_source_check_passes_own_code_and_names_a_stub():
    from rnnlab.grading.checks import assert_own_code

    namespace = _define(
        "import torch\ndef f(lengths: torch.Tensor) -> torch.Tensor:\n    return "
        "torch.arange(3)[None] < lengths[:, None]\n"
        "def g(x):\n    ...\n"
    )
    assert_own_code(namespace["f"])
    with pytest.raises(AssertionError, match="stub"):
        assert_own_code(namespace["g"])


@pytest.mark.parametrize("prediction", [None, ..., "", "   ", "bag", "the bag", 3])
def test_nothing_is_measured_before_a_prediction_is_written(prediction, capsys):
    from rnnlab.grading.checks import measure_after_prediction

    calls = []
    assert measure_after_prediction(prediction, lambda: calls.append(1)) is None
    assert calls == [] and "PREDICTION" in capsys.readouterr().out


def test_a_written_prediction_is_shown_and_the_measurement_returned(capsys):
    from rnnlab.grading.checks import measure_after_prediction

    assert measure_after_prediction("  the bag wins  ", lambda: (0.9, 0.99)) == (0.9, 0.99)
    assert "You predicted: the bag wins" in capsys.readouterr().out


def test_an_unfinished_measurement_says_not_yet_instead_of_stopping_the_notebook(capsys):
    from rnnlab.grading.checks import measure_after_prediction

    def stub():
        raise TypeError("cannot unpack non-iterable NoneType object")

    assert measure_after_prediction("the bag wins", stub) is None
    assert "Not yet" in capsys.readouterr().out
