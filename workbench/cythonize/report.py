"""The result of :func:`~workbench.cythonize.refactor`: code, check, speedup and build.

Text for logs and HTML for the notebook; values that change between runs (times,
ratios, whether the build came from the cache) are durations, ``Nx`` ratios or
``volatile`` spans, so the shipped nbval sanitize file masks exactly them.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workbench.cythonize.build import OPTIMIZE_ENV, Build
from workbench.cythonize.check import ATOL, RTOL, CaseResult
from workbench.cythonize.codegen import VARIANTS
from workbench.cythonize.typesys import CType
from workbench.errors import EquivalenceError
from workbench.formatting import format_time, html_table, text_table, volatile
from workbench.timing import Comparison

_ANNOTATED_LINE = re.compile(r'<pre class="cython line[^"]*"[^>]*>(?:\+|&#xA0;)<span class="">(\d+)</span>:')
_SCORE = re.compile(r'<pre class="cython line score-(\d+)"[^>]*>[^<]*<span class="">(\d+)</span>:(.*?)</pre>')


@dataclass
class TypedName:
    """One name and the type it got; one that stays a Python object (``decl`` "object") also
    has the user's ``line`` that made it one, ``why``, the ``fix`` that would type it, and
    the name it follows from (``cause``)."""

    function: str
    name: str
    role: str  # argument or local
    decl: str
    why: str
    line: int | None = None
    fix: str = ""
    cause: str = ""

    @property
    def is_object(self) -> bool:
        return self.decl == "object"


@dataclass
class PythonLine:
    """A line of the user's function whose compiled code still calls into the interpreter:
    its number in the user's cell or file, its text there, and what in it calls Python."""

    lineno: int
    score: int
    text: str
    reason: str = ""
    in_loop: bool = False


def annotated_lines(annotation: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(line, score, text) of the lines ``start``..``end`` of the module that Cython scored as
    touching Python, except decorators, signatures and declarations (argument conversion
    happens once per call)."""
    lines = []
    for match in _SCORE.finditer(annotation):
        score, lineno = int(match.group(1)), int(match.group(2))
        text = html.unescape(re.sub(r"<[^>]+>", "", match.group(3))).strip()
        if start <= lineno <= end and score > 0 and not text.startswith(("@", "def ", "cpdef ", "cdef ")):
            lines.append((lineno, score, text))
    return lines


def annotated_function(annotation: str, lines: dict[int, int]) -> str:
    """Cython's annotated page cut down to the lines in ``lines`` (generated -> user's line),
    each numbered with the user's line, so it reads against the user's own cell."""
    start = annotation.find('<div class="cython">')
    end = annotation.rfind("</div>")
    if start < 0 or end < start:
        return annotation
    body = annotation[start + len('<div class="cython">'): end]
    blocks = re.split(r'(?=<pre class="cython line)', body)
    kept = []
    for block in blocks:
        match = _ANNOTATED_LINE.match(block)
        if match is None or int(match.group(1)) not in lines:
            continue
        user = lines[int(match.group(1))]
        kept.append(block[: match.start(1)] + str(user) + block[match.end(1):])
    return annotation[:start] + '<div class="cython">' + "".join(kept) + annotation[end:]


def _directives(variant: str) -> str:
    boundscheck, wraparound, cdivision, overflowcheck = VARIANTS[variant]
    return (
        f"boundscheck({boundscheck}), wraparound({wraparound}), cdivision({cdivision}), "
        f"overflowcheck({overflowcheck})"
    )


@dataclass
class Refactoring:
    """A compiled version of ``python`` and the evidence for using it.

    ``function`` is the compiled callable, and raises EquivalenceError when a case
    differed; ``compiled`` is the same callable without that guard, for inspection.
    """

    name: str
    python: Callable[..., Any]
    compiled: Callable[..., Any]
    variant: str
    directive_notes: list[str]
    module_source: str
    variant_source: str
    typed: list[TypedName]
    returns: CType
    results: list[CaseResult] | None
    comparison: Comparison | None
    build: Build
    python_lines: list[PythonLine]
    export_parts: tuple[Any, Any]
    error_check_lines: list[int] = field(default_factory=list)  # lines calling Python only to raise its errors
    variant_lines: dict[int, int] = field(default_factory=dict)  # line of the module -> user's line
    replaced: bool = False
    exported: list[str] = field(default_factory=list)

    @property
    def checked(self) -> bool:
        return self.results is not None

    @property
    def first_failure(self) -> CaseResult | None:
        return next((r for r in self.results or [] if not r.ok), None)

    @property
    def verified(self) -> bool:
        """Every case gave the same result as the Python function."""
        return self.checked and self.first_failure is None

    @property
    def function(self) -> Callable[..., Any]:
        """The compiled function, unless a case differed (then EquivalenceError)."""
        failure = self.first_failure
        if failure is not None:
            raise EquivalenceError(
                f"{self.name}: the compiled version differs on {failure.case.describe(self.name)} "
                f"({failure.case.label}): {failure.difference}",
                function=self.name,
                case=failure.case.describe(self.name),
                expected=failure.expected.describe(),
                actual=failure.actual.describe(),
            )
        return self.compiled

    @property
    def speedup(self) -> float | None:
        """Python's median time over the compiled one's: 50 means fifty times faster."""
        return 1 / self.comparison.ratio("cython") if self.comparison else None

    @property
    def speedup_ci(self) -> tuple[float, float] | None:
        if self.comparison is None:
            return None
        lo, hi = self.comparison.ratio_ci["cython"]
        return (1 / hi, 1 / lo)

    @property
    def annotation_html(self) -> str:
        """Cython's annotated page of the whole generated module (every variant)."""
        return self.build.annotation_html

    @property
    def annotated(self) -> str:
        """Cython's annotation of the variant in use, numbered with the user's lines."""
        return annotated_function(self.build.annotation_html, self.variant_lines)

    @property
    def directives(self) -> str:
        return _directives(self.variant)

    def export(self, path: str) -> list[str]:
        """Write the module and its build configuration; see :func:`workbench.cythonize.export`."""
        from workbench.cythonize.export import export

        return [str(p) for p in export(self, path)]

    # text ----------------------------------------------------------------------------
    def _status(self) -> str:
        if not self.checked:
            return "NOT CHECKED (--no-check)"
        assert self.results is not None
        counts = Counter(r.case.origin for r in self.results)
        origins = ", ".join(f"{counts[o]} {o}" for o in ("sample", "recorded", "generated"))
        failure = self.first_failure
        if failure is None:
            return f"verified on {len(self.results)} cases ({origins})"
        return (
            f"DIFFERS on {failure.case.label} {failure.case.describe(self.name)}: {failure.difference}; "
            "the Python version stays in place"
        )

    def _speed(self) -> str:
        if self.comparison is None or self.speedup is None or self.speedup_ci is None:
            return "speedup: not measured"
        lo, hi = self.speedup_ci
        python, cython = self.comparison.timings["python"], self.comparison.timings["cython"]
        return (
            f"speedup {self.speedup:.3g}x [{lo:.3g}x, {hi:.3g}x] ({self.comparison.confidence:.0%} CI); "
            f"python {format_time(python.median)}, cython {format_time(cython.median)} per call"
        )

    def _tolerance(self) -> str:
        return (
            f"floats: numpy.allclose(rtol={RTOL:g}, atol={ATOL:g}); ints, strings and exception types: exact"
        )

    def __str__(self) -> str:
        lines = [f"%cythonize {self.name}: {self._status()}", self._speed(), f"directives: {self.directives}"]
        lines += [f"  - {note}" for note in self.directive_notes]
        lines.append(self._tolerance())
        rows = [(t.function, t.name, t.role, t.decl, _why(t)) for t in self.typed]
        lines += ["", text_table(["function", "name", "role", "type", "why"], rows)]
        lines.append(f"returns: {self.returns.describe()}")
        lines += self._still_python()
        lines.append(self._touching_title())
        for p in self.python_lines:
            where = " (in a loop)" if p.in_loop else ""
            lines.append(f"  line {p.lineno}{where}: {p.text}")
            lines.append(f"      {p.reason}")
        if self.error_check_lines:
            lines.append(f"  {self._checks_note()}")
        lines.append(f"build: {format_time(self.build.seconds)}{self._optimization_note()}")
        lines += self._actions()
        return "\n".join(lines)

    def _optimization_note(self) -> str:
        level = self.build.optimization
        if level == "-O3":
            return ""
        return f" at {level}, from ${OPTIMIZE_ENV} or [tool.workbench.cythonize] (speed-ups are for -O3)"

    @property
    def still_python(self) -> list[TypedName]:
        """Names left Python objects: the ones with a fix of their own first, by line."""
        left = [t for t in self.typed if t.is_object]
        return sorted(left, key=lambda t: (bool(t.cause), t.function != self.name, t.line or 0, t.name))

    def _still_python(self) -> list[str]:
        left = self.still_python
        if not left:
            return []
        lines = [f"still Python objects: {len(left)} (the smallest change that would type each)"]
        for t in left:
            where = f"line {t.line}: " if t.line else ""
            lines.append(f"  {t.function}.{t.name}: {where}{t.why}")
            if t.cause:
                lines.append(f"      follows from {t.cause}: type it and this follows")
            elif t.fix:
                lines.append(f"      fix: {t.fix}")
        return lines

    def _checks_note(self) -> str:
        numbers = ", ".join(str(n) for n in self.error_check_lines)
        which = f"lines {numbers} call" if len(self.error_check_lines) > 1 else f"line {numbers} calls"
        return f"{which} Python only to raise the errors Python would (division by zero, bounds...)"

    def _touching_title(self) -> str:
        looped = sum(p.in_loop for p in self.python_lines)
        return f"lines still touching Python: {len(self.python_lines)} ({looped} inside a loop)"

    def _actions(self) -> list[str]:
        lines = [f"{self.name} in the notebook now runs the compiled version"] if self.replaced else []
        lines += [f"exported: {path}" for path in self.exported]
        return lines

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    # HTML ------------------------------------------------------------------------------
    def _repr_html_(self) -> str:
        status_class = "wb-ok" if self.verified else "wb-warning"
        parts = [
            f'<p class="{status_class}"><b>%cythonize {html.escape(self.name)}</b>: {html.escape(self._status())}</p>'
        ]
        if self.comparison is not None and self.speedup is not None and self.speedup_ci is not None:
            lo, hi = self.speedup_ci
            python, cython = self.comparison.timings["python"], self.comparison.timings["cython"]
            rows = [
                ("speedup", volatile(f"{self.speedup:.3g}x")),
                (f"{self.comparison.confidence:.0%} CI", volatile(f"[{lo:.3g}x, {hi:.3g}x]")),
                ("python per call", volatile(format_time(python.median))),
                ("cython per call", volatile(format_time(cython.median))),
                ("build", volatile(format_time(self.build.seconds) + (" (cache)" if self.build.cache_hit else ""))),
            ]
            parts.append(html_table(["", ""], rows))
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in self.directive_notes)
        parts.append(f"<p>directives: <code>{html.escape(self.directives)}</code></p><ul>{notes}</ul>")
        parts.append(f"<p>{html.escape(self._tolerance())}</p>")
        rows_html: Sequence[Sequence[str]] = [
            [
                html.escape(t.function),
                f"<code>{html.escape(t.name)}</code>",
                t.role,
                f"<code>{html.escape(t.decl)}</code>",
                html.escape(_why(t)),
            ]
            for t in self.typed
        ]
        parts.append(html_table(["function", "name", "role", "type", "why"], rows_html,
                                caption=f"returns {self.returns.describe()}"))
        fixes = "".join(
            f"<li><code>{html.escape(t.function)}.{html.escape(t.name)}</code>: "
            + html.escape((f"line {t.line}: " if t.line else "") + t.why)
            + (f"<br>follows from <code>{html.escape(t.cause)}</code>" if t.cause else "")
            + (f"<br>fix: {html.escape(t.fix)}" if t.fix and not t.cause else "")
            + "</li>"
            for t in self.still_python
        )
        if fixes:
            parts.append(f"<p>still Python objects: {len(self.still_python)}</p><ul>{fixes}</ul>")
        touching = "".join(
            f"<li>line {p.lineno}{' (in a loop)' if p.in_loop else ''}: <code>{html.escape(p.text)}</code>"
            f"<br>{html.escape(p.reason)}</li>"
            for p in self.python_lines
        )
        if self.error_check_lines:
            touching += f"<li>{html.escape(self._checks_note())}</li>"
        parts.append(f"<p>{html.escape(self._touching_title())}</p><ul>{touching}</ul>")
        parts += [f"<p>{html.escape(action)}</p>" for action in self._actions()]
        parts.append(
            "<details><summary>generated Cython</summary><pre>"
            + html.escape(self.variant_source)
            + "</pre></details>"
        )
        return "".join(parts)


def _why(t: TypedName) -> str:
    return f"line {t.line}: {t.why}" if t.is_object and t.line else t.why


__all__ = ["PythonLine", "Refactoring", "TypedName", "annotated_function", "annotated_lines"]
