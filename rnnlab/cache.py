"""Train once, reload on every later run: a model cache keyed by everything that shapes the result.

Learners restart kernels often; a chapter that trained a model a minute ago should not train it
again. `train_cached` is the one entry point every chapter trains through. Its key covers

- the model: its class, its recorded constructor settings (`rnnlab.models.settings`), its parameter
  names, shapes and dtypes, and its starting weights;
- every argument of the `rnnlab.fit` call: optimizer class and hyperparameters (per parameter
  group), epochs, loss, ``batch_loss`` / ``evaluate`` / ``on_epoch_start`` (their code, closures and
  the values they read), clipping, early stopping, the scheduler's class and state, ...;
- the loaders' batch size, sampler and collate settings (or a stream's settings);
- a fingerprint of the data (``data=``), the seed, the quick/full mode, the torch version and a hash
  of rnnlab's own source files,

so a changed setting never loads a stale model. A hit is `rnnlab.fit` resuming a finished run from
its last checkpoint: the model ends on the requested device, in train mode, with the weights,
optimizer and scheduler state, random-number state and epoch-by-epoch side effects
(``on_epoch_start`` schedules, the loader's pass) that a fresh run leaves. An interrupted training
resumes where it stopped on the next call.

Only ``device`` and ``progress`` stay out of the key: where a model trains changes nothing but
floating-point rounding, and a progress bar changes nothing at all.

(Over 400 lines: the key, the store and the resume are one contract, since what goes into the key
decides what a stored file may be loaded for, so they are kept in one place.)
"""

from __future__ import annotations

import contextlib
import dis
import fcntl
import functools
import hashlib
import inspect
import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import CHECKPOINT_FORMAT, check_writable, write_atomically
from .checks import check_bool, check_str
from .config import cache_enabled, is_quick, seed_everything
from .history import History
from .train import fit

__all__ = [
    "cache_key",
    "default_cache_dir",
    "describe",
    "fingerprint",
    "source_hash",
    "train_cached",
    "training_key",
]

_NOT_KEYED = ("device", "progress")  # change nothing a run learns
_MANAGED = ("checkpoint", "resume")  # train_cached's own checkpoint does this
_MAX_DEPTH = 6


def default_cache_dir() -> Path:
    """``RNNLAB_CACHE_DIR`` if set, else ``~/.cache/rnnlab``."""
    return Path(os.environ.get("RNNLAB_CACHE_DIR") or Path.home() / ".cache" / "rnnlab")


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        digest.update(f"array{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, dict):
        for key in sorted(value, key=str):
            digest.update(f"key:{key}".encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"seq{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(json.dumps(value, default=repr).encode())


def fingerprint(*parts: Any) -> str:
    """A short stable hash of nested data (tensors, arrays, lists, dicts, strings, numbers)."""
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return digest.hexdigest()[:20]


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """A hash of every ``.py`` file of the installed rnnlab package: a change to rnnlab's code is a
    new key."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def _qualified(obj: Any) -> str:
    return (
        f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"
    )


def _is_library(module_name: str | None) -> bool:
    """Code whose source the key already covers (rnnlab's own hash, the torch version) or that never
    changes under a learner."""
    if not module_name or module_name == "__main__":
        return False
    top = module_name.split(".")[0]
    if top == "rnnlab" or top in sys.stdlib_module_names:
        return True
    file = getattr(sys.modules.get(module_name), "__file__", None) or ""
    return "site-packages" in file or "dist-packages" in file


def _const(value: Any) -> Any:
    """A code constant as stable data (a frozenset's repr follows string hashing, which changes
    between runs)."""
    if isinstance(value, types.CodeType):
        return _code(value)
    if isinstance(value, frozenset):
        return sorted(repr(v) for v in value)
    if isinstance(value, tuple):
        return [_const(v) for v in value]
    return repr(value)


def _code(code: types.CodeType) -> dict[str, Any]:
    """What a code object does (bytecode, constants, names), not where it sits: moving a cell keeps
    its key."""
    return {
        "bytecode": code.co_code.hex(),
        "consts": [_const(c) for c in code.co_consts],
        "names": list(code.co_names),
    }


def _global_names(code: types.CodeType) -> list[str]:
    """The global names a function (and the functions nested in it) reads; attribute names such as
    ``m.loss`` are not globals."""
    names = [
        i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")
    ]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_global_names(const))
    return names


class _Describer:
    """Turns any training argument into plain, hashable data that is the same on every run of the
    same notebook.

    Never falls back to a default ``repr`` (it holds a memory address, new on every run).
    """

    def __init__(self, parameter_names: dict[int, str] | None = None) -> None:
        self.seen: set[int] = set()
        # id(parameter) -> its name in the trained model
        self.parameter_names = parameter_names or {}

    def __call__(self, value: Any, depth: int = 0) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, (torch.Tensor, np.ndarray)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, (torch.device, torch.dtype, bytes)):
            return repr(value)
        if isinstance(value, (type, types.ModuleType)):
            module = getattr(value, "__module__", "")
            qualname = getattr(value, "__qualname__", value.__name__)
            return f"<{type(value).__name__} {module}.{qualname}>"
        container = isinstance(value, (list, tuple, set, frozenset, dict))
        # plain data is kept whole; only object graphs are cut off
        if depth > _MAX_DEPTH and not container:
            return f"<{_qualified(type(value))} at depth>"
        if id(value) in self.seen:
            return f"<{_qualified(type(value))} seen before>"
        self.seen.add(id(value))
        try:
            return self._container(value, depth) if container else self._compound(value, depth + 1)
        finally:
            self.seen.discard(id(value))

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, (list, tuple)):
            return {"type": type(value).__name__, "items": [self(v, depth) for v in value]}
        if isinstance(value, (set, frozenset)):
            return {
                "type": "set",
                "items": sorted(
                    json.dumps(self(v, depth), default=repr, sort_keys=True) for v in value
                ),
            }
        return {
            "type": "dict",
            "items": [[self(k, depth), self(v, depth)] for k, v in value.items()],
        }

    def _compound(self, value: Any, depth: int) -> Any:
        if isinstance(value, torch.Generator):
            return {"generator": value.get_state()}
        if isinstance(value, torch.optim.Optimizer):
            return self._optimizer(value, depth)
        if isinstance(value, nn.Module):
            return self._module(value, depth)
        if isinstance(value, functools.partial):
            return {
                "partial": self(value.func, depth),
                "args": self(value.args, depth),
                "keywords": self(value.keywords, depth),
            }
        if inspect.ismethod(value):
            return {"method": self(value.__func__, depth), "of": self(value.__self__, depth)}
        if isinstance(value, types.FunctionType):
            return self._function(value, depth)
        if callable(value) and not hasattr(value, "__dict__"):  # builtins, C functions
            return f"<callable {_qualified(value)}>"
        return self._object(value, depth)

    def _function(self, fn: types.FunctionType, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "function": _qualified(fn),
            "defaults": self(fn.__defaults__, depth),
            "kwdefaults": self(fn.__kwdefaults__, depth),
        }
        if fn.__closure__:
            out["closure"] = {
                name: self(_cell(cell), depth)
                for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=True)
            }
        # a learner's own function: its code and the globals it reads
        if not _is_library(fn.__module__):
            out["code"] = _code(fn.__code__)
            names = dict.fromkeys(n for n in _global_names(fn.__code__) if n in fn.__globals__)
            out["globals"] = {n: self(fn.__globals__[n], depth) for n in names}
        return out

    def _module(self, module: nn.Module, depth: int) -> dict[str, Any]:
        return {
            "module": _qualified(type(module)),
            "settings": self(getattr(module, "settings", None), depth),
            "repr": None if hasattr(module, "settings") else repr(module),
            "attributes": self(_public_state(module), depth),
            "weights": fingerprint(module.state_dict()),
        }

    def _optimizer(self, optimizer: torch.optim.Optimizer, depth: int) -> dict[str, Any]:
        groups = [
            {k: self(v, depth) for k, v in group.items() if k != "params"}
            | {"params": [self.parameter_names.get(id(p), tuple(p.shape)) for p in group["params"]]}
            for group in optimizer.param_groups
        ]
        return {
            "optimizer": _qualified(type(optimizer)),
            "defaults": self(optimizer.defaults, depth),
            "groups": groups,
            "state": fingerprint(optimizer.state_dict()["state"]),
        }

    def _object(self, value: Any, depth: int) -> dict[str, Any]:
        state = vars(value) if hasattr(value, "__dict__") else {}
        # fit pins its epoch: the counter's current value changes nothing
        if callable(getattr(value, "set_epoch", None)):
            state = {k: v for k, v in state.items() if k != "epoch"}
        state = {k: v for k, v in state.items() if k not in ("optimizer", "dataset", "data_source")}
        if isinstance(value, torch.utils.data.DataLoader):
            kept = (
                "batch_size",
                "drop_last",
                "sampler",
                "batch_sampler",
                "collate_fn",
                "generator",
            )
            state = {k: v for k, v in state.items() if k in kept}
            state["dataset"] = {
                "type": _qualified(type(value.dataset)),
                "size": _size(value.dataset),
            }
        return {
            "object": _qualified(type(value)),
            "state": {k: self(v, depth) for k, v in state.items()},
        }


def _public_state(module: nn.Module) -> dict[str, Any]:
    """Plain settings a module keeps as attributes (a loss's ``reduction``, ``ignore_index``,
    ...)."""
    return {
        k: v
        for k, v in vars(module).items()
        if not k.startswith("_")
        and k not in ("training", "settings")
        and isinstance(v, (bool, int, float, str, type(None)))
    }


def _size(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return "<empty cell>"


def describe(value: Any, model: nn.Module | None = None) -> Any:
    """A plain, hashable description of ``value`` (an optimizer, a loss, a function, a loader, ...)
    for cache keys.

    Functions are described by their qualified name, closure and defaults, and (when defined outside
    rnnlab and installed libraries, e.g. in a notebook) their bytecode and the globals they read;
    objects by their class and attributes; modules by their settings and weights; an optimizer by
    its class, hyperparameters and which of ``model``'s parameters each group trains.
    """
    names = {id(p): name for name, p in model.named_parameters()} if model is not None else None
    return _Describer(names)(value)


def _model_description(model: nn.Module) -> dict[str, Any]:
    structure = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    settings = getattr(model, "settings", None)
    return {
        "class": _qualified(type(model)),
        "settings": describe(settings),
        "repr": repr(model) if settings is None else None,
        "structure": structure,
    }


def cache_key(name: str, model: nn.Module, *, config: dict[str, Any], data: Any, seed: int) -> str:
    """The file stem a trained model is stored under.

    It hashes the model's class, recorded settings and parameter shapes, ``config`` (any further
    settings), a fingerprint of ``data``, ``seed``, the run mode, the torch version and rnnlab's
    source.
    """
    _check_name(name)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict of settings, got {type(config).__name__}")
    mode = "quick" if is_quick() else "full"
    parts = (
        _model_description(model),
        describe(config),
        data,
        seed,
        mode,
        torch.__version__,
        source_hash(),
    )
    return f"{name}-{fingerprint(*parts)}"


def _fit_arguments(
    model: nn.Module, train_loader: Any, val_loader: Any, fit_kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Every argument of the `fit` call (defaults filled in, so spelling out a default keeps the
    key)."""
    managed = sorted(set(fit_kwargs) & set(_MANAGED))
    if managed:
        raise TypeError(
            "train_cached keeps its own checkpoint and resumes by itself; drop "
            f"{', '.join(managed)}"
        )
    try:
        bound = inspect.signature(fit).bind(model, train_loader, val_loader, **fit_kwargs)
    except TypeError as err:
        raise TypeError(f"train_cached passes its keyword arguments to rnnlab.fit: {err}") from err
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k not in ("model", *_NOT_KEYED, *_MANAGED)}


def training_key(
    name: str,
    model: nn.Module,
    train_loader: Any,
    val_loader: Any = None,
    *,
    data: Any,
    seed: int,
    **fit_kwargs: Any,
) -> str:
    """The key `train_cached` stores this training under: the model (settings, shapes, starting
    weights), every fit argument and loader setting, ``data``, ``seed``, the mode, the torch version
    and rnnlab's source."""
    arguments = describe(_fit_arguments(model, train_loader, val_loader, fit_kwargs), model)
    config = {"fit": arguments, "start": fingerprint(model.state_dict())}
    return cache_key(name, model, config=config, data=data, seed=seed)


def _check_name(name: Any) -> None:
    if not check_str("name", name).isidentifier():
        raise ValueError(f"name must be a short identifier such as 'dates_attention', got {name!r}")


def _payload(path: Path) -> dict[str, Any] | None:
    """A checkpoint file's contents (weights only, no code runs), or None when it is not one."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    ok = isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT
    return payload if ok else None


@contextlib.contextmanager
def _one_trainer(lock: Path, name: str) -> Iterator[None]:
    """Hold ``lock`` (an advisory ``flock``, released when the process ends, however it ends) so
    that one process at a time trains or reads a key: a second run of the same training waits,
    then loads what the first stored. The empty lock file stays: removing it could let a third
    process lock a file the second no longer sees."""
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Another run is training '{name}' into this cache; waiting for it to finish.")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _store(partial: Path, path: Path, key: str) -> None:
    """The finished run in ``partial`` stored under ``path`` with its key inside, compared on every
    load (a file renamed or copied into place is not loaded for another training)."""
    payload = _payload(partial)
    assert payload is not None, "fit has just written this checkpoint"
    write_atomically(path, {**payload, "cache_key": key})
    partial.unlink()


def _load_stored(
    path: Path, key: str, name: str, model: nn.Module, *fit_args: Any, **fit_kwargs: Any
) -> History | None:
    """The stored run loaded as a fresh run would end, or None (with the reason printed) when the
    file is unreadable or was stored for another key."""
    payload = _payload(path)
    if payload is None:
        print(f"Ignoring unreadable cached model {path}; training again.")
        return None
    if payload.get("cache_key") != key:
        print(f"Ignoring cached model {path}: it was stored for another training; training again.")
        return None
    try:
        history = fit(
            model, *fit_args, **{**fit_kwargs, "progress": False}, checkpoint=path, resume=True
        )
    except ValueError as err:
        print(f"Ignoring unreadable cached model {path} ({err}); training again.")
        return None
    print(
        f"Loaded '{name}' from the cache ({path.name}); pass retrain=True or set "
        "RNNLAB_CACHE=0 to train again."
    )
    return history


def train_cached(
    name: str,
    model: nn.Module,
    train_loader: Any,
    val_loader: Any = None,
    *,
    data: Any,
    seed: int,
    retrain: bool = False,
    cache_dir: str | Path | None = None,
    **fit_kwargs: Any,
) -> History:
    """Train ``model`` with ``rnnlab.fit(model, train_loader, val_loader, **fit_kwargs)`` unless
    this exact training is cached.

    ``data`` is a fingerprintable view of the training data (tensors, arrays, a list of strings);
    ``seed`` seeds Python, NumPy and torch right before training. The key (see `training_key`)
    covers everything else by itself: no settings to copy by hand. With the cache on
    (``RNNLAB_CACHE``, on by default) a stored run loads as a fresh run would end; otherwise, or
    with ``retrain=True``, it trains and stores the result. A cache folder that cannot be written
    fails before the first epoch. Two processes training the same key at once (two notebooks, two
    test workers) take turns: the second waits for the first and loads its result.
    """
    _check_name(name)
    check_bool("retrain", retrain)
    key = training_key(name, model, train_loader, val_loader, data=data, seed=seed, **fit_kwargs)
    if not cache_enabled():
        seed_everything(seed)
        return fit(model, train_loader, val_loader, **fit_kwargs)
    folder = check_writable(
        Path(cache_dir) if cache_dir is not None else default_cache_dir(), "cached models"
    )
    path, partial = folder / f"{key}.pt", folder / f"{key}.partial.pt"
    with _one_trainer(folder / f"{key}.lock", name):
        if path.is_file() and not retrain:
            history = _load_stored(path, key, name, model, train_loader, val_loader, **fit_kwargs)
            if history is not None:
                return history
        if partial.is_file() and (retrain or _payload(partial) is None):
            partial.unlink()
        seed_everything(seed)
        history = fit(
            model, train_loader, val_loader, **fit_kwargs, checkpoint=partial, resume=True
        )
        _store(partial, path, key)
    return history
