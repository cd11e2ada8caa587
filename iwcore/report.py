"""The claims report: one record per claim, one run record per pytest run, claims.{json,md,html}.

Records. Each claim test writes a ``ClaimRecord`` to ``<report_dir>/<tier>/results/<id>.json`` (so
pytest-xdist workers never share a file); the record carries the id of the run that wrote it.

Runs. At the end of a pytest run the controller (``iwcore.plugin``) gathers the records *this run*
wrote into a run record: run id, git commit and dirty flag, base seed, command line, options, code
version, environment, and per claim its record, its pytest outcome and, per sweep, whether it was
trained or read from the cache (with the read time and the original training time). The run record
is appended to ``<report_dir>/<tier>/history.jsonl`` and rendered as ``claims.json``, ``claims.md``
and ``claims.html`` (self-contained: figures embedded) beside it. A claim that ran but left no record
is listed as a problem, never dropped silently.

Command line::

    python -m iwcore.report                   # rewrite each tier's report from its latest run
    python -m iwcore.report --run ID          # ... from that run
    python -m iwcore.report --compare A B     # changed verdicts and statistics between two runs
    python -m iwcore.report --compare last 2  # the last two runs of a tier
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import json
import math
import sys
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

DEFAULT_REPORT_DIR = Path("reports")
VERDICTS = ("REPRODUCED", "NOT REPRODUCED", "UNDECIDED", "INCONCLUSIVE")
OUTCOMES = ("passed", "expected finding", "mismatch", "error")
HISTORY = "history.jsonl"

_current_run_id: str | None = None


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def current_run_id() -> str | None:
    """The id of the pytest run in progress (set by the plugin on the controller and every worker)."""
    return _current_run_id


def set_current_run_id(run_id: str | None) -> str | None:
    global _current_run_id
    previous, _current_run_id = _current_run_id, run_id
    return previous


@dataclass
class ClaimRecord:
    """What a claim test decided. Fields added after the first release have defaults, so older
    records still load (``from_dict``).

    ``rows``: the decision table, one dict per (part, evaluation set, statistic) with keys ``part``,
    ``set``, ``statistic``, ``value``, ``low``, ``high``, ``rule``, ``p``, ``t`` and ``verdict``
    (None for a row that is reported only). ``part_verdicts``: verdict per part. ``expected``:
    ``{"verdicts": [...], "reason": ...}`` for a declared expected finding. ``outcome``: "passed",
    "expected finding", "mismatch" or "error". ``learned``: did the unweighted model learn,
    ``{"accuracy", "low", "high", "chance"}``. ``setting``/``fast_setting``: what this tier ran
    (text, or a dict such as data/model/seeds/epochs), beside ``paper``. ``sweeps``: per sweep its
    cache key, ``source`` ("trained"/"cache"), ``read_s``, ``train_s``, ``trained_at``.
    """

    id: str
    claim: str  # the paper's sentence
    tier: str
    verdict: str
    criterion: str = ""
    reason: str = ""
    statistic: dict = field(default_factory=dict)
    paper: str = ""  # the paper's setting and numbers, for comparison
    setting: str | dict = ""  # what this tier ran
    seeds: list = field(default_factory=list)
    epochs: int = 0
    device: str = ""
    wall_time_s: float = 0.0
    cache_keys: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    diverged: list = field(default_factory=list)
    expected_failure: str | None = None  # superseded by ``expected``; still read
    environment: dict = field(default_factory=dict)
    generated_at: str = field(default_factory=now)
    rows: list = field(default_factory=list)
    part_verdicts: dict = field(default_factory=dict)
    seeds_needed: str | None = None
    expected: dict | None = None
    outcome: str | None = None
    learned: dict | None = None
    fast_setting: str | dict | None = None
    sweeps: list = field(default_factory=list)
    run_id: str | None = field(default_factory=current_run_id)

    def write(self, report_dir: Path) -> Path:
        path = Path(report_dir) / self.tier / "results" / f"{self.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{id(self)}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, default=str))
        tmp.replace(path)
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "ClaimRecord":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for required in ("id", "claim", "tier", "verdict"):
            values.setdefault(required, "?")
        values.setdefault("run_id", None)
        return cls(**values)


def normalise(record: dict) -> dict:
    """A record dict with every current field (defaults for fields older records lack)."""
    extra = {k: v for k, v in record.items() if k not in {f.name for f in fields(ClaimRecord)}}
    return {**asdict(ClaimRecord.from_dict(record)), **extra}


def _claim_order(record: dict):
    cid = str(record["id"])
    return (int("".join(ch for ch in cid if ch.isdigit()) or 0), cid)


def read_record(path: Path) -> dict | None:
    try:
        return normalise(json.loads(path.read_text()))
    except (OSError, ValueError) as err:
        warnings.warn(f"unreadable claim record {path}: {err}", stacklevel=2)
        return None


def gather(tier_dir: Path, run_id: str | None = None) -> list[dict]:
    """The records under ``tier_dir/results``, in claim order; only run ``run_id``'s if given."""
    records = [r for r in (read_record(p) for p in (Path(tier_dir) / "results").glob("*.json")) if r]
    if run_id is not None:
        records = [r for r in records if r.get("run_id") == run_id]
    return sorted(records, key=_claim_order)


# ---------------------------------------------------------------------------------------------
# Runs and their history


def read_history(tier_dir: Path) -> list[dict]:
    """Run records of a tier, oldest first (a torn or corrupt line is skipped with a warning)."""
    path = Path(tier_dir) / HISTORY
    if not path.exists():
        return []
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            runs.append(json.loads(line))
        except ValueError as err:
            warnings.warn(f"{path}, line {number}: unreadable run record ({err}); skipped", stacklevel=2)
    return runs


def append_history(tier_dir: Path, run: dict) -> Path:
    path = Path(tier_dir) / HISTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = False
    if path.exists() and path.stat().st_size:
        with path.open("rb") as f:
            f.seek(-1, 2)
            torn = f.read(1) != b"\n"
    with path.open("a") as f:  # one line per run; a line torn by an interrupted write stays on its own line
        f.write(("\n" if torn else "") + json.dumps(run, default=str, separators=(",", ":")) + "\n")
    return path


def write_run(tier_dir: Path, run: dict) -> list[Path]:
    """Append ``run`` to the tier's history and write its claims.{json,md,html}."""
    append_history(tier_dir, run)
    return render(tier_dir, run)


def render(tier_dir: Path, run: dict) -> list[Path]:
    """claims.json, claims.md and claims.html of one run record."""
    tier_dir = Path(tier_dir)
    tier_dir.mkdir(parents=True, exist_ok=True)
    doc = {**run, "claims": sorted((normalise(c) for c in run.get("claims", [])), key=_claim_order),
           "stability": _read_stability(tier_dir)}
    paths = [tier_dir / "claims.json", tier_dir / "claims.md", tier_dir / "claims.html"]
    for path, text in zip(paths, (json.dumps(doc, indent=1, default=str), _markdown(doc), _html(doc, tier_dir))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return paths


def legacy_run(tier_dir: Path) -> dict | None:
    """A run record assembled from whatever records are under ``results/`` (no history yet)."""
    records = gather(tier_dir)
    if not records:
        return None
    runs = sorted({str(r.get("run_id")) for r in records})
    environment = next((r["environment"] for r in reversed(records) if r.get("environment")), {})
    problems = [] if len(runs) == 1 else [
        f"assembled from the latest record of each claim, written by {len(runs)} different runs; rerun the tier "
        f"for a report of one run"]
    return {"run_id": runs[0] if len(runs) == 1 else None, "tier": records[0]["tier"], "generated_at": now(),
            "environment": environment, "claims": records, "problems": problems}


def write_report(tier_dir: Path, run_id: str | None = None) -> list[Path]:
    """Rewrite the tier's report from its latest run in the history (or run ``run_id``); without a
    history, from the records under ``results/``."""
    runs = read_history(tier_dir)
    if run_id is not None:
        return render(tier_dir, find_run(runs, run_id))
    if runs:
        return render(tier_dir, runs[-1])
    run = legacy_run(tier_dir)
    return render(tier_dir, run) if run else []


def find_run(runs: list[dict], ident: str) -> dict:
    """The run whose id is ``ident`` or starts with it (unique)."""
    exact = [r for r in runs if r.get("run_id") == ident]
    matches = exact or [r for r in runs if str(r.get("run_id", "")).startswith(ident)]
    if len(matches) != 1:
        known = ", ".join(str(r.get("run_id")) for r in runs[-5:]) or "none"
        raise LookupError(f"{'no' if not matches else 'more than one'} run matches {ident!r} (latest: {known})")
    return matches[0]


def _read_stability(tier_dir: Path) -> dict | None:
    path = Path(tier_dir) / "stability.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        warnings.warn(f"unreadable {path}: {err}", stacklevel=2)
        return None


# ---------------------------------------------------------------------------------------------
# Formatting helpers


def num(x, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if isinstance(x, int):
        return str(x)
    return f"{x:.{digits}g}"


def interval(low, high) -> str:
    return "" if low is None and high is None else f"[{num(low)}, {num(high)}]"


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


def setting_text(setting) -> str:
    if isinstance(setting, dict):
        return "; ".join(f"{k}: {v}" for k, v in setting.items())
    return str(setting or "")


def _flatten_statistic(stat, path=()):
    """Rows from an older record's nested ``statistic`` dict."""
    if isinstance(stat, dict) and {"value", "low", "high"} <= stat.keys():
        yield {"part": "", "set": "", "statistic": " / ".join(path), "value": stat["value"], "low": stat["low"],
               "high": stat["high"], "rule": "", "p": None, "t": None, "verdict": None}
    elif isinstance(stat, dict):
        verdict = stat.get("verdict") if isinstance(stat.get("verdict"), str) else None
        if verdict:
            yield {"part": "", "set": "", "statistic": " / ".join((*path, "verdict")), "value": None, "low": None,
                   "high": None, "rule": "", "p": None, "t": None, "verdict": verdict}
        for k, v in stat.items():
            if k != "verdict" or not verdict:
                yield from _flatten_statistic(v, (*path, str(k)))
    elif isinstance(stat, (list, tuple)) and len(stat) > 12:
        yield {"part": "", "set": "", "statistic": " / ".join(path), "value": f"{len(stat)} values", "low": None,
               "high": None, "rule": "", "p": None, "t": None, "verdict": None}
    else:
        yield {"part": "", "set": "", "statistic": " / ".join(path), "value": stat, "low": None, "high": None,
               "rule": "", "p": None, "t": None, "verdict": None}


def claim_rows(record: dict) -> list[dict]:
    keys = ("part", "set", "statistic", "value", "low", "high", "rule", "p", "t", "verdict")
    if record.get("rows"):
        return [{k: row.get(k) for k in keys} for row in record["rows"]]
    return list(_flatten_statistic(record.get("statistic") or {}))


def part_verdict_text(record: dict, sep: str = "; ") -> str:
    """The claim's verdict, then each part's where it has several."""
    parts = record.get("part_verdicts") or {}
    if len(parts) > 1 or (parts and next(iter(parts)) not in ("", None)):
        return f"{record.get('verdict')} ({sep.join(f'{part}: {verdict}' for part, verdict in parts.items())})"
    return str(record.get("verdict"))


def deciding_text(record: dict, sep: str = "; ") -> str:
    """The deciding statistic of each part: the first row that carries the part's verdict (its failing
    row when the part did not reproduce), with its interval."""
    rows = [r for r in claim_rows(record) if r.get("verdict") not in (None, "", "reported")]
    if not rows:
        return "—"
    chosen = {}
    part_verdicts = record.get("part_verdicts") or {}
    for row in rows:
        part = row.get("part") or ""
        target = part_verdicts.get(part, record.get("verdict"))
        if part not in chosen or (row["verdict"] == target and chosen[part]["verdict"] != target):
            chosen[part] = row
    out = []
    for part, row in chosen.items():
        where = " · ".join(dict.fromkeys(x for x in (part, row.get("set")) if x))
        value = f"{row['statistic']} = {num(row['value'])} {interval(row.get('low'), row.get('high'))}".strip()
        out.append(f"{where}: {value}" if where else value)
    return sep.join(out)


def source_text(record: dict) -> str:
    """Trained this run, or read from the cache (read time, original training time)."""
    sweeps = record.get("sweeps") or []
    if not sweeps:
        return f"training time {_secs(record.get('wall_time_s'))} (source not recorded)"
    trained = [s for s in sweeps if s.get("source") == "trained"]
    cached = [s for s in sweeps if s.get("source") == "cache"]
    train_s = sum(float(s.get("train_s") or 0) for s in sweeps)
    parts = []
    if trained:
        parts.append(f"trained {len(trained)} of {len(sweeps)} sweep{'s' if len(sweeps) != 1 else ''} this run "
                     f"({_secs(sum(float(s.get('train_s') or 0) for s in trained))})")
    if cached:
        read_s = sum(float(s.get("read_s") or 0) for s in cached)
        parts.append(f"read {len(cached)} from the cache in {_secs(read_s)}")
    parts.append(f"original training time {_secs(train_s)}")
    return "; ".join(parts)


def _secs(x) -> str:
    if x is None:
        return "—"
    x = float(x)
    if x < 60:
        return f"{x:.1f} s"
    m, s = divmod(int(round(x)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def learned_text(learned: dict | None) -> str:
    if not learned:
        return ""
    acc, low, high = learned.get("accuracy"), learned.get("low"), learned.get("high")
    chance = learned.get("chance", 0.5)
    text = f"unweighted model's test accuracy {num(acc)} {interval(low, high)} (chance {num(chance)})".strip()
    above = (low if low is not None else acc)
    if above is not None and chance is not None and above <= chance:
        text += ": not above chance, so the checks on this model are vacuous"
    return text


def expected_text(record: dict) -> str:
    exp = record.get("expected")
    if exp:
        verdicts = ", ".join(exp.get("verdicts") or [])
        return f"declared expected finding ({verdicts}): {exp.get('reason', '')}".strip()
    if record.get("expected_failure"):
        return f"known finding (xfail): {record['expected_failure']}"
    return ""


def run_header(doc: dict) -> list[tuple[str, str]]:
    git = doc.get("git") or {}
    commit = git.get("commit")
    commit_text = "unknown" if not commit else commit[:12] + (" (uncommitted changes)" if git.get("dirty") else "")
    env = doc.get("environment") or {}
    env_text = ", ".join(f"{k} {v}" for k, v in env.items() if v not in (None, ""))
    options = doc.get("options") or {}
    items = [("Run", str(doc.get("run_id") or "not recorded")),
             ("Started", str(doc.get("started_at") or "—")), ("Finished", str(doc.get("finished_at") or "—")),
             ("Git commit", commit_text), ("Base seed", str(doc.get("base_seed", "—"))),
             ("Command", str(doc.get("command") or "—")),
             ("Options", ", ".join(f"{k}={v}" for k, v in options.items()) or "—"),
             ("Code version", str(doc.get("code_version") or "—")), ("Environment", env_text or "—")]
    if doc.get("wall_time_s") is not None:
        items.insert(3, ("Wall time", _secs(doc["wall_time_s"])))
    if doc.get("interrupted"):  # the run record's flag (iwcore/plugin.py): the run was stopped before its end
        items.insert(1, ("Status", "interrupted: claims that had not finished have no verdict in this run"))
    return items


ROW_HEADER = ("part", "set", "statistic", "value", "95% interval", "rule", "p", "t", "verdict")


def rows_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The decision table of a claim, without the columns that are empty in every row."""
    cells = [_row_cells(r) for r in rows]
    optional = {"part", "set", "95% interval", "rule", "p", "t"}
    keep = [i for i, name in enumerate(ROW_HEADER)
            if name not in optional or any(c[i] not in ("", "—") for c in cells)]
    return [ROW_HEADER[i] for i in keep], [[c[i] for i in keep] for c in cells]


def _row_cells(row: dict) -> list[str]:
    return [row.get("part") or "", row.get("set") or "", str(row.get("statistic") or ""), num(row.get("value")),
            interval(row.get("low"), row.get("high")), row.get("rule") or "", num(row.get("p"), 2),
            num(row.get("t")), row.get("verdict") or ""]


def _stability_table(stability: dict) -> tuple[list[str], list[list[str]]]:
    seeds = [str(s) for s in stability.get("base_seeds", [])]
    claims = stability.get("claims", {})
    outcomes = stability.get("outcomes", {})
    if not seeds:
        seeds = sorted({s for v in claims.values() for s in v}, key=lambda s: (len(s), s))
    rows = []
    for cid in sorted(claims, key=lambda c: _claim_order({"id": c})):
        cells = []
        for s in seeds:
            verdict = claims[cid].get(s, "—")
            outcome = outcomes.get(cid, {}).get(s)
            cells.append(verdict + (f" ({outcome})" if outcome and outcome != "passed" else ""))
        distinct = {claims[cid].get(s) for s in seeds}
        rows.append([cid, *cells, "stable" if len(distinct) == 1 else "varies"])
    return ["claim", *[f"base seed {s}" for s in seeds], ""], rows


def _summary(doc) -> tuple[list[str], list[list[str]]]:
    header = ["claim", "verdict", "deciding statistic [95% interval]", "outcome", "this tier ran", "paper",
              "source"]
    rows = []
    for r in doc["claims"]:
        ran = "; ".join(x for x in (setting_text(r.get("setting") or r.get("fast_setting")), seeds_text(r["seeds"]),
                                    f"{r['epochs']} epochs" if r.get("epochs") else "") if x)
        outcome = r.get("outcome") or ""
        if r.get("pytest_outcome") and r["pytest_outcome"] not in ("passed",):
            outcome = f"{outcome} (pytest: {r['pytest_outcome']})".strip()
        rows.append([r["id"], part_verdict_text(r), deciding_text(r), outcome or "—", ran, r.get("paper") or "",
                     source_text(r)])
    return header, rows


# ---------------------------------------------------------------------------------------------
# Markdown


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header, rows) -> list[str]:
    return (["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows])


def _markdown(doc) -> str:
    out = [f"# Claims report — {doc.get('tier')} tier", "",
           "Verdicts follow the pre-registered criteria of CLAIMS.md; intervals are 95% intervals over seeds.", ""]
    out += [f"- **{k}:** {v}" for k, v in run_header(doc)]
    for problem in doc.get("problems") or []:
        out += ["", f"> **Problem:** {problem}"]
    out += ["", "## Summary", "", *_md_table(*_summary(doc))]
    not_decided = doc.get("not_decided") or []
    if not_decided:
        out += ["", "Ran but not decided in this run:", ""]
        out += [f"- {n['id']} ({n.get('outcome')}): {n.get('reason', '')}" for n in not_decided]
    if doc.get("stability"):
        out += ["", "## Stability over base seeds", "", *_md_table(*_stability_table(doc["stability"]))]
    for r in doc["claims"]:
        out += ["", f"## {r['id']} — {part_verdict_text(r)}", "", f"> {r['claim']}", ""]
        if r.get("criterion"):
            out.append(f"**Criterion:** {r['criterion']}")
            out.append("")
        rows = claim_rows(r)
        if rows:
            out += _md_table(*rows_table(rows)) + [""]
        for label, text in (("Outcome", r.get("outcome")), ("Expected", expected_text(r)),
                            ("Learned", learned_text(r.get("learned"))), ("Seeds needed", r.get("seeds_needed")),
                            ("Why", r.get("reason")),
                            ("This tier ran", "; ".join(x for x in (setting_text(r.get("setting") or r.get("fast_setting")),
                                                                     seeds_text(r["seeds"]),
                                                                     f"{r['epochs']} epochs" if r.get("epochs") else "",
                                                                     f"device {r['device']}" if r.get("device") else "")
                                                        if x)),
                            ("Paper", r.get("paper")), ("Source", source_text(r)),
                            ("Cache keys", ", ".join(r.get("cache_keys") or [])),
                            ("Diverged models (left out of the statistics)", ", ".join(r.get("diverged") or [])),
                            ("Reproduce", f"`{r['reproduce']}`" if r.get("reproduce") else "")):
            if text:
                out.append(f"- **{label}:** {text}")
        out += [f"\n![{Path(f).name}]({f})" for f in r.get("figures") or []]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML (self-contained: figures embedded as data URIs)

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}.v-REPRODUCED{color:#11661b}
.v-NOT-REPRODUCED{color:#a01010}.v-UNDECIDED{color:#8a5a00}.v-INCONCLUSIVE{color:#555}
blockquote{margin:.5em 0;padding:.3em 1em;border-left:4px solid #ccd;background:#f8f8fc}
figure{display:inline-block;margin:.5em;vertical-align:top}figure img{max-width:540px;border:1px solid #ddd}
figcaption{font-size:.8em;color:#555}.missing{color:#a01010;border:1px dashed #a01010;padding:1em}
.problem{background:#fff0f0;border:1px solid #e0a0a0;padding:.5em}code{background:#f3f3f3}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dt{font-weight:bold}dd{margin:0}
"""

_CHECK_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-broken', broken.length);
  document.body.setAttribute('data-claims', document.querySelectorAll('section.claim').length);
  var p = document.getElementById('render-check');
  if (p) p.textContent = imgs.length + ' figures, ' + broken.length + ' not displayed';
});
"""


def _verdict_span(text: str) -> str:
    e = html.escape
    return "; ".join(f'<span class="v-{e(v.split(": ")[-1].replace(" ", "-"))}">{e(v)}</span>'
                     for v in text.split("; "))


def _html_table(header, rows, raw_columns=()) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if i in raw_columns else e(str(c))}</td>" for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure_html(tier_dir: Path, rel: str) -> str:
    e = html.escape
    path = tier_dir / rel
    try:
        data = base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return f'<div class="missing">figure missing: {e(rel)}</div>'
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return (f'<figure><img src="data:{mime};base64,{data}" alt="{e(path.stem)}">'
            f"<figcaption>{e(path.name)}</figcaption></figure>")


def _html(doc, tier_dir: Path) -> str:
    e = html.escape
    tier = e(str(doc.get("tier")))
    header_items = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in run_header(doc))
    problems = "".join(f'<p class="problem">{e(p)}</p>' for p in doc.get("problems") or [])
    head, rows = _summary(doc)
    summary_rows = [[f'<a href="#{e(r[0])}">{e(r[0])}</a>', _verdict_span(r[1]), *map(e, r[2:])] for r in rows]
    parts = [f"<h1>Claims report — {tier} tier</h1>",
             "<p>Verdicts follow the pre-registered criteria of CLAIMS.md; intervals are 95% intervals over seeds. "
             '<span id="render-check"></span></p>', f"<dl>{header_items}</dl>", problems,
             "<h2>Summary</h2>", _html_table(head, summary_rows, raw_columns=range(len(head)))]
    not_decided = doc.get("not_decided") or []
    if not_decided:
        parts.append("<p>Ran but not decided in this run:</p><ul>" + "".join(
            f"<li>{e(n['id'])} ({e(str(n.get('outcome')))}): {e(str(n.get('reason', '')))}</li>"
            for n in not_decided) + "</ul>")
    if doc.get("stability"):
        parts += ["<h2>Stability over base seeds</h2>", _html_table(*_stability_table(doc["stability"]))]
    for r in doc["claims"]:
        items = [("Outcome", r.get("outcome")), ("Expected", expected_text(r)),
                 ("Learned", learned_text(r.get("learned"))), ("Seeds needed", r.get("seeds_needed")),
                 ("This tier ran", "; ".join(x for x in (setting_text(r.get("setting") or r.get("fast_setting")),
                                                          seeds_text(r["seeds"]),
                                                          f"{r['epochs']} epochs" if r.get("epochs") else "",
                                                          f"device {r['device']}" if r.get("device") else "") if x)),
                 ("Paper", r.get("paper")), ("Source", source_text(r)),
                 ("Cache keys", ", ".join(r.get("cache_keys") or [])),
                 ("Diverged models", ", ".join(r.get("diverged") or [])), ("Reproduce", r.get("reproduce"))]
        dl = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in items if v)
        rows = claim_rows(r)
        table = _html_table(*rows_table(rows)) if rows else ""
        why = r.get("reason") or ""
        why_html = (f"<details><summary>Why</summary><p>{e(why)}</p></details>" if len(why) > 300
                    else (f"<p><b>Why:</b> {e(why)}</p>" if why else ""))
        figs = "".join(_figure_html(tier_dir, f) for f in r.get("figures") or [])
        criterion = f"<p><b>Criterion:</b> {e(r['criterion'])}</p>" if r.get("criterion") else ""
        sweeps = r.get("sweeps") or []
        sweep_table = _html_table(["sweep", "cache key", "source", "read", "training time", "trained at"], [
            [s.get("name", ""), s.get("key", ""), s.get("source", ""), _secs(s.get("read_s")),
             _secs(s.get("train_s")), s.get("trained_at") or ""] for s in sweeps]) if sweeps else ""
        parts.append(f'<section class="claim" id="{e(r["id"])}"><h2>{e(r["id"])} — '
                     f"{_verdict_span(part_verdict_text(r))}</h2><blockquote>{e(r['claim'])}</blockquote>"
                     f"{criterion}{table}{why_html}<dl>{dl}</dl>"
                     f"{sweep_table}<div>{figs}</div></section>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Claims report — {tier}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(parts)}<script>{_CHECK_SCRIPT}</script></body></html>")


# ---------------------------------------------------------------------------------------------
# Comparing runs


def _row_key(row: dict) -> tuple:
    return (row.get("part") or "", row.get("set") or "", str(row.get("statistic") or ""))


def compare(a: dict, b: dict) -> str:
    """Changed verdicts and statistics from run ``a`` to run ``b``, as text tables."""
    out = [f"Comparing {a.get('tier')}-tier runs:"]
    for label, run in (("A", a), ("B", b)):
        git = run.get("git") or {}
        commit = (git.get("commit") or "?")[:10] + ("+dirty" if git.get("dirty") else "")
        out.append(f"  {label}  {run.get('run_id')}  {run.get('started_at', '')}  commit {commit}  "
                   f"base seed {run.get('base_seed', '?')}  code {run.get('code_version', '?')}  "
                   f"{len(run.get('claims', []))} claims")
    for key in ("base_seed", "code_version", "command"):
        if a.get(key) != b.get(key):
            out.append(f"  {key} changed: {a.get(key)} -> {b.get(key)}")
    claims_a = {c["id"]: normalise(c) for c in a.get("claims", [])}
    claims_b = {c["id"]: normalise(c) for c in b.get("claims", [])}
    ids = sorted(set(claims_a) | set(claims_b), key=lambda c: _claim_order({"id": c}))
    verdict_rows, stat_rows = [], []
    for cid in ids:
        ra, rb = claims_a.get(cid), claims_b.get(cid)
        va = part_verdict_text(ra) if ra else "(not run)"
        vb = part_verdict_text(rb) if rb else "(not run)"
        verdict_rows.append([cid, va, vb, "changed" if va != vb else ""])
        if ra and rb:
            rows_a = {_row_key(r): r for r in claim_rows(ra)}
            for key, row_b in ((_row_key(r), r) for r in claim_rows(rb)):
                row_a = rows_a.get(key)
                if row_a is None:
                    stat_rows.append([cid, *key, "(absent)", _stat(row_b), ""])
                elif _stat(row_a) != _stat(row_b) or row_a.get("verdict") != row_b.get("verdict"):
                    delta = ""
                    if all(isinstance(r.get("value"), (int, float)) for r in (row_a, row_b)):
                        delta = f"{row_b['value'] - row_a['value']:+.3g}"
                    stat_rows.append([cid, *key, _stat(row_a), _stat(row_b), delta])
    out += ["", "Verdicts:", *_text_table(["claim", "A", "B", ""], verdict_rows)]
    changed = sum(1 for r in verdict_rows if r[3])
    out.append(f"{changed} of {len(verdict_rows)} claims changed verdict.")
    out += ["", "Statistics that changed:"]
    out += _text_table(["claim", "part", "set", "statistic", "A", "B", "change"], stat_rows) if stat_rows else ["  none"]
    return "\n".join(out)


def _stat(row: dict) -> str:
    text = f"{num(row.get('value'))} {interval(row.get('low'), row.get('high'))}".strip()
    return f"{text} {row['verdict']}" if row.get("verdict") else text


def _text_table(header, rows) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    fmt = lambda row: "  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)]


def _pick_runs(report_dir: Path, spec: list[str], tiers: list[str] | None) -> tuple[dict, dict]:
    histories = {p.parent.name: read_history(p.parent) for p in sorted(report_dir.glob(f"*/{HISTORY}"))}
    if tiers:
        histories = {t: h for t, h in histories.items() if t in tiers}
    histories = {t: h for t, h in histories.items() if h}
    if not histories:
        raise LookupError(f"no run history under {report_dir}/<tier>/{HISTORY}; run pytest first")
    if spec[0] == "last":
        try:
            n = int(spec[1])
        except ValueError:
            raise LookupError(f"--compare last N needs a number, got {spec[1]!r}") from None
        if n < 2:
            raise LookupError("--compare last N needs N >= 2")
        # The tier whose latest run is the most recent, unless --tier names one.
        tier = max(histories, key=lambda t: str(histories[t][-1].get("finished_at") or histories[t][-1].get("run_id")))
        runs = histories[tier]
        if len(runs) < n:
            raise LookupError(f"the {tier} tier has {len(runs)} recorded run(s); --compare last {n} needs {n}")
        return runs[-n], runs[-1]
    errors = []
    for tier, runs in histories.items():
        try:
            return find_run(runs, spec[0]), find_run(runs, spec[1])
        except LookupError as err:
            errors.append(f"{tier}: {err}")
    raise LookupError("; ".join(errors))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m iwcore.report",
                                     description="Write the claims report from the recorded runs, or compare two runs.")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    parser.add_argument("--tier", action="append", help="tier(s) to write or compare (default: every tier with records)")
    parser.add_argument("--run", help="write the report of this run id (default: the latest run)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="print changed verdicts and statistics between runs A and B (ids or id prefixes), "
                             "or between the last two runs: --compare last 2")
    args = parser.parse_args(argv)
    if args.compare:
        try:
            a, b = _pick_runs(args.report_dir, args.compare, args.tier)
        except LookupError as err:
            parser.exit(1, f"error: {err}\n")
        print(compare(a, b))
        return
    found = {p.parent.name for p in args.report_dir.glob(f"*/{HISTORY}")} | \
            {p.parent.parent.name for p in args.report_dir.glob("*/results/*.json")}
    tiers = args.tier or sorted(found)
    try:
        written = [p for tier in tiers for p in write_report(args.report_dir / tier, args.run)]
    except LookupError as err:
        parser.exit(1, f"error: {err}\n")
    if not written:
        parser.exit(1, f"no claim results under {args.report_dir}/<tier>; run `pytest -m fast` first\n")
    print("\n".join(str(p) for p in written))


if __name__ == "__main__":
    sys.exit(main())
