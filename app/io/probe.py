"""SpyKING CIRCUS probe (``.prb``) files, read as data and written as plain data.

A ``.prb`` file is Python that the sorter runs to get three names:
``total_nb_channels``, ``radius`` (µm) and ``channel_groups``
(``{group: {'channels': [...], 'geometry': {channel: (x, y)}, 'graph': [...]}}``).
We never run it. ``ast.parse`` turns it into a tree, a static pass rejects every
construct outside a small data language (literals, earlier names, arithmetic,
comprehensions, ``for`` loops, a few pure built-ins), and a metered tree walker
computes the names.

Any file is accepted or refused within about 2 s and 300 MB. Python's own parser needs ~500
bytes of memory per byte of dense source, so it never sees the big part of a probe: large
bracketed displays of plain numbers (the geometry, channel and graph lists that make a
4096-channel probe ~2 MB) are lifted out first, by a scan that knows strings and comments, and
read by ``json`` (C speed, compact), leaving a small skeleton for ``ast``. Caps on bytes, list
items, brackets and skeleton size come before any parsing; the evaluator charges a step budget
for nodes, loop turns, elements built and the length of strings and digits it converts.
``np.int64(3)`` / ``numpy.float64(-1.5)`` (what probeinterface writes under numpy 2) read as the
plain number in the call, never by attribute access.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import operator
import os
import re
import reprlib
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.io import atomic
from app.io.errors import ProbeError
from app.paths import RESOURCES

# A 4096-channel probe with geometry and a graph is < 2 MB of text; these caps leave room for it and
# keep the worst file within ~2 s and ~300 MB.
MAX_STEPS = 500_000             # evaluation steps (nodes, loop turns, elements built) per file
MAX_INT_BITS = 1024             # no probe needs bigger integers; bounds the cost of arithmetic
MAX_DIGITS = 400                # longest string int() / float() may convert (1024 bits is 309 digits)
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ITEMS = 1_000_000           # commas in the whole file: list items, dict entries, arguments
MAX_BRACKETS = 500_000          # opening brackets in the whole file
MAX_DEPTH = 64                  # bracket nesting
MAX_CODE_BYTES = 64 * 1024      # what is left for Python's parser once the number displays are lifted
LIFT_MIN_CHARS = 256            # smaller displays stay in the skeleton
LIBRARY_DIR = RESOURCES / "probes"

HINT = ("a .prb file is data: use numbers, strings, lists, tuples, dicts, names assigned above, "
        "arithmetic, comprehensions, for loops and the built-ins range, list, tuple, dict, zip, "
        "enumerate, len, int, float, abs, min, max, sum, round, sorted, reversed")

GroupId = int | str


# --------------------------------------------------------------------------------------------- model

@dataclass
class ChannelGroup:
    """One group of channels the sorter treats together (a shank, a tetrode)."""

    channels: list[int]
    geometry: dict[int, tuple[float, float]]
    graph: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Probe:
    """The content of a ``.prb`` file; positions in µm."""

    total_nb_channels: int
    radius: float
    channel_groups: dict[GroupId, ChannelGroup]
    file_name: str | None = None

    @property
    def channels(self) -> np.ndarray:
        """Every channel id of every group, groups in file order."""
        ids = [c for group in self.channel_groups.values() for c in group.channels]
        return np.asarray(ids, dtype=np.int64)

    def positions(self, channels: Iterable[int] | None = None) -> np.ndarray:
        """(n, 2) float array of (x, y) for `channels` (default: all, in group order)."""
        wanted = self.channels if channels is None else np.asarray(list(channels), dtype=np.int64)
        where = self._position_map()
        missing = [int(c) for c in wanted if int(c) not in where]
        if missing:
            raise ProbeError(f"{self._name()}: no position for channel(s) {_ids(missing)}; add "
                             f"`channel: (x, y)` entries to the 'geometry' of their group.", self.file_name)
        return np.array([where[int(c)] for c in wanted], dtype=np.float64).reshape(len(wanted), 2)

    def group_of(self, channel: int) -> GroupId | None:
        """The group holding `channel`, or None for a dead channel (in no group)."""
        for group_id, group in self.channel_groups.items():
            if channel in group.channels:
                return group_id
        return None

    def dead_channels(self, nb_channels: int) -> list[int]:
        """Recording channels in no group: the sorter ignores them."""
        used = {c for group in self.channel_groups.values() for c in group.channels}
        return [c for c in range(nb_channels) if c not in used]

    def depth_order(self) -> np.ndarray:
        """Channel ids sorted by (y, x): the trace view's order by depth."""
        channels = self.channels
        xy = self.positions(channels)
        return channels[np.lexsort((channels, xy[:, 0], xy[:, 1]))]

    def validate(self, nb_channels: int) -> list[str]:
        """Raise ProbeError if the probe cannot describe a recording of `nb_channels`; return warnings."""
        problems = self._problems(nb_channels)
        if problems:
            shown = problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])
            raise ProbeError(f"{self._name()}: the probe does not fit a recording of {nb_channels} "
                             "channels:\n  - " + "\n  - ".join(shown), self.file_name)
        return self._warnings(nb_channels)

    def to_text(self) -> str:
        """A plain-data ``.prb`` SpyKING CIRCUS reads; the same probe always gives the same text."""
        lines = ["# SpyKING CIRCUS probe file written by Wavescope: plain data, positions in um.", "",
                 f"total_nb_channels = {self.total_nb_channels}", f"radius = {_number(self.radius)}", "",
                 "channel_groups = {"]
        for group_id, group in self.channel_groups.items():
            lines.append(f"    {_key_text(group_id)}: {{")
            lines += _wrapped("'channels': [", [str(c) for c in group.channels], "],", 16)
            lines.append("        'geometry': {")
            lines += [f"            {c}: ({_number(x)}, {_number(y)})," for c, (x, y) in group.geometry.items()]
            lines.append("        },")
            lines += _wrapped("'graph': [", [f"({a}, {b})" for a, b in group.graph], "],", 8)
            lines.append("    },")
        lines += ["}", ""]
        return "\n".join(lines)

    def _name(self) -> str:
        return self.file_name or "probe"

    def _position_map(self) -> dict[int, tuple[float, float]]:
        where: dict[int, tuple[float, float]] = {}
        for group in self.channel_groups.values():
            where.update((c, group.geometry[c]) for c in group.channels if c in group.geometry)
        return where

    def _problems(self, nb_channels: int) -> list[str]:
        problems = []
        if self.total_nb_channels != nb_channels:
            problems.append(f"total_nb_channels = {self.total_nb_channels} in the probe but the recording "
                            f"has nb_channels = {nb_channels}; set total_nb_channels = {nb_channels} in the "
                            "probe (or correct nb_channels if the recording's value is wrong)")
        owner: dict[int, GroupId] = {}
        for group_id, group in self.channel_groups.items():
            too_big = [c for c in group.channels if c >= nb_channels]
            if too_big:
                problems.append(f"group {group_id!r}: channel(s) {_ids(too_big)} do not exist (the recording's "
                                f"channels are 0 to {nb_channels - 1}); remove them or fix the numbering")
            no_xy = [c for c in group.channels if c not in group.geometry]
            if no_xy:
                problems.append(f"group {group_id!r}: channel(s) {_ids(no_xy)} have no position; add "
                                "`channel: (x, y)` entries to the group's 'geometry'")
            for channel in group.channels:
                if channel in owner:
                    first = owner[channel]
                    where = f"twice in group {first!r}" if first == group_id else f"in groups {first!r} and {group_id!r}"
                    problems.append(f"channel {channel} is {where}; list each channel once, in one group only")
                owner[channel] = group_id
        return problems

    def _warnings(self, nb_channels: int) -> list[str]:
        warnings = []
        dead = self.dead_channels(nb_channels)
        if dead:
            warnings.append(f"{len(dead)} channel(s) are in no group and will be ignored (dead): {_ids(dead)}")
        if self.radius <= 0:
            warnings.append(f"radius is {_number(self.radius)} um: no channel has neighbours for the sorter")
        for group_id, group in self.channel_groups.items():
            warnings += _group_warnings(group_id, group)
        return warnings


def _group_warnings(group_id: GroupId, group: ChannelGroup) -> list[str]:
    members = set(group.channels)
    warnings = []
    extra = [c for c in group.geometry if c not in members]
    if extra:
        warnings.append(f"group {group_id!r}: 'geometry' places channel(s) {_ids(extra)} that are not in its "
                        "'channels' (ignored)")
    strangers = sorted({c for edge in group.graph for c in edge if c not in members})
    if strangers:
        warnings.append(f"group {group_id!r}: 'graph' links channel(s) {_ids(strangers)} outside the group")
    seen: dict[tuple[float, float], int] = {}
    for channel in group.channels:
        xy = group.geometry.get(channel)
        if xy is not None and xy in seen:
            warnings.append(f"group {group_id!r}: channels {seen[xy]} and {channel} share the position "
                            f"({_number(xy[0])}, {_number(xy[1])})")
        elif xy is not None:
            seen[xy] = channel
    return warnings


def _ids(values: list[int], limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown if len(values) <= limit else f"{shown}, ... ({len(values)} in all)"


def _key_text(group_id: GroupId) -> str:
    """A group id as plain Python: 3, not np.int64(3); strings quoted."""
    return repr(str(group_id)) if isinstance(group_id, str) else str(int(group_id))


def _number(value: float) -> str:
    """Shortest text that reads back as the same number (integral values without '.0')."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _wrapped(opening: str, items: list[str], closing: str, per_line: int) -> list[str]:
    if not items:
        return [f"        {opening}{closing}"]
    rows = [", ".join(items[k:k + per_line]) + "," for k in range(0, len(items), per_line)]
    return [f"        {opening}"] + [f"            {row}" for row in rows] + [f"        {closing}"]


# ---------------------------------------------------------------------------------- static checks

_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_UNARY = (ast.UAdd, ast.USub, ast.Not)
_ALLOWED = (
    ast.Module, ast.Assign, ast.AugAssign, ast.For, ast.If, ast.Pass, ast.Expr,
    ast.Constant, ast.Name, ast.Load, ast.Store, ast.Tuple, ast.List, ast.Set, ast.Dict,
    ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.IfExp, ast.Call, ast.keyword,
    ast.Subscript, ast.Slice, ast.Starred, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
    ast.comprehension, *_OPERATORS, *_COMPARISONS, *_UNARY,
)
_CONSTRUCTS = {
    ast.Import: "import", ast.ImportFrom: "import", ast.Attribute: "attribute access", ast.Lambda: "lambda",
    ast.FunctionDef: "function definition", ast.AsyncFunctionDef: "function definition",
    ast.ClassDef: "class definition", ast.While: "while loop", ast.With: "with block", ast.Try: "try block",
    ast.Raise: "raise", ast.Delete: "del", ast.Global: "global", ast.Nonlocal: "nonlocal",
    ast.JoinedStr: "f-string", ast.NamedExpr: "assignment expression (:=)", ast.Yield: "yield",
    ast.Await: "await", ast.AnnAssign: "annotated assignment", ast.Assert: "assert", ast.Return: "return",
    ast.Break: "break", ast.Continue: "continue", ast.MatMult: "operator @", ast.BitAnd: "operator &",
    ast.BitOr: "operator |", ast.BitXor: "operator ^", ast.LShift: "operator <<", ast.RShift: "operator >>",
    ast.Invert: "operator ~",
}
_SCALARS = (int, float, str, bool, type(None))
_PYTHON_ERRORS = (KeyError, TypeError, ValueError, IndexError, ArithmeticError, RuntimeError)


def _located(file_name: str, line: int | None, message: str) -> ProbeError:
    where = f"{file_name}, line {line}" if line else file_name
    error = ProbeError(f"{where}: {message}", file_name)
    error.line = line
    return error


class _Checker:
    """Rejects, before anything is computed, every construct outside the data language."""

    def __init__(self, text: str, file_name: str, functions: Iterable[str]):
        self.text = text
        self.file_name = file_name
        self.functions = set(functions)

    def check(self, tree: ast.AST) -> None:
        """Visits every node in source order (an explicit stack: big files are mostly constants)."""
        stack: list[tuple[ast.AST, int | None]] = [(tree, None)]
        while stack:
            node, line = stack.pop()
            if type(node) is ast.Constant and isinstance(node.value, _SCALARS):
                continue
            if isinstance(node, ast.Call) and _numpy_scalar(node) is not None:
                continue        # np.int64(3): a number, its attribute is never looked up
            line = getattr(node, "lineno", line)
            self._check_node(node, line)
            children = [child for child in ast.iter_child_nodes(node) if not isinstance(child, ast.expr_context)]
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                children.remove(node.func)
            stack.extend((child, line) for child in reversed(children))

    def _check_node(self, node: ast.AST, line: int | None) -> None:
        if not isinstance(node, _ALLOWED):
            self._reject(node, line, _CONSTRUCTS.get(type(node), type(node).__name__))
        if isinstance(node, ast.Name):
            self._check_name(node, line)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id not in self.functions:
                self._reject(node, line, f"calling {node.func.id!r}")
        elif isinstance(node, ast.Call) and not isinstance(node.func, ast.Attribute):
            self._reject(node, line, "calling anything but a built-in by its name")
        elif isinstance(node, ast.Constant) and not isinstance(node.value, _SCALARS):
            self._reject(node, line, f"the constant {node.value!r}")
        elif isinstance(node, ast.Starred) and isinstance(node.ctx, ast.Store):
            self._reject(node, line, "starred assignment")
        elif isinstance(node, ast.comprehension) and node.is_async:
            self._reject(node, line, "async comprehension")
        elif isinstance(node, (ast.For, ast.comprehension)) and _subscripts_in(node.target):
            self._reject(node.target, line, "a loop variable that is not a plain name")
        elif isinstance(node, ast.For) and node.orelse:
            self._reject(node, line, "for ... else")

    def _check_name(self, node: ast.Name, line: int | None) -> None:
        if node.id.startswith("__") and node.id.endswith("__"):
            self._reject(node, line, f"the special name {node.id!r}")
        if isinstance(node.ctx, ast.Store) and node.id in self.functions:
            self._reject(node, line, f"rebinding the built-in {node.id!r}")

    def _reject(self, node: ast.AST, line: int | None, construct: str) -> None:
        snippet = (ast.get_source_segment(self.text, node) or "").strip().splitlines()
        shown = f" (`{snippet[0][:60]}`)" if snippet else ""
        raise _located(self.file_name, line, f"{construct}{shown} is not allowed; {HINT}.")


def _subscripts_in(target: ast.AST) -> bool:
    return any(isinstance(node, (ast.Subscript, ast.Starred)) for node in ast.walk(target))


# ------------------------------------------------------------------------------------- evaluation

class _Evaluator:
    """Computes the module-level names of a checked tree, charging every step to a budget."""

    def __init__(self, text: str, file_name: str, max_steps: int, lifted: dict[str, Any] | None = None):
        self.text = text
        self.lifted = lifted or {}          # displays read by json, by placeholder name
        self.lifted_used: set[str] = set()
        self.file_name = file_name
        self.max_steps = max_steps
        self.steps_left = max_steps
        self.names: dict[str, Any] = {}
        self.lines: dict[str, int] = {}
        self.scopes: list[dict[str, Any]] = []
        self.functions: dict[str, Callable[..., Any]] = {
            "range": self._range, "list": self._list, "tuple": self._tuple, "dict": self._dict,
            "zip": self._zip, "enumerate": self._enumerate, "len": len, "int": self._int, "float": self._float,
            "abs": self._abs, "min": self._min, "max": self._max, "sum": self._sum, "round": self._round,
            "sorted": self._sorted, "reversed": self._reversed,
        }
        self.handlers: dict[type, Callable[[Any], Any]] = {
            ast.Constant: lambda node: node.value, ast.Name: self._name, ast.Tuple: self._tuple_display,
            ast.List: self._list_display, ast.Set: self._set_display, ast.Dict: self._dict_display,
            ast.BinOp: self._binop_node, ast.UnaryOp: self._unary, ast.BoolOp: self._boolop,
            ast.Compare: self._compare_node, ast.IfExp: self._ifexp, ast.Call: self._call,
            ast.Subscript: self._subscript, ast.ListComp: self._listcomp, ast.SetComp: self._setcomp,
            ast.DictComp: self._dictcomp, ast.GeneratorExp: self._genexp,
        }
        self.node: ast.AST | None = None

    # -- errors and budget
    def error(self, node: ast.AST | None, message: str) -> ProbeError:
        return _located(self.file_name, getattr(node, "lineno", None), message)

    def charge(self, steps: int, node: ast.AST | None) -> None:
        self.steps_left -= steps
        if self.steps_left < 0:
            raise self.error(node or self.node, f"the file asks for more than {self.max_steps:,} evaluation "
                             "steps (a huge range, loop or repetition); a .prb file is data and needs far "
                             "fewer: check the ranges and loops near this line.")

    # -- statements
    def run(self, module: ast.Module) -> None:
        for statement in module.body:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        self.node = node
        self.charge(1, node)
        if isinstance(node, ast.Assign):
            value = self.value_of(node.value)
            for target in node.targets:
                self.assign(target, value, node)
        elif isinstance(node, ast.AugAssign):
            self._augmented(node)
        elif isinstance(node, ast.For):
            for item in self.iterate(self.value_of(node.iter), node):
                self.charge(1, node)
                self.assign(node.target, item, node)
                for inner in node.body:
                    self.statement(inner)
        elif isinstance(node, ast.If):
            for inner in node.body if self.value_of(node.test) else node.orelse:
                self.statement(inner)
        elif isinstance(node, ast.Expr):
            self.value_of(node.value)

    def _augmented(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            current = self.lookup(target.id, node)
        else:
            current = self._guarded(node, lambda: self._item(self.value_of(target.value),
                                                             self.value_of(target.slice), node))
        value = self.value_of(node.value)
        if isinstance(current, list) and isinstance(node.op, ast.Add):
            current.extend(self.materialize(value, node))
            return
        self.assign(target, self._guarded(node, lambda: self.binop(node.op, current, value, node)), node)

    def assign(self, target: ast.AST, value: Any, node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            if self.scopes:
                self.scopes[-1][target.id] = value
            else:
                self.names[target.id] = value
                self.lines[target.id] = node.lineno
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self._unpack(value, len(target.elts), node)
            for inner, item in zip(target.elts, items):
                self.assign(inner, item, node)
        elif isinstance(target, ast.Subscript):
            self._guarded(node, lambda: self._store_item(target, value, node))
        else:
            raise self.error(node, f"cannot assign to {ast.unparse(target)!r}; {HINT}.")

    def _unpack(self, value: Any, count: int, node: ast.AST) -> list[Any]:
        items = []
        for item in self.iterate(value, node):
            items.append(item)
            if len(items) > count:
                break
        if len(items) != count:
            raise self.error(node, f"cannot unpack {len(items)}{'+' if len(items) > count else ''} values "
                             f"into {count} names")
        return items

    def _store_item(self, target: ast.Subscript, value: Any, node: ast.AST) -> None:
        container = self.value_of(target.value)
        if isinstance(target.slice, ast.Slice):
            raise self.error(node, "assigning to a slice is not allowed; build a new list instead")
        key = self.value_of(target.slice)
        if isinstance(container, dict):
            container[self.key(key, node)] = value
        elif isinstance(container, list):
            container[key] = value
        else:
            raise self.error(node, f"cannot assign into a {type(container).__name__}; only dicts and "
                             "lists can be filled item by item")

    # -- expressions
    def value_of(self, node: ast.AST) -> Any:
        """The value of expression `node` (the hot path: kept flat on purpose)."""
        self.steps_left -= 1
        if self.steps_left < 0:
            self.charge(0, node)
        handler = self.handlers.get(type(node))
        if handler is None:
            raise self.error(node, f"{self._snippet(node)} here; {HINT}.")
        try:
            return handler(node)
        except ProbeError:
            raise
        except _PYTHON_ERRORS as error:
            raise self._python_error(node, error) from None

    def _guarded(self, node: ast.AST, compute: Callable[[], Any]) -> Any:
        """Runs `compute`, turning Python's own errors into a ProbeError at `node`'s line."""
        try:
            return compute()
        except ProbeError:
            raise
        except _PYTHON_ERRORS as error:
            raise self._python_error(node, error) from None

    def _python_error(self, node: ast.AST, error: Exception) -> ProbeError:
        if isinstance(error, KeyError):
            return self.error(node, f"{self._snippet(node)}: no key {_show(error.args[0])}")
        return self.error(node, f"{self._snippet(node)}: {error}")

    def _snippet(self, node: ast.AST) -> str:
        text = (ast.get_source_segment(self.text, node) or ast.unparse(node)).strip().splitlines()
        return f"cannot compute `{text[0][:60] if text else '?'}`"

    def _name(self, node: ast.Name) -> Any:
        return self.lookup(node.id, node)

    def lookup(self, name: str, node: ast.AST) -> Any:
        if name in self.lifted:
            return self._lifted(name, node)
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name in self.names:
            return self.names[name]
        if name in self.functions:
            return self.functions[name]
        raise self.error(node, f"the name {name!r} is not defined before this line; assign it "
                         "earlier in the file (a .prb file is read from top to bottom)")

    def _lifted(self, name: str, node: ast.AST) -> Any:
        """A lifted display; evaluated again (in a loop), it is a fresh copy, as Python would build."""
        value = self.lifted[name]
        if name not in self.lifted_used:
            self.lifted_used.add(name)
            return value
        self.charge(_size(value), node)
        return copy.deepcopy(value)

    def _elements(self, nodes: list[ast.expr]) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if isinstance(node, ast.Starred):
                out.extend(self.materialize(self.value_of(node.value), node))
            else:
                out.append(self.value_of(node))
        return out

    def _tuple_display(self, node: ast.Tuple) -> tuple:
        return tuple(self._elements(node.elts))

    def _list_display(self, node: ast.List) -> list:
        return self._elements(node.elts)

    def _set_display(self, node: ast.Set) -> set:
        return {self.key(item, node) for item in self._elements(node.elts)}

    def _dict_display(self, node: ast.Dict) -> dict:
        out: dict = {}
        for key_node, value_node in zip(node.keys, node.values):
            if key_node is None:
                other = self.value_of(value_node)
                if not isinstance(other, dict):
                    raise self.error(node, f"** needs a dict, not a {type(other).__name__}")
                self.charge(len(other), node)
                out.update(other)
            else:
                key = self.key(self.value_of(key_node), node)
                out[key] = self.value_of(value_node)
        return out

    def _binop_node(self, node: ast.BinOp) -> Any:
        return self.binop(node.op, self.value_of(node.left), self.value_of(node.right), node)

    def binop(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Any:
        numbers = _is_number(left) and _is_number(right)
        if isinstance(op, ast.Pow) and numbers:
            self._check_power(left, right, node)
        elif isinstance(op, ast.Mult) and numbers and isinstance(left, int) and isinstance(right, int):
            self._check_bits(abs(left).bit_length() + abs(right).bit_length(), node)
        elif isinstance(op, ast.Mult) and not numbers:
            self._check_repeat(left, right, node)
        elif isinstance(op, ast.Add) and not numbers:
            if not (type(left) is type(right) and isinstance(left, (list, tuple, str))):
                raise self.error(node, f"cannot add a {type(left).__name__} and a {type(right).__name__}")
            self.charge(len(left) + len(right), node)
        elif not numbers:
            raise self.error(node, f"operator {type(op).__name__} works on numbers only here, not on "
                             f"{type(left).__name__} and {type(right).__name__}")
        result = _OPERATORS[type(op)](left, right)
        if isinstance(result, complex):
            raise self.error(node, "the result is a complex number; positions and ids are real numbers")
        if isinstance(result, int):
            self._check_bits(abs(result).bit_length(), node)
        return result

    def _check_power(self, base: Any, exponent: Any, node: ast.AST) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
            self._check_bits(abs(base).bit_length() * exponent, node)

    def _check_bits(self, bits: int, node: ast.AST) -> None:
        if bits > MAX_INT_BITS:
            raise self.error(node, f"number too large (over {MAX_INT_BITS} bits); a probe needs small numbers")

    def _check_repeat(self, left: Any, right: Any, node: ast.AST) -> None:
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if not (isinstance(sequence, (list, tuple, str)) and isinstance(count, int)):
            raise self.error(node, f"cannot multiply a {type(left).__name__} by a {type(right).__name__}")
        self.charge(len(sequence) * max(count, 0), node)

    def _unary(self, node: ast.UnaryOp) -> Any:
        operand = self.value_of(node.operand)
        if isinstance(node.op, ast.Not):
            return not operand
        if not _is_number(operand):
            raise self.error(node, f"a sign needs a number, not a {type(operand).__name__}")
        return -operand if isinstance(node.op, ast.USub) else +operand

    def _boolop(self, node: ast.BoolOp) -> Any:
        value = None
        for inner in node.values:
            value = self.value_of(inner)
            if bool(value) == isinstance(node.op, ast.Or):
                return value
        return value

    def _compare_node(self, node: ast.Compare) -> bool:
        left = self.value_of(node.left)
        for op, right_node in zip(node.ops, node.comparators):
            right = self.value_of(right_node)
            if not self._compare(op, left, right, node):
                return False
            left = right
        return True

    def _compare(self, op: ast.cmpop, left: Any, right: Any, node: ast.AST) -> bool:
        if isinstance(op, (ast.Is, ast.IsNot)):
            return _COMPARISONS[type(op)](left, right)
        if isinstance(op, (ast.In, ast.NotIn)):
            self._check_membership(left, right, node)
        else:
            self.charge(self.flat_size(left, node) + self.flat_size(right, node), node)
        return bool(_COMPARISONS[type(op)](left, right))

    def _check_membership(self, item: Any, container: Any, node: ast.AST) -> None:
        if isinstance(container, (dict, set)):
            self.key(item, node)
        elif isinstance(container, range):
            self.charge(1 if isinstance(item, int) else len(container), node)
        elif isinstance(container, (list, tuple, str)):
            self.charge(len(container) * self.flat_size(item, node), node)
        else:
            raise self.error(node, f"'in' needs a list, tuple, dict, set, range or string, "
                             f"not a {type(container).__name__}")

    def _ifexp(self, node: ast.IfExp) -> Any:
        return self.value_of(node.body if self.value_of(node.test) else node.orelse)

    def _subscript(self, node: ast.Subscript) -> Any:
        container = self.value_of(node.value)
        if isinstance(node.slice, ast.Slice):
            return self._slice(container, node.slice, node)
        return self._item(container, self.value_of(node.slice), node)

    def _item(self, container: Any, key: Any, node: ast.AST) -> Any:
        if isinstance(container, dict):
            return container[self.key(key, node)]
        if isinstance(container, (list, tuple, str, range)):
            return container[key]
        raise self.error(node, f"cannot index a {type(container).__name__}")

    def _slice(self, container: Any, node: ast.Slice, where: ast.AST) -> Any:
        bounds = [None if part is None else self.value_of(part) for part in (node.lower, node.upper, node.step)]
        if not isinstance(container, (list, tuple, str, range)):
            raise self.error(where, f"cannot slice a {type(container).__name__}")
        cut = slice(*bounds)
        if not isinstance(container, range):
            self.charge(len(range(*cut.indices(len(container)))), where)
        return container[cut]

    def _call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            return _numpy_scalar(node)          # the checker let only np.int64(<number>) and kin through
        function = self.functions[node.func.id]
        args = self._elements(node.args)
        kwargs: dict[str, Any] = {}
        for keyword in node.keywords:
            value = self.value_of(keyword.value)
            if keyword.arg is not None:
                kwargs[keyword.arg] = value
            elif isinstance(value, dict) and all(isinstance(k, str) for k in value):
                kwargs.update(value)
            else:
                raise self.error(node, "** in a call needs a dict with string keys")
        self.node = node
        return function(*args, **kwargs)

    # -- comprehensions
    def _comprehend(self, node: ast.AST, generators: list[ast.comprehension], emit: Callable[[], None]) -> None:
        self.scopes.append({})
        try:
            self._loop(node, generators, 0, emit)
        finally:
            self.scopes.pop()

    def _loop(self, node: ast.AST, generators: list[ast.comprehension], level: int,
              emit: Callable[[], None]) -> None:
        generator = generators[level]
        for item in self.iterate(self.value_of(generator.iter), node):
            self.charge(1, node)
            self.assign(generator.target, item, node)
            if all(self.value_of(condition) for condition in generator.ifs):
                if level + 1 < len(generators):
                    self._loop(node, generators, level + 1, emit)
                else:
                    emit()

    def _listcomp(self, node: ast.ListComp) -> list:
        out: list = []
        self._comprehend(node, node.generators, lambda: out.append(self.value_of(node.elt)))
        return out

    def _setcomp(self, node: ast.SetComp) -> set:
        out: set = set()
        self._comprehend(node, node.generators, lambda: out.add(self.key(self.value_of(node.elt), node)))
        return out

    def _dictcomp(self, node: ast.DictComp) -> dict:
        out: dict = {}

        def emit() -> None:
            key = self.key(self.value_of(node.key), node)
            out[key] = self.value_of(node.value)

        self._comprehend(node, node.generators, emit)
        return out

    def _genexp(self, node: ast.GeneratorExp) -> Iterator:
        out: list = []
        self._comprehend(node, node.generators, lambda: out.append(self.value_of(node.elt)))
        return iter(out)

    # -- values
    def iterate(self, value: Any, node: ast.AST) -> Iterator:
        if isinstance(value, (dict, set)):
            self.charge(len(value), node)
            return iter(list(value))
        if isinstance(value, (list, tuple, str, range, Iterator)):
            return iter(value)
        raise self.error(node, f"cannot loop over a {type(value).__name__}")

    def materialize(self, value: Any, node: ast.AST | None = None) -> list:
        node = node or self.node
        if isinstance(value, Sized):
            self.charge(len(value), node)
        elif isinstance(value, Iterator):
            self.charge(operator.length_hint(value), node)
        else:
            raise self.error(node, f"expected a list, range or other sequence, not a {type(value).__name__}")
        return list(value)

    def key(self, value: Any, node: ast.AST | None) -> Any:
        """A dict key or set element: a scalar or a flat tuple of scalars (cheap to hash)."""
        if isinstance(value, _SCALARS):
            return value
        if isinstance(value, tuple) and all(isinstance(item, _SCALARS) for item in value):
            self.charge(len(value), node)
            return value
        raise self.error(node or self.node, "a dict key or set element must be a number, a string or a "
                         f"flat tuple of them, not {type(value).__name__}")

    def flat_size(self, value: Any, node: ast.AST | None) -> int:
        """Cost of comparing `value`; only scalars and flat lists/tuples of scalars compare."""
        if isinstance(value, str):
            return 1 + len(value) // 64
        if isinstance(value, _SCALARS):
            return 1
        if isinstance(value, (list, tuple)) and all(isinstance(item, _SCALARS) for item in value):
            return 1 + sum(len(item) // 64 if isinstance(item, str) else 1 for item in value)
        raise self.error(node or self.node, "only numbers, strings and flat lists/tuples of them can be "
                         f"compared or sorted, not a {type(value).__name__}")

    # -- the built-ins a probe file may call
    def _range(self, *args: Any) -> range:
        if not all(isinstance(arg, int) for arg in args):
            raise self.error(self.node, "range() takes whole numbers")
        values = range(*args)
        try:
            size = len(values)
        except OverflowError:
            size = self.steps_left + 1
        if size > self.steps_left:
            raise self.error(self.node, f"range() of {size:,} values is more than a probe file may ask for "
                             f"(limit {self.max_steps:,} steps in all); {HINT}.")
        return values

    def _list(self, iterable: Any = ()) -> list:
        return self.materialize(iterable)

    def _tuple(self, iterable: Any = ()) -> tuple:
        return tuple(self.materialize(iterable))

    def _dict(self, source: Any = (), **kwargs: Any) -> dict:
        out: dict = {}
        pairs = source.items() if isinstance(source, dict) else self.materialize(source)
        self.charge(len(pairs), self.node)
        for pair in pairs:
            key, value = self._unpack(pair, 2, self.node)
            out[self.key(key, self.node)] = value
        out.update(kwargs)
        return out

    def _zip(self, *iterables: Any) -> Iterator:
        columns = [self.materialize(item) for item in iterables]
        self.charge(min(map(len, columns), default=0) * (1 + len(columns)), self.node)     # the tuples built
        return iter(list(zip(*columns)))

    def _enumerate(self, iterable: Any, start: int = 0) -> Iterator:
        if not isinstance(start, int):
            raise self.error(self.node, "enumerate() start must be a whole number")
        items = self.materialize(iterable)
        self.charge(2 * len(items), self.node)
        return iter(list(enumerate(items, start)))

    def _digits(self, value: Any, what: str) -> None:
        """int() and float() of a string cost its length (quadratic for int): cap and charge it."""
        if isinstance(value, str):
            if len(value) > MAX_DIGITS:
                raise self.error(self.node, f"{what}() of a {len(value):,}-character string; a probe's numbers "
                                 f"have at most {MAX_DIGITS} digits")
            self.charge(1 + len(value) // 16, self.node)
        elif not isinstance(value, (int, float)):
            raise self.error(self.node, f"{what}() takes a number or a string, not a {type(value).__name__}")

    def _int(self, value: Any = 0, base: int = 10) -> int:
        self._digits(value, "int")
        if not (isinstance(base, int) and (base == 0 or 2 <= base <= 36)):
            raise self.error(self.node, "int() base must be 0 or 2 to 36")
        result = int(value, base) if isinstance(value, str) else int(value)
        self._check_bits(abs(result).bit_length(), self.node)
        return result

    def _float(self, value: Any = 0.0) -> float:
        self._digits(value, "float")
        return float(value)

    def _abs(self, value: Any) -> Any:
        if not _is_number(value):
            raise self.error(self.node, f"abs() needs a number, not a {type(value).__name__}")
        return abs(value)

    def _comparables(self, args: tuple) -> list:
        items = self.materialize(args[0]) if len(args) == 1 else list(args)
        for item in items:
            self.charge(self.flat_size(item, self.node), self.node)
        return items

    def _min(self, *args: Any, **kwargs: Any) -> Any:
        return min(self._comparables(args), **_only(kwargs, "default"))

    def _max(self, *args: Any, **kwargs: Any) -> Any:
        return max(self._comparables(args), **_only(kwargs, "default"))

    def _sorted(self, iterable: Any, reverse: bool = False) -> list:
        return sorted(self._comparables((iterable,)), reverse=bool(reverse))

    def _reversed(self, sequence: Any) -> Iterator:
        return iter(self.materialize(sequence)[::-1])

    def _sum(self, iterable: Any, start: Any = 0) -> Any:
        items = self.materialize(iterable)
        if not all(_is_number(item) for item in [start, *items]):
            raise self.error(self.node, "sum() adds numbers only; build lists with + or comprehensions")
        total = sum(items, start)
        if isinstance(total, int):
            self._check_bits(abs(total).bit_length(), self.node)
        return total

    def _round(self, value: Any, ndigits: int | None = None) -> Any:
        if not _is_number(value) or not (ndigits is None or (isinstance(ndigits, int) and abs(ndigits) <= 30)):
            raise self.error(self.node, "round() takes a number and at most 30 digits")
        return round(value, ndigits)


def _size(value: Any) -> int:
    """Items in a nested list/tuple/dict value (what copying it costs)."""
    if isinstance(value, dict):
        return 1 + sum(1 + _size(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return 1 + sum(_size(item) for item in value)
    return 1


def _only(kwargs: dict[str, Any], *allowed: str) -> dict[str, Any]:
    unknown = [name for name in kwargs if name not in allowed]
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)}")
    return kwargs


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


# ------------------------------------------------------------------------- names -> Probe

class _Builder:
    """Turns the computed names into a Probe, with errors that point at the line defining them."""

    def __init__(self, names: dict[str, Any], lines: dict[str, int], file_name: str):
        self.names = names
        self.lines = lines
        self.file_name = file_name

    def error(self, name: str, message: str) -> ProbeError:
        return _located(self.file_name, self.lines.get(name), message)

    def build(self) -> Probe:
        missing = [n for n in ("total_nb_channels", "radius", "channel_groups") if n not in self.names]
        if missing:
            raise ProbeError(
                f"{self.file_name}: {', '.join(missing)} not defined; a SpyKING CIRCUS probe file sets "
                "total_nb_channels = <int>, radius = <um> and channel_groups = {group: {'channels': [...], "
                "'geometry': {channel: (x, y)}, 'graph': []}}.", self.file_name)
        total = self.names["total_nb_channels"]
        if not _is_whole(total) or total < 0:
            raise self.error("total_nb_channels", f"total_nb_channels must be a whole number >= 0, not "
                             f"{_show(total)}; write e.g. total_nb_channels = 32")
        radius = self.names["radius"]
        if not _is_number(radius) or isinstance(radius, bool) or not math.isfinite(radius) or radius < 0:
            raise self.error("radius", f"radius must be a distance in um (a number >= 0), not {_show(radius)}; "
                             "write e.g. radius = 100")
        groups = self.names["channel_groups"]
        if not isinstance(groups, dict):
            raise self.error("channel_groups", "channel_groups must be a dict {group: {'channels': [...], "
                             f"'geometry': {{...}}}}, not a {type(groups).__name__}")
        built = {self._group_id(gid): self._group(gid, group) for gid, group in groups.items()}
        return Probe(int(total), float(radius), built, self.file_name)

    def _group_id(self, group_id: Any) -> GroupId:
        if isinstance(group_id, str) or _is_whole(group_id):
            return group_id
        raise self.error("channel_groups", f"group id {_show(group_id)} must be a whole number or a string")

    def _group(self, group_id: GroupId, group: Any) -> ChannelGroup:
        where = f"channel_groups[{group_id!r}]"
        if not isinstance(group, dict) or "channels" not in group or "geometry" not in group:
            raise self.error("channel_groups", f"{where} must be a dict with 'channels' and 'geometry' (and "
                             "optionally 'graph'), e.g. {'channels': [0, 1], 'geometry': {0: (0, 0), 1: (0, 20)}}")
        channels = self._ids(group["channels"], f"{where}['channels']")
        geometry = self._geometry(group["geometry"], f"{where}['geometry']")
        graph = self._graph(group.get("graph", []), f"{where}['graph']")
        return ChannelGroup(channels, geometry, graph)

    def _ids(self, value: Any, where: str) -> list[int]:
        items = sorted(value) if isinstance(value, set) else value
        if not isinstance(items, (list, tuple, range, Iterator)):
            raise self.error("channel_groups", f"{where} must be a list of channel numbers, not "
                             f"{_show(value)}; write e.g. list(range(32))")
        ids = list(items)
        bad = [item for item in ids if not _is_whole(item) or item < 0]
        if bad:
            raise self.error("channel_groups", f"{where}: {_show(bad[0])} is not a channel number (a whole "
                             "number >= 0)")
        return [int(item) for item in ids]

    def _geometry(self, value: Any, where: str) -> dict[int, tuple[float, float]]:
        if not isinstance(value, dict):
            raise self.error("channel_groups", f"{where} must be a dict {{channel: (x, y)}}, not "
                             f"{type(value).__name__}")
        geometry = {}
        for channel, xy in value.items():
            if not _is_whole(channel) or channel < 0:
                raise self.error("channel_groups", f"{where}: key {_show(channel)} is not a channel number")
            geometry[int(channel)] = self._point(xy, f"{where}[{channel}]")
        return geometry

    def _point(self, xy: Any, where: str) -> tuple[float, float]:
        ok = isinstance(xy, (list, tuple)) and len(xy) == 2 and all(
            _is_number(v) and not isinstance(v, bool) and math.isfinite(v) for v in xy)
        if not ok:
            raise self.error("channel_groups", f"{where} must be a position (x, y) in um, not {_show(xy)}")
        return float(xy[0]), float(xy[1])

    def _graph(self, value: Any, where: str) -> list[tuple[int, int]]:
        if not isinstance(value, (list, tuple, set, Iterator)):
            raise self.error("channel_groups", f"{where} must be a list of (channel, channel) pairs")
        edges = sorted(value) if isinstance(value, set) else list(value)
        for edge in edges:      # a graph may have 10^5 edges: type() tests, not isinstance in a generator
            if not (type(edge) in (list, tuple) and len(edge) == 2 and type(edge[0]) is int and type(edge[1]) is int):
                raise self.error("channel_groups", f"{where}: {_show(edge)} is not a (channel, channel) pair")
        return [(a, b) for a, b in edges]


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 40, 40


def _show(value: Any) -> str:
    """A short repr that stays cheap for huge or deeply nested values from a hostile file."""
    return _SHORT.repr(value)


# ------------------------------------------------------------------------- lifting number displays

# Strings and comments, leftmost first, so a '#' in a string or a quote in a comment is not misread.
_STRING_OR_COMMENT = re.compile(
    r"(?=[#'\"rRbBuUfF])"           # a cheap first test at each position
    r"(?:#[^\r\n]*"
    r"|[rRbBuUfF]{0,2}(?:'''(?:[^'\\]|\\[\s\S]|'(?!''))*(?:'''|$)"
    r'|"""(?:[^"\\]|\\[\s\S]|"(?!""))*(?:"""|$)'
    r"|'(?:[^'\\\r\n]|\\[\s\S])*'?"
    r'|"(?:[^"\\\r\n]|\\[\s\S])*"?))')
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_NUMPY_TYPES = {f"{kind}{bits}": int for kind in ("int", "uint") for bits in (8, 16, 32, 64)}
_NUMPY_TYPES.update({f"float{bits}": float for bits in (16, 32, 64)})
_MASK = "\x01"       # what string characters become in the masked text (never valid in a display)
# A run of masked text that may hold displays (json is the judge of what is in them); strings end it.
_NUMBER_RUN = re.compile(r"[\w\s.,:+\-\[\](){}]" + f"{{{LIFT_MIN_CHARS},}}")
_WRAPPED = re.compile(r"(?:np|numpy)\.(u?int(?:8|16|32|64)|float(?:16|32|64))\(\s*(-?[\d.eE+-]+)\s*\)")
_SUSPECT = re.compile(r"[\[({,]\s*,|\d{20}")      # an empty item (a syntax error), or a huge number
_TUPLE_COMMA = re.compile(r",(\s*)\)")
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")
_INT_KEY = re.compile(r"([{,]\s*)(-?\d+)(\s*:)")


def _mask(text: str) -> str:
    """`text` with every string and comment blanked (newlines kept): offsets stay the same."""
    return _STRING_OR_COMMENT.sub(lambda m: _NOT_NEWLINE.sub(_MASK if m.group()[0] != "#" else " ", m.group()),
                                  text)


def _check_size(text: str, masked: str, file_name: str) -> None:
    """The caps that come before any parsing (each one a C-speed count)."""
    items = masked.count(",")
    brackets = masked.count("[") + masked.count("(") + masked.count("{")
    operators = sum(masked.count(c) for c in "+*/%=<>!&|^~@;")     # never inside a display of numbers
    for count, limit, what in ((items, MAX_ITEMS, "list items"), (brackets, MAX_BRACKETS, "brackets"),
                               (operators, MAX_CODE_BYTES // 2, "operators")):
        if count > limit:
            raise ProbeError(f"{file_name}: {count:,} {what} is far more than a probe file needs (limit "
                             f"{limit:,}; a 4096-channel probe with geometry and graph is well below); this is "
                             "not a probe file.", file_name)


def _lift_displays(text: str, file_name: str) -> tuple[str, dict[str, Any], int]:
    """(skeleton, {placeholder name: value}, code bytes of the skeleton): every large display of
    plain numbers is replaced by ``(name)`` padded with its newlines, so line numbers hold."""
    masked = _mask(text)
    _check_size(text, masked, file_name)
    prefix = "_prb_display_"
    while prefix in text:
        prefix += "_"
    lifted: dict[str, Any] = {}
    pieces: list[str] = []
    code_pieces: list[str] = []
    done = 0
    for run in _NUMBER_RUN.finditer(masked):
        for start, end in _groups(masked, run.start(), run.end(), file_name):
            if end - start < LIFT_MIN_CHARS or _follows_a_value(masked, start):
                continue        # small, or a call's arguments / a subscript
            value = _json_display(masked[start:end])       # comments inside are blanks
            if value is _NOT_JSON:
                continue
            name = f"{prefix}{len(lifted)}"
            lifted[name] = value
            newlines = text.count("\n", start, end)
            pieces += [text[done:start], f"({name}", "\n" * newlines, ")"]
            code_pieces.append(masked[done:start])
            done = end
    pieces.append(text[done:])
    code_pieces.append(masked[done:])
    code = "".join(code_pieces)
    code_bytes = len(code) - sum(code.count(c) for c in " \t\r\n\f")
    return "".join(pieces), lifted, code_bytes


_STEP = np.zeros(256, dtype=np.int32)
_STEP[[ord(c) for c in "[({"]] = 1
_STEP[[ord(c) for c in "])}"]] = -1


def _groups(masked: str, start: int, end: int, file_name: str) -> list[tuple[int, int]]:
    """Outermost bracket groups inside masked[start:end] (balanced by count; json checks the kinds).

    Depth is counted from the lowest level reached so far, so the closing brackets of a group
    opened before the run start over from zero. Vectorised: a graph has ~10^5 brackets."""
    codes = np.frombuffer(masked[start:end].encode("ascii", "replace"), dtype=np.uint8)
    step = _STEP[codes]
    depth = np.cumsum(step, dtype=np.int32)
    level = depth - np.minimum(np.minimum.accumulate(depth), 0)
    deepest = int(level.max(initial=0))
    if deepest > MAX_DEPTH:
        where = start + int(np.argmax(level > MAX_DEPTH))
        raise _located(file_name, masked.count("\n", 0, where) + 1, f"brackets nested more than {MAX_DEPTH} "
                       "deep; a .prb file is data: flatten it")
    opens = np.flatnonzero((step == 1) & (level == 1))
    closes = np.flatnonzero((step == -1) & (level == 0) & (np.concatenate(([0], level[:-1])) == 1))
    after = np.searchsorted(closes, opens)
    closed = after < len(closes)
    opens, ends = opens[closed], closes[after[closed]] + 1
    big = ends - opens >= LIFT_MIN_CHARS        # small groups stay in the skeleton
    return [(start + int(a), start + int(b)) for a, b in zip(opens[big], ends[big])]


def _follows_a_value(masked: str, start: int) -> bool:
    """True when the bracket at `start` opens a call's arguments or a subscript, not a display."""
    k = start - 1
    while k >= 0 and masked[k] in " \t\f":
        k -= 1
    return k >= 0 and (masked[k].isalnum() or masked[k] in "_)]}." + _MASK)


_NOT_JSON = object()


def _json_display(display: str) -> Any:
    """The value of a display of plain numbers, read by json; _NOT_JSON for anything else
    (which then goes to Python's parser and the evaluator, and their errors)."""
    if _MASK in display or _SUSPECT.search(display):
        return _NOT_JSON
    text = _WRAPPED.sub(_unwrap, display) if "np" in display else display
    parentheses = "(" in text
    if parentheses:
        text = _TUPLE_COMMA.sub(r',"T"\1)', text)          # (x,) keeps a marker: a one-item tuple
        text = text.replace("(", '["(",').replace(")", "]")
    text = _TRAILING_COMMA.sub(r"\1", text)
    if ":" in text:
        text = _INT_KEY.sub(r'\1"\2"\3', text)
    try:
        value = json.loads(text, object_pairs_hook=lambda pairs: {int(k): v for k, v in pairs})
    except (ValueError, RecursionError):
        return _NOT_JSON
    return _restore_tuples(value) if parentheses else value


def _unwrap(match: re.Match) -> str:
    kind, number = _NUMPY_TYPES[match.group(1)], match.group(2)
    if kind is float and not any(c in number for c in ".eE"):
        return number + ".0"
    return number


_FLAT = {int, float, str}


def _restore_tuples(value: Any) -> Any:
    """Lists that start with the marker "(" were parentheses: a tuple, or a plain value in parentheses."""
    if isinstance(value, dict):
        for key, item in value.items():
            if type(item) is list or type(item) is dict:
                value[key] = _restore_tuples(item)
        return value
    if not isinstance(value, list):
        return value
    if not set(map(type, value)) <= _FLAT:          # C-speed test: only nested lists need a walk
        value = [_restore_tuples(item) for item in value]
    if not value or type(value[0]) is not str or value[0] != "(":
        return value
    if value[-1] == "T" and len(value) > 1 and type(value[-1]) is str:
        return tuple(value[1:-1])
    return value[1] if len(value) == 2 else tuple(value[1:])


def _numpy_scalar(node: ast.Call) -> Any:
    """The number in ``np.int64(3)`` / ``numpy.float64(-1.5)``, read from the call's literal
    argument; None when `node` is any other call."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
            and func.value.id in ("np", "numpy") and func.attr in _NUMPY_TYPES
            and len(node.args) == 1 and not node.keywords):
        return None
    argument, sign = node.args[0], 1
    if isinstance(argument, ast.UnaryOp) and isinstance(argument.op, (ast.USub, ast.UAdd)):
        argument, sign = argument.operand, -1 if isinstance(argument.op, ast.USub) else 1
    if not (isinstance(argument, ast.Constant) and type(argument.value) in (int, float)):
        return None
    if isinstance(argument.value, int) and argument.value.bit_length() > 64:
        return None
    return _NUMPY_TYPES[func.attr](sign * argument.value)


# ---------------------------------------------------------------------------------- public API

def parse_probe_text(text: str, file_name: str = "<text>", *, max_steps: int = MAX_STEPS) -> Probe:
    """Read the probe in `text` without running it; ProbeError names the line of any problem."""
    if len(text) > MAX_FILE_BYTES:
        raise ProbeError(f"{file_name}: {len(text):,} characters is far more than a probe file needs "
                         f"(limit {MAX_FILE_BYTES:,}); this is not a probe file.", file_name)
    text, lifted, code_bytes = _lift_displays(text, file_name)
    if code_bytes > MAX_CODE_BYTES:
        raise ProbeError(f"{file_name}: {code_bytes:,} bytes of expressions besides plain lists of numbers "
                         f"(limit {MAX_CODE_BYTES:,}); write the channels, geometry and graph as plain numbers "
                         "(e.g. 0: (0, 20),) or compute them with a comprehension.", file_name)
    tree = _syntax_tree(text, file_name)
    evaluator = _Evaluator(text, file_name, max_steps, lifted)
    try:
        _Checker(text, file_name, evaluator.functions).check(tree)
        evaluator.run(tree)
        return _Builder(evaluator.names, evaluator.lines, file_name).build()
    except RecursionError:
        raise _located(file_name, getattr(evaluator.node, "lineno", None),
                       "expressions nested too deeply; a .prb file is data: flatten it") from None
    except MemoryError:
        raise _located(file_name, getattr(evaluator.node, "lineno", None),
                       "the file asks for more memory than a probe needs") from None


def _syntax_tree(text: str, file_name: str) -> ast.Module:
    try:
        return ast.parse(text, filename=file_name)
    except SyntaxError as error:
        raise _located(file_name, error.lineno, f"not valid Python syntax ({error.msg}); a .prb file is "
                       "data written in Python syntax: check brackets, commas and quotes here") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise _located(file_name, None, f"cannot be parsed ({error}); a .prb file is plain data") from None


def read_probe(path: str | os.PathLike) -> Probe:
    """Parse the ``.prb`` at `path` (never executed)."""
    path = Path(path)
    fix = "check the mapping path in the params file, or pick a probe from the library"
    if not path.is_file():
        what = "is a folder, not a probe file" if path.is_dir() else "does not exist"
        raise ProbeError(f"{path}: {what}; {fix}.", str(path))
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ProbeError(f"{path}: {path.stat().st_size:,} bytes is far more than a probe file needs "
                         f"(limit {MAX_FILE_BYTES:,}); {fix}.", str(path))
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ProbeError(f"{path}: cannot be read ({error.strerror}); {fix}.", str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")       # old files with a µ in a comment
    return parse_probe_text(text, str(path))


def write_probe(probe: Probe, path: str | os.PathLike) -> None:
    """Write `probe` as plain data; the file appears complete or not at all."""
    atomic.write_text(path, probe.to_text())


def linear_probe(n_channels: int, pitch: float = 20.0, columns: int = 1, column_pitch: float = 20.0,
                 stagger: float = 0.0, radius: float = 100) -> Probe:
    """One group; channel i in column ``i % columns`` at row ``i // columns``; odd columns shift by `stagger`."""
    geometry = {i: ((i % columns) * column_pitch, (i // columns) * pitch + (i % columns % 2) * stagger)
                for i in range(n_channels)}
    return _one_group(n_channels, geometry, radius)


def multi_shank_probe(n_shanks: int, channels_per_shank: int, pitch: float = 20.0,
                      shank_pitch: float = 200.0, radius: float = 100) -> Probe:
    """One group per shank; shank k holds channels ``k * channels_per_shank ...`` in one column."""
    groups = {}
    for shank in range(n_shanks):
        ids = list(range(shank * channels_per_shank, (shank + 1) * channels_per_shank))
        groups[shank] = ChannelGroup(ids, {c: (shank * shank_pitch, j * pitch) for j, c in enumerate(ids)}, [])
    return Probe(n_shanks * channels_per_shank, float(radius), groups)


def grid_probe(rows: int, cols: int, pitch: float = 100.0, radius: float = 250,
               drop_corners: bool = False) -> Probe:
    """A multi-electrode array, numbered row by row; `drop_corners` gives the MCS 60-electrode style."""
    corners = {(0, 0), (0, cols - 1), (rows - 1, 0), (rows - 1, cols - 1)} if drop_corners else set()
    cells = [(r, c) for r in range(rows) for c in range(cols) if (r, c) not in corners]
    return _one_group(len(cells), {i: (c * pitch, r * pitch) for i, (r, c) in enumerate(cells)}, radius)


def _one_group(n_channels: int, geometry: dict[int, tuple[float, float]], radius: float) -> Probe:
    points = {c: (float(x), float(y)) for c, (x, y) in geometry.items()}
    return Probe(n_channels, float(radius), {0: ChannelGroup(list(range(n_channels)), points, [])})


def library_probes() -> dict[str, Path]:
    """The standard layouts shipped with Wavescope, by name (the file stem)."""
    return {path.stem: path for path in sorted(LIBRARY_DIR.glob("*.prb"))}
