"""List the surviving mutants of ``make mutation`` with the line each one changes.

For every module under ``mutants/`` (mutmut 3's work folder), reads the exit codes in
its ``.meta`` file and, for each survivor (exit code 0), prints the original and the
mutated line side by side. The mutants are the functions ``x_<name>__mutmut_<n>`` that
mutmut writes beside ``x_<name>__mutmut_orig``; the lines that differ are the mutation.

    python tools/mutation_survivors.py [src/eap/stats/km.py ...] > survivors.md
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import sys
from pathlib import Path

# A first sorting of survivors by the kind of change, checked by reading each one
# (docs/testing.md says which kinds are equivalent: no test can tell them apart).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("numpy error state, output buffer or copy flag", r"errstate|out=|copy="),
    ("dtype that the value already has", r"dtype|astype\(|\.view\(|np\.(int|uint|float)"),
    (
        "order or join option the result does not depend on",
        r"maintain_order|how=|\.sort\(|nulls_last|strict=(True|False|None)",
    ),
    (
        "wording or field named in a message",
        r"(field|file|variable|found|expected|label|title|test)=|f?\"[^\"]*[a-z]{3}[^\"]*\"",
    ),
)


def changed_part(old: str, new: str, context: int = 16) -> str:
    """The text around what the mutant changed (both sides), for :func:`category`."""
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            parts.append(old[max(0, i1 - context) : i2 + 2] + " | " + new[j1 : j2 + 2])
    return " || ".join(parts)


def category(old: str, new: str) -> str:
    part = changed_part(old, new)
    for name, pattern in CATEGORIES:
        if re.search(pattern, part):
            return name
    return "other"


def functions(path: Path) -> dict[str, list[str]]:
    """Every function of a mutated module by name, as its source lines (docstring kept)."""
    source = path.read_text()
    lines = source.splitlines()
    out: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out[node.name] = lines[node.lineno : node.end_lineno]
    return out


def survivors(module: str) -> list[str]:
    meta = Path("mutants") / f"{module}.meta"
    if not meta.exists():
        return []
    codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    return sorted((k for k, v in codes.items() if v == 0), key=_order)


def _order(name: str) -> tuple[str, int]:
    head, _, n = name.rpartition("__mutmut_")
    return head, int(n)


def changed_lines(orig: list[str], mutant: list[str]) -> tuple[str, str]:
    """The original and mutated text of the lines that differ."""
    old: list[str] = []
    new: list[str] = []
    for line in difflib.unified_diff(orig, mutant, lineterm="", n=0):
        if line.startswith("---") or line.startswith("+++") or line.startswith("@@"):
            continue
        (old if line.startswith("-") else new).append(line[1:].strip())
    return " / ".join(old), " / ".join(new)


def main(modules: list[str]) -> int:
    if not modules:
        modules = sorted(
            str(p.relative_to("mutants"))[: -len(".meta")]
            for p in Path("mutants/src").rglob("*.py.meta")
        )
    for module in modules:
        names = survivors(module)
        if not names:
            continue
        funcs = functions(Path("mutants") / module)
        print(f"\n### {module} ({len(names)})\n")
        print("| mutant | original | mutated | kind |")
        print("|---|---|---|---|")
        for name in names:
            local = name.rsplit(".", 1)[1]
            head = local.rpartition("__mutmut_")[0]
            orig, mutant = funcs.get(f"{head}__mutmut_orig"), funcs.get(local)
            if orig is None or mutant is None:
                print(f"| `{local}` | (function not found) | |")
                continue
            old, new = changed_lines(orig, mutant)
            cell = lambda s: "`" + s.replace("|", "\\|").replace("`", "'") + "`"  # noqa: E731
            print(f"| `{local}` | {cell(old)} | {cell(new)} | {category(old, new)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
