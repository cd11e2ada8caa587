"""The report's scale flags: models at the extreme weights that still predict one class at the end, and the share
of the paper's SGD steps this tier trained (iwcore.battery.scale, iwcore.reportview.flags)."""

import numpy as np

from iwcore.battery.paper import CLAIMS
from iwcore.battery.scale import one_class_at_extremes, paper_step_share
from iwcore.reportview import flags
from iwcore.results import SweepResult


def final_shares(last: np.ndarray, null: bool = False) -> SweepResult:
    """A sweep of 5 ratios x 3 seeds whose share classified positive on the test set ends at ``last``."""
    share = np.stack([np.full((5, 3), 0.5), last])  # (checkpoints, ratios, seeds)
    return SweepResult(config={"name": "probe", "weight_ratios": [0.25, 0.5, 1.0, 2.0, 4.0], "seeds": [0, 1, 2],
                               "null_weights": null},
                       key="k", epochs=np.array([1, 10]), shares={"test": np.stack([1 - share, share], -1)},
                       recall={}, class_loss={}, train_loss=np.zeros((2, 5, 3)), snapshot_epochs=np.array([10]),
                       predictions={}, diverged_epoch=np.zeros((5, 3), int),
                       meta={"class_names": ["negative", "positive"], "eval_roles": {"test": "in_domain"}})


def test_models_at_the_extreme_weights_predicting_one_class_are_named():
    last = np.full((5, 3), 0.5)
    last[0, :2] = 0.0  # two of three models at w = 0.25 call everything negative
    last[-1, 0] = 1.0
    last[2] = 1.0  # the unweighted model is no extreme
    assert one_class_at_extremes([final_shares(last)]) == [
        "probe: 2 of 3 models at w = 0.25 predict one class on test at the end",
        "probe: 1 of 3 models at w = 4 predict one class on test at the end"]
    assert one_class_at_extremes([final_shares(np.full((5, 3), 0.3))]) == []  # the negative control
    assert one_class_at_extremes([final_shares(last, null=True)]) == []  # a null sweep's labels are not weights


def test_the_share_of_the_papers_sgd_steps_is_planned_not_measured():
    c3 = paper_step_share(CLAIMS["C3"], "fast")  # 1,000 epochs x 128 points / 8 against 10,000 x 1,024 / 8
    assert c3 == {"sweep": "2d-mlp-dropout", "steps": 16_000, "paper_steps": 1_280_000, "share": 16_000 / 1_280_000}
    assert paper_step_share(CLAIMS["C6"], "fast")["share"] == 100 * 11 / (1000 * 625)  # 11 minibatches of 16 from 168 digits; 625 of 10,000 images
    assert paper_step_share(CLAIMS["C1"], "long")["share"] == 1.0  # the long tier runs the full tier's 2D sweeps
    assert paper_step_share(CLAIMS["C1"], "full") is None


def test_flags_show_both_and_say_nothing_at_the_papers_scale():
    scale = {"paper_steps": {"sweep": "2d-mlp", "steps": 16_000, "paper_steps": 1_280_000, "share": 0.0125},
             "one_class_at_extremes": ["probe: 2 of 3 models at w = 0.25 predict one class on test at the end"]}
    assert flags({"rows": [], "scale": scale}) == [
        "trained 1.25% of the paper's SGD steps per model (16,000 of 1,280,000 on 2d-mlp)",
        "one class at an extreme weight: probe: 2 of 3 models at w = 0.25 predict one class on test at the end"]
    at_scale = {"paper_steps": {"sweep": "s", "steps": 5, "paper_steps": 5, "share": 1.0}, "one_class_at_extremes": []}
    assert flags({"rows": [], "scale": at_scale}) == [] and flags({"rows": []}) == []
