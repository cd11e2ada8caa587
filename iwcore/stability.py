"""Run a tier under several base seeds and tabulate every claim's verdict and pytest outcome per base seed.

``python -m iwcore.stability --tier fast --base-seeds 0-4`` runs ``pytest -m <tier> --base-seed b`` once per
base seed (each with its own report folder under ``reports/<tier>/base-seeds/``, one shared sweep cache),
then writes ``reports/<tier>/stability.{json,md}``. A claim whose pytest outcome differs between base seeds
is named: a verdict that holds for one base seed only is not a reproduction.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from iwcore.report import DEFAULT_REPORT_DIR

# pytest outcome of each recorded outcome: a declared finding is an expected failure (xfail)
PYTEST_OUTCOME = {"passed": "passed", "expected finding": "xfailed", "mismatch": "failed", "failed": "failed"}


def parse_base_seeds(text: str) -> list[int]:
    """``"0-4"`` or ``"0,3,7"`` -> base seeds (non-negative)."""
    seeds = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            seeds += list(range(int(low), int(high or low) + 1))
    except ValueError:
        seeds = []
    if not seeds:
        raise argparse.ArgumentTypeError(f"base seeds are non-negative integers like 0-4 or 0,3,7; got {text!r}")
    return seeds


def run_tier(tier: str, base_seed: int, report_dir: Path, pytest_args: list[str]) -> dict:
    """Run the tier's claims once at ``base_seed``; its claims.json as a dict (empty if none was written)."""
    command = [sys.executable, "-m", "pytest", "claims", "-m", tier, "--base-seed", str(base_seed),
               "--report-dir", str(report_dir), "-q", "--no-progress", *pytest_args]
    print(f"$ {' '.join(command)}", flush=True)
    subprocess.run(command, check=False)
    path = report_dir / tier / "claims.json"
    return json.loads(path.read_text()) if path.exists() else {}


def table(runs: dict[int, dict]) -> dict:
    """{"base_seeds", "claims": {id: {base seed: verdict}}, "outcomes": {id: {base seed: pytest outcome}},
    "unstable": [ids whose pytest outcome differs]}."""
    claims, outcomes = {}, {}
    for base, doc in runs.items():
        for rec in doc.get("claims", []):
            claims.setdefault(rec["id"], {})[str(base)] = rec["verdict"]
            outcomes.setdefault(rec["id"], {})[str(base)] = PYTEST_OUTCOME.get(rec.get("outcome"), "error")
    for cid in claims:  # a base seed with no record of a claim: it crashed or was not collected
        for base in runs:
            claims[cid].setdefault(str(base), "no record")
            outcomes[cid].setdefault(str(base), "error")
    unstable = sorted((c for c, o in outcomes.items() if len(set(o.values())) > 1),
                      key=lambda c: int("".join(ch for ch in c if ch.isdigit()) or 0))
    return {"base_seeds": list(runs), "claims": claims, "outcomes": outcomes, "unstable": unstable}


def markdown(doc: dict) -> str:
    bases = [str(b) for b in doc["base_seeds"]]
    lines = [f"| claim | {' | '.join(f'base seed {b}' for b in bases)} | pytest outcome |",
             f"|---|{'---|' * len(bases)}---|"]
    for cid in sorted(doc["claims"], key=lambda c: int("".join(ch for ch in c if ch.isdigit()) or 0)):
        outcomes = sorted(set(doc["outcomes"][cid].values()))
        lines.append(f"| {cid} | {' | '.join(doc['claims'][cid][b] for b in bases)} | "
                     f"{' / '.join(outcomes)}{' (DIFFERS)' if len(outcomes) > 1 else ''} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", default="fast", choices=["fast", "long", "full"])
    parser.add_argument("--base-seeds", type=parse_base_seeds, default=parse_base_seeds("0-4"))
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args(argv)
    runs = {b: run_tier(args.tier, b, args.report_dir / args.tier / "base-seeds" / str(b), args.pytest_args)
            for b in args.base_seeds}
    doc = table(runs)
    out = args.report_dir / args.tier
    out.mkdir(parents=True, exist_ok=True)
    (out / "stability.json").write_text(json.dumps(doc, indent=1))
    (out / "stability.md").write_text(markdown(doc))
    print(markdown(doc))
    if doc["unstable"]:
        print(f"pytest outcome differs between base seeds for: {', '.join(doc['unstable'])}")
    return 1 if doc["unstable"] else 0


if __name__ == "__main__":
    sys.exit(main())
