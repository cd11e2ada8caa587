"""The cache keys the code a sweep actually runs: adding a loss or a model leaves other sweeps' keys as they are,
and editing the code a sweep uses (a user's own model included) changes its key."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
import torch

from iwcore import losses
from iwcore.cache import SweepCache
from iwcore.codekey import source_closure, sweep_code_version
from iwcore.models import MODELS
from iwcore.sweep import Sweep

CPU = torch.device("cpu")


def ce_sweep(**changes) -> Sweep:
    fields = dict(name="key-probe", task="separable_2d", model="mlp", weight_ratios=(0.25, 1.0, 4.0), seeds=(0, 1),
                  epochs=3, batch_size=8, lr=0.1, task_options={"n_per_class": 8, "n_test_per_class": 8})
    return Sweep(**{**fields, **changes})


def write_module(folder, name: str, source: str):
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    sys.modules.pop(name, None)
    importlib.invalidate_caches()
    return importlib.import_module(name)


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


MODEL_V1 = """
    import torch.nn as nn

    def width():
        return 8

    def user_mlp(input_shape, n_outputs):
        return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], width()), nn.GELU(), nn.Linear(width(), n_outputs),
                             nn.Flatten(0))
"""


def test_adding_a_loss_keeps_the_keys_of_cross_entropy_sweeps(tmp_path):
    cache, sweep = SweepCache(tmp_path, show_progress=False), ce_sweep()
    before = cache.key(sweep, CPU)

    def margin_loss(logits, y, class_counts, margin: float = 1.0):
        return torch.relu(margin - (2 * y - 1) * logits)

    losses.register_loss("probe_margin", margin_loss, neutral=None)
    try:
        assert cache.key(sweep, CPU) == before
        assert cache.key(ce_sweep(loss="probe_margin"), CPU) != before  # ... and a sweep that uses it has its own
    finally:
        losses._REGISTRY.pop("probe_margin")


def test_a_new_function_beside_the_model_leaves_its_fingerprint_alone(module_dir):
    first = source_closure(write_module(module_dir, "probe_models_a", MODEL_V1).user_mlp)
    added = MODEL_V1 + "\n    def another_model(input_shape, n_outputs):\n        return None\n"
    assert source_closure(write_module(module_dir, "probe_models_a", added).user_mlp) == first


def test_editing_a_users_model_or_a_helper_it_calls_changes_the_key(module_dir, tmp_path):
    cache, keys = SweepCache(tmp_path / "cache", show_progress=False), []
    for source in (MODEL_V1, MODEL_V1.replace("nn.GELU()", "nn.ReLU()"), MODEL_V1.replace("return 8", "return 16")):
        module = write_module(module_dir, "probe_models_b", source)
        MODELS["probe_user_mlp"] = module.user_mlp
        try:
            keys.append(cache.key(ce_sweep(model="probe_user_mlp"), CPU))
        finally:
            MODELS.pop("probe_user_mlp")
    assert len(set(keys)) == 3


def test_the_fingerprint_covers_the_training_core_and_the_sweeps_parts():
    assert sweep_code_version(ce_sweep()) == sweep_code_version(ce_sweep(epochs=5))  # config is keyed separately
    assert sweep_code_version(ce_sweep()) != sweep_code_version(ce_sweep(model="logreg"))
    closure = source_closure(losses.weighted_loss)
    assert "def resolved_options" in closure and "def per_example_loss" not in closure
