"""How the code is shaped: the figures the architecture issue tracks, before and after a change.

Counts modules over 300 lines, functions over 40 lines (with and without their docstrings), the
deepest chain of module-level imports inside flows/ (a -> b means a imports b when it is
imported), and the call sites that merge estimator settings. Static reads of the source with
``ast``: nothing is imported, so it runs on any checkout. Writes bench/results/structure.json
(or the path given as the first argument).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "data", "flows")
LONG_MODULE, LONG_FUNCTION = 300, 40


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[dotted.removesuffix(".__init__")] = path
    return found


def _top_level_imports(path: Path, known: set[str]) -> set[str]:
    """Modules of ours imported when ``path`` is imported (not inside functions)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in known}


def _long_functions(path: Path, *, count_docstring: bool) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.end_lineno is None:
            continue
        lines = node.end_lineno - node.lineno + 1
        doc = node.body[0] if node.body else None
        if not count_docstring and ast.get_docstring(node) and doc is not None and doc.end_lineno:
            lines -= doc.end_lineno - doc.lineno + 1
        if lines > LONG_FUNCTION:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    return found


def deepest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import path in an acyclic graph (a cycle would be a bug Python reports)."""

    @cache
    def longest(node: str) -> tuple[str, ...]:
        tails = [longest(child) for child in graph[node] if child != node]
        return (node, *max(tails, key=len, default=()))

    return list(max((longest(node) for node in graph), key=len))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results" / "structure.json"
    modules = _modules()
    known = set(modules)
    flows = {name: path for name, path in modules.items() if name.startswith("flows")}
    graph = {name: _top_level_imports(path, known) & set(flows) for name, path in flows.items()}
    chain = deepest_chain(graph)
    lines = {name: len(path.read_text().splitlines()) for name, path in modules.items()}
    long_modules = sorted(f"{n} ({c})" for n, c in lines.items() if c > LONG_MODULE)
    long_functions = [
        f for path in modules.values() for f in _long_functions(path, count_docstring=True)
    ]
    long_code = [
        f for path in modules.values() for f in _long_functions(path, count_docstring=False)
    ]
    merges = subprocess.run(
        ["git", "grep", "-n", "estimator_settings(", "--", *PACKAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    # Calls only: not the function's own definition, nor the config's validators named after it.
    merge_sites = [line for line in merges if "def " not in line]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    result = {
        "commit": commit,
        "modules": len(modules),
        "flows_modules": len(flows),
        "modules_over_300_lines": long_modules,
        "functions_over_40_lines": long_functions,
        "functions_over_40_lines_without_docstring": long_code,
        "deepest_flows_import_chain": {"length": len(chain), "chain": chain},
        "settings_merge_call_sites": merge_sites,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: (len(v) if isinstance(v, list) else v) for k, v in result.items()}))


if __name__ == "__main__":
    main()
