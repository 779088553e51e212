"""The Python package is in layers with no circles (docs/DESIGN.md s4):

    api/        ops, quantization, precisions, devices, errors (only _core)
    measuring/  measure, compare, peaks, canaries, plots     (api)
    teach/      chips and guide helpers                      (api, measuring)
    fleet/      the suite on many machines through Dask      (api, measuring, teach)
    tools/      cli, report, pytest plugin                   (all above)

and no module imports another of the package inside a function (the usual
way to hide a circle). Read from the source with ast, so nothing runs."""

import ast
from pathlib import Path

import xpuops

ROOT = Path(xpuops.__file__).parent
#: what each layer may import from the package, besides itself
ALLOWED = {
    "api": {"_core", "api"},
    "measuring": {"_core", "api", "measuring", "reference"},
    "teach": {"_core", "api", "measuring", "teach"},
    "fleet": {"_core", "api", "measuring", "teach", "fleet"},
    "tools": {"_core", "api", "measuring", "teach", "fleet", "tools", "reference"},
    "reference": set(),
}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield ".".join(rel.parts), path


def _package_imports(name, path):
    """(target module, line, inside a function) for every import of the
    package in module ``name``."""
    tree = ast.parse(path.read_text())
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    here = name.split(".")
    pkg = here[:-1] if path.name != "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("xpuops."):
                        out.append(
                            (alias.name[7:], node.lineno, _nested(node, parents))
                        )
            continue
        if node.level == 0:
            if node.module and node.module.startswith("xpuops"):
                target = node.module[7:]
                out.append((target, node.lineno, _nested(node, parents)))
            continue
        base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
        target = ".".join(base + ([node.module] if node.module else []))
        if not node.module:  # from . import x, y
            for alias in node.names:
                out.append(
                    (".".join(base + [alias.name]), node.lineno, _nested(node, parents))
                )
        else:
            out.append((target, node.lineno, _nested(node, parents)))
    return out


def _nested(node, parents):
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return True
    return False


def _layer(module: str) -> str:
    return module.split(".")[0]


def test_layers_import_only_downwards():
    bad = []
    for name, path in _modules():
        layer = _layer(name)
        if layer not in ALLOWED:
            continue  # __init__ and __main__: the package's faces
        for target, line, _ in _package_imports(name, path):
            if _layer(target) not in ALLOWED[layer] | {layer}:
                bad.append(f"{name}:{line} imports {target}")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_package_import_inside_a_function():
    bad = [
        f"{name}:{line} imports {target} inside a function"
        for name, path in _modules()
        for target, line, nested in _package_imports(name, path)
        if nested and target != "_core"
    ]
    assert not bad, "\n".join(bad)


def test_import_graph_has_no_circle():
    graph = {}
    for name, path in _modules():
        graph[name] = {
            t
            for t, _, _ in _package_imports(name, path)
            if t != name and t in dict(_modules())
        }
    seen, stack = set(), []

    def visit(node):
        if node in stack:
            raise AssertionError("import circle: " + " -> ".join([*stack, node]))
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(graph):
        if node not in ("__init__", "__main__"):
            visit(node)
