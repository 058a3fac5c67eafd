"""The train-once cache: a changed setting never loads a stale model, and a hit is what a fresh run
leaves."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import rnnlab.cache
import rnnlab.train
from rnnlab import train_cached
from rnnlab.cache import cache_key, source_hash, training_key
from rnnlab.data.numbers import number_pairs, number_vocabs
from rnnlab.data.parallel import encode_pairs, pair_loader
from rnnlab.data.sunspots import sunspot_windows
from rnnlab.data.vocab import char_tokens, word_tokens
from rnnlab.models.encoder_decoder import Seq2Seq
from rnnlab.models.forecast import SequenceRegressor, forecast, mae_by_horizon
from rnnlab.models.scheduled_sampling import TeacherForcing, inverse_sigmoid

X = torch.randn(32, 6, 1, generator=torch.Generator().manual_seed(0))
Y = X.cumsum(dim=1)
THRESHOLD = 0.5  # read by _evaluate_global: a global a learner's function reads is part of the key


def _loader(batch_size=8, shuffle=True, drop_last=False):
    return DataLoader(
        TensorDataset(X, Y), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last
    )


def _model(hidden_size=4):
    torch.manual_seed(0)
    return SequenceRegressor(1, 1, hidden_size=hidden_size)


def _scaled(k):
    return lambda m, batch: ((m(batch[0]) - batch[1]) ** 2).mean() * k


def _evaluate_global(m):
    return {"val_score": THRESHOLD}


def _call(**change):
    """A fit call's pieces; ``change`` replaces one (a value, or a function of the model for
    optimizers and schedulers)."""
    model = change.pop("model", None) or _model()
    args = {
        "train_loader": _loader(),
        "val_loader": None,
        "data": X,
        "seed": 0,
        "epochs": 2,
        "optimizer": lambda m: torch.optim.Adam(m.parameters(), lr=1e-2),
        "loss_fn": nn.MSELoss(),
    } | change
    for name in ("optimizer", "scheduler"):
        if callable(args.get(name)) and not isinstance(args[name], torch.optim.Optimizer):
            args[name] = args[name](model) if name == "optimizer" else args[name](args["optimizer"])
    return model, args


def _key(**change):
    model, args = _call(**change)
    return training_key("tiny", model, args.pop("train_loader"), args.pop("val_loader"), **args)


TRAINING_CHANGES = {
    "learning rate": dict(optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=2e-2)),
    "weight decay": dict(
        optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, weight_decay=0.01)
    ),
    "betas": dict(
        optimizer=lambda m: torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.8, 0.999))
    ),
    "optimizer class": dict(
        optimizer=lambda m: torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.0)
    ),
    "SGD": dict(optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=1e-2)),
    "parameters trained": dict(optimizer=lambda m: torch.optim.Adam(m.head.parameters(), lr=1e-2)),
    "one bias": dict(optimizer=lambda m: torch.optim.Adam([m.rnn.bias_ih_l0], lr=1e-2)),
    "another bias of the same shape": dict(
        optimizer=lambda m: torch.optim.Adam([m.rnn.bias_hh_l0], lr=1e-2)
    ),
    "epochs": dict(epochs=3),
    "loss": dict(loss_fn=nn.L1Loss()),
    "loss reduction": dict(loss_fn=nn.MSELoss(reduction="sum")),
    "batch_loss": dict(batch_loss=_scaled(1.0)),
    "batch_loss closure": dict(batch_loss=_scaled(2.0)),
    "evaluate": dict(evaluate=_evaluate_global),
    "clip_grad": dict(clip_grad=1.0),
    "patience": dict(patience=2),
    "monitor": dict(patience=2, monitor="train_loss"),
    "mode": dict(mode="max"),
    "scheduler": dict(scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1)),
    "scheduler setting": dict(
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    ),
    "on_epoch_start": dict(on_epoch_start=TeacherForcing(0.5).on_epoch_start),
    "batch size": dict(train_loader=_loader(batch_size=16)),
    "shuffle": dict(train_loader=_loader(shuffle=False)),
    "drop_last": dict(train_loader=_loader(drop_last=True)),
    "validation loader": dict(val_loader=_loader(shuffle=False)),
    "data": dict(data=X + 1),
    "seed": dict(seed=1),
}


def test_same_call_same_key_and_defaults_or_device_do_not_matter():
    assert _key() == _key()
    assert _key() == _key(
        clip_grad=None, patience=None, monitor="val_loss", device="cpu", progress=False
    )


@pytest.mark.parametrize("change", TRAINING_CHANGES, ids=list(TRAINING_CHANGES))
def test_changing_any_training_argument_changes_the_key(change):
    assert _key(**TRAINING_CHANGES[change]) != _key()


def test_all_training_changes_differ_from_one_another():
    keys = [_key(**c) for c in TRAINING_CHANGES.values()]
    assert len(set(keys)) == len(keys)


def test_a_global_read_by_the_learners_function_the_mode_torch_and_rnnlab_source_are_keyed(
    monkeypatch,
):
    before = _key(evaluate=_evaluate_global)
    monkeypatch.setattr(sys.modules[__name__], "THRESHOLD", 0.6)
    assert _key(evaluate=_evaluate_global) != before
    base = _key()
    monkeypatch.setenv("RNNLAB_QUICK", "0")
    assert _key() != base
    monkeypatch.setenv("RNNLAB_QUICK", "1")
    monkeypatch.setattr(torch, "__version__", "0.0.1")
    assert _key() != base
    monkeypatch.undo()
    monkeypatch.setattr(rnnlab.cache, "source_hash", lambda: "edited")
    assert _key() != base
    assert len(source_hash()) == 20 and source_hash() == source_hash.__wrapped__()


def test_an_attribute_name_is_not_a_global(monkeypatch):
    """``m.head`` reads no global ``head``: defining one later in the notebook must not turn a hit
    into a miss."""
    call = dict(batch_loss=lambda m, b: ((m.head(m.rnn(b[0])[0]) - b[1]) ** 2).mean())
    before = _key(**call)
    monkeypatch.setattr(sys.modules[__name__], "head", torch.ones(3), raising=False)
    assert _key(**call) == before


def test_starting_weights_and_model_settings_are_keyed():
    base = _key()
    torch.manual_seed(1)
    assert _key(model=SequenceRegressor(1, 1, hidden_size=4)) != base
    torch.manual_seed(0)
    # same weights, another setting
    assert _key(model=SequenceRegressor(1, 1, hidden_size=4, residual=True)) != base


def _hash_sensitive_key():
    return _key(
        batch_loss=lambda m, b: m(b[0]).sum() if "x" in {"x", "y", "z"} else 0,
        on_epoch_start=TeacherForcing(0.5).on_epoch_start,
        train_loader=_loader(shuffle=False),
    )


def test_key_is_the_same_in_another_process():
    """String hashing changes between processes; a key must not (else nothing would ever load after
    a restart)."""
    env = os.environ | {"PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where ``tests`` lies
    code = (
        f"import sys; sys.path.insert(0, {root!r}); import {__name__} as t; "
        "print(t._hash_sensitive_key())"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert there.stdout.strip() == _hash_sensitive_key()


def test_cache_key_keeps_its_meaning_and_now_sees_settings():
    torch.manual_seed(0)
    a = cache_key("x", SequenceRegressor(1, 2, residual=False), config={"lr": 1}, data=[1], seed=0)
    assert a == cache_key(
        "x", SequenceRegressor(1, 2, residual=False), config={"lr": 1}, data=[1], seed=0
    )
    assert a != cache_key(
        "x", SequenceRegressor(1, 2, residual=True), config={"lr": 1}, data=[1], seed=0
    )
    for change in (dict(config={"lr": 2}), dict(data=[2]), dict(seed=1)):
        assert a != cache_key(
            "x", SequenceRegressor(1, 2), **({"config": {"lr": 1}, "data": [1], "seed": 0} | change)
        )
    with pytest.raises(TypeError, match="config"):
        cache_key("x", SequenceRegressor(1, 2), config=[1], data=None, seed=0)
    with pytest.raises(ValueError, match="name"):
        cache_key("not a name", SequenceRegressor(1, 2), config={}, data=None, seed=0)


def _sunspot_run(cache_dir, parts):
    torch.manual_seed(0)
    model = SequenceRegressor(1, 12, hidden_size=8, every_step=True, residual=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    loaders = [
        DataLoader(
            TensorDataset(torch.from_numpy(p.x[:96]), torch.from_numpy(p.y[:96])),
            batch_size=32,
            shuffle=s,
        )
        for p, s in ((parts["train"], True), (parts["val"], False))
    ]
    history = train_cached(
        "sunspots_tiny",
        model,
        *loaders,
        data=parts["train"].x[:96],
        seed=0,
        epochs=3,
        optimizer=optimizer,
        scheduler=scheduler,
        loss_fn=nn.L1Loss(),
        patience=1,
        cache_dir=cache_dir,
        progress=False,
    )
    mae = mae_by_horizon(forecast(model, parts["test"].x[:64]), parts["test"].y[:64])
    model.train()  # forecast() switched to eval; compare the state fit left
    return (
        model,
        history,
        mae,
        optimizer,
        scheduler,
        torch.rand(4),
        np.random.rand(),
        model.training,
    )


def test_a_hit_reproduces_the_fresh_run_on_chapter_1_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    parts = sunspot_windows(60, 12, every_step=True)
    fresh = _sunspot_run(tmp_path, parts)
    assert "Loaded" not in capsys.readouterr().out
    hit = _sunspot_run(tmp_path, parts)
    assert "Loaded 'sunspots_tiny' from the cache" in capsys.readouterr().out
    assert len(list(tmp_path.glob("sunspots_tiny-*.pt"))) == 1 and not list(
        tmp_path.glob("*.partial.pt")
    )
    (model_a, history_a, mae_a, opt_a, sched_a, rand_a, np_a, training_a) = fresh
    (model_b, history_b, mae_b, opt_b, sched_b, rand_b, np_b, training_b) = hit
    assert history_a.epochs == history_b.epochs and history_a.best_epoch == history_b.best_epoch
    assert np.array_equal(mae_a, mae_b)
    assert all(torch.equal(v, model_b.state_dict()[k]) for k, v in model_a.state_dict().items())
    assert (
        str(opt_a.state_dict()) == str(opt_b.state_dict())
        and sched_a.state_dict() == sched_b.state_dict()
    )
    assert torch.equal(rand_a, rand_b) and np_a == np_b and training_a and training_b


def _numbers_run(cache_dir, retrain=False):
    src_vocab, tgt_vocab = number_vocabs()
    src, tgt = encode_pairs(
        number_pairs(48, max_digits=3, seed=0), src_vocab, tgt_vocab, char_tokens, word_tokens
    )
    loader = pair_loader(src, tgt, batch_size=16, shuffle=True, bucket=True)
    torch.manual_seed(0)
    model = Seq2Seq.build(
        len(src_vocab), len(tgt_vocab), embed_dim=8, hidden_size=8, attention=None
    )
    forcing = TeacherForcing(inverse_sigmoid(2))
    history = train_cached(
        "numbers_tiny",
        model,
        loader,
        data=src,
        seed=0,
        epochs=2,
        batch_loss=forcing.batch_loss,
        on_epoch_start=forcing.on_epoch_start,
        cache_dir=cache_dir,
        retrain=retrain,
        progress=False,
    )
    return (
        history,
        forcing.ratios,
        loader.batch_sampler.epoch,
        [p.clone() for p in model.parameters()],
    )


def test_a_hit_restores_schedules_and_the_samplers_pass_on_chapter_5_data(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    fresh, hit = _numbers_run(tmp_path), _numbers_run(tmp_path)
    assert "Loaded 'numbers_tiny'" in capsys.readouterr().out
    assert fresh[0].epochs == hit[0].epochs and fresh[1] == hit[1] == pytest.approx(
        [inverse_sigmoid(2)(e) for e in (1, 2)]
    )
    assert fresh[2] == hit[2] == 3 and all(
        torch.equal(a, b) for a, b in zip(fresh[3], hit[3], strict=True)
    )
    again = _numbers_run(tmp_path, retrain=True)
    assert (
        "Loaded" not in capsys.readouterr().out
        and again[0].epochs[-1]["train_loss"] == fresh[0].epochs[-1]["train_loss"]
    )


def test_an_interrupted_training_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", "1")

    def run(folder):
        model, args = _call(epochs=3)
        history = train_cached(
            "whole", model, args.pop("train_loader"), progress=False, cache_dir=folder, **args
        )
        return [r["train_loss"] for r in history.epochs], [p.clone() for p in model.parameters()]

    reference = run(tmp_path / "a")
    pin = rnnlab.train.pin_epoch

    def interrupted_at_3(loader, epoch):
        if epoch == 3:
            raise KeyboardInterrupt  # the learner stops the kernel during epoch 3
        pin(loader, epoch)

    monkeypatch.setattr(rnnlab.train, "pin_epoch", interrupted_at_3)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b")
    monkeypatch.setattr(rnnlab.train, "pin_epoch", pin)
    assert len(list((tmp_path / "b").glob("*.partial.pt"))) == 1
    np.random.rand(7), torch.rand(7)  # whatever ran in between must not matter
    # new objects, as after a restart: finishes from epoch 3
    assert run(tmp_path / "b")[0] == reference[0]
    assert all(torch.equal(a, b) for a, b in zip(run(tmp_path / "b")[1], reference[1], strict=True))


def test_unreadable_entry_is_retrained_and_cache_off_always_trains(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    model, args = _call()
    first = train_cached(
        "tiny", model, args.pop("train_loader"), progress=False, cache_dir=tmp_path, **args
    )
    (entry,) = tmp_path.glob("tiny-*.pt")
    entry.write_bytes(b"garbage")
    model, args = _call()
    again = train_cached(
        "tiny", model, args.pop("train_loader"), progress=False, cache_dir=tmp_path, **args
    )
    assert (
        "Ignoring unreadable cached model" in capsys.readouterr().out
        and again.epochs[0]["train_loss"] == first.epochs[0]["train_loss"]
    )
    monkeypatch.setenv("RNNLAB_CACHE", "0")
    model, args = _call()
    train_cached(
        "tiny", model, args.pop("train_loader"), progress=False, cache_dir=tmp_path / "off", **args
    )
    assert not (tmp_path / "off").exists() and "Loaded" not in capsys.readouterr().out


def test_bad_calls_fail_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    model, args = _call()
    loader = args.pop("train_loader")
    with pytest.raises(TypeError, match="checkpoint"):
        train_cached("tiny", model, loader, checkpoint=tmp_path / "x.pt", **args)
    with pytest.raises(TypeError, match="rnnlab.fit.*learning_rate"):
        train_cached("tiny", model, loader, learning_rate=3, **args)
    with pytest.raises(ValueError, match="name"):
        train_cached("my model", model, loader, **args)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="a_file"):
        train_cached("tiny", model, loader, cache_dir=blocker / "cache", **args)


def test_a_file_stored_for_another_key_is_not_loaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RNNLAB_CACHE", "1")
    model, args = _call()
    train_cached(
        "tiny", model, args.pop("train_loader"), progress=False, cache_dir=tmp_path, **args
    )
    (stored,) = tmp_path.glob("tiny-*.pt")
    key = _key(seed=1)
    model, args = _call(seed=1)
    (tmp_path / f"{key}.pt").write_bytes(stored.read_bytes())  # same shapes, another training
    history = train_cached(
        "tiny", model, args.pop("train_loader"), progress=False, cache_dir=tmp_path, **args
    )
    assert "it was stored for another training" in capsys.readouterr().out
    assert torch.load(tmp_path / f"{key}.pt", weights_only=True)["cache_key"] == key
    assert history.epochs


# Two processes run ROUNDS trainings on the same keys at once; each prints a digest of the weights
# it ends with, and whether it waited for the other.
_RACE = """
import hashlib, sys, torch
from torch.utils.data import DataLoader, TensorDataset
from rnnlab import train_cached
from rnnlab.models.forecast import SequenceRegressor
x = torch.randn(512, 30, 1, generator=torch.Generator().manual_seed(0))
loader = DataLoader(TensorDataset(x, x.cumsum(1)), batch_size=16)
for r in range(int(sys.argv[2])):
    torch.manual_seed(r)
    model = SequenceRegressor(1, 1, hidden_size=32)
    train_cached(f"race{r}", model, loader, data=x, seed=r, epochs=4, cache_dir=sys.argv[1],
                 progress=False)
    digest = hashlib.sha1(b"".join(p.detach().numpy().tobytes() for p in model.parameters()))
    print(f"round {r} {digest.hexdigest()}", flush=True)
"""


def test_two_runs_training_one_key_at_once_both_finish(tmp_path):
    rounds = 8
    env = {**os.environ, "RNNLAB_CACHE": "1", "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, str(tmp_path), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    digests = [
        [line for line in out.splitlines() if line.startswith("round")] for out, _ in outputs
    ]
    assert len(digests[0]) == rounds and digests[0] == digests[1]  # both ended on the same weights
    waited = sum(out.count("Another run is training") for out, _ in outputs)
    assert waited >= rounds // 2, "the two runs should have met on most keys"
    assert len(list(tmp_path.glob("race*-*.pt"))) == rounds
    assert not list(tmp_path.glob("*.partial.pt")) and not list(tmp_path.glob(".*.tmp"))
