"""The layout's rules, checked on the source: dependency direction, no cycles between packages or between the
modules inside one, small experiment modules, no plotting state in experiments, no global RNG in library code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "brainlearn"
SHARED = ("runtime", "nn", "rules", "ensemble", "analysis", "similarity", "data", "replay", "paradigms", "io")
UPPER = ("models", "experiments")


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in SRC.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every brainlearn module `path` imports, at any depth (function-level imports too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("brainlearn")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("brainlearn"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_shared_rooms_never_import_models_or_experiments():
    upward = [f"{m} imports {i}" for m, p in _modules().items() if _room(m) in SHARED
              for i in _imports(p) if _room(i) in UPPER]
    assert not upward, "\n".join(sorted(upward))


def _graphs() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The import graph of rooms (brainlearn.<room>), and of modules inside each room (any depth)."""
    modules = _modules()
    rooms: dict[str, set[str]] = {}
    files: dict[str, set[str]] = {}
    for m, p in modules.items():
        for i in _imports(p):
            target = next((c for c in (i, i.rsplit(".", 1)[0]) if c in modules), None)
            if target is None or target == m:
                continue
            a, b = _room(m), _room(target)
            if a and b and a != b:
                rooms.setdefault(a, set()).add(b)
            if a and a == b:
                files.setdefault(m, set()).add(target)
    return rooms, files


def _find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of `graph` (a -> b -> ... -> a), or [] if it has none."""
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*path, nxt]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if state.get(node) is None and visit(node, [node]):
            break
    return cycle


def test_no_cycles_between_packages():
    """The graph of rooms (brainlearn.<room>) has no cycle."""
    cycle = _find_cycle(_graphs()[0])
    assert not cycle, " -> ".join(cycle)


def test_no_cycles_between_modules_inside_a_package():
    """Inside every room, the graph of its modules (files, __init__ included; function-level imports too) has
    no cycle: a module two others need lives in a module of its own."""
    cycle = _find_cycle(_graphs()[1])
    assert not cycle, " -> ".join(cycle)


def test_the_cycle_check_finds_a_circle():
    """A two-file circle (as rules.recurrent <-> rules.spiking once was), a longer one and a self-free DAG."""
    assert _find_cycle({"rules.recurrent": {"rules.spiking"}, "rules.spiking": {"rules.recurrent"}}) == [
        "rules.recurrent", "rules.spiking", "rules.recurrent"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("path", sorted((SRC / "experiments").rglob("*.py")), ids=lambda p: p.name)
def test_experiment_modules_are_small_and_plot_through_brainlearn_plotting(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 360, f"{path.name} has {len(text.splitlines())} lines"
    assert "matplotlib.pyplot" not in text or path.name == "sweep.py", f"{path.name} imports pyplot"


def test_library_code_never_seeds_the_global_rng():
    allowed = {SRC / "runtime" / "seeding.py"}
    offenders = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p not in allowed
                 and any(s in p.read_text() for s in ("torch.manual_seed(", "np.random.seed(", "random.seed("))]
    assert not offenders, offenders


def _is_seed(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    name = name.lower()
    return name == "seed" or name.endswith("_seed") or name.startswith("seed_")


def seed_arithmetic(path: Path, root: Path = SRC) -> list[str]:
    """Lines of `path` that compute with a seed (``seed + k``, ``100 * seed``, ``seed += 1``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.BinOp) and (_is_seed(node.left) or _is_seed(node.right)) or (
                isinstance(node, ast.AugAssign) and _is_seed(node.target)):
            found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_seeds_come_only_from_the_seed_scheme():
    """No arithmetic on seeds outside runtime/seeding.py: every stream comes from replicate_seed."""
    offenders = [line for p in sorted(SRC.rglob("*.py")) if p != SRC / "runtime" / "seeding.py"
                 for line in seed_arithmetic(p)]
    assert not offenders, "\n".join(offenders)


def test_the_seed_arithmetic_check_sees_arithmetic(tmp_path):
    bad = tmp_path / "probe.py"
    bad.write_text("def f(seed, k, base_seed):\n    base_seed += 1\n    return g(seed=100 * seed + k)\n")
    assert seed_arithmetic(bad, tmp_path) == ["probe.py:2: base_seed += 1", "probe.py:3: 100 * seed"]
