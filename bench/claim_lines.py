"""Lines of code per claim spec: the ``Cn = Claim(...)`` statement plus the module's functions it names (its
``plan``, its ``decide`` and the helpers that only it uses), per claim of ``iwcore/battery/paper``. Usage:
    python bench/claim_lines.py
"""

from __future__ import annotations

import ast
from pathlib import Path

PAPER = Path(__file__).resolve().parents[1] / "iwcore" / "battery" / "paper"


def claim_sizes(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    users: dict[str, set[str]] = {}  # function -> the claims and functions that name it
    claims = {}
    for node in tree.body:
        targets = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        owner = node.name if isinstance(node, ast.FunctionDef) else (targets[0] if targets else None)
        for name in {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & set(functions) - {owner}:
            users.setdefault(name, set()).add(owner)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and getattr(node.value.func, "id", None) == "Claim":
            claims[targets[0]] = node

    def own_functions(name: str, seen: set) -> set[str]:
        """Functions named (directly or through another) only by ``name``'s chain."""
        found = set()
        for fn, used_by in users.items():
            if fn not in seen and used_by <= seen | {name}:
                found |= {fn} | own_functions(fn, seen | {fn})
        return found

    sizes = {}
    for name, node in claims.items():
        lines = node.end_lineno - node.lineno + 1
        for fn in own_functions(name, {name}):
            lines += functions[fn].end_lineno - functions[fn].lineno + 1
        sizes[name] = lines
    return sizes


def main():
    sizes = {}
    for path in sorted(PAPER.glob("*.py")):
        sizes.update(claim_sizes(path))
    for name, lines in sorted(sizes.items(), key=lambda kv: int(kv[0][1:])):
        print(f"{name:4} {lines:4d} lines")
    values = sorted(sizes.values())
    print(f"{len(values)} claims: median {values[len(values) // 2]}, range {values[0]}-{values[-1]} lines")


if __name__ == "__main__":
    main()
