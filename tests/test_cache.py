import torch
from torch import nn

from rnnlab.cache import train_once
from rnnlab.train import History


def _trainer(model, calls):
    def train():
        calls.append(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        return History(epochs=[{"epoch": 1.0, "train_loss": 0.5}])

    return train


def test_second_run_loads_instead_of_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    calls = []
    torch.manual_seed(0)
    first = nn.Linear(3, 2)
    h1 = train_once("tiny", first, _trainer(first, calls), config={"lr": 1}, data=[1, 2], seed=0, cache_dir=tmp_path)
    torch.manual_seed(0)
    second = nn.Linear(3, 2)
    h2 = train_once("tiny", second, _trainer(second, calls), config={"lr": 1}, data=[1, 2], seed=0, cache_dir=tmp_path)
    assert len(calls) == 1
    assert h2.epochs == h1.epochs
    assert torch.equal(first.weight, second.weight)
    assert "Loaded 'tiny' from the cache" in capsys.readouterr().out


def test_changed_configuration_never_loads_stale_model(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    calls = []
    model = nn.Linear(3, 2)
    train_once("tiny", model, _trainer(model, calls), config={"lr": 1}, data=[1, 2], seed=0, cache_dir=tmp_path)
    for change in [dict(config={"lr": 2}), dict(data=[1, 3]), dict(seed=1)]:
        kwargs = dict(config={"lr": 1}, data=[1, 2], seed=0) | change
        train_once("tiny", model, _trainer(model, calls), cache_dir=tmp_path, **kwargs)
    wider = nn.Linear(3, 4)
    train_once("tiny", wider, _trainer(wider, calls), config={"lr": 1}, data=[1, 2], seed=0, cache_dir=tmp_path)
    monkeypatch.setenv("RNNLAB_QUICK", "0")
    train_once("tiny", model, _trainer(model, calls), config={"lr": 1}, data=[1, 2], seed=0, cache_dir=tmp_path)
    assert len(calls) == 6


def test_cache_off_and_retrain_always_train(tmp_path, monkeypatch):
    calls = []
    model = nn.Linear(3, 2)
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    train_once("tiny", model, _trainer(model, calls), config={}, data=None, seed=0, cache_dir=tmp_path)
    train_once("tiny", model, _trainer(model, calls), config={}, data=None, seed=0, cache_dir=tmp_path, retrain=True)
    monkeypatch.setenv("RNNLAB_CACHE", "0")
    train_once("tiny", model, _trainer(model, calls), config={}, data=None, seed=0, cache_dir=tmp_path)
    assert len(calls) == 3


def test_corrupted_cache_entry_is_retrained(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    calls = []
    model = nn.Linear(3, 2)
    train_once("tiny", model, _trainer(model, calls), config={}, data=None, seed=0, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("tiny-*.pt")
    entry.write_bytes(b"garbage")
    train_once("tiny", model, _trainer(model, calls), config={}, data=None, seed=0, cache_dir=tmp_path)
    assert len(calls) == 2 and "Ignoring unreadable cached model" in capsys.readouterr().out
