"""Hot spots: which lines of *your* code take the time.

:func:`hotspots` runs a statement twice: once with a cheap call tracer to find the
functions it reaches that are defined in the notebook or the project (not the standard
library or installed packages), then under ``line_profiler`` over exactly those
functions. It ranks lines by time and names the function worth refactoring: the one with
the most time spent in its own lines rather than in the functions it calls.
"""

from __future__ import annotations

import gc
import html
import linecache
import sys
import sysconfig
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import TimingError
from workbench.formatting import format_time, html_table, text_table, volatile

Edge = tuple[types.CodeType, int, types.CodeType]
_WORKBENCH_DIR = str(Path(__file__).resolve().parent)


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    dirs.add(_WORKBENCH_DIR)
    return tuple(str(Path(d).resolve()) for d in dirs)


def is_user_code(filename: str, library_dirs: Iterable[str] | None = None) -> bool:
    """True for notebook cells and project files; false for the stdlib and installed packages."""
    if filename.startswith("<"):
        # IPython terminal cells; exec'd strings and frozen modules are not user code
        return filename.startswith("<ipython-input-")
    resolved = str(Path(filename).resolve())
    dirs = _library_dirs() if library_dirs is None else tuple(library_dirs)
    return not any(resolved == d or resolved.startswith(d.rstrip("/") + "/") for d in dirs)


@dataclass
class HotLine:
    function: str
    filename: str
    lineno: int
    hits: int
    seconds: float  # including calls this line makes
    own: float  # minus the time of the profiled functions it calls
    share: float  # own / total wall time

    @property
    def source(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()


@dataclass
class FunctionCost:
    name: str
    total: float  # seconds in its lines, including the calls those lines make
    own: float  # total minus the time of the profiled functions it calls


@dataclass
class HotSpots:
    """Lines ranked by time, and the function worth refactoring (``worth_refactoring``)."""

    stmt: str
    wall: float
    lines: list[HotLine]
    functions: list[FunctionCost] = field(default_factory=list)
    top: int = 10

    @property
    def worth_refactoring(self) -> str | None:
        return self.functions[0].name if self.functions else None

    def _verdict(self) -> str:
        if not self.functions:
            return "no function defined in the notebook or project ran; nothing to refactor"
        best = self.functions[0]
        share = best.own / self.wall if self.wall > 0 else 0.0
        return f"worth refactoring: {best.name} ({share:.1%} of the time in its own lines)"

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        return [
            (f"{ln.share:.1%}", format_time(ln.own), str(ln.hits), f"{ln.function}:{ln.lineno}", ln.source)
            for ln in self.lines[: self.top]
        ]

    def __str__(self) -> str:
        table = text_table(["share", "own time", "hits", "where", "line"], self._rows(), min_widths=(6, 9))
        return f"{self._verdict()}\n{table}\ntotal {format_time(self.wall)}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        rows = [
            (volatile(share), volatile(t), html.escape(hits), html.escape(where), f"<code>{html.escape(src)}</code>")
            for share, t, hits, where, src in self._rows()
        ]
        verdict = html.escape(self._verdict())
        if self.functions:
            best = self.functions[0]
            share = best.own / self.wall if self.wall > 0 else 0.0
            verdict = (
                f"worth refactoring: <strong>{html.escape(best.name)}</strong> "
                f"({volatile(f'{share:.1%}')} of the time in its own lines)"
            )
        table = html_table(["share", "own time", "hits", "where", "line"], rows)
        return f"<p>{verdict}</p>{table}<p>total {volatile(format_time(self.wall))}</p>"


def _compile(stmt: str | Callable[[], object]) -> Callable[[dict[str, Any]], object]:
    if callable(stmt):
        return lambda _ns: stmt()
    try:
        code = compile(stmt, "<whot>", "exec")
    except SyntaxError as exc:
        raise TimingError(f"cannot compile {stmt!r}: {exc.msg}", hint="fix the statement's syntax") from exc
    return lambda ns: exec(code, ns)


def _discover(run: Callable[[], object]) -> tuple[list[types.CodeType], Counter[Edge]]:
    """Run once under a call tracer: the user code objects reached, and call counts from
    (caller code, caller line) to callee code."""
    library = _library_dirs()
    seen: dict[types.CodeType, None] = {}
    edges: Counter[Edge] = Counter()
    verdicts: dict[str, bool] = {}

    def user(code: types.CodeType) -> bool:
        name = code.co_filename
        if name not in verdicts:
            verdicts[name] = is_user_code(name, library)
        return verdicts[name]

    def tracer(frame: types.FrameType, event: str, arg: object) -> None:
        if event != "call" or not user(frame.f_code):
            return
        code = frame.f_code
        seen.setdefault(code, None)
        caller = frame.f_back
        while caller is not None and not user(caller.f_code):
            caller = caller.f_back
        if caller is not None:
            edges[(caller.f_code, caller.f_lineno, code)] += 1

    sys.setprofile(tracer)
    try:
        run()
    finally:
        sys.setprofile(None)
    return list(seen), edges


def _functions_for(codes: Iterable[types.CodeType]) -> list[types.FunctionType]:
    wanted = set(codes)
    found: dict[types.CodeType, types.FunctionType] = {}
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and obj.__code__ in wanted:
            found.setdefault(obj.__code__, obj)
    return list(found.values())


def hotspots(
    stmt: str | Callable[[], object],
    *,
    namespace: dict[str, Any] | None = None,
    functions: Iterable[Callable[..., Any]] | None = None,
    top: int = 10,
) -> HotSpots:
    """Profile ``stmt`` line by line over the user functions it calls.

    ``functions`` names the functions to profile and skips discovery (the statement then
    runs once instead of twice). Exceptions raised by the statement propagate.
    """
    from line_profiler import LineProfiler

    ns = namespace if namespace is not None else {}
    execute = _compile(stmt)
    edges: Counter[Edge] = Counter()
    if functions is None:
        codes, edges = _discover(lambda: execute(ns))
        targets = _functions_for(c for c in codes if c.co_name != "<module>")
    else:
        targets = [inspect_function(f) for f in functions]
    profiler = LineProfiler()
    for func in targets:
        profiler.add_function(func)
    start = time.perf_counter()
    profiler.enable_by_count()
    try:
        execute(ns)
    finally:
        profiler.disable_by_count()
    wall = time.perf_counter() - start
    return _report(str(stmt) if isinstance(stmt, str) else _qualname(stmt), wall, profiler, edges, top)


def inspect_function(func: Callable[..., Any]) -> types.FunctionType:
    """The plain function behind ``func`` (unwrapping methods and decorators)."""
    inner: Any = getattr(func, "__func__", func)
    while hasattr(inner, "__wrapped__"):
        inner = inner.__wrapped__
    if not isinstance(inner, types.FunctionType):
        raise TimingError(f"{func!r} is not a Python function; only Python functions can be line-profiled")
    return inner


def _qualname(obj: object) -> str:
    return getattr(obj, "__qualname__", repr(obj))


def _report(stmt: str, wall: float, profiler: Any, edges: Counter[Edge], top: int) -> HotSpots:
    """Lines ranked by their own time: a line's time minus that of the profiled functions
    it calls (each callee's time split among its call sites by call counts)."""
    stats = profiler.get_stats()
    raw: dict[tuple[str, int], list[tuple[int, int, float]]] = {}
    names: dict[tuple[str, int], str] = {}
    for (filename, first_line, func_name), entries in stats.timings.items():
        key = (filename, first_line)
        names[key] = func_name
        raw[key] = [(lineno, hits, t * stats.unit) for lineno, hits, t in entries]
    totals = {key: sum(t for _, _, t in entries) for key, entries in raw.items()}
    calls_into: Counter[tuple[str, int]] = Counter()
    for (_, _, callee), n in edges.items():
        calls_into[(callee.co_filename, callee.co_firstlineno)] += n
    callee_time: dict[tuple[str, int, int], float] = defaultdict(float)
    for (caller, lineno, callee), n in edges.items():
        gkey = (callee.co_filename, callee.co_firstlineno)
        if gkey in totals and callee is not caller:
            callee_time[(caller.co_filename, caller.co_firstlineno, lineno)] += totals[gkey] * n / calls_into[gkey]
    lines: list[HotLine] = []
    costs: list[FunctionCost] = []
    for key, entries in raw.items():
        own_total = 0.0
        for lineno, hits, seconds in entries:
            if not hits:
                continue
            own = max(seconds - callee_time[(*key, lineno)], 0.0)
            own_total += own
            share = own / wall if wall else 0.0
            lines.append(HotLine(names[key], key[0], lineno, hits, seconds, own, share))
        if totals[key] > 0:
            costs.append(FunctionCost(names[key], totals[key], own_total))
    lines.sort(key=lambda ln: ln.own, reverse=True)
    costs.sort(key=lambda c: c.own, reverse=True)
    return HotSpots(stmt, wall, lines, costs, top)


__all__ = ["FunctionCost", "HotLine", "HotSpots", "hotspots", "inspect_function", "is_user_code"]
