"""Sentence-pair tasks: MRPC (the paper's Fig 6) and a synthetic paraphrase task for the fast tier.

Both go through the same path: raw sentence pairs -> the model's own tokenizer -> a ``Task`` whose
inputs are LongTensors of shape (n, 2, L): row 0 the input ids, row 1 the token type ids (segment
A/B). Every set of a task is padded on the right to the same L (``task.meta["max_length"]``), so
``task.input_shape`` holds for all of them. Positions holding ``task.meta["pad_token_id"]`` are
padding; the model wrapper (``iwcore.models.text``) derives the attention mask from them and trims
all-pad columns per batch, so a batch costs only as much as its longest pair.

MRPC split (see ``load_mrpc``): train = GLUE train (3668 pairs), the split the paper's code
(Wolf & Sanh's ``run_classifier``, as in Devlin et al.) fine-tunes on; eval ``"test"`` = the 1725
test pairs, labelled from the original ``msr_paraphrase_test.txt`` (GLUE ships them unlabelled);
eval ``"dev"`` = GLUE dev (408 pairs), the labelled split that code evaluates on, kept beside the
test set with the role of a validation split (reported, never deciding). The positive class (label 1) is "paraphrase".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from iwcore.data import register_task
from iwcore.data.images import DatasetInvalid, DatasetNotFound
from iwcore.data.task import EvalSet, Task, TrainingSample

MAX_LENGTH = 128  # BERT's max_seq_length for MRPC in Devlin et al. and in the paper's code
PAIR_CLASS_NAMES = ("not_paraphrase", "paraphrase")
GLUE_TRAIN, GLUE_DEV, GLUE_TEST = "train.tsv", "dev.tsv", "test.tsv"
ORIGINAL_TEST = "msr_paraphrase_test.txt"  # labelled; GLUE test.tsv holds the same pairs without labels
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")  # ids 0..3 in the synthetic vocabulary


@dataclass(frozen=True)
class SentencePairs:
    """Parallel lists of first and second sentences; ``labels`` (1 = paraphrase) or None if unknown."""

    first: list[str]
    second: list[str]
    labels: list[int] | None = None

    def __post_init__(self):
        if len(self.first) != len(self.second) or (self.labels is not None and len(self.labels) != len(self.first)):
            raise ValueError("sentence-pair columns differ in length")

    def __len__(self) -> int:
        return len(self.first)


# ---------------------------------------------------------------- MRPC files


def read_mrpc_file(path: str | Path) -> SentencePairs:
    """Read one MRPC file, GLUE TSV or original ``msr_paraphrase_*.txt``.

    All share the columns ``<Quality|index>  #1 ID  #2 ID  #1 String  #2 String``; a ``Quality``
    header means labelled (the original files, GLUE train/dev), ``index`` means unlabelled (GLUE
    test). Fields are split on tabs only: sentences contain raw ``"`` that a CSV parser would eat.
    Errors (``DatasetInvalid``, a ``ValueError``) name the file and the line: a wrong number of
    fields, a quality label other than 0/1, an empty sentence.
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = handle.read().splitlines()
    if not lines:
        raise DatasetInvalid(f"{path}: empty file, not an MRPC file")
    header = lines[0].split("\t")
    rows = [(number, line.split("\t")) for number, line in enumerate(lines[1:], start=2) if line]
    if len(header) != 5 or header[0] not in ("Quality", "index"):
        raise DatasetInvalid(f"{path}: not an MRPC file (header {header!r})")
    for number, row in rows:
        if len(row) != 5:
            raise DatasetInvalid(f"{path}, line {number}: expected 5 tab-separated fields, found {len(row)}")
        if header[0] == "Quality" and row[0].strip() not in ("0", "1"):
            raise DatasetInvalid(f"{path}, line {number}: quality label {row[0]!r} is not 0 or 1")
        for column, name in ((3, "#1 String"), (4, "#2 String")):
            if not row[column].strip():
                raise DatasetInvalid(f"{path}, line {number}: empty sentence ({name})")
    labels = [int(row[0]) for _, row in rows] if header[0] == "Quality" else None
    return SentencePairs([row[3] for _, row in rows], [row[4] for _, row in rows], labels)


def load_mrpc(data_dir: str | Path | None = None) -> tuple[dict[str, SentencePairs], str]:
    """MRPC as ``{"train", "dev", "test"}`` pairs plus a description of where they came from.

    Looks in ``data_dir`` and ``data_dir/mrpc`` for ``train.tsv`` + ``dev.tsv`` and a test file
    (``msr_paraphrase_test.txt`` preferred, being labelled; else GLUE's unlabelled ``test.tsv``),
    then in Hugging Face ``datasets`` (``glue``/``mrpc``, test unlabelled) if that package is
    installed. Raises ``DatasetNotFound`` naming everything tried.
    """
    tried = []
    if data_dir is not None:
        for folder in (Path(data_dir), Path(data_dir) / "mrpc"):
            test_file = next((folder / n for n in (ORIGINAL_TEST, GLUE_TEST) if (folder / n).is_file()), None)
            if (folder / GLUE_TRAIN).is_file() and (folder / GLUE_DEV).is_file() and test_file is not None:
                splits = {"train": read_mrpc_file(folder / GLUE_TRAIN), "dev": read_mrpc_file(folder / GLUE_DEV),
                          "test": read_mrpc_file(test_file)}
                return splits, f"{folder} ({GLUE_TRAIN}, {GLUE_DEV}, {test_file.name})"
            tried.append(f"{folder} (needs {GLUE_TRAIN}, {GLUE_DEV} and {ORIGINAL_TEST} or {GLUE_TEST})")
    try:
        return _mrpc_from_hugging_face(), "Hugging Face datasets glue/mrpc (test unlabelled)"
    except Exception as error:  # not installed, offline, not cached, hub changes: all mean "not here"
        tried.append(f"Hugging Face datasets 'glue'/'mrpc' ({type(error).__name__}: {error})")
    raise DatasetNotFound(
        "MRPC not found. Looked at:\n  " + "\n  ".join(tried or ["no data directory given"]) +
        f"\nProvide it with --data-dir pointing at a folder holding GLUE's {GLUE_TRAIN} and {GLUE_DEV} plus "
        f"{ORIGINAL_TEST} (the labelled test set from the Microsoft Research Paraphrase Corpus) or GLUE's "
        f"{GLUE_TEST}, either directly or in a subfolder 'mrpc'.")


def _mrpc_from_hugging_face() -> dict[str, SentencePairs]:
    from datasets import load_dataset

    glue = load_dataset("glue", "mrpc")

    def pairs(split, labelled):
        rows = glue[split]
        return SentencePairs(list(rows["sentence1"]), list(rows["sentence2"]),
                             [int(v) for v in rows["label"]] if labelled else None)

    return {"train": pairs("train", True), "dev": pairs("validation", True), "test": pairs("test", False)}


# ---------------------------------------------------------------- tokenization into a Task


def encode_pairs(tokenizer: PreTrainedTokenizerBase, pairs: SentencePairs, max_length: int = MAX_LENGTH) -> torch.Tensor:
    """Tokenize pairs as ``[CLS] A [SEP] B [SEP]`` with the model's own tokenizer -> (n, 2, L) LongTensor.

    Truncation trims the longer sentence first, as BERT's MRPC recipe does; every pair is padded
    on the right with the pad id to L = ``max_length``.
    """
    encoded = tokenizer(pairs.first, pairs.second, truncation="longest_first", max_length=max_length,
                        padding="max_length", return_token_type_ids=True, return_tensors="pt")
    return torch.stack([encoded["input_ids"], encoded["token_type_ids"]], dim=1).long()


def pair_task(name: str, tokenizer: PreTrainedTokenizerBase, train: SentencePairs | TrainingSample,
              eval_sets: dict[str, tuple[SentencePairs, str]], max_length: int = MAX_LENGTH,
              sampler: Callable[[int], TrainingSample] | None = None, **meta) -> Task:
    """A binary ``Task`` from sentence pairs; ``eval_sets`` maps a name to (pairs, role).

    ``train`` is the task's own training sample: pairs to tokenize, or a ``TrainingSample`` already
    encoded (e.g. ``sampler(seed)``). ``sampler`` draws the training sample of a replicate (see
    ``Task``); it should not call the tokenizer per draw (encode a pool once and index it), since a
    sweep draws one sample per seed. ``meta`` records ``pad_token_id`` and ``vocab_size`` (what the
    text models need) and ``max_length``, plus any extra keys given.
    """
    def labels(pairs):
        return None if pairs.labels is None else torch.tensor(pairs.labels, dtype=torch.long)

    if isinstance(train, SentencePairs):
        train = TrainingSample(encode_pairs(tokenizer, train, max_length), labels(train))
    return Task(
        name=name,
        x_train=train.x,
        y_train=train.y,
        eval_sets={key: EvalSet(encode_pairs(tokenizer, pairs, max_length), labels(pairs), role)
                   for key, (pairs, role) in eval_sets.items()},
        class_names=PAIR_CLASS_NAMES,
        meta={"pad_token_id": tokenizer.pad_token_id, "vocab_size": len(tokenizer), "max_length": max_length, **meta},
        sampler=sampler,
    )


@register_task("mrpc")
def mrpc_task(tokenizer: PreTrainedTokenizerBase | str, data_dir: str | Path | None = None,
              max_length: int = MAX_LENGTH, n_train: int | None = None, n_eval: int | None = None,
              seed: int = 0) -> Task:
    """MRPC (train = GLUE train; in-domain evals "test" and "dev") tokenized for one model.

    ``tokenizer`` is a tokenizer or the hub name / local folder of the model whose tokenizer to load
    (what a sweep's JSON config names). ``n_train`` and ``n_eval`` keep ``seed``-drawn subsets of the
    training pairs and of each evaluation set, for cheaper runs; None keeps them whole.

    With ``n_train`` below the size of the train split, the task has a sampler: a replicate's
    training sample is ``n_train`` pairs of the train split drawn without replacement with
    ``np.random.default_rng(sample_seed)`` (the split is tokenized once, then indexed); the task's
    own sample is the draw of ``seed``. The evaluation subsets depend on ``seed`` only. With the
    whole split there is nothing to draw: every replicate trains on all of it (no sampler).
    """
    if isinstance(tokenizer, str):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    splits, source = load_mrpc(data_dir)
    pool = splits["train"]
    rng = np.random.default_rng(seed)
    own_rows = _subset_rows(len(pool), n_train, rng)  # first draw of the seed's stream: = sampler(seed)'s rows
    test, dev = (_subset(splits[k], n_eval, rng) for k in ("test", "dev"))
    sampler = None
    if own_rows is not None:
        x_pool = encode_pairs(tokenizer, pool, max_length).numpy()  # numpy: indexing stays fast with busy torch threads
        y_pool = np.array(pool.labels, dtype=np.int64)

        def sampler(sample_seed: int) -> TrainingSample:
            rows = _subset_rows(len(pool), n_train, np.random.default_rng(sample_seed))
            return TrainingSample(torch.from_numpy(x_pool[rows]), torch.from_numpy(y_pool[rows]))

    train = pool if sampler is None else sampler(seed)
    return pair_task("mrpc", tokenizer, train, {"test": (test, "in_domain"), "dev": (dev, "validation")},
                     max_length, sampler=sampler, source=source, n_train=len(train.y if sampler else train))


def _subset_rows(size: int, n: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """``n`` of ``range(size)`` drawn without replacement, sorted; None (all rows) for ``n`` None or >= size."""
    if n is None or n >= size:
        return None
    return np.sort(rng.choice(size, size=n, replace=False))


def _subset(pairs: SentencePairs, n: int | None, rng: np.random.Generator) -> SentencePairs:
    """``n`` pairs drawn without replacement (in their original order), or all of them for None."""
    kept = _subset_rows(len(pairs), n, rng)
    if kept is None:
        return pairs
    return SentencePairs([pairs.first[i] for i in kept], [pairs.second[i] for i in kept],
                         None if pairs.labels is None else [pairs.labels[i] for i in kept])


# ---------------------------------------------------------------- synthetic paraphrase task


@dataclass(frozen=True)
class SyntheticVocabulary:
    """Words ``w<meaning>_<synonym>``: ``n_meanings`` meanings with ``n_synonyms`` surface forms each.

    Meanings ``0 .. n_meanings - n_unseen - 1`` make up the training and test sentences; the last
    ``n_unseen`` never occur there and form the out-of-domain pairs.
    """

    n_meanings: int = 24
    n_synonyms: int = 2
    n_unseen: int = 4

    def word(self, meaning: int, synonym: int) -> str:
        return f"w{meaning}_{synonym}"

    def meaning(self, word: str) -> int:
        return int(word[1:].split("_")[0])

    @property
    def words(self) -> list[str]:
        return [self.word(m, s) for m in range(self.n_meanings) for s in range(self.n_synonyms)]

    @property
    def n_seen(self) -> int:
        return self.n_meanings - self.n_unseen


def synthetic_tokenizer(vocabulary: SyntheticVocabulary) -> PreTrainedTokenizerFast:
    """A BERT-shaped word-level tokenizer for the synthetic words, built in code.

    Whitespace splitting, ``[CLS] A [SEP] B [SEP]`` with token types 0/1, pad id 0: wrapped as a
    ``PreTrainedTokenizerFast`` so the synthetic task takes the same ``encode_pairs`` path as BERT.
    """
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *vocabulary.words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", model_max_length=MAX_LENGTH,
                                   model_input_names=["input_ids", "token_type_ids", "attention_mask"])


def is_paraphrase(first: str, second: str, vocabulary: SyntheticVocabulary) -> bool:
    """The synthetic rule: a paraphrase uses the same multiset of meanings, in any order and wording."""
    def meanings(sentence):
        return sorted(vocabulary.meaning(w) for w in sentence.split())

    return meanings(first) == meanings(second)


@dataclass(frozen=True)
class SyntheticDraw:
    """Pairs as arrays of meanings: row i is a pair of sentences of ``length[i, 0]`` and ``length[i, 1]`` words.

    ``meanings`` and ``synonyms`` are (n, 2, longest): sentence A in ``[:, 0]``, B in ``[:, 1]``,
    word j of a sentence in column j (columns from its length on are unused); ``labels`` is
    None for unlabelled pairs. ``pairs`` renders the words, ``ids`` encodes them directly
    (the same tensor ``encode_pairs`` gives with ``synthetic_tokenizer``, without tokenizing).
    """

    meanings: np.ndarray
    synonyms: np.ndarray
    length: np.ndarray
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.length)

    def select(self, rows) -> "SyntheticDraw":
        return SyntheticDraw(self.meanings[rows], self.synonyms[rows], self.length[rows],
                             None if self.labels is None else self.labels[rows])

    @staticmethod
    def concatenate(draws: list["SyntheticDraw"]) -> "SyntheticDraw":
        def joined(field):
            parts = [getattr(d, field) for d in draws]
            return None if parts[0] is None else np.concatenate(parts)

        return SyntheticDraw(*(joined(f) for f in ("meanings", "synonyms", "length", "labels")))

    def pairs(self, vocabulary: SyntheticVocabulary) -> SentencePairs:
        words = [[" ".join(vocabulary.word(int(m), int(s)) for m, s in zip(ms[:k], ss[:k]))
                  for ms, ss, k in zip(row_m, row_s, row_k)]
                 for row_m, row_s, row_k in zip(self.meanings, self.synonyms, self.length)]
        return SentencePairs([w[0] for w in words], [w[1] for w in words],
                             None if self.labels is None else self.labels.tolist())

    def ids(self, vocabulary: SyntheticVocabulary, max_length: int) -> torch.Tensor:
        """(n, 2, max_length) ids and token types of ``[CLS] A [SEP] B [SEP]``, padded with 0 (``[PAD]``)."""
        n, longest = len(self), self.meanings.shape[-1]
        if max_length < 2 * longest + 3:
            raise ValueError(f"max_length {max_length} is shorter than the longest pair, {2 * longest + 3} tokens")
        words = len(SPECIAL_TOKENS) + self.meanings * vocabulary.n_synonyms + self.synonyms  # synthetic_tokenizer's ids
        x = np.zeros((n, 2, max_length), np.int64)
        rows, a, b = np.arange(n), self.length[:, 0], self.length[:, 1]
        r, j = np.nonzero(np.arange(longest) < a[:, None])
        x[r, 0, 1 + j] = words[r, 0, j]                    # A after [CLS]
        r, j = np.nonzero(np.arange(longest) < b[:, None])
        x[r, 0, a[r] + 2 + j] = words[r, 1, j]             # B after A's [SEP], token type 1
        x[r, 1, a[r] + 2 + j] = 1
        x[:, 0, 0] = SPECIAL_TOKENS.index("[CLS]")
        x[rows, 0, a + 1] = x[rows, 0, a + b + 2] = SPECIAL_TOKENS.index("[SEP]")
        x[rows, 1, a + b + 2] = 1
        return torch.from_numpy(x)


def draw_synthetic(n: int, rng: np.random.Generator, vocabulary: SyntheticVocabulary, lengths: tuple[int, int],
                   n_replaced: int | None, positive_share: float) -> SyntheticDraw:
    """``n`` labelled pairs under ``is_paraphrase`` (see ``synthetic_pairs``), in a few vectorised draws on ``rng``."""
    low, high = lengths
    most_replaced = high if n_replaced is None else n_replaced
    if not 1 <= low <= high or not 1 <= most_replaced <= high or (n_replaced or 0) > low:
        raise ValueError(f"need 1 <= lengths[0] <= lengths[1] and n_replaced None or in 1..{low}, got {lengths}, {n_replaced}")
    if high + most_replaced > vocabulary.n_seen:
        raise ValueError(f"{vocabulary.n_seen} seen meanings cannot fill sentences of {high} plus {most_replaced} replacements")
    chosen = np.argsort(rng.random((n, vocabulary.n_seen)), axis=1)[:, :high + most_replaced]  # distinct, per row
    length = rng.integers(low, high + 1, size=n)
    labels = (rng.random(n) < positive_share).astype(np.int64)
    column = np.arange(high)
    first = chosen[:, :high]
    replacements = np.zeros_like(first)
    replacements[:, :most_replaced] = chosen[:, high:]
    replaced = length if n_replaced is None else np.full(n, n_replaced)
    varied = np.where((labels[:, None] == 0) & (column < replaced[:, None]), replacements, first)
    order = np.argsort(np.where(column < length[:, None], rng.random((n, high)), 2.0), axis=1)  # shuffles used words
    meanings = np.stack([first, np.take_along_axis(varied, order, axis=1)], axis=1)
    synonyms = rng.integers(vocabulary.n_synonyms, size=(n, 2, high))
    return SyntheticDraw(meanings, synonyms, np.stack([length, length], axis=1), labels)


def synthetic_pairs(n: int, rng: np.random.Generator, vocabulary: SyntheticVocabulary,
                    lengths: tuple[int, int], n_replaced: int | None, positive_share: float) -> SentencePairs:
    """Pairs under ``is_paraphrase``; both classes reshuffle and re-word the first sentence.

    A first sentence is ``lengths[0]..lengths[1]`` distinct seen meanings. The second is a
    permutation of them with every word's synonym redrawn; for a non-paraphrase, ``n_replaced`` of
    its meanings (all when None: a different sentence) are first swapped for seen meanings absent
    from the first sentence. Both sentences have equal length in both classes, so only the
    cross-sentence comparison separates them; a small ``n_replaced`` makes non-paraphrases subtle.
    The words of ``draw_synthetic`` with the same arguments.
    """
    return draw_synthetic(n, rng, vocabulary, lengths, n_replaced, positive_share).pairs(vocabulary)


def _unseen_draw(n: int, rng: np.random.Generator, vocabulary: SyntheticVocabulary,
                 lengths: tuple[int, int]) -> SyntheticDraw:
    """``n`` unlabelled pairs of two independent sentences of ``lengths[0]..lengths[1]`` words each,
    whose meanings (drawn with replacement) are the ``n_unseen`` never used in training."""
    low, high = lengths
    return SyntheticDraw(rng.integers(vocabulary.n_seen, vocabulary.n_meanings, size=(n, 2, high)),
                         rng.integers(vocabulary.n_synonyms, size=(n, 2, high)),
                         rng.integers(low, high + 1, size=(n, 2)), None)


EVAL_STREAM = 0x6576616C  # "eval": the spawn key of a synthetic task's evaluation draws


@register_task("synthetic_pairs")
def synthetic_pair_task(n_train: int, n_test: int, seed: int, n_out_of_domain: int | None = None,
                        vocabulary: SyntheticVocabulary = SyntheticVocabulary(), lengths: tuple[int, int] = (3, 5),
                        n_replaced: int | None = None, positive_share: float = 0.5) -> Task:
    """The fast-tier stand-in for MRPC, deterministic given ``seed`` (see ``synthetic_pairs``).

    Replicates: ``sampler(sample_seed)`` draws ``n_train`` fresh pairs from the rule with
    ``np.random.default_rng(sample_seed)``, encoded directly (``SyntheticDraw.ids``; about a
    millisecond per thousand pairs); the task's own training sample is ``sampler(seed)``.

    Eval sets, drawn from their own stream of ``seed`` (the same for every ``n_train``):
    ``"test"`` (in-domain, labelled) and ``"out_of_domain"``: unlabelled pairs of independent
    sentences of the ``n_unseen`` meanings never seen in training (default ``n_test`` of them).
    Neither holds a pair equal to one of the task's own training pairs: such draws are dropped
    and replaced by further draws. With the default vocabulary two random pairs coincide with
    probability about 1e-8 (nearly all of it two 3-word paraphrases), so 256 test pairs meet
    1000 training pairs about 0.003 times; measured, 1000 replicate samples of 1000 pairs held 2
    of the 256 test pairs of seed 0. Other replicates' samples are not filtered: at that rate a
    1000-pair sample holds a test pair about once in 500 replicates, as any finite population allows.

    Difficulty, with the defaults (non-paraphrase = a different sentence, 3 to 5 words) and plain
    SGD, batch 16: ``tiny_bert`` learns it from 1000 pairs (lr 0.03-0.1) after a seed-dependent
    plateau at chance of 10-40 epochs, reaching 75-96% test accuracy by epoch 40-60, and not from
    192 pairs in 30 epochs; ``tiny_encoder`` (2 layers) likewise needs ~1000 pairs (0.84-0.94 at
    epoch 30); ``siamese_bag`` learns it from 256 pairs at lr 0.3 within a few epochs (0.83-0.94
    at epoch 30 over 20 seeds). Partial replacement (``n_replaced`` 2 of up to 8 words) stayed
    below 70% for ``tiny_bert`` in 60 epochs. ``vocabulary`` may be given as the dict of its fields
    (a sweep's JSON config).
    """
    if isinstance(vocabulary, dict):
        vocabulary = SyntheticVocabulary(**vocabulary)
    lengths = tuple(lengths)
    longest_pair = 2 * lengths[1] + 3  # [CLS] A [SEP] B [SEP], one token per word

    def sampler(sample_seed: int) -> TrainingSample:
        draw = draw_synthetic(n_train, np.random.default_rng(sample_seed), vocabulary, lengths, n_replaced,
                              positive_share)
        return TrainingSample(draw.ids(vocabulary, longest_pair), torch.from_numpy(draw.labels))

    train = sampler(seed)
    seen = {row.tobytes() for row in train.x.numpy()}
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(EVAL_STREAM,)))

    def fresh(n: int, draw_more) -> SentencePairs:
        """``n`` draws of ``draw_more`` none of which equals a training pair, drawn until there are enough."""
        kept, budget = [], 100 * n + 1000
        while n > 0:
            draw = draw_more(n)
            new = np.array([row.tobytes() not in seen for row in draw.ids(vocabulary, longest_pair).numpy()], bool)
            kept.append(draw.select(new))
            n, budget = n - int(new.sum()), budget - len(new)
            if n > 0 and budget < 0:
                raise ValueError(f"synthetic_pairs(seed {seed}): nearly every pair drawn for evaluation is a "
                                 f"training pair; the vocabulary {vocabulary} and lengths {lengths} leave too few "
                                 "distinct pairs")
        return SyntheticDraw.concatenate(kept).pairs(vocabulary)

    test = fresh(n_test, lambda n: draw_synthetic(n, rng, vocabulary, lengths, n_replaced, positive_share))
    out_of_domain = fresh(n_test if n_out_of_domain is None else n_out_of_domain,
                          lambda n: _unseen_draw(n, rng, vocabulary, lengths))
    return pair_task("synthetic_pairs", synthetic_tokenizer(vocabulary), train,
                     {"test": (test, "in_domain"), "out_of_domain": (out_of_domain, "out_of_domain")},
                     max_length=longest_pair, sampler=sampler, seed=seed)
