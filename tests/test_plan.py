"""Claims declare their sweeps, and ``python -m iwcore.plan`` lists a tier's work from them: every claim with
sweeps appears, shared sweeps once with all their claims, FLOPs as counted by hand, the JSON's keys, the cache
state of a trained sweep, and the cache keys of the claims' sweeps unchanged by planning (against those their
``decide`` ran before claims declared plans)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from iwcore.battery import Subject
from iwcore.battery.claim import DATA_DIR_PLACEHOLDER, PLAN_ONLY, Context, Unavailable
from iwcore.battery.paper import CLAIMS, images
from iwcore.cache import SweepCache
from iwcore.plan import build_plan, count_flops, cost, main, plan_tier, stand_in, task_size
from iwcore.shards import model_bytes, split
from iwcore.training import train_sweep

RECORDED_SWEEPS = Path(__file__).with_name("plan_sweeps_87aa801.json")
TINY = Subject.create("tiny-mlp", model="mlp", task="separable_2d", lr=0.1, batch_size=8,
                      task_options={"n_per_class": 8, "n_test_per_class": 8},
                      tiers={"fast": dict(weight_ratios=(0.25, 1.0, 4.0), seeds=(0, 1), epochs=2)})


def claim_order(claim_id: str) -> int:
    return int(claim_id[1:])


@pytest.fixture(scope="module")
def full_tier():
    return plan_tier("full")


def test_the_full_tier_plans_every_claim(full_tier):
    entries, not_planned = full_tier
    assert not not_planned
    assert sorted({c for e in entries for c in e.claims}, key=claim_order) == sorted(CLAIMS, key=claim_order)
    assert {"C17", "C20"} <= {c for e in entries if e.sweep.model == "cnn" and e.sweep.task == "cifar_pair"
                              for c in e.claims}


def test_a_shared_sweep_appears_once_with_every_claim_that_uses_it(full_tier):
    entries, _ = full_tier
    assert len({e.key for e in entries}) == len(entries)
    by_name = {e.sweep.name: e.claims for e in entries}
    assert by_name["full-image-cnn"] == ["C6", "C7", "C11", "C17"]
    assert by_name["full-2d-logreg"] == ["C1", "C2", "C4", "C17", "C18"]
    plans = {c: list(plan_of(CLAIMS[c], "full", {"bert_model": "bert-base-uncased"}).values())
             for c in sorted(CLAIMS, key=claim_order)}
    for entry in entries:  # exactly the claims whose own plan holds the sweep
        assert entry.claims == [c for c, sweeps in plans.items() if entry.sweep in sweeps], entry.sweep.name


def plan_of(claim, tier: str, options: dict) -> dict:
    return claim.plan(Context(claim, tier, None, Path("."), {**options, PLAN_ONLY: True}))


def test_flops_equal_a_hand_count():
    """Per example: a matrix product of (1, k) by (k, n) is 2kn FLOPs forward; backward, the weights' gradient
    2kn, and the input's 2kn except at the first layer (the data need none)."""
    assert count_flops("logreg", {}, (2,), "float32", 2, 8) == (2 * 2, 2 * 2 + 2 * 2)
    hidden = 64
    forward = 2 * 2 * hidden + 2 * hidden
    backward = 2 * 2 * hidden + 2 * hidden + 2 * hidden
    assert count_flops("mlp", {"hidden": hidden}, (2,), "float32", 2, 8) == (forward, forward + backward)


def test_a_pretrained_bert_is_counted_offline_as_bert_base(full_tier):
    entries, _ = full_tier
    bert = next(e for e in entries if e.sweep.model == "bert")
    row = cost(bert, Path("/nonexistent"), 80 * 2 ** 30, {}, 100.0)
    parameters = 110e6  # BERT-base: ~2 x parameters x tokens FLOPs forward per pair, at 128 tokens
    assert 0.5 < row["forward_flops_per_example"] / (2 * parameters * 128) < 1.5
    assert row["n_train"] == 3668 and row["cache"]["state"] == "unknown"


def test_sizes_without_data_equal_the_built_task_and_shards_the_real_model():
    sweep = images.CNN.sweep("fast")  # digits: built here, and sized like CIFAR would be
    size = task_size(sweep)
    assert size.n_train == 168 and size.input_shape == (1, 8, 8) and set(size.n_eval) == {"test", "other", "noise",
                                                                                           "val"}
    assert model_bytes(stand_in(sweep, size)) == model_bytes(sweep)
    cifar = task_size(images.CNN.sweep("full", {PLAN_ONLY: True}, "subsample-4", **images.subsampled("full", 4)))
    assert cifar.n_train == 5000 + 1250 and cifar.n_eval == {"test": 2000, "other": 8000, "noise": 1000}


def test_planning_reads_no_data_and_a_real_run_keeps_its_errors(tmp_path):
    planned = plan_of(CLAIMS["C6"], "full", {})["CNN"]
    assert planned.task_options["data_dir"] == DATA_DIR_PLACEHOLDER
    given = plan_of(CLAIMS["C6"], "full", {"data_dir": tmp_path / "nothing here"})["CNN"]
    assert given.task_options["data_dir"] == str((tmp_path / "nothing here").resolve())
    for claim in ("C6", "C15", "C16"):
        with pytest.raises(Unavailable):
            claim_ = CLAIMS[claim]
            claim_.plan(Context(claim_, "full", None, tmp_path, {"data_dir": None, "device": torch.device("cpu"),
                                                                  "bert_model": "bert-base-uncased"}))


def test_a_rebound_claim_plans_the_users_subject():
    claim = CLAIMS["C7"].with_subjects(TINY)
    assert {name: s.name for name, s in plan_of(claim, "fast", {}).items()} == {
        "tiny-mlp": "fast-tiny-mlp-l2", "tiny-mlp, baseline": "fast-tiny-mlp"}


def test_the_cache_state_of_a_trained_a_partial_and_a_missing_sweep(tmp_path):
    cpu = torch.device("cpu")
    cache = SweepCache(tmp_path, show_progress=False)
    entries, _ = plan_tier("fast", [CLAIMS[c].with_subjects(TINY) for c in ("C6", "C7", "C14")], device_type="cpu")
    trained, partial, missing = entries  # the subject as it is, with L2 (one of two shards trained), with Adam
    cache.run(trained.sweep, cpu)
    first = split(partial.sweep, 1)[0]
    train_sweep(first.sweep, cpu, show_progress=False).save(tmp_path / partial.key / "shards" / first.label)
    assert trained.key == cache.key(trained.sweep, cpu)
    states = [cost(e, tmp_path, 2 ** 30, {}, 1.0)["cache"] for e in entries]
    assert states == [{"state": "done"}, {"state": "partial", "shards_done": 1, "progress": False},
                      {"state": "missing"}]


def test_the_json_has_the_documented_keys(tmp_path, capsys):
    assert main(["--tier", "fast", "--claim", "C4", "--json", "--cache-dir", str(tmp_path)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan) == {"tier", "claims", "device_type", "base_seed", "cache_dir", "assumptions", "sweeps",
                         "not_planned", "totals"}
    assert set(plan["sweeps"][0]) == {
        "name", "key", "claims", "model", "task", "models", "ratios", "seeds", "epochs", "n_train", "steps_per_epoch",
        "steps_per_model", "model_steps", "forward_flops_per_example", "train_flops_per_example", "train_flops",
        "eval_examples", "checkpoints", "eval_flops", "cache", "seeds_per_shard", "shards", "gpu_hours", "rate_from"}
    assert set(plan["totals"]) == {"sweeps", "models", "model_steps", "train_flops", "eval_flops", "gpu_hours",
                                   "cache"}
    assert plan["claims"] == ["C4"] and plan["sweeps"][0]["name"] == "fast-2d-logreg"


@pytest.mark.parametrize("argv, message", [(["--tier", "huge"], "unknown tier 'huge'"),
                                           (["--tier", "full", "--claim", "C6,C99"], "unknown claims \\['C99'\\]")])
def test_an_unknown_tier_or_claim_is_a_clear_error(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("iwcore.plan: error:") and re.search(message, err)


def test_measured_rates_project_the_sweeps_they_measured():
    rate = {"model": "cnn", "task": "cifar_pair", "fp32": {"s_per_model_step": 1e-4},
            "bf16": {"s_per_model_step": 5e-5}}
    plan = build_plan("full", ["C6"], gpu_check={"cnn": rate}, cache_dir="/nonexistent")
    row = plan["sweeps"][0]
    assert row["rate_from"] == "gpu_check cnn"
    assert row["gpu_hours"] == pytest.approx(row["model_steps"] * 1e-4 * (1 + row["eval_flops"] / row["train_flops"])
                                             / 3600)
    del rate["task"]
    with pytest.raises(ValueError, match="do not name the task they measured"):
        build_plan("full", ["C6"], gpu_check={"cnn": rate})


def test_the_plans_are_the_sweeps_the_claims_ran_before_they_declared_plans():
    """tests/plan_sweeps_87aa801.json: every sweep each claim's ``decide`` ran on commit 87aa801 (read from a cache
    of that commit's runs), by name and config digest, in order. The cache keys also fingerprint the code the
    sweeps run (iwcore/codekey.py), so they are not compared: a change of the training core retrains, it does not
    change what a claim plans."""
    recorded = json.loads(RECORDED_SWEEPS.read_text())["claims"]
    assert {c.split("/")[1] for c in recorded} == set(CLAIMS)
    for tier_claim, rows in recorded.items():
        tier, claim = tier_claim.split("/")
        planned = []
        for sweep in plan_of(CLAIMS[claim], tier, {"bert_model": "bert-base-uncased"}).values():
            row = [sweep.name, hashlib.sha256(json.dumps(sweep.config(), sort_keys=True).encode()).hexdigest()[:16]]
            if row not in planned:
                planned.append(row)
        assert planned == rows, f"{tier_claim}: other sweeps than before"
