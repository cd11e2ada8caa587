"""The claims report: one record per claim, one run record per pytest run, claims.{json,md,html}.

Records. Each claim test writes a ``ClaimRecord`` to ``<report_dir>/<tier>/results/<id>.json`` (so
pytest-xdist workers never share a file); the record carries the id of the run that wrote it.

Runs. At the end of a pytest run the controller (``iwcore.plugin``) gathers the records *this run*
wrote into a run record: run id, git commit and dirty flag, base seed, command line, options, code
version, environment, and per claim its record, its pytest outcome and, per sweep, whether it was
trained or read from the cache (with the read time and the original training time). The run record
is appended to ``<report_dir>/<tier>/history.jsonl`` and rendered as ``claims.json``, ``claims.md``
and ``claims.html`` beside it (one view, ``iwcore.reportview``, two Jinja2 templates; the figures are
files in ``figures/`` that both link). A claim that ran but left no record is listed as a problem, never
dropped silently.

Command line::

    python -m iwcore.report                   # rewrite each tier's report from its latest run
    python -m iwcore.report --run ID          # ... from that run
    python -m iwcore.report --no-figure-links # ... linking no figures (a report committed without them)
    python -m iwcore.report --compare A B     # changed verdicts and statistics between two runs
    python -m iwcore.report --compare last 2  # the last two runs of a tier
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import jinja2

from iwcore import reportview

DEFAULT_REPORT_DIR = Path("reports")
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
    """What a claim test decided. Fields that a record lacks take their defaults and fields this class
    does not know are ignored (``from_dict``).

    ``rows``: the decision table, one dict per (part, evaluation set, statistic) with keys ``part``,
    ``set``, ``statistic``, ``value``, ``low``, ``high``, ``rule``, ``p``, ``t`` and ``verdict``
    (None for a row that is reported only). ``part_verdicts``: verdict per part. ``expected``:
    ``{"verdicts": [...], "reason": ...}`` for a declared expected finding. ``outcome``: "passed",
    "expected finding", "mismatch" or "error". ``setting``: what this tier ran (text, or a dict such as
    data/model/seeds/epochs), beside ``paper``. ``sweeps``: per sweep its
    cache key, ``source`` ("trained"/"cache"), ``read_s``, ``train_s``, ``trained_at``. ``statistic``:
    the decision's own statistics (kept in claims.json, not rendered). ``scale``: what limits the verdict at
    this tier's scale (``iwcore.battery.scale``).
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
    environment: dict = field(default_factory=dict)
    generated_at: str = field(default_factory=now)
    rows: list = field(default_factory=list)
    part_verdicts: dict = field(default_factory=dict)
    seeds_needed: str | None = None
    expected: dict | None = None
    outcome: str | None = None
    sweeps: list = field(default_factory=list)
    scale: dict = field(default_factory=dict)
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
    return reportview.claim_order(record["id"])


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


def render(tier_dir: Path, run: dict, figure_links: bool = True) -> list[Path]:
    """claims.json, claims.md and claims.html of one run record; the HTML links the figures beside it
    (``figures/``); ``figure_links`` False leaves them out (a report committed without its figures).
    claims.json is the run record with the counts of the headline (``counts``) and ``stability.json``
    (``stability``: null where the tier has none)."""
    tier_dir = Path(tier_dir)
    tier_dir.mkdir(parents=True, exist_ok=True)
    doc = {**run, "claims": sorted((normalise(c) for c in run.get("claims", [])), key=_claim_order),
           "stability": _read_stability(tier_dir)}
    page = reportview.view(doc, tier_dir, read_history, figure_links)
    env = _templates()
    texts = (json.dumps({**doc, "counts": {"paper": page["paper"], "suite": page["suite"]}}, indent=1, default=str),
             env.get_template("claims.md.j2").render(page), env.get_template("claims.html.j2").render(page))
    paths = [tier_dir / "claims.json", tier_dir / "claims.md", tier_dir / "claims.html"]
    for path, text in zip(paths, texts):
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


def write_report(tier_dir: Path, run_id: str | None = None, figure_links: bool = True) -> list[Path]:
    """Rewrite the tier's report from its latest run in the history (or run ``run_id``); without a
    history, from the records under ``results/``."""
    runs = read_history(tier_dir)
    run = find_run(runs, run_id) if run_id is not None else runs[-1] if runs else legacy_run(tier_dir)
    return render(tier_dir, run, figure_links) if run else []


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
# Rendering: one view (iwcore.reportview), two Jinja2 templates


def num(x, digits: int = 3) -> str:
    return reportview.num(x, digits) or "—"


def interval(low, high) -> str:
    return "" if low is None and high is None else f"[{num(low)}, {num(high)}]"


def claim_rows(record: dict) -> list[dict]:
    """The decision table's rows of a record."""
    return list(record.get("rows") or [])


def part_verdict_text(record: dict, sep: str = "; ") -> str:
    """The claim's verdict, then each part's where it has several."""
    parts = {k: v for k, v in (record.get("part_verdicts") or {}).items() if k}
    if not parts:
        return str(record.get("verdict"))
    return f"{record.get('verdict')} ({sep.join(f'{part}: {verdict}' for part, verdict in parts.items())})"


_VERDICT_CLASS = {v: v.lower().replace(" ", "-") for v in reportview.VERDICTS}
_ABBREV = {"REPRODUCED": "R", "NOT REPRODUCED": "N", "UNDECIDED": "U", "INCONCLUSIVE": "I"}


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("iwcore", "templates"), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html.j2"]), keep_trailing_newline=True)
    env.filters.update(vclass=lambda v: _VERDICT_CLASS.get(str(v), "other"),
                       abbrev=lambda v: _ABBREV.get(str(v), str(v)),
                       md=lambda text: str(text).replace("|", "\\|").replace("\n", " "))
    return env


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
    parser.add_argument("--no-figure-links", action="store_true",
                        help="link no figures (a report committed without its figures folder)")
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
        written = [p for tier in tiers for p in write_report(args.report_dir / tier, args.run, not args.no_figure_links)]
    except LookupError as err:
        parser.exit(1, f"error: {err}\n")
    if not written:
        parser.exit(1, f"no claim results under {args.report_dir}/<tier>; run `pytest -m fast` first\n")
    print("\n".join(str(p) for p in written))


if __name__ == "__main__":
    sys.exit(main())
