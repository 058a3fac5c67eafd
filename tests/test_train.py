import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnnlab.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.train import History, fit


def _problem(seed=0, n=64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorDataset(x, y)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Dropout(0.2), nn.ReLU(), nn.Linear(16, 2))


def _loader(shuffle=True):
    return DataLoader(_problem(), batch_size=16, shuffle=shuffle)


def test_fit_learns_and_records_history():
    model = _model()
    history = fit(
        model,
        _loader(),
        _loader(False),
        epochs=30,
        optimizer=torch.optim.Adam(model.parameters(), 0.03),
        progress=False,
        evaluate=lambda m: {"val_acc": 0.5},
    )
    assert isinstance(history, History) and len(history) == 30
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert set(history.last) >= {"epoch", "train_loss", "val_loss", "val_acc", "seconds"}
    with pytest.raises(KeyError, match="recorded"):
        history["bleu"]


def test_early_stopping_restores_best_weights():
    model = _model()
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0] + [0.0] * 10)
    seen = {}

    def evaluate(m):
        seen[len(seen) + 1] = {k: v.clone() for k, v in m.state_dict().items()}
        return {"val_acc": next(scores)}

    history = fit(
        model,
        _loader(),
        epochs=15,
        progress=False,
        evaluate=evaluate,
        patience=3,
        monitor="val_acc",
    )
    assert history.stopped_early and len(history) == 5 and history.best_epoch == 2
    assert all(torch.equal(v, seen[2][k]) for k, v in model.state_dict().items())


def test_resumed_run_matches_uninterrupted_run(tmp_path):
    torch.manual_seed(123)
    full = _model()
    fit(
        full,
        _loader(),
        epochs=6,
        progress=False,
        optimizer=torch.optim.Adam(full.parameters(), 0.01),
    )

    torch.manual_seed(123)
    part = _model()
    ckpt = tmp_path / "run.pt"
    fit(
        part,
        _loader(),
        epochs=3,
        progress=False,
        optimizer=torch.optim.Adam(part.parameters(), 0.01),
        checkpoint=ckpt,
    )
    torch.manual_seed(999)  # whatever happens between sessions must not matter
    resumed = _model(seed=5)
    history = fit(
        resumed,
        _loader(),
        epochs=6,
        progress=False,
        optimizer=torch.optim.Adam(resumed.parameters(), 0.01),
        checkpoint=ckpt,
        resume=True,
    )
    assert len(history) == 6
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_fit_rejects_bad_arguments():
    with pytest.raises(ValueError, match="epochs"):
        fit(_model(), _loader(), epochs=0, progress=False)
    with pytest.raises(TypeError, match="model"):
        fit("model", _loader(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="train_loader is empty"):
        fit(_model(), [], epochs=1, progress=False)
    with pytest.raises(ValueError, match="clip_grad"):
        fit(_model(), _loader(), epochs=1, clip_grad=-1, progress=False)
    with pytest.raises(KeyError, match="monitor='val_bleu'"):
        fit(_model(), _loader(), epochs=2, patience=1, monitor="val_bleu", progress=False)
    with pytest.raises(TypeError, match="batch must be a tuple"):
        fit(_model(), [torch.zeros(2, 5)], epochs=1, progress=False)


def test_checkpoint_round_trip(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "m.pt", model, opt, epoch=4, note="hi")
    other = _model(seed=1)
    state = load_checkpoint(tmp_path / "m.pt", other, torch.optim.Adam(other.parameters()))
    assert state == {"epoch": 4, "note": "hi"}
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in model.state_dict().items())
    assert not list(tmp_path.glob("*.tmp"))


def test_load_checkpoint_errors(tmp_path):
    model = _model()
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt", model)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(ValueError, match="not a readable rnnlab checkpoint"):
        load_checkpoint(garbage, model)
    good = save_checkpoint(tmp_path / "good.pt", model)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a readable rnnlab checkpoint"):
        load_checkpoint(truncated, model)
    foreign = tmp_path / "foreign.pt"
    torch.save(model.state_dict(), foreign)
    with pytest.raises(ValueError, match="not written by rnnlab"):
        load_checkpoint(foreign, model)
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(good, nn.Linear(5, 2))
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(
            good, nn.Sequential(nn.Linear(5, 8), nn.Dropout(), nn.ReLU(), nn.Linear(8, 2))
        )


def test_to_device_keeps_the_structure_and_non_tensor_leaves():
    from collections import namedtuple

    from rnnlab.models.decoding import map_state
    from rnnlab.train import to_device

    Pair = namedtuple("Pair", "x y")
    batch = {"a": (torch.ones(2), ["id-7", 3]), "b": Pair(torch.zeros(1, dtype=torch.long), None)}
    moved = to_device(batch, torch.device("cpu"))
    assert isinstance(moved["b"], Pair) and moved["a"][1] == ["id-7", 3] and moved["b"].y is None
    assert torch.equal(moved["a"][0], batch["a"][0])
    with pytest.raises(TypeError, match="state must be a tensor"):
        map_state({"h": torch.ones(1), "name": "x"}, lambda t: t)


def _counting(calls):
    def batch_loss(model, batch):
        calls.append(1)
        return nn.functional.cross_entropy(model(batch[0]), batch[1])

    return batch_loss


def test_rerunning_a_finished_early_stopped_run_returns_at_once_with_its_best_weights(tmp_path):
    scores = iter([0.5, 0.9, 0.4, 0.3])
    ckpt, calls = tmp_path / "run.pt", []
    model = _model()
    first = fit(
        model,
        _loader(),
        epochs=10,
        patience=2,
        monitor="val_acc",
        evaluate=lambda m: {"val_acc": next(scores)},
        checkpoint=ckpt,
        progress=False,
        batch_loss=_counting(calls),
    )
    assert first.stopped_early and len(first) == 4 and first.best_epoch == 2
    again = _model(seed=3)
    history = fit(
        again,
        _loader(),
        epochs=10,
        patience=2,
        monitor="val_acc",
        evaluate=lambda m: {"val_acc": 0.0},
        checkpoint=ckpt,
        resume=True,
        progress=False,
        batch_loss=_counting(calls := []),
    )
    assert calls == [] and history.epochs == first.epochs and history.stopped_early
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    assert again.training  # fit always leaves the model in train mode


def test_fit_pins_the_loaders_epoch_so_earlier_passes_do_not_matter():
    class Stream:
        def __init__(self):
            self.epoch = 0
            self.served = []

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __len__(self):
            return 1

        def __iter__(self):
            self.served.append(self.epoch)
            self.epoch += 1
            yield _problem(seed=self.epoch, n=8).tensors

    stream = Stream()
    for _ in range(2):
        fit(_model(), stream, epochs=3, progress=False)
    assert stream.served == [1, 2, 3, 1, 2, 3] and stream.epoch == 4


@settings(max_examples=15, deadline=None)
@given(shape=st.sampled_from([(16, 2), (8, 2), (16, 3)]), extra_layer=st.booleans())
def test_a_refused_load_leaves_model_and_optimizer_unchanged(shape, extra_layer, tmp_path_factory):
    hidden, classes = shape
    torch.manual_seed(1)
    layers = [nn.Linear(5, hidden), nn.Dropout(0.2), nn.ReLU(), nn.Linear(hidden, classes)] + (
        [nn.Linear(2, 2)] if extra_layer else []
    )
    other = nn.Sequential(*layers)
    path = save_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "other.pt", other, torch.optim.Adam(other.parameters())
    )
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    fit(model, _loader(), epochs=1, optimizer=optimizer, progress=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt_before = str(optimizer.state_dict())
    if (hidden, classes, extra_layer) == (16, 2, False):
        load_checkpoint(path, model, optimizer)  # fits: loads
        return
    with pytest.raises(ValueError, match="does not fit this model"):
        load_checkpoint(path, model, optimizer)
    assert (
        all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
        and str(optimizer.state_dict()) == opt_before
    )


def test_the_optimizer_class_is_stored_and_checked(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "m.pt", model, torch.optim.Adam(model.parameters()))
    target = _model(seed=2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match="Adam optimizer, not of the torch.optim.sgd.SGD"):
        load_checkpoint(path, target, torch.optim.SGD(target.parameters(), lr=0.1))
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in before.items())


def test_an_unwritable_checkpoint_folder_fails_before_the_first_epoch(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    calls = []
    with pytest.raises(PermissionError, match="not_a_folder"):
        fit(
            _model(),
            _loader(),
            epochs=2,
            checkpoint=blocker / "run.pt",
            batch_loss=_counting(calls),
            progress=False,
        )
    assert calls == []


def test_min_delta_counts_crumbs_as_no_improvement():
    # val_acc creeps up by 0.001 per epoch after epoch 2: with min_delta=0.01 that is a plateau
    # (stop after patience=2 such epochs) yet the best epoch kept is the last crumb; with the
    # default 0 every crumb is an improvement and the cap stops it.
    def scores():
        return iter([0.5, 0.9, 0.901, 0.902, 0.903, 0.904, 0.905])

    crumbs = scores()
    history = fit(
        _model(),
        _loader(),
        epochs=7,
        patience=2,
        min_delta=0.01,
        monitor="val_acc",
        evaluate=lambda m: {"val_acc": next(crumbs)},
        progress=False,
    )
    assert history.stopped_early and len(history) == 4 and history.best_epoch == 4
    crumbs = scores()
    history = fit(
        _model(),
        _loader(),
        epochs=7,
        patience=2,
        monitor="val_acc",
        evaluate=lambda m: {"val_acc": next(crumbs)},
        progress=False,
    )
    assert not history.stopped_early and len(history) == 7 and history.best_epoch == 7


def test_patience_counts_from_the_last_step_larger_than_min_delta():
    # 0.5 → 0.9 is a step; 0.905 and 0.908 are crumbs (waited 1, 2 → stop) unless patience=3, when
    # 0.915 is 0.015 beyond 0.9: a step, so patience starts again and the run goes to the cap.
    values = [0.5, 0.9, 0.905, 0.908, 0.915, 0.916, 0.917]
    for patience, epochs in [(2, 4), (3, 7)]:
        crumbs = iter(values)
        history = fit(
            _model(),
            _loader(),
            epochs=7,
            patience=patience,
            min_delta=0.01,
            monitor="val_acc",
            evaluate=lambda m, c=crumbs: {"val_acc": next(c)},
            progress=False,
        )
        assert len(history) == epochs and history.stopped_early == (epochs < 7)


@pytest.mark.parametrize(
    ("min_delta", "error"),
    [
        (-0.1, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        ("0.1", TypeError),
        (True, TypeError),
    ],
)
def test_min_delta_must_be_a_finite_non_negative_number(min_delta, error):
    with pytest.raises(error, match="min_delta"):
        fit(_model(), _loader(), epochs=1, patience=1, min_delta=min_delta, progress=False)


def test_a_resumed_run_keeps_the_min_delta_reference_and_stops_where_an_uninterrupted_one_does(
    tmp_path,
):
    # After epoch 3 the best is 0.905, but patience counts from 0.9 (the last step above 0.01):
    # epoch 4's 0.915 is such a step. A resume that forgot the reference would stop at epoch 4.
    scores = [0.5, 0.9, 0.905, 0.915, 0.916, 0.917, 0.918]

    def run(epochs, **kwargs):
        epoch = {}
        return fit(
            _model(),
            _loader(),
            epochs=epochs,
            patience=2,
            min_delta=0.01,
            monitor="val_acc",
            on_epoch_start=lambda e: epoch.update(now=e),
            evaluate=lambda m: {"val_acc": scores[epoch["now"] - 1]},
            progress=False,
            **kwargs,
        )

    whole = run(7)
    assert whole.stopped_early and len(whole) == 6 and whole.best_epoch == 6
    ckpt = tmp_path / "run.pt"
    run(3, checkpoint=ckpt)
    resumed = run(7, checkpoint=ckpt, resume=True)
    assert [row["val_acc"] for row in resumed.epochs] == [row["val_acc"] for row in whole.epochs]
    assert resumed.stopped_early and resumed.best_epoch == 6


def test_a_learners_callback_sees_every_event_and_can_end_the_run():
    from rnnlab.callbacks import Callback

    events = []

    class StopAtThree(Callback):
        def on_epoch_start(self, epoch):
            events.append(("start", epoch))

        def on_epoch_end(self, run):
            events.append(("end", run.epoch, sorted(run.history.last)))
            if run.epoch == 3:
                run.history.stopped_early = True

        def on_train_end(self, run):
            events.append(("done", len(run.history)))

    history = fit(
        _model(), _loader(), _loader(False), epochs=10, callbacks=[StopAtThree()], progress=False
    )
    keys = ["epoch", "seconds", "train_loss", "val_loss"]
    assert events == [
        *[e for n in (1, 2, 3) for e in (("start", n), ("end", n, keys))],
        ("done", 3),
    ]
    assert len(history) == 3 and history.stopped_early


def test_an_early_stopping_callback_is_what_patience_turns_on():
    from rnnlab.callbacks import EarlyStopping

    def run(**kwargs):
        scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0] + [0.0] * 10)
        model = _model()
        history = fit(
            model,
            _loader(),
            epochs=15,
            progress=False,
            evaluate=lambda m: {"val_acc": next(scores)},
            **kwargs,
        )
        return history, model

    (a, model_a), (b, model_b) = (
        run(patience=3, monitor="val_acc"),
        run(callbacks=[EarlyStopping(3, monitor="val_acc")]),
    )
    assert [r["train_loss"] for r in a.epochs] == [r["train_loss"] for r in b.epochs]
    assert (a.best_epoch, b.best_epoch, len(a), len(b)) == (2, 2, 5, 5)
    assert all(torch.equal(v, model_b.state_dict()[k]) for k, v in model_a.state_dict().items())
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(0)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(2, mode="up")
    with pytest.raises(ValueError, match="mode"):
        fit(_model(), _loader(), epochs=1, mode="up", progress=False)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        fit(_model(), _loader(), epochs=1, resume=True, progress=False)


def test_a_resume_replays_the_finished_epochs_start_events(tmp_path):
    from rnnlab.callbacks import Callback

    class Seen(Callback):
        def __init__(self):
            self.starts = []

        def on_epoch_start(self, epoch):
            self.starts.append(epoch)

    fit(_model(), _loader(), epochs=2, checkpoint=tmp_path / "r.pt", progress=False)
    seen = Seen()
    fit(
        _model(),
        _loader(),
        epochs=4,
        checkpoint=tmp_path / "r.pt",
        resume=True,
        callbacks=[seen],
        progress=False,
    )
    assert seen.starts == [1, 2, 3, 4]


def test_fit_reads_in_one_screen():
    import ast
    import inspect

    import rnnlab.train

    (node,) = [
        n
        for n in ast.parse(inspect.getsource(rnnlab.train)).body
        if isinstance(n, ast.FunctionDef) and n.name == "fit"
    ]
    body = node.body[1:]  # after the docstring
    assert isinstance(node.body[0].value, ast.Constant)
    assert body[-1].end_lineno - body[0].lineno + 1 <= 40
