import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rnnlab.train import History, fit, load_checkpoint, save_checkpoint


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
    history = fit(model, _loader(), _loader(False), epochs=30, optimizer=torch.optim.Adam(model.parameters(), 0.03),
                  progress=False, evaluate=lambda m: {"val_acc": 0.5})
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

    history = fit(model, _loader(), epochs=15, progress=False, evaluate=evaluate, patience=3, monitor="val_acc")
    assert history.stopped_early and len(history) == 5 and history.best_epoch == 2
    assert all(torch.equal(v, seen[2][k]) for k, v in model.state_dict().items())


def test_resumed_run_matches_uninterrupted_run(tmp_path):
    torch.manual_seed(123)
    full = _model()
    fit(full, _loader(), epochs=6, progress=False, optimizer=torch.optim.Adam(full.parameters(), 0.01))

    torch.manual_seed(123)
    part = _model()
    ckpt = tmp_path / "run.pt"
    fit(part, _loader(), epochs=3, progress=False, optimizer=torch.optim.Adam(part.parameters(), 0.01), checkpoint=ckpt)
    torch.manual_seed(999)  # whatever happens between sessions must not matter
    resumed = _model(seed=5)
    history = fit(resumed, _loader(), epochs=6, progress=False, optimizer=torch.optim.Adam(resumed.parameters(), 0.01),
                  checkpoint=ckpt, resume=True)
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
        load_checkpoint(good, nn.Sequential(nn.Linear(5, 8), nn.Dropout(), nn.ReLU(), nn.Linear(8, 2)))


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
