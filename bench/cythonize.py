"""%cythonize on eight kernels: pure Python vs its output vs hand-typed %%cython vs NumPy.

Every kernel is written as plain Python with no annotations. For each, in one run:
- ``%cythonize`` compiles it from a sample call (cold: an empty build cache), checks it
  and keeps its best variant; the cache is then hit again in a fresh process (warm);
- a hand-typed ``%%cython`` version (cdef types, memoryviews, directives by hand),
  compiled once for all kernels;
- a vectorized NumPy version where one exists;
all four timed interleaved with ``wb.compare`` (medians; ratios to pure Python).

Goals (issue 3): median speedup over pure Python >= 50x; %cythonize within 1.5x of the
hand-typed Cython on every kernel; warm cache < 100 ms.

Writes bench/results/cythonize.json and prints a table. Usage: python bench/cythonize.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell

RESULTS = Path(__file__).parent / "results" / "cythonize.json"

KERNELS = '''
import math
import numpy as np

def sum_sq(xs):
    total = 0.0
    for x in xs:
        total += x * x
    return total

def pairwise(X):
    n = X.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            s = 0.0
            for k in range(X.shape[1]):
                d = X[i, k] - X[j, k]
                s += d * d
            out[i, j] = math.sqrt(s)
    return out

def convolve(x, w):
    m = w.shape[0]
    out = np.zeros(x.shape[0] - m + 1)
    for i in range(out.shape[0]):
        s = 0.0
        for j in range(m):
            s += x[i + j] * w[j]
        out[i] = s
    return out

def mandelbrot(xmin, xmax, ymin, ymax, width, height, maxiter):
    counts = np.zeros((height, width), dtype=np.int64)
    for r in range(height):
        ci = ymin + (ymax - ymin) * r / height
        for c in range(width):
            cr = xmin + (xmax - xmin) * c / width
            zr = 0.0
            zi = 0.0
            n = 0
            while n < maxiter and zr * zr + zi * zi <= 4.0:
                zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
                n += 1
            counts[r, c] = n
    return counts

def running_stats(xs):
    n = 0
    mean = 0.0
    m2 = 0.0
    for x in xs:
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    return mean, m2 / (n - 1)

def nearest(Q, P):
    best = np.zeros(Q.shape[0], dtype=np.int64)
    for i in range(Q.shape[0]):
        best_d = math.inf
        for j in range(P.shape[0]):
            d = 0.0
            for k in range(Q.shape[1]):
                t = Q[i, k] - P[j, k]
                d += t * t
            if d < best_d:
                best_d = d
                best[i] = j
    return best

def histogram(xs, lo, hi, nbins):
    counts = np.zeros(nbins, dtype=np.int64)
    width = (hi - lo) / nbins
    for x in xs:
        b = int((x - lo) / width)
        if b == nbins:
            b -= 1
        if 0 <= b < nbins:
            counts[b] += 1
    return counts

def levenshtein(a, b):
    n = len(b)
    prev = [0] * (n + 1)
    cur = [0] * (n + 1)
    for j in range(n + 1):
        prev[j] = j
    for i in range(1, len(a) + 1):
        cur[0] = i
        for j in range(1, n + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev, cur = cur, prev
    return prev[n]
'''

DATA = '''
rng = np.random.default_rng(0)
xs = rng.normal(size=100_000)
X = rng.normal(size=(150, 3))
signal = rng.normal(size=20_000)
taps = rng.normal(size=15)
Q = rng.normal(size=(100, 3))
P = rng.normal(size=(400, 3))
hist_x = rng.uniform(-0.5, 10.5, size=100_000)
word_a = "".join(rng.choice(list("acgt"), size=300))
word_b = "".join(rng.choice(list("acgt"), size=300))
mandel_args = (-2.0, 1.0, -1.2, 1.2, 60, 48, 60)
'''

HAND = '''%%cython -3 -f
# hand-typed versions: what a person writes after reading the Cython docs
cimport cython
from libc.math cimport sqrt, INFINITY
import numpy as np

@cython.boundscheck(False)
@cython.wraparound(False)
def h_sum_sq(double[::1] xs):
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(xs.shape[0]):
        total += xs[i] * xs[i]
    return total

@cython.boundscheck(False)
@cython.wraparound(False)
def h_pairwise(double[:, ::1] X):
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j, k
    cdef double s, t
    out_arr = np.zeros((n, n))
    cdef double[:, ::1] out = out_arr
    for i in range(n):
        for j in range(n):
            s = 0.0
            for k in range(d):
                t = X[i, k] - X[j, k]
                s += t * t
            out[i, j] = sqrt(s)
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
def h_convolve(double[::1] x, double[::1] w):
    cdef Py_ssize_t m = w.shape[0], n = x.shape[0] - m + 1, i, j
    cdef double s
    out_arr = np.zeros(n)
    cdef double[::1] out = out_arr
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += x[i + j] * w[j]
        out[i] = s
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_mandelbrot(double xmin, double xmax, double ymin, double ymax, Py_ssize_t width, Py_ssize_t height,
                 Py_ssize_t maxiter):
    counts_arr = np.zeros((height, width), dtype=np.int64)
    cdef long long[:, ::1] counts = counts_arr
    cdef Py_ssize_t r, c, n
    cdef double ci, cr, zr, zi, tmp
    for r in range(height):
        ci = ymin + (ymax - ymin) * r / height
        for c in range(width):
            cr = xmin + (xmax - xmin) * c / width
            zr = 0.0
            zi = 0.0
            n = 0
            while n < maxiter and zr * zr + zi * zi <= 4.0:
                tmp = zr * zr - zi * zi + cr
                zi = 2.0 * zr * zi + ci
                zr = tmp
                n += 1
            counts[r, c] = n
    return counts_arr

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_running_stats(double[::1] xs):
    cdef Py_ssize_t n = 0, i
    cdef double mean = 0.0, m2 = 0.0, delta, x
    for i in range(xs.shape[0]):
        x = xs[i]
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
    return mean, m2 / (n - 1)

@cython.boundscheck(False)
@cython.wraparound(False)
def h_nearest(double[:, ::1] Q, double[:, ::1] P):
    best_arr = np.zeros(Q.shape[0], dtype=np.int64)
    cdef long long[::1] best = best_arr
    cdef Py_ssize_t i, j, k
    cdef double best_d, d, t
    for i in range(Q.shape[0]):
        best_d = INFINITY
        for j in range(P.shape[0]):
            d = 0.0
            for k in range(Q.shape[1]):
                t = Q[i, k] - P[j, k]
                d += t * t
            if d < best_d:
                best_d = d
                best[i] = j
    return best_arr

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_histogram(double[::1] xs, double lo, double hi, Py_ssize_t nbins):
    counts_arr = np.zeros(nbins, dtype=np.int64)
    cdef long long[::1] counts = counts_arr
    cdef double width = (hi - lo) / nbins
    cdef Py_ssize_t i, b
    for i in range(xs.shape[0]):
        b = <Py_ssize_t>((xs[i] - lo) / width)
        if b == nbins:
            b -= 1
        if 0 <= b < nbins:
            counts[b] += 1
    return counts_arr

@cython.boundscheck(False)
@cython.wraparound(False)
def h_levenshtein(str a, str b):
    cdef Py_ssize_t n = len(b), m = len(a), i, j, cost
    cdef long long[::1] prev = np.arange(n + 1, dtype=np.int64)
    cdef long long[::1] cur = np.zeros(n + 1, dtype=np.int64)
    cdef long long[::1] tmp
    for i in range(1, m + 1):
        cur[0] = i
        for j in range(1, n + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        tmp = prev
        prev = cur
        cur = tmp
    return prev[n]
'''

NUMPY = '''
def n_sum_sq(xs):
    return float(np.dot(xs, xs))

def n_pairwise(X):
    return np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1))

def n_convolve(x, w):
    return np.correlate(x, w, mode="valid")

def n_mandelbrot(xmin, xmax, ymin, ymax, width, height, maxiter):
    c = (xmin + (xmax - xmin) * np.arange(width) / width)[None, :] + 1j * (
        ymin + (ymax - ymin) * np.arange(height) / height)[:, None]
    z = np.zeros_like(c)
    counts = np.zeros(c.shape, dtype=np.int64)
    alive = np.ones(c.shape, dtype=bool)
    for _ in range(maxiter):
        alive &= (z.real ** 2 + z.imag ** 2) <= 4.0
        if not alive.any():
            break
        z[alive] = z[alive] ** 2 + c[alive]
        counts[alive] += 1
    return counts

def n_running_stats(xs):
    return float(xs.mean()), float(xs.var(ddof=1))

def n_nearest(Q, P):
    return ((Q[:, None, :] - P[None, :, :]) ** 2).sum(axis=-1).argmin(axis=1)

def n_histogram(xs, lo, hi, nbins):
    b = ((xs - lo) / ((hi - lo) / nbins)).astype(np.int64)
    b[b == nbins] -= 1
    return np.bincount(b[(b >= 0) & (b < nbins)], minlength=nbins)
'''

# kernel -> sample call (the same arguments are timed)
CALLS = {
    "sum_sq": "sum_sq(xs)",
    "pairwise": "pairwise(X)",
    "convolve": "convolve(signal, taps)",
    "mandelbrot": "mandelbrot(*mandel_args)",
    "running_stats": "running_stats(xs)",
    "nearest": "nearest(Q, P)",
    "histogram": "histogram(hist_x, 0.0, 10.0, 50)",
    "levenshtein": "levenshtein(word_a, word_b)",
}
SAMPLES = {**CALLS, "mandelbrot": "mandelbrot(-2.0, 1.0, -1.2, 1.2, 60, 48, 60)"}

WARM = '''
import json, sys, time
import numpy
from workbench.cythonize.build import build
out = {}
for name, path in json.loads(sys.argv[1]).items():
    source = open(path).read()
    b = build(source)
    out[name] = [b.cache_hit, b.seconds]
print(json.dumps(out))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds per kernel")
    args = parser.parse_args()
    os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp())
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp()  # an empty cache: the first builds are cold
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "workbench")
    shell.run_line_magic("load_ext", "Cython")
    for code in (KERNELS, DATA, NUMPY):
        if not shell.run_cell(code).success:
            raise SystemExit("setup failed")
    start = time.perf_counter()
    if not shell.run_cell(HAND).success:
        raise SystemExit("the hand-typed %%cython cell failed to compile")
    hand_compile = time.perf_counter() - start

    import workbench as wb

    ns = shell.user_ns
    rows: dict[str, dict[str, Any]] = {}
    pyx_paths = {}
    for name, sample in SAMPLES.items():
        result = shell.run_line_magic("cythonize", f'-o -q {name} --sample "{sample}"')
        ns[f"c_{name}"] = result.function
        pyx_paths[name] = str(result.build.pyx_path)
        candidates = {
            "python": CALLS[name],
            "cythonize": "c_" + CALLS[name],
            "hand": "h_" + CALLS[name],
        }
        if f"n_{name}" in ns:
            candidates["numpy"] = "n_" + CALLS[name]
        comparison = wb.compare(candidates, namespace=ns, repeat=args.repeat)
        rows[name] = {
            "variant": result.variant,
            "verified": result.verified,
            "python_lines": len(result.python_lines),
            "median_seconds": {c: t.median for c, t in comparison.timings.items()},
            "speedup": {c: 1 / comparison.ratio(c) for c in candidates if c != "python"},
            "speedup_ci": {
                c: [1 / hi, 1 / lo] for c, (lo, hi) in comparison.ratio_ci.items()
            },
            "cold_build_seconds": result.build.seconds,
        }
        print(f"{name}: {result.variant}, {rows[name]['speedup']['cythonize']:.1f}x", file=sys.stderr)
    warm = json.loads(
        subprocess.run(
            [sys.executable, "-c", WARM, json.dumps(pyx_paths)], capture_output=True, text=True, check=True
        ).stdout
    )
    for name, (hit, seconds) in warm.items():
        assert hit, f"{name}: the warm build missed the cache"
        rows[name]["warm_build_seconds"] = seconds
    speedups = [r["speedup"]["cythonize"] for r in rows.values()]
    vs_hand = {n: r["median_seconds"]["cythonize"] / r["median_seconds"]["hand"] for n, r in rows.items()}
    summary = {
        "median_speedup_cythonize": statistics.median(speedups),
        "max_ratio_to_hand": max(vs_hand.values()),
        "max_warm_build_seconds": max(r["warm_build_seconds"] for r in rows.values()),
        "hand_typed_compile_seconds": hand_compile,  # all eight in one %%cython -f cell
        "goals_met": {
            "median_speedup_ge_50x": statistics.median(speedups) >= 50,
            "within_1_5x_of_hand": all(v <= 1.5 for v in vs_hand.values()),
            "warm_under_100ms": all(r["warm_build_seconds"] < 0.1 for r in rows.values()),
        },
    }
    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "kernels": rows,
        "summary": summary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(table(rows, summary))
    print(f"written to {RESULTS}")


def table(rows: dict[str, dict[str, Any]], summary: dict[str, Any]) -> str:
    def cell(value: float | None) -> str:
        return f"{value:.1f}x" if value is not None else "-"

    lines = [
        "| kernel | python | %cythonize | hand-typed | NumPy | %cythonize / hand | variant | cold build | warm build |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, r in rows.items():
        med = r["median_seconds"]
        lines.append(
            f"| {name} | {med['python'] * 1e3:.2f} ms | {cell(r['speedup']['cythonize'])} | "
            f"{cell(r['speedup']['hand'])} | {cell(r['speedup'].get('numpy'))} | "
            f"{med['cythonize'] / med['hand']:.2f} | {r['variant']} | {r['cold_build_seconds']:.1f} s | "
            f"{r['warm_build_seconds'] * 1e3:.1f} ms |"
        )
    lines.append("")
    lines.append(
        f"median speedup of %cythonize over pure Python: {summary['median_speedup_cythonize']:.1f}x; "
        f"worst %cythonize / hand-typed: {summary['max_ratio_to_hand']:.2f}; "
        f"slowest warm build: {summary['max_warm_build_seconds'] * 1e3:.1f} ms; "
        f"hand-typed %%cython compile: {summary['hand_typed_compile_seconds']:.1f} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
