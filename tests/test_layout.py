"""The layout keeps its promises: no import circles inside the package (module-level and
function-level imports alike), inference never imports training code, the CLI stays thin."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "dancenow"


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        rel = p.relative_to(SRC).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        mods[".".join(parts)] = p
    return mods


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Nodes under `if TYPE_CHECKING:` (never imported at run time)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its body. `from a import b` counts
    as importing `a.b` when that is a module, else `a`. Importing a package's submodule also
    runs the package's __init__, but that edge is not a circle of ours, so it is not added."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1] + ([base] if base else []))
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    targets.append(sub if sub in mods else base)
            for t in targets:
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _reachable(graph, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for n in graph.get(m, ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_the_checker_finds_a_circle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    cycles = find_cycles(import_graph())
    assert cycles == [], f"import circles: {cycles}"


def test_inference_never_imports_training_code():
    graph = import_graph()
    training = {m for m in graph if m.endswith(".train")}
    for inference in ("dancenow.transfer", "dancenow.synth.model", "dancenow.choreo.generate", "dancenow.choreo.live"):
        if inference in graph:
            assert not (_reachable(graph, inference) & training), f"{inference} reaches {_reachable(graph, inference) & training}"


def test_cli_is_thin():
    """cli.py is the main group; each command module parses, calls one library function and
    prints: no loop over frames anywhere in them."""
    assert len((PKG / "cli.py").read_text().splitlines()) < 500
    for path in [PKG / "cli.py", *sorted((PKG / "commands").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        loops = [n.lineno for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While, ast.comprehension))
                 and "frame" in ast.unparse(n.iter if isinstance(n, (ast.For, ast.comprehension)) else n.test)]
        assert loops == [], f"loops over frames in {path.name} at lines {loops}"


def test_every_command_has_an_example():
    import click

    from dancenow.cli import main

    def walk(cmd, prefix):
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                yield from walk(sub, f"{prefix} {name}")
        else:
            yield prefix, cmd

    for name, cmd in walk(main, "dancenow"):
        assert "Example: dancenow" in (cmd.help or ""), f"{name} --help has no example"
