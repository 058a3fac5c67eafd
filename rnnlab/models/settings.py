"""Models that remember how they were built: ``model.settings`` holds the constructor's arguments.

Every rnnlab model mixes in `RecordsSettings`. When the model's ``__init__`` returns, the arguments
it was called with (defaults filled in) are stored in ``model.settings``, so
``type(model)(**model.settings)`` builds the same architecture again, ``repr(model)`` shows them,
and the train-once cache (`rnnlab.cache`) keys a trained model by them: flip any constructor
argument and the key changes.

One mechanism for all models, and nothing to write per model: ``__init_subclass__`` wraps each
subclass's own ``__init__``. Only the outermost constructor records (a subclass that calls
``super().__init__(...)`` records its own arguments, not its parent's)::

    class Tagger(RecordsSettings, nn.Module):
        def __init__(self, vocab_size: int, *, hidden_size: int = 64): ...

    Tagger(100).settings == {"vocab_size": 100, "hidden_size": 64}
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from torch import nn

__all__ = ["RecordsSettings"]


def _own_init_class(cls: type) -> type:
    """The first class in ``cls``'s MRO that defines ``__init__`` itself (whose constructor really
    runs first)."""
    return next(klass for klass in cls.__mro__ if "__init__" in vars(klass))


class RecordsSettings:
    """Mixin for an ``nn.Module``: records its constructor arguments in ``settings`` and shows them
    in ``repr``."""

    settings: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = vars(cls).get("__init__")
        if init is None or getattr(init, "_records_settings", False):
            return
        signature = inspect.signature(init)
        if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in signature.parameters.values()):
            raise TypeError(
                f"{cls.__name__}.__init__ takes *args; a model's settings must be named arguments"
            )

        @functools.wraps(init)
        def recording_init(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            init(self, *args, **kwargs)
            if _own_init_class(type(self)) is cls:
                settings: dict[str, Any] = {}
                for name, value in list(bound.arguments.items())[1:]:  # [0] is self
                    if signature.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                        settings.update(value)
                    else:
                        settings[name] = value
                object.__setattr__(self, "settings", settings)

        recording_init._records_settings = True  # type: ignore[attr-defined]
        cls.__init__ = recording_init  # type: ignore[method-assign]

    def extra_repr(self) -> str:
        """The recorded settings, ``name=value`` (sub-models are left out: ``repr`` lists them as
        children anyway)."""
        settings = getattr(self, "settings", {})
        return ", ".join(f"{k}={v!r}" for k, v in settings.items() if not isinstance(v, nn.Module))
