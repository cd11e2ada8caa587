"""The full tier's dry run (``pytest -m full --dry-run``, ``iwcore.dryrun``): truncated sweeps keyed apart from
real ones, stacks cut to the memory, and claims run end to end through the plugin on data of the real shapes (and,
marked ``slow``, on the real CIFAR-10 and MRPC copies under ``../shared/data``)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from iwcore.dryrun import DRY_EPOCHS, DoesNotFit, bert_folder, truncated
from iwcore.plan import (CIFAR_CLASSES, CIFAR_TEST_PER_CLASS, CIFAR_TRAIN_PER_CLASS, MRPC_SIZES, claims_of,
                         plan_tier, stand_in, task_size)
from iwcore.shards import SHARD_MEMORY_SHARE, model_bytes
from tests.runs import REPO

SHARED_DATA = REPO.parent / "shared" / "data"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def full_image_sweep():
    """C6's full-tier CNN sweep as the plan names it (no data read)."""
    (entry, *_), _ = plan_tier("full", claims_of(["C6"]))
    return entry.sweep


def test_a_truncated_sweep_is_keyed_apart_and_keeps_its_models():
    sweep = full_image_sweep()
    dry = truncated(sweep, 2, memory=2**40)
    assert dry.name == f"{sweep.name}-dry2" and dry.max_steps == 2 and dry.epochs == DRY_EPOCHS < sweep.epochs
    assert (dry.weight_ratios, dry.seeds, dry.model_options, dry.task_options, dry.models_per_step) == \
        (sweep.weight_ratios, sweep.seeds, sweep.model_options, sweep.task_options, sweep.models_per_step)
    assert dry.key("code", "cpu") != sweep.key("code", "cpu")
    assert dry.scaled(max_steps=0).key("code", "cpu") != dry.key("code", "cpu")


def test_a_stack_too_big_for_the_memory_trains_in_groups_and_one_model_too_big_is_said():
    sweep = full_image_sweep()
    per_model = model_bytes(stand_in(sweep, task_size(sweep)))
    grouped = truncated(sweep, 2, memory=int(10.5 * per_model / SHARD_MEMORY_SHARE))
    assert grouped.models_per_step == 10 < sweep.n_models
    with pytest.raises(DoesNotFit, match="does not fit here"):
        truncated(sweep, 2, memory=per_model)


# --- end to end through the plugin, on generated data of the real shapes --------------------------------------


def write_cifar_folders(root: Path) -> None:
    """CIFAR-10's image-folder layout at its real counts (5,000 train and 1,000 test PNGs per class, 3x32x32):
    a few distinct random images per class, repeated."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        images = []
        for _ in range(4):
            buffer = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, format="PNG")
            images.append(buffer.getvalue())
        for split, count in (("train", CIFAR_TRAIN_PER_CLASS), ("test", CIFAR_TEST_PER_CLASS)):
            folder = root / "cifar10" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{i:05d}.png").write_bytes(images[i % len(images)])
    assert len(CLASSES) == CIFAR_CLASSES


def write_mrpc(root: Path) -> None:
    """MRPC's files at their real row counts (GLUE train and dev, the labelled original test), generated sentences."""
    rng = np.random.default_rng(0)
    words = ["the", "company", "said", "shares", "rose", "in", "trading", "on", "monday", "percent", "to", "a"]
    folder = root / "mrpc"
    folder.mkdir(parents=True)
    for file, rows in (("train.tsv", MRPC_SIZES["train"]), ("dev.tsv", MRPC_SIZES["dev"]),
                       ("msr_paraphrase_test.txt", MRPC_SIZES["test"])):
        lines = ["Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"]
        for i in range(rows):
            first, second = (" ".join(rng.choice(words, rng.integers(8, 30))) for _ in range(2))
            lines.append(f"{rng.integers(0, 2)}\t{2 * i}\t{2 * i + 1}\t{first}\t{second}")
        (folder / file).write_text("\n".join(lines) + "\n", encoding="utf-8")


def dry_run(tmp_path: Path, data_dir: Path, *args: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "IWCLAIMS_DATA_CACHE": str(tmp_path / "data-cache")}
    command = [sys.executable, "-m", "pytest", "-p", "iwcore.plugin", "-p", "no:cacheprovider", "-n", "0", "-q",
               "-m", "full", "--dry-run", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path / "cache"),
               "--report-dir", str(tmp_path / "reports"), *args]
    start = time.time()
    out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return out, time.time() - start


def check_dry_records(tmp_path: Path, claims: set[str]) -> dict:
    """The run's records: every claim DRY RUN with the peak memory of each sweep; the report says dry run."""
    run = json.loads((tmp_path / "reports" / "full" / "claims.json").read_text())
    records = {r["id"]: r for r in run["claims"]}
    assert claims <= set(records), sorted(records)
    for record in records.values():
        assert record["verdict"] == "DRY RUN" and record["outcome"] == "dry run", record["id"]
        assert record["sweeps"] and all(s["peak_rss_bytes"] > 0 and s["peak_rss"] for s in record["sweeps"])
        assert all("-dry" in key for key in record["cache_keys"])
    head = (tmp_path / "reports" / "full" / "claims.md").read_text().splitlines()[0]
    assert "DRY RUN" in head, head
    assert all("-dry" in entry.name for entry in (tmp_path / "cache").iterdir())
    return records


@pytest.mark.long_running
def test_an_image_claim_and_the_text_claim_dry_run_end_to_end_on_data_of_the_real_shapes(tmp_path):
    from transformers import BertConfig

    data = tmp_path / "data"
    write_cifar_folders(data)
    write_mrpc(data)
    # BERT's architecture at a small width (random weights: the folder has none), on MRPC-shaped 2 x 128 ids
    bert = bert_folder(tmp_path / "bert", BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                     intermediate_size=64))
    out, _ = dry_run(tmp_path, data, "claims/test_remedies.py", "claims/test_text.py", "--claim", "C20,C16",
                     "--bert-model", str(bert), "--max-steps", "1", timeout=1500)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    records = check_dry_records(tmp_path, {"C20", "C16"})
    assert all(s["name"].endswith("-dry1") for r in records.values() for s in r["sweeps"])


@pytest.mark.slow
def test_every_full_tier_claim_dry_runs_on_the_real_data(tmp_path):
    if not (SHARED_DATA / "cifar10").is_dir() or not (SHARED_DATA / "mrpc").is_dir():
        pytest.skip(f"the real CIFAR-10 and MRPC copies are absent at {SHARED_DATA}")
    out, seconds = dry_run(tmp_path, SHARED_DATA, "claims", timeout=6 * 3600)
    print(out.stdout[-6000:], f"\ndry run of the full tier: {seconds:.0f} s")
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    check_dry_records(tmp_path, {f"C{i}" for i in range(1, 21)})
