"""The full tier's dry run (``pytest -m full --dry-run [--max-steps N]``, N = 2 by default): every claim at its
configuration (models, widths, ratios, seeds, data), each model truncated to ``max_steps`` SGD steps per epoch for
``DRY_EPOCHS`` epochs (the checkpoint schedule of so short a run: the statistics still see an early window and a
final epoch) and measured on about ``max_steps`` minibatches of each evaluation set, on whatever device is here,
through data loading, training, statistics and the report. It shows that the full tier runs end to end before GPU
hours are spent on it; its records' verdict is ``DRY RUN`` (``iwcore.reportview.DRY_VERDICT``), never counted.

The truncation is part of each sweep's config (``Sweep.max_steps``, ``epochs``, the name's ``-dry<N>``), so a
dry-run result has its own cache key and is never read as a real one. A sweep whose stack would not fit this
machine's memory trains ``models_per_step`` models at a time (also in its config), as a GPU run splits a sweep by
its memory; one that does not fit even one model at a time raises ``DoesNotFit``, saying so, before training.
"""

from __future__ import annotations

import math
import resource
import tempfile
from pathlib import Path

from iwcore.shards import SHARD_MEMORY_SHARE, model_bytes
from iwcore.sweep import Sweep

DRY_RUN = "dry_run"  # the run option (``Context.options``): SGD steps per epoch of a dry run; absent or 0 otherwise
DRY_EPOCHS = 3  # epochs trained: checkpoints 1, 2 and 3, the early window epoch 1
_SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


class DoesNotFit(Exception):
    """A sweep that does not fit this machine's memory even one model at a time."""


def available_bytes() -> int:
    """Memory this machine can still give (Linux's MemAvailable)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise OSError("no MemAvailable in /proc/meminfo")


def truncated(sweep: Sweep, max_steps: int, memory: int) -> Sweep:
    """``sweep`` as the dry run trains it, its stacks cut to fit ``SHARD_MEMORY_SHARE`` of ``memory`` bytes."""
    from iwcore.plan import stand_in, task_size

    per_model = model_bytes(stand_in(sweep, task_size(sweep)))
    fit = math.floor(SHARD_MEMORY_SHARE * memory / per_model)
    if fit < 1:
        raise DoesNotFit(f"sweep {sweep.name!r} does not fit here: one {sweep.model} model needs about "
                         f"{per_model / 2**30:.1f} GiB to train, {SHARD_MEMORY_SHARE:.0%} of the "
                         f"{memory / 2**30:.1f} GiB available is less")
    stack = sweep.models_per_step or sweep.n_models
    epochs = min(sweep.epochs, DRY_EPOCHS)
    return sweep.scaled(name=f"{sweep.name}-dry{max_steps}", max_steps=max_steps, epochs=epochs,
                        train_until=min(sweep.train_until, epochs),
                        checkpoints=tuple(e for e in sweep.checkpoints if e <= epochs),
                        snapshot_epochs=tuple(e for e in sweep.snapshot_epochs if e <= epochs),
                        models_per_step=sweep.models_per_step if stack <= fit else fit)


def measured(fn):
    """``(fn(), peak bytes, how)``: the peak resident memory of this process while ``fn`` ran, from Linux's VmHWM
    reset before it (``/proc/self/clear_refs``); where that reset is refused, ``ru_maxrss``, the process's peak
    since it started (an upper bound)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        how = "VmHWM (peak RSS of this process during the sweep)"
    except OSError:
        how = "ru_maxrss (peak RSS of this process since it started)"
    result = fn()
    if how.startswith("VmHWM"):
        status = Path("/proc/self/status").read_text().splitlines()
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return result, peak, how


def has_weights(name_or_folder: str) -> bool:
    """Whether a model folder holds weights (a hub name: whether the local cache does)."""
    folder = Path(name_or_folder)
    if not folder.is_dir():
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(name_or_folder, f), str)
                   for f in ("model.safetensors", "pytorch_model.bin"))
    return any(folder.glob("*.safetensors")) or (folder / "pytorch_model.bin").is_file()


def random_bert(name_or_folder: str) -> str:
    """A folder with the config and tokenizer of ``name_or_folder`` where it has them, else of BERT-base
    (``bert_folder`` with BertConfig's defaults, bert-base-uncased's architecture). The dry run builds the model
    from it with random weights (``bert``'s ``pretrained=False``)."""
    if (Path(name_or_folder) / "config.json").is_file():
        return str(Path(name_or_folder).resolve())
    folder = Path(tempfile.gettempdir()) / "iwclaims-dry-run-bert-base"
    if not (folder / "tokenizer.json").is_file():
        from transformers import BertConfig

        bert_folder(folder, BertConfig())
    return str(folder)


def bert_folder(folder: Path, config) -> Path:
    """Write ``config`` (a ``BertConfig``) and a generated WordPiece tokenizer of its vocabulary size into ``folder``:
    characters and their continuations, not bert-base-uncased's words, so inputs keep their shape (2 x 128 ids)."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(folder)
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    tokens = [*_SPECIAL, *chars, *(f"##{c}" for c in chars)]
    tokens += [f"[unused{i}]" for i in range(config.vocab_size - len(tokens))]
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n")
    BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    return folder
