"""The direction of dependencies in `app/`, read from the source (issue 15).

Dependencies point one way: views -> model -> io. Every module under `app/` is parsed (no
import runs), its imports resolved (relative ones too, function-level ones included) and:
- no import cycle among `app` modules (module-level imports: the ones that run on import;
  `if TYPE_CHECKING:` blocks do not run);
- `app/io` imports no Qt and nothing from `app.model` or `app.views`;
- `app/model` imports no widgets (QtWidgets, pyqtgraph) and nothing from `app.views`;
- `app/views` stays thin: no format module, no `open_datafile`/DataFile construction, no private
  attribute of another object (`views_violations`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app"

QT = ("PyQt6", "PyQt5", "PySide6", "PySide2", "qtpy", "pyqtgraph")
WIDGETS = ("PyQt6.QtWidgets", "PyQt5.QtWidgets", "PySide6.QtWidgets", "qtpy.QtWidgets", "pyqtgraph")


@dataclass(frozen=True)
class Import:
    module: str          # the importing module, e.g. "app.cli.jobs"
    target: str          # the imported module (or the package a name is taken from)
    line: int
    runs_on_import: bool  # at module level (class bodies, if/try included), not under TYPE_CHECKING


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    """Every module under app/, by dotted name."""
    return {module_name(path): path for path in sorted(APP.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an `from ... import` names (relative levels resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """Every import statement of `module`: `from X import Y` names the module X.Y when it is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def visit(node: ast.AST, runs: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            runs = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False)
            for child in node.orelse:
                visit(child, runs)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno, runs) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append(Import(module, full if full in known or _is_external_module(full) else base,
                                    node.lineno, runs))
        for child in ast.iter_child_nodes(node):
            visit(child, runs)

    visit(tree, True)
    return found


def _is_external_module(name: str) -> bool:
    """`from PyQt6 import QtWidgets` imports the module PyQt6.QtWidgets."""
    return name.split(".")[0] in QT and name.split(".")[-1][:1].isupper()


def all_imports() -> list[Import]:
    modules = app_modules()
    known = set(modules)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, known)]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


# -- cycles -------------------------------------------------------------------------------------------
def import_cycles(imports: list[Import], known: set[str]) -> list[list[str]]:
    """One cycle (a closed path of module names) per strongly connected group of `app` modules
    that import each other when imported."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports:
        if imp.runs_on_import and imp.target in known and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    cycles = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            cycles.append(_a_cycle_in(graph, group))
    return cycles


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (deep package graphs stay off the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _a_cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest closed path from the group's first module back to itself (breadth-first)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & group):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return sorted(group)


# -- layers -------------------------------------------------------------------------------------------
def layer_violations(imports: list[Import]) -> list[str]:
    """app/io: no Qt, no app.model, no app.views; app/model: no widgets, no app.views."""
    wrong = []
    for imp in imports:
        where = f"{imp.module} (line {imp.line}) imports {imp.target}"
        if _within(imp.module, ("app.io",)) and _within(imp.target, QT + ("app.model", "app.views")):
            wrong.append(f"{where}: app/io must not depend on Qt, the model or the views")
        if _within(imp.module, ("app.model",)) and _within(imp.target, WIDGETS + ("app.views",)):
            wrong.append(f"{where}: app/model must not depend on widgets or the views")
    return wrong


# -- thin views ---------------------------------------------------------------------------------------
def datafile_classes() -> set[str]:
    """DataFile and the names of every class under app/io that derives from it (by name)."""
    bases: dict[str, set[str]] = {}
    for path in (APP / "io").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                         if isinstance(b, (ast.Name, ast.Attribute))}
                bases.setdefault(node.name, set()).update(names)
    found = {"DataFile"}
    grew = True
    while grew:
        grew = False
        for name, parents in bases.items():
            if name not in found and parents & found:
                found.add(name)
                grew = True
    return found


def views_violations(modules: dict[str, Path] | None = None) -> dict[str, list[int]]:
    """{violation: [lines]} for every module under app/views. A violation reads
    "<module>: <what>" (no line number, so it stays the same while the file is edited):
    imports a format module, calls open_datafile, constructs a DataFile, or touches a private
    attribute `._x` of an object that is not `self`/`cls`/`super()`."""
    modules = modules or app_modules()
    constructors = datafile_classes() | {"open_datafile"}
    found: dict[str, list[int]] = {}

    def add(module: str, what: str, line: int) -> None:
        found.setdefault(f"{module}: {what}", []).append(line)

    known = set(modules)
    for module, path in modules.items():
        if not _within(module, ("app.views",)):
            continue
        for imp in imports_of(module, path, known):
            if _within(imp.target, ("app.io.formats",)):
                add(module, f"imports {imp.target}", imp.line)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", "")
                if name in constructors:
                    add(module, f"calls {name}()", node.lineno)
            elif isinstance(node, ast.Attribute) and _is_private(node.attr) and not _is_own(node.value):
                add(module, f"touches {ast.unparse(node.value)}.{node.attr}", node.lineno)
    return found


def _is_private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


def _is_own(value: ast.expr) -> bool:
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"


# -- the tests ----------------------------------------------------------------------------------------
def test_no_import_cycle_in_app():
    modules = app_modules()
    cycles = import_cycles(all_imports(), set(modules))
    print(f"{len(modules)} modules under app/, {len(cycles)} import cycle(s)")
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_io_imports_no_qt_no_model_no_views_and_model_no_widgets():
    wrong = layer_violations(all_imports())
    assert not wrong, "\n".join(wrong)


def test_views_stay_thin():
    """No module under app/views imports a format, opens a DataFile or touches a model's private parts."""
    found = views_violations()
    assert not found, "views must not open files, import formats or touch private attributes of models:\n" + \
        "\n".join(f"{what} (line {', '.join(map(str, lines))})" for what, lines in sorted(found.items()))


def test_cli_commands_never_import_the_dispatcher_and_views_only_when_run():
    """app/cli/: the dispatcher imports the command modules, never the other way (not even inside
    a function), and the views load only when a command that shows them runs."""
    imports = [imp for imp in all_imports() if _within(imp.module, ("app.cli",))
               and imp.module not in ("app.cli", "app.cli.__main__")]
    assert imports, "app/cli has its command modules"
    back = [f"{imp.module} (line {imp.line})" for imp in imports if imp.target == "app.cli"]
    assert not back, "command modules import app.cli.common/options, not app.cli: " + ", ".join(back)
    eager_views = [f"{imp.module} (line {imp.line})" for imp in imports
                   if _within(imp.target, ("app.views",) + QT) and imp.runs_on_import]
    assert not eager_views, "import the views inside the command function: " + ", ".join(eager_views)


# -- the checker checks what it says (small modules written into tmp_path) ----------------------------
def _checked(tmp_path: Path, files: dict[str, str]) -> tuple[dict[str, Path], list[Import]]:
    modules = {}
    for name, text in files.items():
        path = tmp_path / (name.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        modules[name] = path
    known = set(modules)
    return modules, [imp for name, path in modules.items() for imp in imports_of(name, path, known)]


def test_the_checker_finds_cycles_relative_imports_and_skips_function_level(tmp_path):
    _, imports = _checked(tmp_path, {
        "app.a": "from app import b\n",
        "app.b": "from .c import thing\n",
        "app.c": "import app.a\n",
        "app.d": "def f():\n    import app.a\n",
        "app.e": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import app.d\n",
        "app.__init__": "",
    })
    known = {"app", "app.a", "app.b", "app.c", "app.d", "app.e"}
    assert import_cycles(imports, known) == [["app.a", "app.b", "app.c", "app.a"]]
    assert Import("app.d", "app.a", 2, False) in imports
    assert Import("app.e", "app.d", 3, False) in imports


def test_the_checker_finds_layer_and_view_violations(tmp_path):
    modules, imports = _checked(tmp_path, {
        "app.io.reader": "def f():\n    from PyQt6 import QtCore\n    from ..model import jobs\n",
        "app.model.thing": "from PyQt6 import QtWidgets\n",
        "app.io.formats.raw_binary": "",
        "app.views.panel": ("from app.io.formats import raw_binary\nfrom app.io import open_datafile\n"
                            "class P:\n    def f(self, model):\n        self._ok = model._cache\n"
                            "        return open_datafile('x'), RawBinaryFile('y'), super()._fine\n"),
    })
    wrong = layer_violations(imports)
    assert len(wrong) == 3 and all(w.startswith(("app.io.reader", "app.model.thing")) for w in wrong)
    assert any("PyQt6.QtCore" in w for w in wrong) and any("imports app.model:" in w for w in wrong)
    assert set(views_violations(modules)) == {
        "app.views.panel: imports app.io.formats.raw_binary", "app.views.panel: calls open_datafile()",
        "app.views.panel: calls RawBinaryFile()", "app.views.panel: touches model._cache"}


def test_every_view_module_reads_without_scrolling_far():
    """Issue 15: TraceView and every module under app/views stay under 500 lines."""
    long = {path.relative_to(REPO).as_posix(): n for path in (APP / "views").rglob("*.py")
            if (n := len(path.read_text(encoding="utf-8").splitlines())) >= 500}
    assert not long, f"split these view modules: {long}"
