"""The paper's text claim C16 (spec in ``iwcore.battery.paper.text``), and an optional report on a real
pretrained model: all-MiniLM-L6-v2 (a small pretrained BERT, ``IWCLAIMS_MINILM_DIR``) on the real MRPC at a
CPU-sized scale; it reports what it finds and decides nothing."""

import os
from pathlib import Path

import numpy as np
import pytest

from iwcore.battery import parametrize_with_claims
from iwcore.battery.claim import summarize
from iwcore.battery.paper import text
from iwcore.sweep import Sweep

REPO_ROOT = Path(__file__).resolve().parents[1]
MRPC_DIR = Path(os.environ.get("IWCLAIMS_MRPC_DIR", REPO_ROOT.parent / "shared" / "data" / "mrpc"))
MINILM_DIR = Path(os.environ.get("IWCLAIMS_MINILM_DIR", Path.home() / ".cache" / "iwclaims" / "all-MiniLM-L6-v2"))
# About 3 minutes on a 2-core CPU (a MiniLM SGD step on 16 pairs takes ~1 s; evaluation dominates).
MINILM_SCALE = dict(n_train=256, n_eval=400, epochs=2, ratios=(1 / 16, 1.0, 16.0), seeds=(0,))


@parametrize_with_claims(text.CLAIMS)
def test_claim(claim_case, check_claim):
    check_claim(claim_case)


@pytest.mark.slow
@pytest.mark.claim(text.C16.id)
@pytest.mark.skipif(not (MINILM_DIR / "config.json").is_file() or not (MRPC_DIR / "train.tsv").is_file(),
                    reason=f"needs all-MiniLM-L6-v2 at {MINILM_DIR} (IWCLAIMS_MINILM_DIR) and MRPC at {MRPC_DIR} "
                           "(IWCLAIMS_MRPC_DIR)")
def test_minilm_on_real_mrpc_reports(run_sweep, capsys):
    """A small pretrained BERT on the real MRPC at CPU scale: prints the effect and accuracies; decides nothing."""
    m = MINILM_SCALE
    sweep = Sweep(name="minilm-mrpc", task="mrpc",
                  task_options={"tokenizer": str(MINILM_DIR), "data_dir": str(MRPC_DIR), "n_train": m["n_train"],
                                "n_eval": m["n_eval"]},
                  model="bert", model_options={"name_or_folder": str(MINILM_DIR)}, weight_ratios=m["ratios"],
                  seeds=m["seeds"], epochs=m["epochs"], batch_size=16, lr=0.01, models_per_step=1)
    result = run_sweep(sweep)
    summary = summarize(result, "test")
    share = np.nanmean(result.ratio("test"), axis=2)  # (checkpoints, ratios)
    with capsys.disabled():
        print(f"\n[{text.C16.id} MiniLM, real MRPC, {m['n_train']} training / {m['n_eval']} test pairs, "
              f"{m['epochs']} epochs, {result.meta['wall_time_s']:.0f} s] effect {summary.as_dict()}; share "
              f"classified paraphrase per epoch x ratio {np.round(share, 3).tolist()}; final test accuracy "
              f"{text.accuracy_statistic(result)}")
    assert np.isfinite(share).all()
