"""The claims report: one record per claim test, gathered into claims.{json,md,html}.

Each claim test writes its record to ``<report_dir>/<tier>/results/<id>.json`` (so pytest-xdist
workers never share a file); the pytest controller, or ``python -m iwcore.report``, gathers the
records of a tier into ``claims.json``, ``claims.md`` and ``claims.html`` beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_REPORT_DIR = Path("reports")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ClaimRecord:
    id: str
    claim: str  # the paper's sentence
    tier: str
    verdict: str
    criterion: str
    reason: str
    statistic: dict
    paper: str  # the paper's setting and numbers, for comparison
    setting: str  # what this tier ran
    seeds: list
    epochs: int
    device: str
    wall_time_s: float
    cache_keys: list
    figures: list = field(default_factory=list)
    diverged: list = field(default_factory=list)
    expected_failure: str | None = None
    environment: dict = field(default_factory=dict)
    generated_at: str = field(default_factory=now)

    def write(self, report_dir: Path) -> Path:
        path = report_dir / self.tier / "results" / f"{self.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, default=str))
        tmp.replace(path)
        return path


def _claim_order(record: dict):
    cid = record["id"]
    return (int("".join(ch for ch in cid if ch.isdigit()) or 0), cid)


def gather(tier_dir: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in (tier_dir / "results").glob("*.json")), key=_claim_order)


def write_report(tier_dir: Path) -> list[Path]:
    """Write claims.json, claims.md and claims.html from the records under ``tier_dir``."""
    records = gather(tier_dir)
    if not records:
        return []
    tier = records[0]["tier"]
    environment = next((r["environment"] for r in reversed(records) if r["environment"]), {})
    doc = {"tier": tier, "generated_at": now(), "environment": environment, "claims": records}
    paths = [tier_dir / "claims.json", tier_dir / "claims.md", tier_dir / "claims.html"]
    paths[0].write_text(json.dumps(doc, indent=1, default=str))
    paths[1].write_text(_markdown(doc))
    paths[2].write_text(_html(doc))
    return paths


def _fmt(stat) -> str:
    """Flatten a statistic dict into 'name = value [low, high]' fragments."""
    if isinstance(stat, dict) and {"value", "low", "high"} <= stat.keys():
        return f"{stat['value']:.3g} [{stat['low']:.3g}, {stat['high']:.3g}]"
    if isinstance(stat, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in stat.items())
    if isinstance(stat, float):
        return f"{stat:.4g}"
    return str(stat)


def _summary_rows(doc):
    for r in doc["claims"]:
        verdict = r["verdict"] + (" (expected: known finding)" if r["expected_failure"] else "")
        yield r["id"], verdict, r["claim"], f"{len(r['seeds'])} seeds, {r['epochs']} epochs", f"{r['wall_time_s']:.0f} s"


def _markdown(doc) -> str:
    env = doc["environment"]
    out = [f"# Claims report — {doc['tier']} tier", "",
           f"Generated {doc['generated_at']} on {env.get('device', '?')} "
           f"({env.get('gpu', env.get('processor', ''))}, {env.get('platform', '')}), torch {env.get('torch', '?')}.",
           "Verdicts follow the pre-registered criteria of CLAIMS.md; intervals are 95% percentile-bootstrap "
           "intervals over seeds.", "",
           "| claim | verdict | paper's claim | scale | wall time |", "|---|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in _summary_rows(doc)]
    for r in doc["claims"]:
        out += ["", f"## {r['id']} — {r['verdict']}", "", f"> {r['claim']}", "",
                f"- **Criterion:** {r['criterion']}", f"- **Why:** {r['reason']}",
                f"- **Statistic:** {_fmt(r['statistic'])}", f"- **Paper:** {r['paper']}",
                f"- **This run:** {r['setting']}; seeds {r['seeds']}; {r['epochs']} epochs; device {r['device']}; "
                f"{r['wall_time_s']:.1f} s; run at {r['generated_at']}",
                f"- **Cache keys:** {', '.join(r['cache_keys'])}"]
        if r["expected_failure"]:
            out.append(f"- **Known finding (xfail):** {r['expected_failure']}")
        if r["diverged"]:
            out.append(f"- **Diverged models (left out of the statistics):** {', '.join(r['diverged'])}")
        out += [f"\n![{Path(f).name}]({f})" for f in r["figures"]]
    return "\n".join(out) + "\n"


def _html(doc) -> str:
    e = html.escape
    rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _summary_rows(doc))
    sections = []
    for r in doc["claims"]:
        items = [("Criterion", r["criterion"]), ("Why", r["reason"]), ("Statistic", _fmt(r["statistic"])),
                 ("Paper", r["paper"]), ("This run", f"{r['setting']}; seeds {r['seeds']}; {r['epochs']} epochs; "
                                                     f"device {r['device']}; {r['wall_time_s']:.1f} s"),
                 ("Cache keys", ", ".join(r["cache_keys"]))]
        if r["expected_failure"]:
            items.append(("Known finding (xfail)", r["expected_failure"]))
        if r["diverged"]:
            items.append(("Diverged models", ", ".join(r["diverged"])))
        body = "".join(f"<li><b>{e(k)}:</b> {e(str(v))}</li>" for k, v in items)
        imgs = "".join(f'<img src="{e(f)}" style="max-width:45%">' for f in r["figures"])
        sections.append(f"<h2>{e(r['id'])} — {e(r['verdict'])}</h2><blockquote>{e(r['claim'])}</blockquote>"
                        f"<ul>{body}</ul>{imgs}")
    return (f"<!doctype html><meta charset='utf-8'><title>Claims report — {e(doc['tier'])}</title>"
            f"<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}td,th{{border:1px solid #ccc;"
            f"padding:3px}}table{{border-collapse:collapse}}</style><h1>Claims report — {e(doc['tier'])} tier</h1>"
            f"<p>Generated {e(doc['generated_at'])}; environment: {e(json.dumps(doc['environment']))}</p>"
            f"<table><tr><th>claim</th><th>verdict</th><th>paper's claim</th><th>scale</th><th>wall time</th></tr>"
            f"{rows}</table>{''.join(sections)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write the claims report from the recorded claim results.")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    parser.add_argument("--tier", choices=["fast", "full"], action="append",
                        help="tier(s) to write (default: every tier with records)")
    args = parser.parse_args(argv)
    tiers = args.tier or [p.parent.parent.name for p in args.report_dir.glob("*/results/*.json")]
    written = [p for tier in sorted(set(tiers)) for p in write_report(args.report_dir / tier)]
    if not written:
        parser.exit(1, f"no claim results under {args.report_dir}/<tier>/results; run `pytest -m fast` first\n")
    print("\n".join(str(p) for p in written))


if __name__ == "__main__":
    main()
