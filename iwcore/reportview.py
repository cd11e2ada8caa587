"""What a reader of the claims report sees, as data: one view of a run, rendered to Markdown and HTML by the
Jinja2 templates in ``iwcore/templates`` (so the two renderings cannot drift apart).

The view puts first what a reader wants in two minutes: the counts over the paper's claims (C1-C16) and the
suite's own (C17-C20), then one headline line per claim (its verdict as one word, whether it counts or is a
declared limit of this tier's scale, the one deciding number beside the paper's, the other tiers' latest
verdicts, the verdicts over base seeds). Each claim's section holds the rest: its decision table (estimate,
interval, null threshold, p, t, rule and verdict in their own columns, terms linked to the glossary), flags
computed from the data, what this tier ran, where its sweeps came from, and its figures.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from iwcore.intervals import bounds_of, count_interval, per_seed_interval

VERDICTS = ("REPRODUCED", "NOT REPRODUCED", "UNDECIDED", "INCONCLUSIVE")
DRY_VERDICT = "DRY RUN"  # a dry run's record (iwcore.dryrun): ran end to end, decides nothing, never counted
PAPER_CLAIMS = tuple(f"C{i}" for i in range(1, 17))
SUITE_CLAIMS = tuple(f"C{i}" for i in range(17, 21))

# The claim in a dozen words, and what the paper reports for it (CLAIMS.md).
HEADLINES = {
    "C1": ("Weighting's effect fades on separable 2D data (logistic regression, MLP)", "fades (Fig 1)"),
    "C2": ("With L2 0.001 the effect persists on 2D data", "persists (Fig 2)"),
    "C3": ("With dropout the MLP's effect fades as without it", "fades (Fig 3)"),
    "C4": ("Logistic regression converges in direction to the hard-margin SVM", "cosine -> 1 (Soudry et al.)"),
    "C5": ("Positive control: on non-separable data the effect persists", "persists (Figs A.1, A.2)"),
    "C6": ("CNN on cat vs dog: the effect fades by epoch 1000", "fades (Fig 4a-d); accuracy 0.80-0.85"),
    "C7": ("L2 keeps an effect on the CNN", "persists (Figs 4e, A.3)"),
    "C8": ("Dropout does not keep the CNN's effect", "fades (Figs 4f, A.4)"),
    "C9": ("Batch norm keeps an effect in a ResNet; no BN fades", "persists with BN (Fig A.5)"),
    "C10": ("Sub-sampling shifts predictions; re-weighting does not undo it", "IW removes < half (Fig A.6)"),
    "C11": ("Differently weighted models agree like differently seeded ones", "0.82 / 0.74 vs 0.78 / 0.71"),
    "C12": ("With 5% label noise the effect still fades", "fades (Fig A.7)"),
    "C13": ("The effect fades on automobile vs truck too", "fades (Fig A.8)"),
    "C14": ("The effect fades with Adam too", "fades (Fig A.9)"),
    "C15": ("Label-shift weighting helps weighted accuracy early, then the gain dissipates", "gain dissipates (Fig 5)"),
    "C16": ("A text classifier's effect fades (the paper: BERT on MRPC)", "fades (Fig 6); accuracy 0.78-0.85"),
    "C17": ("A polynomially-tailed loss restores the effect on separable data", "persists (Wang et al. 2022)"),
    "C18": ("Early-stopped models still show the effect", "present at the chosen checkpoint"),
    "C19": ("Null calibration: 'present early' fires at most at its nominal rate", "rate <= 0.025"),
    "C20": ("Under imbalance, poly loss + IW beats CE + IW on balanced accuracy", "0.630 vs 0.578 (Wang et al.)"),
}

# The glossary (anchor, term, definition) and the patterns that link a table's text to it.
GLOSSARY = (
    ("g-E", "E(t)", "the effect of weighting at checkpoint t: the mean over seeds of b_s(t), the least-squares slope "
                    "of the share classified positive against log2 of the weight ratio; E_peak = E(t̂), E_final = E "
                    "at the last checkpoint"),
    ("g-b", "b_s(t)", "that slope for seed s (b_final, b_peak: at the last checkpoint and at t̂)"),
    ("g-F", "F", "E_final / E_peak: how much of the early effect is left at the end (fades: F well below 0.25)"),
    ("g-that", "t̂", "the checkpoint of the early window where E(t) is largest (t_hat); revision 3 picks it on the "
                   "other seeds for each seed"),
    ("g-early", "present early", "the effect is there in the early window (the first 10% of epochs): the "
                                 "permutation max-T test has p <= 0.025"),
    ("g-maxT", "max-T", "a permutation test: the weight-ratio labels are permuted within each seed 9,999 times and "
                        "T = max over the early window of E(t) recomputed; its null 97.5th percentile is the null "
                        "threshold column"),
    ("g-fieller", "Fieller", "the 95% interval of a ratio of two means (F), exact under normality; it can be "
                             "unbounded when the denominator's interval reaches 0"),
    ("g-G", "G", "G_s = b_s(final) - 0.25 b_s(t̂_-s): what is left of seed s's effect beyond a quarter of its early "
                 "peak (the peak chosen on the other seeds); fades is REPRODUCED when its t <= -t_c, NOT REPRODUCED "
                 "when t >= t_c"),
    ("g-tc", "t_c", "the critical t value, t_{n-1, 0.975} for n seeds: one-sided alpha = 0.025"),
    ("g-p", "p", "in a t row, the one-sided p-value of the test the estimate points to (the claim's or its "
                 "negation's; the verdict says which); with k deciding parts NOT REPRODUCED needs p <= 0.025/k "
                 "(Bonferroni); in a permutation row, the permutation p-value"),
    ("g-null", "null sweep", "a sweep in null mode: every weight ratio set to 1 but labelled as a sweep, so the "
                             "weights cannot matter; C19 counts how often 'present early' fires on them"),
)
_TERMS = (  # (pattern, anchor): the first match of each pattern in a cell links to the glossary
    (r"\bE_peak\b|\bE_final\b|\bE\(t\)", "g-E"), (r"\bb_final\b|\bb_peak\b|\bb_s\b|\bG_s\b", "g-b"),
    (r"\bF(?= =| <=)", "g-F"), (r"t_hat|t̂", "g-that"), (r"present early", "g-early"),
    (r"max-T", "g-maxT"), (r"Fieller", "g-fieller"), (r"\bt_c\b", "g-tc"), (r"^G\b", "g-G"),
    (r"null (?:sweeps?|mode)", "g-null"),
)
_NULL_THRESHOLD = re.compile(r"null 97\.5th percentile")
_COUNT = re.compile(r"\((\d+) of (\d+)\)")
_CHANCE = re.compile(r"chance = ([0-9.]+)")
_PEAK_EPOCH = re.compile(r"E_peak \(epoch (\d+)\)")


def num(x, digits: int = 3) -> str:
    if x is None:
        return ""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return str(x) if isinstance(x, int) else f"{x:.{digits}g}"


def linked(text: str) -> list[tuple[str, str | None]]:
    """``text`` as segments (text, glossary anchor or None), the first occurrence of each term linked."""
    text = str(text or "")
    spans = []
    for pattern, anchor in _TERMS:
        m = re.search(pattern, text)
        if m and not any(a < m.end() and m.start() < b for a, b, _ in spans):
            spans.append((m.start(), m.end(), anchor))
    out, at = [], 0
    for start, end, anchor in sorted(spans):
        out += [(text[at:start], None), (text[start:end], anchor)]
        at = end
    return [s for s in [*out, (text[at:], None)] if s[0]]


def claim_order(cid: str):
    return (int("".join(ch for ch in str(cid).split("@")[0] if ch.isdigit()) or 0), str(cid))


def seeds_text(seeds) -> str:
    """``3 seeds (0–2)``, ``1 seed (7)``, ``5 seeds (0, 2, 4, 6, 8)``."""
    seeds = list(seeds or [])
    n = len(seeds)
    if not n:
        return "no seeds recorded"
    label = f"{n} seed{'s' if n != 1 else ''}"
    try:
        ints = [int(s) for s in seeds]
    except (TypeError, ValueError):
        return label
    if n > 2 and ints == list(range(ints[0], ints[0] + n)):
        return f"{label} ({ints[0]}–{ints[-1]})"
    if n <= 8:
        return f"{label} ({', '.join(map(str, ints))})"
    return f"{label} ({', '.join(map(str, ints[:3]))}, …, {ints[-1]})"


def secs(x) -> str:
    if x is None:
        return ""
    x = float(x)
    if x < 60:
        return f"{x:.1f} s"
    m, s = divmod(int(round(x)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


# --- intervals as a reader should see them ------------------------------------------------------------------


def interval_cell(row: dict) -> tuple[str, str]:
    """The interval column of a row and a note: an exact interval for a count (``k`` and ``n``, or "(k of n)"
    in the statistic's name), a bootstrap interval from ``per_seed`` values in a bounded range, "no spread"
    (with the values) instead of a zero-width interval, and an interval that leaves its quantity's range clipped
    to it, saying so."""
    low, high, value = row.get("low"), row.get("high"), row.get("value")
    if is_null_threshold(row) or (low is None and high is None):
        return "", ""
    bounds = bounds_of(row.get("statistic"))
    count = _COUNT.search(str(row.get("statistic") or ""))
    k, n = row.get("k"), row.get("n")
    if bounds == (0.0, 1.0) and (k is None or n is None) and count:
        k, n = int(count.group(1)), int(count.group(2))
    if bounds == (0.0, 1.0) and k is not None and n:
        iv = count_interval(int(k), int(n))
        return f"[{num(iv.low)}, {num(iv.high)}]", iv.method
    per_seed = row.get("per_seed")
    if bounds is not None and per_seed:
        iv = per_seed_interval(per_seed, bounds)
        if iv.no_spread:
            return f"no spread: {len(iv.values)} seeds all {num(iv.values[0])}", ""
        return f"[{num(iv.low)}, {num(iv.high)}]", iv.method
    if low is not None and high is not None and low == high:
        values = f"seeds {', '.join(num(v) for v in per_seed)}" if per_seed else f"every seed {num(value)}"
        return f"no spread: {values}", ""
    if bounds is not None and low is not None and high is not None and (low < bounds[0] or high > bounds[1]):
        clipped = (max(low, bounds[0]), min(high, bounds[1]))
        return (f"[{num(clipped[0])}, {num(clipped[1])}]",
                f"t interval [{num(low)}, {num(high)}] leaves [{num(bounds[0])}, {num(bounds[1])}]: shown clipped")
    return f"[{num(low)}, {num(high)}]", ""


def is_null_threshold(row: dict) -> bool:
    """A permutation-test row, whose ``high`` is the null's 97.5th percentile, not an interval's end."""
    return row.get("low") is None and row.get("high") is not None and bool(_NULL_THRESHOLD.search(str(row.get("rule"))))


# --- the decision table -------------------------------------------------------------------------------------

COLUMNS = ("part", "set", "statistic", "estimate", "95% interval", "null threshold", "p", "t", "rule", "verdict",
           "note")
_KNOWN = {"part", "set", "statistic", "value", "low", "high", "rule", "p", "t", "verdict", "k", "n", "per_seed"}


def table(rows: list[dict]) -> dict:
    """The decision table: ``columns`` (those not empty in every row) and ``rows`` of cells; a cell is a list of
    (text, glossary anchor) segments. Fields this view does not know are shown in the note column."""
    cells = []
    for row in rows:
        iv, note = interval_cell(row)
        extra = "; ".join(f"{k} = {num(v) if not isinstance(v, (list, dict)) else v}"
                          for k, v in row.items() if k not in _KNOWN and v not in (None, "", [], {}))
        cells.append({"part": row.get("part") or "", "set": row.get("set") or "", "statistic": row.get("statistic"),
                      "estimate": num(row.get("value")), "95% interval": iv,
                      "null threshold": num(row.get("high")) if is_null_threshold(row) else "",
                      "p": num(row.get("p"), 2), "t": num(row.get("t")), "rule": row.get("rule") or "",
                      "verdict": row.get("verdict") if row.get("verdict") in VERDICTS else "",
                      "note": "; ".join(x for x in (note, extra) if x)})
    columns = [c for c in COLUMNS if c in ("statistic", "estimate") or any(r[c] for r in cells)]
    return {"columns": columns,
            "rows": [{"verdict": r["verdict"] if r["verdict"] in VERDICTS else "",
                      "cells": [linked(r[c]) if c in ("statistic", "rule") else [(str(r[c]), None)] for c in columns]}
                     for r in cells]}


def tables(rows: list[dict]) -> tuple[dict, dict]:
    """The deciding table and the table of the evaluation sets that are only reported (verdict "reported")."""
    return (table([r for r in rows if r.get("verdict") != "reported"]),
            table([r for r in rows if r.get("verdict") == "reported"]))


def deciding_row(record: dict) -> dict | None:
    """The one row that decided the claim: the first that carries the claim's own verdict (so a NOT REPRODUCED
    claim shows its failing part), else the first that carries any verdict."""
    rows = [r for r in record.get("rows") or [] if r.get("verdict") in VERDICTS]
    same = [r for r in rows if r["verdict"] == record.get("verdict")]
    return (same or rows or [None])[0]


def deciding_text(record: dict) -> str:
    """The deciding row as ``F = 0.459 [0.447, 0.471] · logistic regression / test``."""
    row = deciding_row(record)
    if row is None:
        return ""
    iv, _ = interval_cell(row)
    part, eval_set = row.get("part") or "", row.get("set") or ""
    where = part if eval_set and eval_set in part else " / ".join(x for x in (part, eval_set) if x)
    name = str(row.get("statistic") or "").split(" (")[0].split(" = ")[0]
    test = f" (p = {num(row.get('p'), 2)}, null threshold {num(row.get('high'))})" if is_null_threshold(row) else ""
    return f"{name} = {num(row.get('value'))} {iv}".strip() + test + (f" · {where}" if where else "")


# --- flags computed from the data ---------------------------------------------------------------------------


def flags(record: dict) -> list[str]:
    """What limits this verdict, computed from the record: an early effect already at its peak at the first
    checkpoint (saturated before it is first measured), a model whose accuracy is not above chance, models at the
    extreme weights still predicting one class at the end, and the share of the paper's SGD steps trained."""
    out = []
    scale = record.get("scale") or {}
    steps = scale.get("paper_steps")
    if steps and steps["share"] < 1:
        out.append(f"trained {steps['share']:.2%} of the paper's SGD steps per model ({steps['steps']:,} of "
                   f"{steps['paper_steps']:,} on {steps['sweep']})")
    out += [f"one class at an extreme weight: {line}" for line in scale.get("one_class_at_extremes") or ()]
    rows = record.get("rows") or []
    peaks = sorted({int(m.group(1)) for r in rows if (m := _PEAK_EPOCH.search(str(r.get("statistic"))))})
    if peaks and peaks[0] <= 1:
        out.append("early effect saturated: E(t) peaks at the first checkpoint (epoch 1) on some set, so its rise "
                   "is not observed")
    chance = next((float(m.group(1)) for r in rows if (m := _CHANCE.search(str(r.get("rule"))))), None)
    for r in rows:
        name, value = str(r.get("statistic") or ""), r.get("value")
        top = r.get("high") if r.get("high") is not None else value
        if chance is not None and "accuracy" in name and isinstance(top, (int, float)) and top <= chance:
            out.append(f"did not learn: {' '.join(x for x in (r.get('part'), name) if x)} = {num(value)}, "
                       f"not above chance ({num(chance)})")
    return out


# --- the view -----------------------------------------------------------------------------------------------


def expected_line(record: dict, width: int = 110) -> str:
    """A declared scale limit in one line: the reason's first sentence, without its preamble, shortened."""
    reason = str((record.get("expected") or {}).get("reason") or "")
    reason = reason.split("; its verdict is reported, not counted: ")[-1]
    reason = re.sub(r"^measured over base seeds [0-9-]+:\s*", "", reason)
    first = re.split(r"(?<=[a-z0-9)])\. ", reason, maxsplit=1)[0]
    return first if len(first) <= width else first[:width].rsplit(" ", 1)[0] + " …"


def other_tiers(tier_dir: Path, tier: str, read_history) -> dict[str, dict[str, str]]:
    """{tier: {claim id: verdict}}: the latest recorded verdict of every claim in each other tier's history
    (the folders beside ``tier_dir`` that hold one)."""
    latest = {}
    for history in sorted(Path(tier_dir).parent.glob("*/history.jsonl")):
        other = history.parent.name
        if other == tier:
            continue
        for run in read_history(history.parent):
            for claim in run.get("claims", []):
                latest.setdefault(other, {})[claim["id"]] = claim.get("verdict")
    return latest


def counts(claims: list[dict], ids: tuple[str, ...]) -> dict:
    """Over the claims ``ids``: how many ran, the counted verdicts, the declared limits and what did not run."""
    ran = {c["id"]: c for c in claims if c["id"] in ids}
    decided = [c for c in ran.values() if c["verdict"] != DRY_VERDICT]
    counted = [c for c in decided if not c.get("expected")]
    limited = [c for c in decided if c.get("expected")]
    return {"total": len(ids), "ran": len(ran),
            "counted": [(v, sum(c["verdict"] == v for c in counted)) for v in VERDICTS
                        if any(c["verdict"] == v for c in counted)],
            "limited": [(v, sum(c["verdict"] == v for c in limited)) for v in VERDICTS
                        if any(c["verdict"] == v for c in limited)],
            "n_limited": len(limited), "not_run": [i for i in ids if i not in ran]}


def setting_text(record: dict) -> str:
    setting = record.get("setting")
    text = "; ".join(f"{k}: {v}" for k, v in setting.items()) if isinstance(setting, dict) else str(setting or "")
    return "; ".join(x for x in (text, seeds_text(record.get("seeds")),
                                 f"{record['epochs']} epochs" if record.get("epochs") else "",
                                 f"device {record['device']}" if record.get("device") else "") if x)


def source_text(record: dict) -> str:
    """Trained this run, or read from the cache (read time, original training time)."""
    sweeps = record.get("sweeps") or []
    if not sweeps:
        return f"training time {secs(record.get('wall_time_s'))} (source not recorded)"
    trained = [s for s in sweeps if s.get("source") == "trained"]
    cached = [s for s in sweeps if s.get("source") == "cache"]
    parts = []
    if trained:
        parts.append(f"trained {len(trained)} of {len(sweeps)} sweep{'s' if len(sweeps) != 1 else ''} this run "
                     f"({secs(sum(float(s.get('train_s') or 0) for s in trained))})")
    if cached:
        parts.append(f"read {len(cached)} from the cache in {secs(sum(float(s.get('read_s') or 0) for s in cached))}")
    parts.append(f"original training time {secs(sum(float(s.get('train_s') or 0) for s in sweeps))}")
    peaks = [f"{s['name']} {s['peak_rss_bytes'] / 2**30:.2f} GiB" for s in sweeps if s.get("peak_rss_bytes")]
    if peaks:
        parts.append(f"peak memory ({sweeps[0]['peak_rss']}): {', '.join(peaks)}")
    return "; ".join(parts)


def run_status(doc: dict) -> str | None:
    """"interrupted" for a run stopped before its end (the run record's flag, iwcore/plugin.py), else its status."""
    return "interrupted" if doc.get("interrupted") else doc.get("status")


def run_items(doc: dict) -> list[tuple[str, str]]:
    git = doc.get("git") or {}
    commit = git.get("commit")
    env = doc.get("environment") or {}
    items = [("Run", doc.get("run_id") or "not recorded"), ("Status", run_status(doc)),
             ("Started", doc.get("started_at")), ("Finished", doc.get("finished_at")),
             ("Wall time", secs(doc.get("wall_time_s"))),
             ("Git commit", commit and commit[:12] + (" (uncommitted changes)" if git.get("dirty") else "")),
             ("Base seed", doc.get("base_seed")), ("Command", doc.get("command")),
             ("Options", ", ".join(f"{k}={v}" for k, v in (doc.get("options") or {}).items())),
             ("Code version", doc.get("code_version")),
             ("Environment", ", ".join(f"{k} {v}" for k, v in env.items() if v not in (None, "")))]
    return [(k, str(v)) for k, v in items if v not in (None, "")]


def stability_cells(stability: dict | None, cid: str) -> list[tuple[str, str]]:
    """(base seed, verdict) of a claim over the base seeds of stability.json."""
    if not stability:
        return []
    return [(str(b), v) for b, v in (stability.get("claims") or {}).get(cid, {}).items()]


def claim_view(record: dict, tier_dir: Path, others: dict, stability: dict | None, figure_links: bool) -> dict:
    cid = record["id"]
    short, paper_number = HEADLINES.get(cid.split("@")[0], (" ".join(str(record.get("claim")).split()[:12]), ""))
    figures = []
    for rel in (record.get("figures") or []) if figure_links else []:
        figures.append({"path": rel, "name": Path(rel).stem, "exists": (Path(tier_dir) / rel).exists()})
    pytest_outcome = record.get("pytest_outcome")
    return {
        "id": cid, "short": short, "sentence": record.get("claim"), "verdict": record.get("verdict"),
        "counts": not record.get("expected") and record.get("verdict") != DRY_VERDICT,
        "limit": "dry run" if record.get("verdict") == DRY_VERDICT else expected_line(record) if record.get("expected")
        else "",
        "expected": record.get("expected"), "deciding": deciding_text(record), "paper_number": paper_number,
        "other_tiers": [(t, v[cid]) for t, v in others.items() if cid in v],
        "stability": stability_cells(stability, cid), "flags": flags(record),
        "criterion": record.get("criterion") or "", "reason": record.get("reason") or "",
        "part_verdicts": [(p, v) for p, v in (record.get("part_verdicts") or {}).items() if p],
        "table": tables(record.get("rows") or [])[0], "reported": tables(record.get("rows") or [])[1],
        "details": [(k, v) for k, v in (
            ("Outcome", " ".join(x for x in (record.get("outcome"), pytest_outcome and pytest_outcome != "passed"
                                             and f"(pytest: {pytest_outcome})") if x)),
            ("Seeds needed", num(record.get("seeds_needed"))), ("This tier ran", setting_text(record)),
            ("Paper", record.get("paper")), ("Source", source_text(record)),
            ("Cache keys", ", ".join(record.get("cache_keys") or [])),
            ("Diverged models (left out of the statistics)", ", ".join(record.get("diverged") or [])),
            ("Reproduce", record.get("reproduce"))) if v],
        "figures": figures,
    }


def view(doc: dict, tier_dir: Path, read_history, figure_links: bool = True) -> dict:
    """The report of one run record ``doc`` (claims normalised and in order, ``stability`` read) as the
    templates see it; ``figure_links`` False for a report committed without its figures."""
    claims = doc.get("claims") or []
    tier = str(doc.get("tier"))
    others = other_tiers(tier_dir, tier, read_history)
    views = [claim_view(c, tier_dir, others, doc.get("stability"), figure_links) for c in claims]
    return {"tier": tier, "status": run_status(doc), "problems": doc.get("problems") or [],
            "not_decided": doc.get("not_decided") or [], "paper": counts(claims, PAPER_CLAIMS),
            "suite": counts(claims, SUITE_CLAIMS), "other_ids": [c["id"] for c in claims
                                                                  if c["id"] not in PAPER_CLAIMS + SUITE_CLAIMS],
            "claims": views, "other_tier_names": sorted({t for v in views for t, _ in v["other_tiers"]}),
            "base_seeds": [str(b) for b in (doc.get("stability") or {}).get("base_seeds", [])],
            "glossary": GLOSSARY, "run": run_items(doc), "verdicts": VERDICTS,
            "dry_run": (doc.get("options") or {}).get("dry_run")}
