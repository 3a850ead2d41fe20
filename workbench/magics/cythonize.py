"""``%cythonize``: a thin front end over :func:`workbench.cythonize.refactor`.

Cython is never imported here: the library runs it in a subprocess when it builds.
"""

from __future__ import annotations

import ast
import types
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import HTML, display

from workbench.errors import CythonizeError
from workbench.magics.base import WorkbenchMagics


@magics_class
class CythonizeMagics(WorkbenchMagics):
    """``%cythonize``; functions being recorded are kept in ``self.recorders``."""

    def __init__(self, shell: Any = None) -> None:
        super().__init__(shell)
        self.recorders: dict[str, Any] = {}

    def _function(self, name: str) -> Any:
        return self.lookup(name, "function")

    def _sample(self, name: str, text: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Evaluate the arguments of a sample call such as ``f(X, 3, k=2)`` in the notebook."""
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]  # IPython's option parser keeps the quotes
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise UsageError(f"--sample is not a call: {exc.msg}") from None
        node = tree.body
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name):
            raise UsageError(f'--sample must call {name}, like --sample "{name}(X, 3)"')
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise UsageError("--sample takes plain arguments, without * or **")

        def value(expr: ast.expr) -> Any:
            return eval(compile(ast.Expression(expr), "<sample>", "eval"), self.user_ns)

        return tuple(value(a) for a in node.args), {k.arg: value(k.value) for k in node.keywords if k.arg}

    @magic_arguments()
    @argument("func", help="name of the notebook function to compile")
    @argument("--sample", metavar="CALL", help='a call giving the argument types, like "f(X, 3)"')
    @argument("--record", type=int, metavar="N", help="record the next N calls of func instead (then run again)")
    @argument("--replace", action="store_true", help="rebind func to the compiled version once the check passes")
    @argument("--export", metavar="PATH.pyx", help="write a production module and its build configuration")
    @argument("--annotate", action="store_true",
              help="show Cython's annotation of the compiled function, numbered with its lines")
    @argument("--no-check", action="store_true", help="skip the equivalence check (keeps bounds checks)")
    @argument("--with", dest="helpers", nargs="+", action="extend", default=[], metavar="HELPER",
              help="notebook functions func calls, compiled alongside")
    @argument("--generated", type=int, default=6, metavar="N", help="generated inputs to check (default 6)")
    @argument("-o", "--output", action="store_true", help="return the Refactoring object")
    @argument("-q", "--quiet", action="store_true", help="do not display the report")
    @no_var_expand
    @line_magic
    def cythonize(self, line: str) -> Any:
        """Refactor a notebook function into typed, compiled Cython, check it and time it.

        ``%cythonize f --sample "f(X, 3)"`` types f's arguments from the sample call and its
        locals from their assignments, compiles it (cached under the workbench home), checks
        it against f on the sample, recorded and generated inputs, and reports the speedup
        with a confidence interval. ``%cythonize --record 5 f`` records f's next five calls;
        a later ``%cythonize f`` uses them as samples. ``--replace`` rebinds f to the compiled
        version only when every case agrees (else EquivalenceError, f unchanged);
        ``--export fast_f.pyx`` writes a module and ``build_fast_f.py`` for a package or job.
        Code it cannot compile raises UnsupportedConstructError naming the line and why;
        what stays a Python object is reported at the lines of f's cell, with the reason and
        the smallest change that would type it.
        """
        from workbench.cythonize import Recorder, record, refactor

        args = parse_argstring(self.cythonize, line)
        target = self._function(args.func)
        if args.record is not None:
            if args.record < 1:
                raise UsageError("--record needs a number of calls of at least 1")
            original = target.func if isinstance(target, Recorder) else target
            recorder = record(original, args.record)
            self.user_ns[args.func] = self.recorders[args.func] = recorder
            print(f"recording the next {args.record} calls of {args.func}; then run %cythonize {args.func}")
            return None
        recorded: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        if isinstance(target, Recorder):
            recorded, target = list(target.calls), target.func
        if not isinstance(target, types.FunctionType):
            raise UsageError(f"{args.func} is a {type(target).__name__}, not a Python function")
        helpers = [self._function(h) for h in args.helpers]
        sample_args, sample_kwargs = self._sample(args.func, args.sample) if args.sample else ((), {})
        if args.sample is None and not recorded and target.__code__.co_argcount + target.__code__.co_kwonlyargcount:
            raise UsageError(
                f'{args.func} needs a sample call: %cythonize {args.func} --sample "{args.func}(...)", '
                f"or record calls first with %cythonize --record N {args.func}"
            )
        result = refactor(
            target, *sample_args, helpers=helpers, recorded=recorded, generated=args.generated,
            check=not args.no_check, **sample_kwargs,
        )
        if self.recorders.pop(args.func, None) is not None:
            self.user_ns[args.func] = target  # recording is over: the plain Python function again
        try:
            if args.replace:
                self.user_ns[args.func] = result.function
                result.replaced = True
            if args.export:
                result.exported = result.export(args.export)
        except CythonizeError:
            if not args.quiet:
                display(result)  # the report shows the differing case before the error
            raise
        if not args.quiet:
            display(result)
            if args.annotate:
                display(HTML(result.annotated))
        return result if args.output else None


__all__ = ["CythonizeMagics"]
