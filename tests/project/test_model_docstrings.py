"""Each public model says in its docstring which chapter uses it and shows a short example, run as a
doctest (pyproject.toml's testpaths hold rnnlab/models, addopts --doctest-modules)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import tomllib
from torch import nn

import rnnlab.models
from tests.project.test_project import ROOT

MODELS = sorted(
    (module.name, name)
    for module in pkgutil.iter_modules(rnnlab.models.__path__)
    for name, value in vars(importlib.import_module(f"rnnlab.models.{module.name}")).items()
    if isinstance(value, type)
    and issubclass(value, nn.Module)
    and value.__module__ == f"rnnlab.models.{module.name}"
    and not name.startswith("_")
)


@pytest.mark.parametrize(("module", "name"), MODELS, ids=[f"{m}.{n}" for m, n in MODELS])
def test_a_public_model_names_its_chapter_and_shows_an_example(module, name):
    model = getattr(importlib.import_module(f"rnnlab.models.{module}"), name)
    doc = model.__doc__ or ""
    assert "Chapter" in doc, f"{name}'s docstring does not say which chapter uses it"
    (test,) = doctest.DocTestFinder(recurse=False).find(model, name)
    assert len(test.examples) >= 3, f"{name} has no example (>>> lines)"


def test_the_examples_run_with_the_tests():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "rnnlab/models" in options["testpaths"] and "--doctest-modules" in options["addopts"]
    assert len(MODELS) >= 20
