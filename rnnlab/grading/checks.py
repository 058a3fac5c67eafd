"""Source checks the exercises' tests run on a learner's code: is it written yet, and is it their
own?

A grader that only compares outputs can be passed by calling the library function the question asks
the learner to write (``rnnlab.sequences.lengths_to_mask`` for exercise 5's mask, say): the tests'
reference and the "answer" are then the same code. `assert_own_code` reads the learner's function or
class with `ast`, resolves every name it uses against the notebook's namespace (so an alias such as
``from rnnlab.sequences import lengths_to_mask as m`` is caught too), follows the learner's own
helper functions, and fails with a message that names what was called and what to do instead.

`is_stub` says whether a function body is still only ``...``/``pass``/a docstring; `forbid_calls`
makes a module handed to the learner for its weights refuse to be called; `measure_after_prediction`
makes the measuring cell of a "predict, then run" question wait for a prediction.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["assert_own_code", "forbid_calls", "is_stub", "library_uses", "measure_after_prediction"]


class _DropAnnotations(ast.NodeTransformer):
    """Type hints name classes (``lstm: nn.LSTM``) without using them: they are not calls to
    check."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.returns = None
        for arg in (
            *node.args.posonlyargs,
            *node.args.args,
            *node.args.kwonlyargs,
            node.args.vararg,
            node.args.kwarg,
        ):
            if arg is not None:
                arg.annotation = None
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        node.annotation = ast.Constant(None)
        return self.generic_visit(node)


def _source_tree(obj: Any) -> ast.AST | None:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    except (OSError, TypeError, SyntaxError):
        return None  # no source (built-in, or defined where inspect cannot see it)
    return _DropAnnotations().visit(tree)


def is_stub(func: Callable[..., Any]) -> bool:
    """True when ``func``'s body holds only ``pass``, ``...`` or a docstring (a starter cell left as
    it came)."""
    tree = _source_tree(func)
    if (
        tree is None
        or not tree.body
        or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef))
    ):
        return False
    return all(
        isinstance(node, ast.Pass)
        or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in tree.body[0].body
    )


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything that is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _resolve(parts: list[str], namespace: dict[str, Any]) -> Any:
    """The object a dotted name refers to in ``namespace``, following attributes of modules and
    classes only."""
    sentinel = object()
    value = namespace.get(parts[0], getattr(builtins, parts[0], sentinel))
    for part in parts[1:]:
        if value is sentinel or not isinstance(value, (types.ModuleType, type)):
            return sentinel
        value = getattr(value, part, sentinel)
    return sentinel if value is sentinel else value


def _origin(value: Any) -> str:
    """``module.qualname`` of a function, class or module (what the message names)."""
    if isinstance(value, types.ModuleType):
        return value.__name__
    module = getattr(value, "__module__", "?")
    qualname = getattr(value, "__qualname__", getattr(value, "__name__", "?"))
    return f"{module}.{qualname}"


def _is_forbidden(value: Any, forbidden: tuple[Any, ...], prefixes: tuple[str, ...]) -> bool:
    if any(value is f for f in forbidden):
        return True
    if not prefixes:
        return False
    name = (
        value.__name__
        if isinstance(value, types.ModuleType)
        else getattr(value, "__module__", None)
    )
    return isinstance(name, str) and any(name == p or name.startswith(p + ".") for p in prefixes)


def _methods(cls: type) -> list[types.FunctionType]:
    """The functions a class body defines (plain, static, class methods and properties)."""
    found = []
    for member in vars(cls).values():
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if isinstance(member, property):
            found.extend(f for f in (member.fget, member.fset) if isinstance(f, types.FunctionType))
        elif isinstance(member, types.FunctionType):
            found.append(member)
    return found


def library_uses(
    obj: Any,
    forbidden: Iterable[Any] = (),
    modules: Iterable[str] = (),
    attributes: Iterable[str] = (),
) -> list[str]:
    """What ``obj`` (a function or class) uses of ``forbidden`` objects, of anything from
    ``modules``, or of an attribute named in ``attributes`` on any object (``.backward``, say, on a
    tensor whose type the source does not show).

    Follows calls into the learner's own functions and classes (those defined where ``obj`` is), so
    a helper that wraps the library is caught as well. Returns the dotted names found, e.g.
    ``["rnnlab.sequences.lengths_to_mask"]`` or ``[".backward"]``; empty when the code is the
    learner's own.
    """
    forbidden, prefixes, attributes = tuple(forbidden), tuple(modules), frozenset(attributes)
    home = getattr(obj, "__module__", None)
    found: list[str] = []
    seen: set[int] = set()
    pending = [obj]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _is_forbidden(current, forbidden, prefixes):
            found.append(_origin(current))
            continue
        # a class: its bases, and its methods (inspect cannot find a notebook class's source)
        if isinstance(current, type):
            found.extend(
                _origin(base)
                for base in current.__mro__[1:]
                if _is_forbidden(base, forbidden, prefixes)
            )
            pending.extend(_methods(current))
            continue
        tree = _source_tree(current)
        namespace = getattr(current, "__globals__", {})
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                base = node.module if isinstance(node, ast.ImportFrom) else None
                for alias in node.names:
                    name = f"{base}.{alias.name}" if base else alias.name
                    if any(name == p or name.startswith(p + ".") for p in prefixes) or (
                        base and _is_forbidden(_resolve_import(base, alias.name), forbidden, ())
                    ):
                        found.append(name)
                continue
            if isinstance(node, ast.Attribute) and node.attr in attributes:
                found.append(f".{node.attr}")
            parts = _dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            if not parts or not isinstance(getattr(node, "ctx", None), ast.Load):
                continue
            value = _resolve(parts, namespace)
            if isinstance(value, (types.FunctionType, type, types.ModuleType)) or callable(value):
                if _is_forbidden(value, forbidden, prefixes):
                    found.append(_origin(value))
                elif getattr(value, "__module__", None) == home and isinstance(
                    value, (types.FunctionType, type)
                ):
                    pending.append(value)  # the learner's own helper: look inside it too
    # "a.b.c", not also "a" and "a.b"
    return sorted(f for f in set(found) if not any(g.startswith(f + ".") for g in found))


def _resolve_import(module: str, name: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


def assert_own_code(
    obj: Any,
    forbidden: Iterable[Any] = (),
    modules: Iterable[str] = ("rnnlab",),
    *,
    what: str | None = None,
) -> None:
    """Fail (AssertionError) when ``obj`` uses a forbidden library object: the question asks you to
    write it.

    ``forbidden`` lists objects (functions, classes) not to call; ``modules`` lists packages none of
    whose functions may be used (by default all of ``rnnlab``). ``what`` names the question's code
    in the message (default: ``obj``'s name).
    """
    what = what or getattr(obj, "__name__", repr(obj))
    if not callable(obj):
        raise AssertionError(
            f"{what} must be a function or class you define, got {type(obj).__name__}"
        )
    if any(is_stub(f) for f in (_methods(obj) if isinstance(obj, type) else [obj])):
        raise AssertionError(f"{what} is still a stub: write its body first")
    uses = library_uses(obj, forbidden, modules)
    if uses:
        raise AssertionError(
            f"{what} uses {', '.join(uses)}: this question asks you to write that part yourself "
            "(the grader's reference is that very code), so rewrite it without it"
        )


@contextlib.contextmanager
def forbid_calls(module: Any, message: str) -> Iterator[None]:
    """Inside the block, calling ``module`` (an ``nn.Module``) raises AssertionError(``message``).

    For a question that hands the learner a module for its *weights* (an ``nn.LSTM`` whose step they
    must compute): calling the module itself would be the answer key.
    ``type(module).forward(module, ...)`` still works for the grader's reference.
    """

    def refuse(*_: Any) -> None:
        raise AssertionError(message)

    handle = module.register_forward_pre_hook(refuse)
    try:
        yield
    finally:
        handle.remove()


def measure_after_prediction(
    prediction: Any, measure: Callable[[], Any], *, words: int = 3
) -> Any | None:
    """``measure()``'s result once ``prediction`` is written; until then None, and what is missing.

    A "predict, then run" question asks for a prediction (a sentence in ``PREDICTION``) before the
    cell that measures the answer; that cell hands its measurement to this function, so nothing is
    measured before a prediction of at least ``words`` words exists. While the code being measured
    is unfinished, its error is reported as "not yet" instead of stopping the notebook, so that
    "Run all" goes on to the next question. The prediction is never marked right or wrong.
    """
    text = prediction.strip() if isinstance(prediction, str) else ""
    if len(text.split()) < words:
        print(
            f"Not yet: write your prediction in PREDICTION first (a sentence of at least {words} "
            "words), then run this cell to measure it."
        )
        return None
    print("You predicted:", text)
    try:
        return measure()
    except Exception as error:  # unfinished code above: report it, do not stop "Run all"
        print(f"Not yet: the measurement stopped with {type(error).__name__}: {error}")
        return None
