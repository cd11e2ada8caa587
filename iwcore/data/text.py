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
eval ``"dev"`` = GLUE dev (408 pairs), the labelled split that code evaluates on, kept in-domain
beside the test set. The positive class (label 1) is "paraphrase".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from iwcore.data import register_task
from iwcore.data.images import DatasetNotFound
from iwcore.data.task import EvalSet, Task

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
    """
    path = Path(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = handle.read().splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:] if line]
    if len(header) != 5 or header[0] not in ("Quality", "index"):
        raise ValueError(f"{path}: not an MRPC file (header {header!r})")
    for number, row in enumerate(rows, start=2):
        if len(row) != 5:
            raise ValueError(f"{path}, line {number}: expected 5 tab-separated fields, found {len(row)}")
    labels = [int(row[0]) for row in rows] if header[0] == "Quality" else None
    if labels is not None and not set(labels) <= {0, 1}:
        raise ValueError(f"{path}: quality labels other than 0/1")
    return SentencePairs([row[3] for row in rows], [row[4] for row in rows], labels)


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


def pair_task(name: str, tokenizer: PreTrainedTokenizerBase, train: SentencePairs,
              eval_sets: dict[str, tuple[SentencePairs, str]], max_length: int = MAX_LENGTH, **meta) -> Task:
    """A binary ``Task`` from sentence pairs; ``eval_sets`` maps a name to (pairs, role).

    ``meta`` records ``pad_token_id`` and ``vocab_size`` (what the model wrapper and ``tiny_bert``
    need) and ``max_length``, plus any extra keys given.
    """
    def labels(pairs):
        return None if pairs.labels is None else torch.tensor(pairs.labels, dtype=torch.long)

    return Task(
        name=name,
        x_train=encode_pairs(tokenizer, train, max_length),
        y_train=labels(train),
        eval_sets={key: EvalSet(encode_pairs(tokenizer, pairs, max_length), labels(pairs), role)
                   for key, (pairs, role) in eval_sets.items()},
        class_names=PAIR_CLASS_NAMES,
        meta={"pad_token_id": tokenizer.pad_token_id, "vocab_size": len(tokenizer), "max_length": max_length, **meta},
    )


@register_task("mrpc")
def mrpc_task(tokenizer: PreTrainedTokenizerBase | str, data_dir: str | Path | None = None,
              max_length: int = MAX_LENGTH, n_train: int | None = None, n_eval: int | None = None,
              seed: int = 0) -> Task:
    """MRPC (train = GLUE train; in-domain evals "test" and "dev") tokenized for one model.

    ``tokenizer`` is a tokenizer or the hub name / local folder of the model whose tokenizer to load
    (what a sweep's JSON config names). ``n_train`` and ``n_eval`` keep ``seed``-drawn subsets of the
    training pairs and of each evaluation set, for cheaper runs; None keeps them whole.
    """
    if isinstance(tokenizer, str):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    splits, source = load_mrpc(data_dir)
    rng = np.random.default_rng(seed)
    train, test, dev = (_subset(splits[k], n, rng) for k, n in (("train", n_train), ("test", n_eval), ("dev", n_eval)))
    return pair_task("mrpc", tokenizer, train, {"test": (test, "in_domain"), "dev": (dev, "in_domain")},
                     max_length, source=source, n_train=len(train))


def _subset(pairs: SentencePairs, n: int | None, rng: np.random.Generator) -> SentencePairs:
    """``n`` pairs drawn without replacement (in their original order), or all of them for None."""
    if n is None or n >= len(pairs):
        return pairs
    kept = np.sort(rng.choice(len(pairs), size=n, replace=False))
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


def synthetic_pairs(n: int, rng: np.random.Generator, vocabulary: SyntheticVocabulary,
                    lengths: tuple[int, int], n_replaced: int | None, positive_share: float) -> SentencePairs:
    """Pairs under ``is_paraphrase``; both classes reshuffle and re-word the first sentence.

    A first sentence is ``lengths[0]..lengths[1]`` distinct seen meanings. The second is a
    permutation of them with every word's synonym redrawn; for a non-paraphrase, ``n_replaced`` of
    its meanings (all when None: a different sentence) are first swapped for seen meanings absent
    from the first sentence. Both sentences have equal length in both classes, so only the
    cross-sentence comparison separates them; a small ``n_replaced`` makes non-paraphrases subtle.
    """
    low, high = lengths
    most_replaced = high if n_replaced is None else n_replaced
    if not 1 <= low <= high or not 1 <= most_replaced <= high or (n_replaced or 0) > low:
        raise ValueError(f"need 1 <= lengths[0] <= lengths[1] and n_replaced None or in 1..{low}, got {lengths}, {n_replaced}")
    if high + most_replaced > vocabulary.n_seen:
        raise ValueError(f"{vocabulary.n_seen} seen meanings cannot fill sentences of {high} plus {most_replaced} replacements")
    first, second, labels = [], [], []
    for _ in range(n):
        chosen = rng.choice(vocabulary.n_seen, size=high + most_replaced, replace=False)
        meanings = list(chosen[: rng.integers(low, high + 1)])
        replaced = len(meanings) if n_replaced is None else n_replaced
        label = int(rng.random() < positive_share)
        varied = meanings if label else [*chosen[high: high + replaced], *meanings[replaced:]]
        first.append(_sentence(meanings, rng, vocabulary))
        second.append(_sentence(rng.permutation(varied), rng, vocabulary))
        labels.append(label)
    return SentencePairs(first, second, labels)


def _sentence(meanings, rng: np.random.Generator, vocabulary: SyntheticVocabulary) -> str:
    return " ".join(vocabulary.word(int(m), int(rng.integers(vocabulary.n_synonyms))) for m in meanings)


@register_task("synthetic_pairs")
def synthetic_pair_task(n_train: int, n_test: int, seed: int, n_out_of_domain: int | None = None,
                        vocabulary: SyntheticVocabulary = SyntheticVocabulary(), lengths: tuple[int, int] = (3, 5),
                        n_replaced: int | None = None, positive_share: float = 0.5) -> Task:
    """The fast-tier stand-in for MRPC, deterministic given ``seed`` (see ``synthetic_pairs``).

    The defaults (non-paraphrase = a different sentence, 3 to 5 words) are what ``tiny_bert``
    learns with plain SGD (1000 pairs, batch 16, lr 0.03-0.1): after a seed-dependent plateau at
    chance of 10-40 epochs it reaches 75-96% test accuracy by epoch 40-60. Partial replacement
    (``n_replaced`` 2 of up to 8 words) stayed below 70% in 60 epochs.

    Eval sets: ``"test"`` (in-domain, labelled) and ``"out_of_domain"``: unlabelled pairs of
    independent sentences of meanings never seen in training (default ``n_test`` of them).
    ``vocabulary`` may be given as the dict of its fields (a sweep's JSON config).
    """
    if isinstance(vocabulary, dict):
        vocabulary = SyntheticVocabulary(**vocabulary)
    rng = np.random.default_rng(seed)
    longest_pair = 2 * lengths[1] + 3  # [CLS] A [SEP] B [SEP], one token per word
    train = synthetic_pairs(n_train, rng, vocabulary, lengths, n_replaced, positive_share)
    test = synthetic_pairs(n_test, rng, vocabulary, lengths, n_replaced, positive_share)
    unseen = np.arange(vocabulary.n_seen, vocabulary.n_meanings)
    sentences = [_sentence(rng.choice(unseen, size=rng.integers(lengths[0], lengths[1] + 1)), rng, vocabulary)
                 for _ in range(2 * (n_test if n_out_of_domain is None else n_out_of_domain))]
    out_of_domain = SentencePairs(sentences[0::2], sentences[1::2])
    return pair_task("synthetic_pairs", synthetic_tokenizer(vocabulary), train,
                     {"test": (test, "in_domain"), "out_of_domain": (out_of_domain, "out_of_domain")},
                     max_length=longest_pair, seed=seed)
