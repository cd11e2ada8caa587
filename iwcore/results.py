"""What a trained sweep leaves behind, as arrays indexed (checkpoint, weight ratio, seed, ...)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class SweepResult:
    """Measurements of every model of a sweep at every checkpoint.

    ``shares[e]`` is the share of evaluation set ``e`` predicted as each class, shape
    (checkpoints, ratios, seeds, classes); ``recall[e]`` the accuracy within each true class, for
    labelled sets, and ``class_loss[e]`` the mean unweighted loss within each true class (any
    weighted loss, e.g. a weighted validation loss, follows from it); ``predictions[e]`` the predicted class of every example at ``snapshot_epochs``,
    shape (snapshots, ratios, seeds, examples); ``param_trace`` every model's flattened parameters
    at every checkpoint, kept for small models only; ``diverged_epoch`` the first epoch whose loss
    was not finite (0 where the model never diverged).
    """

    config: dict
    key: str
    epochs: np.ndarray
    shares: dict[str, np.ndarray]
    recall: dict[str, np.ndarray]
    class_loss: dict[str, np.ndarray]
    train_loss: np.ndarray
    snapshot_epochs: np.ndarray
    predictions: dict[str, np.ndarray]
    diverged_epoch: np.ndarray
    param_trace: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def weight_ratios(self) -> np.ndarray:
        return np.asarray(self.config["weight_ratios"], dtype=float)

    @property
    def seeds(self) -> list[int]:
        return list(self.config["seeds"])

    def diverged_mask(self) -> np.ndarray:
        """(checkpoints, ratios, seeds): True from the checkpoint at which a model diverged on."""
        return (self.diverged_epoch[None] > 0) & (self.epochs[:, None, None] >= self.diverged_epoch[None])

    def ratio(self, eval_set: str, positive_class: int = 1) -> np.ndarray:
        """Share predicted positive, (checkpoints, ratios, seeds); NaN where a model had diverged."""
        r = self.shares[eval_set][..., positive_class].astype(float)
        r[self.diverged_mask()] = np.nan
        return r

    def accuracy(self, eval_set: str) -> np.ndarray:
        """Accuracy over the whole labelled set, weighting classes by their counts in it."""
        counts = np.asarray(self.meta["class_counts"][eval_set], dtype=float)
        acc = np.nansum(self.recall[eval_set] * counts, axis=-1) / counts.sum()
        acc[self.diverged_mask()] = np.nan
        return acc

    def diverged_models(self) -> list[str]:
        return [f"ratio={self.weight_ratios[i]:g} seed={self.seeds[j]} (epoch {self.diverged_epoch[i, j]})"
                for i, j in zip(*np.nonzero(self.diverged_epoch))]

    def arrays(self) -> dict[str, np.ndarray]:
        """Every measured array by name (``shares/test``, ``train_loss``, ...), as stored."""
        arrays = {"epochs": self.epochs, "train_loss": self.train_loss, "snapshot_epochs": self.snapshot_epochs,
                  "diverged_epoch": self.diverged_epoch}
        for prefix, table in (("shares", self.shares), ("recall", self.recall), ("class_loss", self.class_loss),
                              ("predictions", self.predictions)):
            arrays.update({f"{prefix}/{k}": v for k, v in table.items()})
        if self.param_trace is not None:
            arrays["param_trace"] = self.param_trace
        return arrays

    def save(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "result.tmp.npz"
        np.savez_compressed(tmp, **self.arrays())
        (folder / "result.json").write_text(json.dumps({"config": self.config, "key": self.key, "meta": self.meta},
                                                       indent=1, default=str))
        tmp.replace(folder / "result.npz")

    @classmethod
    def load(cls, folder: Path) -> "SweepResult":
        head = json.loads((folder / "result.json").read_text())
        with open(folder / "result.npz", "rb") as f, np.load(f) as z:  # the file is closed if np.load fails
            arrays = {k: z[k] for k in z.files}
        table = lambda prefix: {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(prefix + "/")}  # noqa: E731
        return cls(config=head["config"], key=head["key"], epochs=arrays["epochs"], shares=table("shares"),
                   recall=table("recall"), class_loss=table("class_loss"), train_loss=arrays["train_loss"],
                   snapshot_epochs=arrays["snapshot_epochs"], predictions=table("predictions"),
                   diverged_epoch=arrays["diverged_epoch"], param_trace=arrays.get("param_trace"),
                   meta=head["meta"])
