"""Compile a generated module, with a content-addressed cache under ``<home>/cython-cache/``.

The cache key is the SHA-256 of the generated source, the compile flags and the Python,
Cython, NumPy and compiler versions, so any change that could change the binary builds
a new one. A build happens in a temporary folder that is renamed into place only when
complete: a reader sees a whole build or none. A warm hit hashes, finds the folder and
imports the extension (no Cython, no compiler run beyond a cached version probe).

Cython and the C compiler run as subprocesses, so their messages are captured whole and
raised as :class:`~workbench.errors.CompileError` instead of printed.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from workbench.config import Settings, load_settings
from workbench.errors import CompileError, ConfigError
from workbench.fsutil import atomic_write_bytes

# as Python builds its own extensions: -O3, -DNDEBUG (no CPython header asserts), -fwrapv
# (signed overflow wraps instead of being undefined); no -ffast-math or -march=native:
# they change floating-point results or portability
CFLAGS = ("-O3", "-DNDEBUG", "-fwrapv", "-fPIC", "-shared", "-fno-strict-aliasing", "-Wno-unused-function")
COMPILE_TIMEOUT = 600.0
CACHE_DIR = "cython-cache"
OPTIMIZE_ENV = "WORKBENCH_CYTHONIZE_OPTIMIZE"


@dataclass
class Build:
    """A compiled module: where it lives and what the build cost."""

    module: types.ModuleType
    key: str
    folder: Path
    cache_hit: bool
    seconds: float  # from the start of the build (or cache lookup) to the imported module
    flags: tuple[str, ...] = CFLAGS

    @property
    def optimization(self) -> str:
        """The C optimization flag of the build (``-O3`` unless asked otherwise)."""
        return next((f for f in self.flags if f.startswith("-O")), "-O3")

    @property
    def pyx_path(self) -> Path:
        return self.folder / f"{self.module.__name__}.pyx"

    @property
    def annotation_html(self) -> str:
        """Cython's annotated source: lines that still call into Python are highlighted."""
        path = self.folder / f"{self.module.__name__}.html"
        return path.read_text(encoding="utf-8") if path.exists() else ""


def compiler() -> list[str]:
    """The C compiler command: $CC, else the one Python was built with."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


@functools.lru_cache(maxsize=4)
def _compiler_version(cc: tuple[str, ...]) -> str:
    try:
        out = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise CompileError(
            f"no C compiler: {exc}",
            hint="install gcc (apt-get install build-essential) or set CC",
            output=str(exc),
        ) from exc
    return out.stdout.splitlines()[0] if out.stdout else " ".join(cc)


def versions() -> dict[str, str]:
    """Everything besides the source and flags that changes the binary."""
    return {
        "python": sys.version,
        "cython": importlib.metadata.version("cython"),
        "numpy": importlib.metadata.version("numpy"),
        "compiler": _compiler_version(tuple(compiler())),
        "platform": sysconfig.get_platform(),
    }


def compile_flags(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """:data:`CFLAGS` at the C optimization level asked for: ``$WORKBENCH_CYTHONIZE_OPTIMIZE``,
    else ``optimize`` in ``[tool.workbench.cythonize]``, else 3.

    Level 0 builds a generated module about five times faster than 3 (gcc spends most of a
    build optimizing Cython's C): it suits trying a refactoring out; speed-ups are for 3.
    Each level has its own cache entries.
    """
    env = os.environ if environ is None else environ
    value: object
    if env.get(OPTIMIZE_ENV):
        value, where = env[OPTIMIZE_ENV], f"${OPTIMIZE_ENV}"
    else:
        value = (settings or load_settings()).section("cythonize").get("optimize", 3)
        where = "optimize in [tool.workbench.cythonize]"
    level = str(value).strip()
    if isinstance(value, bool) or level not in ("0", "1", "2", "3"):
        raise ConfigError(
            f"{where} must be 0, 1, 2 or 3, not {value!r}", hint="3 (the default) for speed, 0 for quick builds"
        )
    return (f"-O{level}", *CFLAGS[1:])


def cache_key(source: str, flags: tuple[str, ...] = CFLAGS) -> str:
    material = json.dumps({"source": source, "flags": list(flags), **versions()}, sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()


def cache_root() -> Path:
    return load_settings().home / CACHE_DIR


def module_name(key: str) -> str:
    return f"wbcy_{key[:24]}"


def build(source: str, *, flags: tuple[str, ...] | None = None) -> Build:
    """Compile ``source`` (a ``.pyx`` text) or load it from the cache; import it.

    ``flags`` default to :func:`compile_flags`.
    """
    start = time.perf_counter()
    flags = compile_flags() if flags is None else flags
    key = cache_key(source, flags)
    name = module_name(key)
    folder = cache_root() / key
    so_path = folder / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    hit = so_path.exists()
    if not hit:
        shutil.rmtree(folder, ignore_errors=True)  # a folder without its extension is damaged
        _compile(source, name, folder, flags)
    module = sys.modules.get(name) or _import(name, so_path)
    return Build(module, key, folder, hit, time.perf_counter() - start, flags)


def _import(name: str, path: Path) -> types.ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module


def _run(command: list[str], stage: str, cwd: Path) -> None:
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise CompileError(f"{stage} took longer than {COMPILE_TIMEOUT:.0f} s", stage=stage, output="") from exc
    except OSError as exc:
        raise CompileError(f"cannot run {stage}: {exc}", stage=stage, output=str(exc)) from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise CompileError(f"{stage} failed:\n{output}", stage=stage, output=output)


def _compile(source: str, name: str, folder: Path, flags: tuple[str, ...]) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{name}."))
    try:
        pyx, c_file = tmp / f"{name}.pyx", tmp / f"{name}.c"
        so = tmp / (name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
        pyx.write_text(source, encoding="utf-8")
        _run([sys.executable, "-m", "cython", "-3", "--annotate", "-o", c_file.name, pyx.name], "Cython", tmp)
        include = sysconfig.get_paths()["include"]
        try:
            _run([*compiler(), *flags, f"-I{include}", c_file.name, "-o", so.name, "-lm"], "the C compiler", tmp)
        except CompileError as exc:
            output = _with_pyx_lines(exc.fields.get("output", ""), c_file.read_text(encoding="utf-8"), pyx.name)
            raise CompileError(exc.message, stage="the C compiler", output=output) from exc
        meta = {"module": name, "flags": list(flags), **versions()}
        atomic_write_bytes(tmp / "build.json", json.dumps(meta, indent=2).encode())
        try:
            os.replace(tmp, folder)
        except OSError:
            if not folder.exists():  # not a concurrent build of the same key: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_C_LOCATION = re.compile(r"^[\w.]+\.c:(\d+):\d+: (?:fatal )?error: (.*)$", re.MULTILINE)
_PYX_MARKER = re.compile(r'/\* "[^"]+\.pyx":(\d+)')


def _with_pyx_lines(output: str, c_source: str, pyx_name: str) -> str:
    """The C compiler's errors, each followed by the ``.pyx`` line its C code was generated
    from (Cython marks C code with the line it comes from), as Cython would name it."""
    lines = c_source.splitlines()
    found = []
    for match in _C_LOCATION.finditer(output):
        c_line = int(match.group(1))
        pyx_line = next(
            (int(m.group(1)) for text in reversed(lines[:c_line]) if (m := _PYX_MARKER.search(text))), None
        )
        if pyx_line is not None:
            found.append(f"{pyx_name}:{pyx_line}:0: {match.group(2)}")
    return "\n".join([output, *found])


__all__ = [
    "CFLAGS",
    "OPTIMIZE_ENV",
    "Build",
    "build",
    "cache_key",
    "cache_root",
    "compile_flags",
    "compiler",
    "module_name",
    "versions",
]
