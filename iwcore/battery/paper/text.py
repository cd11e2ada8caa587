"""The paper's text claim C16 (Section 4, Fig 6) and its subject: fine-tuned BERT on MRPC.

Full tier: the paper's setting. BERT-base (``--bert-model``, a hub name in the local Hugging Face cache or a
model folder) fine-tuned whole on GLUE's MRPC train split (3668 pairs) with a fresh two-label head, max length
128 and batch 32 as in Devlin et al., but plain SGD with lr 0.01 and no weight decay, as the paper; 9 weight
ratios 4^-4..4^4 on "paraphrase"; 5 seeds (the paper shows one run per ratio; CLAIMS.md's rules decide nothing
with fewer than 5 replicates); 150 epochs (the paper saw the extreme ratios settle after more than 100). One
BERT per optimizer step (``models_per_step=1``); the cache saves progress at epoch ends, so an interrupted
fine-tune resumes.

Fast tier: the same evaluation path on a CPU at a small scale: ``siamese_bag`` (mean word embeddings of each
sentence, features [|a-b|, a*b], one ReLU layer; stacked with vmap like the image models) on the synthetic
paraphrase task, each seed drawing its own 256 training pairs. A randomly initialised tiny BERT stayed at
chance at this budget (test accuracy 0.49-0.51 in 30 epochs), and a 2-layer transformer that learns the rule
needs 1,000 pairs and ~20x the cost per model (see iwcore/models/text.py), which the text family's null sweeps
(``iwcore.battery.paper.null``) cannot afford on a CPU; the fast text model is a stand-in for BERT, not BERT.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iwcore.battery.claim import PLAN_ONLY, Claim, Context, Unavailable, data_folder
from iwcore.dryrun import DRY_RUN, has_weights, random_bert
from iwcore.battery.shapes import fades_shape, settings
from iwcore.battery.subject import Subject
from iwcore.data.images import DatasetNotFound
from iwcore.data.text import ORIGINAL_TEST, SyntheticVocabulary, load_mrpc, synthetic_tokenizer
from iwcore.results import SweepResult
from iwcore.sweep import Sweep, powers
from iwcore.verdicts import Decision, Row

PAPER_ACCURACY = (0.78, 0.85)  # "All classifiers achieved test accuracies between 78% and 85%"
TIERS = {
    "full": Sweep(name="full-text", task="mrpc", model="bert", weight_ratios=powers(4, 4), seeds=tuple(range(5)),
                  epochs=150, batch_size=32, lr=0.01, models_per_step=1),
    # siamese_bag (mean word embeddings of each sentence, [|a-b|, a*b], a ReLU layer; 1,921 parameters) on 256
    # generated pairs per replicate, all 25 models stacked: ~2 s on one core; its null (200 sweeps, 5,000 models,
    # early window) 44-54 s as one stack, ~30 s as five of 1,000 (one thread of a busy 2-core CPU).
    # Sized by the unweighted model only: every seed 0.83-0.94 test accuracy at epoch 30
    # (20 seeds, training loss ~0.01). A 2-layer transformer (tiny_encoder) needs 1,000 pairs to learn the rule
    # and would cost ~20x more per model: see iwcore/models/text.py.
    "fast": Sweep(name="fast-text", task="synthetic_pairs", task_options={"n_train": 256, "n_test": 256, "seed": 0},
                  model="siamese_bag", model_options={"vocab_size": len(synthetic_tokenizer(SyntheticVocabulary())),
                                                      "pad_token_id": 0, "embedding": 16, "hidden": 32},
                  weight_ratios=powers(4, 2), seeds=(0, 1, 2, 3, 4), epochs=30, batch_size=16, lr=0.3),
}
# The long tier: the fast stand-in at 10x its epochs with 10 seeds (CLAIMS.md revision 3)
TIERS["long"] = TIERS["fast"].scaled(name="long-text", seeds=tuple(range(10)), epochs=300)


def bert_is_available(name_or_folder: str) -> str | None:
    """None if the model loads offline (a folder, or a hub name in the local cache); else what is missing."""
    if Path(name_or_folder).is_dir():
        return None if (Path(name_or_folder) / "config.json").is_file() else \
            f"--bert-model folder {name_or_folder} has no config.json"
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name_or_folder, "config.json"), str):
        return None
    return (f"{name_or_folder!r} is not in the local Hugging Face cache and is not a folder: pass --bert-model "
            f"<folder with config.json, weights and tokenizer> or cache it with "
            f"huggingface-cli download {name_or_folder}")


def mrpc_data(tier: str, options: dict) -> dict:
    """The full tier's MRPC folder and BERT model, or ``Unavailable`` naming everything missing: CUDA, the MRPC
    files, the model (none of them checked where the sweep is only planned, ``PLAN_ONLY``)."""
    if tier != "full":
        return {}
    model, data_dir = options.get("bert_model"), options.get("data_dir")
    if not options.get(PLAN_ONLY):
        require_mrpc(model, data_dir, options)
    folder = Path(model).expanduser().resolve() if Path(model).is_dir() else None
    model = str(folder) if folder else model
    model_options = {"name_or_folder": model}
    if options.get(DRY_RUN) and not has_weights(model):  # the model's architecture, random weights
        model = model_options["name_or_folder"] = random_bert(model)
        model_options["pretrained"] = False
    return {"task_options": {"tokenizer": model, "data_dir": data_folder(data_dir)}, "model_options": model_options}


def require_mrpc(model: str, data_dir, options: dict) -> None:
    """``Unavailable`` naming everything the full-tier BERT on MRPC misses here: CUDA, the MRPC files, the model."""
    missing = []
    device = options.get("device")
    if getattr(device, "type", None) != "cuda" and not options.get("allow_cpu"):
        missing.append("a CUDA device (27 BERT-base fine-tunes of 150 epochs; --allow-cpu runs them anyway)")
    if data_dir is None:
        missing.append(f"--data-dir: a folder with GLUE's MRPC train.tsv and dev.tsv and the labelled {ORIGINAL_TEST}")
    else:
        try:
            if load_mrpc(data_dir)[0]["test"].labels is None:
                missing.append(f"labelled test pairs ({ORIGINAL_TEST}) under {data_dir}")
        except DatasetNotFound as absent:
            missing.append(str(absent))
    if not options.get(DRY_RUN) and (why := bert_is_available(model)) is not None:
        missing.append(f"the BERT model: {why}")
    if missing:
        raise Unavailable("the full-tier BERT on MRPC needs " + "; ".join(missing))


TEXT = Subject(name="text", label="text classifier",
               tiers=TIERS, data=mrpc_data, paper=True)


def accuracy_statistic(result: SweepResult) -> dict:
    """Final test accuracy per weight ratio (mean over seeds), to compare with the paper's 78-85%."""
    final = result.accuracy("test")[-1]
    return {f"{w:g}": float(np.nanmean(a)) for w, a in zip(result.weight_ratios, final)}


_FADES = fades_shape((TEXT,))


def fades_at_the_paper_accuracy(ctx: Context, results: dict[str, SweepResult]) -> Decision:
    """Fades on the test pairs, with every ratio's final test accuracy beside the paper's."""
    decision = _FADES["decide"](ctx, results)
    decision.rows += [Row(f"w = {w}", "test", "final test accuracy, mean over seeds", a,
                          rule=f"paper: {PAPER_ACCURACY[0]:.0%}-{PAPER_ACCURACY[1]:.0%} for every ratio")
                      for result in results.values() for w, a in accuracy_statistic(result).items()]
    return decision


def setting(ctx: Context) -> str:
    """The subject's setting, naming the model that ran: the BERT model of the full tier (``--bert-model``), or
    the fast tier's stand-in, which is not BERT and does not read MRPC."""
    config = ctx.results[0].config
    if config["model"] == "bert":
        return settings(f"BERT {config['model_options'].get('name_or_folder')} on MRPC")(ctx)
    return settings(f"not BERT on MRPC: {config['model']}, a stand-in for BERT, on generated sentence pairs "
                    f"({config['task']})")(ctx)


C16 = Claim("C16", "Fine-tuned BERT on MRPC: the share of test pairs classified as paraphrase converges across "
                   "weights; extreme weights take over 100 epochs.",
            paper="Fig 6. BERT-base fine-tuned as Devlin et al. without weight decay, SGD lr 0.01; weight ratios "
                  "powers of 4 including 1; test accuracy 78-85%",
            **{**_FADES, "decide": fades_at_the_paper_accuracy, "setting": setting})

CLAIMS = (C16,)
