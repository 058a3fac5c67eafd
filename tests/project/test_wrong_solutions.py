"""Wrong and shortcut solutions, as learners write them, must lose marks: the exercises grade the
idea.

Each entry below answers one question of one exercise the wrong way (a common mistake, or a shortcut
that skips the question's core idea: calling the library function it asks for, a lookup table
instead of a model, an untrained network beside a hand-written rule) on top of the reference answers
to every other question. It is graded in this process by `exercise_harness` with the autograder's
own test files and points, so dozens of answers cost seconds; training cells are replaced by the
wrong answer's own (shortcuts train nothing), and only the cells before the question's check cell
run (otter scores a question there). A mistake must score below the question's full marks; a
shortcut below a quarter of them.

Grading in this process: ``otter run`` starts a Jupyter kernel per submission (seconds each) and
runs every training cell. Here the cells run in one fresh ``__main__``-like namespace per answer,
and the autograder's test files (``tests/qN.py`` in its archive: public and hidden cases with their
points) are scored with `otter.test_files.OKTestFile`, the class ``otter run`` scores them with.
Cells are compiled under file names that `linecache` knows, as IPython does, so `inspect.getsource`
(used by the source checks) works on the answers as it does in a notebook.

As the grading driver does, a first cell imports `rnnlab.grading.trusted` when the tests use it
(`as_graded`); this module imports it too, at collection, so its references and snapshot come from
torch before any answer ran. Some answers below cheat rather than err (`SELF_JUDGING`): a tensor
subclass that says "equal", torch's comparisons patched, the rnnlab reference replaced by the wrong
answer; each must score below a quarter. What each answer patches is put back after it
(`restored`). A submission that patches otter itself is out of reach here: the tests run inside its
process (the README says so).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import linecache
import re
import tempfile
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
from otter.test_files import OKTestFile

from rnnlab.data.dates import DATE_FORMATS, format_date
from rnnlab.grading import build, driver, trusted

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


def _is_otters(source: str) -> bool:
    return "otter" in source or "grader." in source


def student_cells(student: Path) -> list[str]:
    """The code cells of a student copy, without otter's set-up and check cells."""
    nb = nbformat.read(student, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and not _is_otters(c.source)]


def cells_before_check(student: Path) -> dict[str, int]:
    """``{question: how many of student_cells come before its grader.check cell}``. Otter scores a
    question at its check cell, so grading one question needs only the cells before it."""
    nb = nbformat.read(student, as_version=4)
    ends, kept = {}, 0
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        check = re.fullmatch(r'\s*grader\.check\("(\w+)"\)\s*', c.source)
        if check:
            ends[check.group(1)] = kept
        kept += not _is_otters(c.source)
    return ends


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


def as_graded(autograder: Path, cells: list[str]) -> list[str]:
    """``cells`` as the grading driver runs them: after ``import rnnlab.grading.trusted`` when a
    test file of ``autograder`` imports it."""
    with zipfile.ZipFile(autograder) as archive:
        tests = [archive.read(m).decode() for m in archive.namelist() if m.startswith("tests/")]
    return [driver.TRUSTED_CELL, *cells] if any(map(driver.TRUSTED_IMPORT.search, tests)) else cells


@contextlib.contextmanager
def restored():
    """Put back every attribute (and ``sys.modules`` entry) that `rnnlab.grading.trusted`
    snapshots, as it was before the block: an answer's patches end with it."""
    import sys

    saved = [(owner, dict(vars(owner)), strict) for owner, _, strict in trusted._SNAPSHOT.values()]
    modules = dict(sys.modules)
    try:
        yield
    finally:
        for owner, attributes, strict in saved:
            for name in set(vars(owner)) - set(attributes) if strict else ():
                delattr(owner, name)
            for name, value in attributes.items():
                if vars(owner).get(name, restored) is not value:
                    setattr(owner, name, value)
        sys.modules.update({k: v for k, v in modules.items() if sys.modules.get(k) is not v})


def grade(
    student: Path, autograder: Path, answers: dict[str, str], tag: str = "answer"
) -> dict[str, tuple[float, float]]:
    """Score the student copy with ``answers`` in place of its stubs:
    ``{question: (score, possible)}``."""
    cells = as_graded(autograder, answer(student_cells(student), answers))
    return score(autograder, run_cells(cells, tag))


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
    # not training, but a 2-worker launch that only shows the learner their numbers
    "06_multi_gpu": {"if is_stub(global_token_mean):": "pass\n"},
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

# Exercise 9's shortcuts that need more than a line: nn.RNN does the forward's recurrence; the
# forward keeps autograd's graph for the backward to use; the backward differentiates numerically.
BPTT_PACKED_FORWARD = code("""
    def rnn_forward(x, lengths, W_x, W_h, b):
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        rnn = torch.nn.RNN(x.shape[2], W_h.shape[0], batch_first=True).to(x.dtype)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(W_x.T)
            rnn.weight_hh_l0.copy_(W_h.T)
            rnn.bias_ih_l0.copy_(b)
            rnn.bias_hh_l0.zero_()
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, h_n = rnn(packed)
        outputs = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]
        return outputs, h_n[0], (x, lengths, outputs)
    """)
BPTT_GRAPH_FORWARD = code("""
    def rnn_forward(x, lengths, W_x, W_h, b):
        leaves = [t.detach().clone().requires_grad_(True) for t in (x, W_x, W_h, b)]
        x, W_x, W_h, b = leaves
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.dtype)
        with torch.enable_grad():
            h = x.new_zeros(x.shape[0], W_h.shape[0])
            outputs = []
            for t in range(x.shape[1]):
                keep = mask[:, t, None]
                h = keep * torch.tanh(x[:, t] @ W_x + h @ W_h + b) + (1 - keep) * h
                outputs.append(keep * h)
            outputs = torch.stack(outputs, dim=1)
        return outputs.detach(), h.detach(), (leaves, outputs, h)
    """)
BPTT_NUMERICAL_BACKWARD = code("""
    def rnn_backward(d_outputs, d_final, cache):
        x, lengths, *weights = cache
        values = [x, *weights]

        def loss(vs):
            outputs, h_final, _ = rnn_forward(vs[0], lengths, *vs[1:])
            return float((outputs * d_outputs).sum() + (h_final * d_final).sum())

        grads = []
        for k, value in enumerate(values):
            grad = torch.zeros_like(value)
            for i in range(value.numel()):
                for sign in (1.0, -1.0):
                    nudged = value.clone()
                    nudged.view(-1)[i] += sign * 1e-6
                    grad.view(-1)[i] += sign * loss(values[:k] + [nudged] + values[k + 1:]) / 2e-6
            grads.append(grad)
        return tuple(grads)
    """)

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
    # 05: scheduled sampling; predict, then measure the gap
    Wrong(
        "05_variable_length",
        "q4",
        "always the truth, whatever sample_prob",
        QUARTER,
        edits=(
            (
                "def unroll(",
                "torch.where(own, step_logits.argmax(dim=-1), targets[:, t])",
                "targets[:, t]",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "always its own guess, whatever sample_prob",
        QUARTER,
        edits=(
            (
                "def unroll(",
                "torch.where(own, step_logits.argmax(dim=-1), targets[:, t])",
                "step_logits.argmax(dim=-1)",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "sample_prob taken as the probability of the truth",
        FULL,
        edits=(("def unroll(", "< sample_prob", ">= sample_prob"),),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "one coin per step for the whole batch",
        FULL,
        edits=(
            (
                "def unroll(",
                "torch.rand(batch, generator=generator)",
                "torch.rand(1, generator=generator)",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "one coin per sequence for the whole pass",
        FULL,
        edits=(
            (
                "def unroll(",
                "        own = torch.rand(batch, generator=generator) < sample_prob\n",
                "",
            ),
            (
                "def unroll(",
                "    logits = []\n",
                "    logits = []\n    own = torch.rand(batch, generator=generator) < sample_prob\n",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "coins from the global random generator, not from generator",
        FULL,
        edits=(("def unroll(", "torch.rand(batch, generator=generator)", "torch.rand(batch)"),),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "the own guess sampled from the softmax, not its argmax",
        FULL,
        edits=(
            (
                "def unroll(",
                "step_logits.argmax(dim=-1)",
                "torch.multinomial(step_logits.softmax(-1), 1, generator=generator).squeeze(1)",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "the next step reads the truth one position ahead",
        FULL,
        edits=(("def unroll(", "targets[:, t])", "targets[:, min(t + 1, steps - 1)])"),),
    ),
    Wrong(
        "05_variable_length",
        "q4",
        "the logits detached: nothing to train",
        FULL,
        edits=(
            (
                "def unroll(",
                "return torch.stack(logits, dim=1)",
                "return torch.stack(logits, dim=1).detach()",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "the prediction left empty",
        FULL,
        cells={
            "PREDICTED_TF_ACC = ": (
                "PREDICTED_TF_ACC = ...\nPREDICTED_FREE_ACC = ...\nPREDICTION_WHY = ...\n"
            )
        },
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "a prediction, but the measurement never run",
        FULL,
        cells={
            "def token_accuracy(": code("""
        def token_accuracy(logits, targets, lengths):
            ...

        with torch.no_grad():
            TF_ACC = ...
            FREE_ACC = ...
        """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "a prediction in words, not numbers",
        FULL,
        edits=(
            ("PREDICTED_TF_ACC = ", "PREDICTED_FREE_ACC = 0.6", 'PREDICTED_FREE_ACC = "lower"'),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "accuracy over every position, padding included",
        FULL,
        edits=(("def token_accuracy(", "== targets)[real]", "== targets)"),),
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "a 0-dim tensor, not a float",
        QUARTER,
        edits=(
            (
                "def token_accuracy(",
                "return float((logits.argmax(dim=-1) == targets)[real].float().mean())",
                "return (logits.argmax(dim=-1) == targets)[real].float().mean()",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "the mean of per-row accuracies",
        FULL,
        edits=(
            (
                "def token_accuracy(",
                "return float((logits.argmax(dim=-1) == targets)[real].float().mean())",
                "return float(((logits.argmax(-1) == targets) & real).sum(1).div(lengths).mean())",
            ),
        ),
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "both accuracies measured teacher forced",
        FULL,
        edits=(("def token_accuracy(", "test_targets, 1.0)", "test_targets, 0.0)"),),
    ),
    Wrong(
        "05_variable_length",
        "q5",
        "the measured numbers typed in, rounded",
        FULL,
        edits=(
            (
                "def token_accuracy(",
                "TF_ACC = token_accuracy(",
                "TF_ACC = 0.911 or token_accuracy(",
            ),
            (
                "def token_accuracy(",
                "FREE_ACC = token_accuracy(",
                "FREE_ACC = 0.680 or token_accuracy(",
            ),
        ),
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
    Wrong(
        "06_multi_gpu",
        "q3",
        "the per-worker mean",
        QUARTER,
        cells={
            "def global_token_mean(": code("""
        def global_token_mean(logits, targets, mask):
            return F.cross_entropy(logits[mask], targets[mask])
        """)
        },
    ),
    Wrong(
        "06_multi_gpu",
        "q3",
        "the summed loss, never divided",
        QUARTER,
        edits=(("def global_token_mean(", "loss_sum * dist.get_world_size() / count", "loss_sum"),),
    ),
    Wrong(
        "06_multi_gpu",
        "q3",
        "the global count, but DDP's division by N not undone",
        QUARTER,
        edits=(
            (
                "def global_token_mean(",
                "loss_sum * dist.get_world_size() / count",
                "loss_sum / count",
            ),
        ),
    ),
    Wrong(
        "06_multi_gpu",
        "q3",
        "a hard-coded 2 for the number of workers",
        FULL,
        edits=(
            (
                "def global_token_mean(",
                "loss_sum * dist.get_world_size() / count",
                "loss_sum * 2 / count",
            ),
        ),
    ),
    Wrong(
        "06_multi_gpu",
        "q3",
        "the mean over every position, padding included",
        QUARTER,
        cells={
            "def global_token_mean(": code("""
        def global_token_mean(logits, targets, mask):
            return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        """)
        },
    ),
    Wrong(
        "06_multi_gpu",
        "q3",
        "rnnlab's global_mean",
        QUARTER,
        cells={
            "def global_token_mean(": code("""
        def global_token_mean(logits, targets, mask):
            from rnnlab.distributed.loss import global_mean
            loss_sum = F.cross_entropy(logits[mask], targets[mask], reduction="sum")
            return global_mean(loss_sum, int(mask.sum()))
        """)
        },
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "the prediction left empty",
        FULL,
        cells={"PREDICTED_ADAM_FACTOR = ": "PREDICTED_ADAM_FACTOR = ...\nPREDICTION_WHY = ...\n"},
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "a prediction, but the measurement never run",
        FULL,
        cells={
            "def trained_weights(": (
                "def trained_weights(make_model, batches, make_optimizer, loss_scale):\n    ...\n"
            )
        },
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "Adam answered like SGD: a factor 2",
        FULL,
        edits=(("ADAM_LR_IF_SUMMED = ", "ADAM_LR_IF_SUMMED = 1", "ADAM_LR_IF_SUMMED = 2"),),
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "the right answer guessed, nothing measured",
        QUARTER,
        cells={
            "def trained_weights(": (
                "def trained_weights(make_model, batches, make_optimizer, loss_scale):\n    ...\n"
            )
        },
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "loss_scale ignored",
        FULL,
        edits=(
            (
                "def trained_weights(",
                "(loss_scale * F.mse_loss(model(x), y)).backward()",
                "F.mse_loss(model(x), y).backward()",
            ),
        ),
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "gradients never cleared between steps",
        FULL,
        edits=(("def trained_weights(", "        optimizer.zero_grad()\n", ""),),
    ),
    Wrong(
        "06_multi_gpu",
        "q4",
        "the weights of a fresh model, not the trained one",
        FULL,
        edits=(
            (
                "def trained_weights(",
                "for p in model.parameters()])",
                "for p in make_model().parameters()])",
            ),
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
    Wrong(
        "08_date_translation",
        "q6",
        "the prediction left empty",
        QUARTER,
        cells={"PREDICTED_UNIFORM = ": "PREDICTED_UNIFORM = ...\nPREDICTION_WHY = ...\n"},
    ),
    Wrong(
        "08_date_translation",
        "q6",
        "a prediction, but nothing to measure with (translate left as it came)",
        FULL,
        cells={"def translate(": "def translate(texts):\n    ...\n"},
    ),
    Wrong(
        "08_date_translation",
        "q6",
        "a percentage, not a share",
        FULL,
        edits=(("PREDICTED_UNIFORM = ", "PREDICTED_UNIFORM = 0.05", "PREDICTED_UNIFORM = 5"),),
    ),
    # 09: backpropagation through time by hand, with padding
    Wrong(
        "09_bptt",
        "q1",
        "the state not frozen past each row's length",
        FULL,
        edits=(
            (
                "def rnn_forward(",
                "h = keep * torch.tanh(x[:, t] @ W_x + h @ W_h + b) + (1 - keep) * h",
                "h = torch.tanh(x[:, t] @ W_x + h @ W_h + b)",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q1",
        "outputs not zeroed on padding",
        FULL,
        edits=(
            ("def rnn_forward(", "outputs = hs[:, 1:] * mask[..., None]", "outputs = hs[:, 1:]"),
        ),
    ),
    Wrong(
        "09_bptt",
        "q1",
        "the mask only as wide as the longest sequence",
        FULL,
        edits=(
            (
                "def rnn_forward(",
                "torch.arange(T)[None, :]",
                "torch.arange(int(lengths.max()))[None, :]",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q1",
        "nn.RNN on a packed batch",
        QUARTER,
        cells={"def rnn_forward(": BPTT_PACKED_FORWARD},
    ),
    Wrong(
        "09_bptt",
        "q2",
        "the tanh derivative forgotten",
        FULL,
        edits=(
            (
                "def rnn_backward(",
                "grad_a = keep * grad_h * (1 - hs[:, t + 1] ** 2)",
                "grad_a = keep * grad_h",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "only one step back: no gradient through W_h to earlier states",
        FULL,
        edits=(
            (
                "def rnn_backward(",
                "grad_h = (1 - keep) * grad_h + grad_a @ W_h.T",
                "grad_h = (1 - keep) * grad_h",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "the mask ignored: padded steps treated as real",
        FULL,
        edits=(
            (
                "def rnn_backward(",
                "keep = mask[:, t, None]",
                "keep = torch.ones_like(mask[:, t, None])",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "the garbage in d_outputs' padding let in",
        FULL,
        edits=(
            ("def rnn_backward(", "grad_h + keep * d_outputs[:, t]", "grad_h + d_outputs[:, t]"),
        ),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "a frozen row drops its gradient instead of passing it on",
        FULL,
        edits=(
            (
                "def rnn_backward(",
                "grad_h = (1 - keep) * grad_h + grad_a @ W_h.T",
                "grad_h = grad_a @ W_h.T",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "tanh' taken at the state that went in",
        FULL,
        edits=(("def rnn_backward(", "(1 - hs[:, t + 1] ** 2)", "(1 - hs[:, t] ** 2)"),),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "dW_h from h_t instead of h_(t-1)",
        FULL,
        edits=(
            ("def rnn_backward(", "dW_h += hs[:, t].T @ grad_a", "dW_h += hs[:, t + 1].T @ grad_a"),
        ),
    ),
    Wrong(
        "09_bptt",
        "q2",
        "the forward keeps autograd's graph, the backward calls torch.autograd.grad",
        QUARTER,
        cells={
            "def rnn_forward(": BPTT_GRAPH_FORWARD,
            "def rnn_backward(": code("""
        def rnn_backward(d_outputs, d_final, cache):
            leaves, outputs, h_final = cache
            return torch.autograd.grad((outputs, h_final), leaves, (d_outputs, d_final))
        """),
        },
    ),
    Wrong(
        "09_bptt",
        "q2",
        "the loss rebuilt from the cache, .backward() and .grad",
        QUARTER,
        edits=(("def rnn_forward(", "(x, mask, hs, W_x, W_h)", "(x, lengths, W_x, W_h, b)"),),
        cells={
            "def rnn_backward(": code("""
        def rnn_backward(d_outputs, d_final, cache):
            x, lengths, *weights = cache
            leaves = [t.detach().clone().requires_grad_(True) for t in (x, *weights)]
            with torch.enable_grad():
                outputs, h_final, _ = rnn_forward(leaves[0], lengths, *leaves[1:])
                ((outputs * d_outputs).sum() + (h_final * d_final).sum()).backward()
            return tuple(t.grad for t in leaves)
        """)
        },
    ),
    Wrong(
        "09_bptt",
        "q2",
        "autograd reached by getattr, out of the source check's sight",
        QUARTER,
        edits=(("def rnn_forward(", "(x, mask, hs, W_x, W_h)", "(x, lengths, W_x, W_h, b)"),),
        cells={
            "def rnn_backward(": code("""
        def rnn_backward(d_outputs, d_final, cache):
            x, lengths, *weights = cache
            needs = "requires_" + "grad_"
            leaves = [getattr(t.detach().clone(), needs)(True) for t in (x, *weights)]
            with getattr(torch, "enable_" + "grad")():
                outputs, h_final, _ = rnn_forward(leaves[0], lengths, *leaves[1:])
                loss = (outputs * d_outputs).sum() + (h_final * d_final).sum()
                return getattr(getattr(torch, "auto" + "grad"), "gr" + "ad")(loss, leaves)
        """)
        },
    ),
    Wrong(
        "09_bptt",
        "q2",
        "torch.func.vjp in the forward, its pullback as the cache",
        QUARTER,
        edits=(("def rnn_forward(", "def rnn_forward(", "def _forward("),),
        cells={
            "def rnn_backward(": code("""
        def rnn_forward(x, lengths, W_x, W_h, b):
            (outputs, h_final), pullback = torch.func.vjp(
                lambda *a: _forward(a[0], lengths, *a[1:])[:2], x, W_x, W_h, b
            )
            return outputs, h_final, pullback

        def rnn_backward(d_outputs, d_final, cache):
            return cache((d_outputs, d_final))
        """)
        },
    ),
    Wrong(
        "09_bptt",
        "q2",
        "numerical differentiation of the forward pass",
        QUARTER,
        edits=(("def rnn_forward(", "(x, mask, hs, W_x, W_h)", "(x, lengths, W_x, W_h, b)"),),
        cells={"def rnn_backward(": BPTT_NUMERICAL_BACKWARD},
    ),
    Wrong(
        "09_bptt",
        "q3",
        "one-sided (forward) differences",
        FULL,
        cells={
            "def grad_check(": code("""
        def grad_check(f, x, grad, eps=1e-6):
            x = x.detach().clone().double()
            numeric = torch.zeros_like(x)
            base = float(f(x))
            for i in range(x.numel()):
                x.view(-1)[i] += eps
                numeric.view(-1)[i] = (float(f(x)) - base) / eps
                x.view(-1)[i] -= eps
            scale = float(numeric.norm() + grad.norm())
            return 0.0 if scale == 0 else float((numeric - grad).norm()) / scale
        """)
        },
    ),
    Wrong(
        "09_bptt",
        "q3",
        "float32",
        FULL,
        edits=(
            (
                "def grad_check(",
                "x = x.detach().clone().double()",
                "x = x.detach().clone().float()",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q3",
        "only the first three entries checked",
        FULL,
        edits=(("def grad_check(", "range(flat.numel())", "range(min(flat.numel(), 3))"),),
    ),
    Wrong(
        "09_bptt",
        "q3",
        "the absolute error, not the relative one",
        FULL,
        edits=(
            (
                "def grad_check(",
                "return 0.0 if scale == 0 else float((numeric - grad).norm()) / scale",
                "return float((numeric - grad).norm())",
            ),
        ),
    ),
    Wrong(
        "09_bptt",
        "q3",
        "each entry left at x - eps",
        FULL,
        edits=(("def grad_check(", "        flat[i] = old\n", ""),),
    ),
    Wrong(
        "09_bptt",
        "q3",
        "the 'numerical' gradient taken from autograd",
        QUARTER,
        cells={
            "def grad_check(": code("""
        def grad_check(f, x, grad, eps=1e-6):
            x = x.detach().clone().double().requires_grad_(True)
            with torch.enable_grad():
                (numeric,) = torch.autograd.grad(f(x), x)
            scale = float(numeric.norm() + grad.norm())
            return 0.0 if scale == 0 else float((numeric - grad).norm()) / scale
        """)
        },
    ),
    Wrong(
        "09_bptt",
        "q4",
        "no prediction written",
        FULL,
        cells={"# Your prediction": "prediction = ...\n"},
    ),
    Wrong(
        "09_bptt",
        "q4",
        "a prediction, but the measurement never run",
        FULL,
        cells={"def input_gradient_norms(": "\n"},
    ),
]


# Answers that judge themselves (#31): wrong, and made to look right to a test that trusts them.
# A tensor subclass whose __torch_function__ says "equal" to torch.equal, torch.allclose and every
# comparison, and whose .item() and .tolist() give a value equal to anything; lists likewise.
SAYS_EQUAL = code("""
    class _Anything(float):
        def __eq__(self, other): return True
        def __lt__(self, other): return True
        def __le__(self, other): return True
        def __sub__(self, other): return self
        def __abs__(self): return self
        def __format__(self, spec): return "0"
    class _Same(list):
        def __eq__(self, other): return True
    class _Equal(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in ("equal", "allclose", "eq", "__eq__", "__lt__", "__le__", "__gt__"):
                return True
            if name in ("item", "tolist"):
                return _Anything(0.0)
            return super().__torch_function__(func, types, args, kwargs or {})
    """)
# torch's comparisons replaced at the notebook's top level
PATCHED_TORCH = code("""
    import torch
    torch.allclose = lambda *a, **k: True
    torch.equal = lambda *a, **k: True
    torch.testing.assert_close = lambda *a, **k: None
    """)
WRONG_MASK = code("""
    def lengths_to_mask(lengths, max_len=None):
        width = len(lengths) if max_len is None else max_len
        return torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)
    """)
WRONG_LOSS = code("""
    def masked_cross_entropy(logits, targets, lengths):
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    """)
SELF_JUDGING = [
    Wrong(
        "05_variable_length",
        "q1",
        "a tensor subclass that says equal: an empty mask",
        QUARTER,
        cells={
            "def lengths_to_mask(": SAYS_EQUAL
            + code("""
            def lengths_to_mask(lengths, max_len=None):
                return torch.zeros(len(lengths), 1, dtype=torch.bool).as_subclass(_Equal)
            """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "a tensor subclass that says equal: a zero loss",
        QUARTER,
        cells={
            "def masked_cross_entropy(": SAYS_EQUAL
            + code("""
            def masked_cross_entropy(logits, targets, lengths):
                return (logits.sum() * 0).as_subclass(_Equal)
            """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q3",
        "every token off by one, in lists that say equal",
        QUARTER,
        cells={
            "def greedy_decode(": SAYS_EQUAL
            + code("""
            def greedy_decode(step, state, batch_size, bos, eos, max_len):
                tokens = torch.full((batch_size,), bos)
                done = torch.zeros(batch_size, dtype=torch.bool)
                out = _Same([] for _ in range(batch_size))
                for _ in range(max_len):
                    logits, state = step(tokens, state)
                    tokens = logits.argmax(dim=-1)
                    for b in range(batch_size):
                        if not done[b] and tokens[b] != eos:
                            out[b].append(int(tokens[b]) + 1)
                    done |= tokens == eos
                    if done.all():
                        break
                return out
            """)
        },
    ),
    Wrong(
        "05_variable_length",
        "q1",
        "the batch size as the width, with torch's comparisons patched",
        QUARTER,
        edits=(("import torch", "import torch\n", PATCHED_TORCH),),
        cells={"def lengths_to_mask(": WRONG_MASK},
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "padding in the mean, with torch's comparisons patched",
        QUARTER,
        edits=(("import torch", "import torch\n", PATCHED_TORCH),),
        cells={"def masked_cross_entropy(": WRONG_LOSS},
    ),
    Wrong(
        "05_variable_length",
        "q1",
        "the wrong mask made rnnlab's reference",
        QUARTER,
        cells={
            "def lengths_to_mask(": WRONG_MASK
            + "import rnnlab.sequences\nrnnlab.sequences.lengths_to_mask = lengths_to_mask\n"
        },
    ),
    Wrong(
        "05_variable_length",
        "q2",
        "padding in the mean, with F.cross_entropy made the same",
        QUARTER,
        cells={
            "def masked_cross_entropy(": WRONG_LOSS
            + code("""
            _real_cross_entropy = F.cross_entropy
            F.cross_entropy = lambda *a, **k: torch.tensor(0.0)
            def masked_cross_entropy(logits, targets, lengths, _loss=masked_cross_entropy):
                return _loss(logits, targets, lengths) * 0
            """)
        },
    ),
    Wrong(
        "01_architectures",
        "q1",
        "every shape seq2vec, with the notebook's own all() that says True",
        QUARTER,
        edits=(
            (
                "SHAPES = {",
                "SHAPES.update({",
                "all = lambda *a: True\nlen = lambda *a: 10\n"
                "SHAPES = {k: 'seq2vec' for k in SHAPES}\n_ = dict({",
            ),
        ),
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


@pytest.mark.parametrize(
    "name", ["01_architectures", "04_unrolling", "05_variable_length", "09_bptt"]
)
def test_the_harness_gives_the_reference_answers_full_marks(autograders, name):
    autograder = autograders / f"{name}.zip"
    cells = as_graded(autograder, student_cells(autograders / f"{name}.solution.ipynb"))
    scores = score(autograder, run_cells(cells, name))
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


@pytest.mark.parametrize(
    "wrong", WRONG + SELF_JUDGING, ids=lambda w: f"{w.exercise}-{w.question}-{w.what}"
)
def test_a_wrong_solution_loses_marks(autograders, wrong):
    solution = autograders / f"{wrong.exercise}.solution.ipynb"
    cells = _apply(student_cells(solution), wrong)[: cells_before_check(solution)[wrong.question]]
    preset = {"DATE_TABLE": _date_table()} if DATE_TABLE in wrong.cells.values() else {}
    autograder = autograders / f"{wrong.exercise}.zip"
    with restored():
        namespace = run_cells(as_graded(autograder, cells), wrong.exercise, preset)
        scores = score(autograder, namespace, (wrong.question,))
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
