"""%cythonize on 21 kernels: pure Python vs its output vs hand-typed %%cython vs NumPy.

Every kernel is written as plain Python with no annotations, the way people write them:
eight classic ones (sums, distances, convolution, mandelbrot, statistics, a histogram,
edit distance) and thirteen of everyday numeric code (shape unpacking, locally allocated
outputs, 2-D and 3-D loops, strided loops, early exits, integer arithmetic, string scans).
For each:
- ``%cythonize`` compiles it from a sample call (cold: an empty build cache), checks it
  against the Python function and keeps its best variant; the cache is then hit again in
  a fresh process (warm);
- a hand-typed ``%%cython`` version (cdef types, memoryviews, directives by hand),
  compiled once for all kernels;
- a vectorized NumPy version where one exists.
All four are timed interleaved with ``wb.compare``; the whole round over the kernels is
repeated ``--runs`` times, so slow drifts of a shared machine hit every kernel alike. A
ratio (speedup, %cythonize over hand-typed) is taken within each run, whose candidates
shared the machine's load, and the median over the runs is reported; times are medians
over the runs of each run's median.

Goals (issues 3 and 20): median speedup over pure Python >= 50x; no kernel of the numeric
kind under 10x; %cythonize within 1.5x of the hand-typed Cython on every kernel; every
compiled kernel verified equal to Python; warm cache < 100 ms.

Writes bench/results/cythonize.json and prints a table.
Usage: python bench/cythonize.py [--repeat 7] [--runs 5] [--only NAME ...]
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

def matmul(a, b):
    n, m = a.shape
    p = b.shape[1]
    out = np.zeros((n, p))
    for i in range(n):
        for j in range(p):
            acc = 0.0
            for k in range(m):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc
    return out

def blur(img):
    h, w = img.shape
    out = img.copy()
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            out[i, j] = (img[i - 1, j] + img[i + 1, j] + img[i, j - 1] + img[i, j + 1] + img[i, j]) / 5
    return out

def laplacian3d(u):
    nx, ny, nz = u.shape
    out = np.zeros_like(u)
    for i in range(1, nx - 1):
        for j in range(1, ny - 1):
            for k in range(1, nz - 1):
                out[i, j, k] = (u[i - 1, j, k] + u[i + 1, j, k] + u[i, j - 1, k] + u[i, j + 1, k]
                                + u[i, j, k - 1] + u[i, j, k + 1] - 6 * u[i, j, k])
    return out

def max_pool(img, k):
    h, w = img.shape
    out = np.empty((h // k, w // k))
    for i in range(0, h - k + 1, k):
        for j in range(0, w - k + 1, k):
            m = img[i, j]
            for di in range(k):
                for dj in range(k):
                    m = max(m, img[i + di, j + dj])
            out[i // k, j // k] = m
    return out

def normalize_rows(X):
    n, d = X.shape
    out = np.empty_like(X)
    for i in range(n):
        norm = 0
        for j in range(d):
            norm += X[i, j] ** 2
        norm = math.sqrt(norm)
        for j in range(d):
            out[i, j] = X[i, j] / norm
    return out

def farthest_points(X, k):
    n, d = X.shape
    chosen = np.zeros(k, dtype=np.int64)
    dist = np.full(n, np.inf)
    current = 0
    for c in range(k):
        chosen[c] = current
        best = -1.0
        nxt = 0
        for i in range(n):
            s = 0.0
            for j in range(d):
                t = X[i, j] - X[current, j]
                s += t * t
            if s < dist[i]:
                dist[i] = s
            if dist[i] > best:
                best = dist[i]
                nxt = i
        current = nxt
    return chosen

def first_crossing(x, threshold):
    for i in range(len(x)):
        if x[i] > threshold:
            return i
    return -1

def count_primes(n):
    count = 0
    for k in range(2, n):
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        if prime:
            count += 1
    return count

def collatz_longest(limit):
    best_start = 1
    best_steps = 0
    for start in range(1, limit):
        n = start
        steps = 0
        while n != 1:
            if n % 2 == 0:
                n = n // 2
            else:
                n = 3 * n + 1
            steps += 1
        if steps > best_steps:
            best_steps = steps
            best_start = start
    return best_start, best_steps

def moving_average(x, k):
    n = len(x)
    out = np.empty(n - k + 1)
    s = 0.0
    for i in range(k):
        s += x[i]
    out[0] = s / k
    for i in range(k, n):
        s += x[i] - x[i - k]
        out[i - k + 1] = s / k
    return out

def running_max(x):
    out = np.empty(len(x), dtype=x.dtype)
    best = x[0]
    for i, v in enumerate(x):
        best = max(best, v)
        out[i] = best
    return out

def count_words(text):
    count = 0
    in_word = False
    for ch in text:
        if ch == " " or ch == "\\n":
            in_word = False
        elif not in_word:
            in_word = True
            count += 1
    return count

def is_palindrome(s):
    i = 0
    j = len(s) - 1
    while i < j:
        if s[i] != s[j]:
            return False
        i += 1
        j -= 1
    return True
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
mat_a = rng.normal(size=(60, 50))
mat_b = rng.normal(size=(50, 40))
image = rng.normal(size=(200, 200))
volume = rng.normal(size=(40, 40, 40))
rows = rng.normal(size=(5000, 8))
cloud = rng.normal(size=(1000, 3))
series = rng.normal(size=200_000)
series[160_000] = 10.0  # the first value above 9: four fifths of the way in
walk = rng.normal(size=100_000).cumsum()
prose = " ".join("".join(rng.choice(list("etaoinshrdlu"), size=int(k))) for k in rng.integers(1, 9, size=40_000))
half = "".join(rng.choice(list("acgt"), size=100_000))
palindrome = half + half[::-1]
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

@cython.boundscheck(False)
@cython.wraparound(False)
def h_matmul(double[:, ::1] a, double[:, ::1] b):
    cdef Py_ssize_t n = a.shape[0], m = a.shape[1], p = b.shape[1], i, j, k
    cdef double acc
    out_arr = np.zeros((n, p))
    cdef double[:, ::1] out = out_arr
    for i in range(n):
        for j in range(p):
            acc = 0.0
            for k in range(m):
                acc += a[i, k] * b[k, j]
            out[i, j] = acc
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_blur(double[:, ::1] img):
    cdef Py_ssize_t h = img.shape[0], w = img.shape[1], i, j
    out_arr = np.array(img, copy=True)
    cdef double[:, ::1] out = out_arr
    for i in range(1, h - 1):
        for j in range(1, w - 1):
            out[i, j] = (img[i - 1, j] + img[i + 1, j] + img[i, j - 1] + img[i, j + 1] + img[i, j]) / 5
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
def h_laplacian3d(double[:, :, ::1] u):
    cdef Py_ssize_t nx = u.shape[0], ny = u.shape[1], nz = u.shape[2], i, j, k
    out_arr = np.zeros_like(u)
    cdef double[:, :, ::1] out = out_arr
    for i in range(1, nx - 1):
        for j in range(1, ny - 1):
            for k in range(1, nz - 1):
                out[i, j, k] = (u[i - 1, j, k] + u[i + 1, j, k] + u[i, j - 1, k] + u[i, j + 1, k]
                                + u[i, j, k - 1] + u[i, j, k + 1] - 6 * u[i, j, k])
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_max_pool(double[:, ::1] img, Py_ssize_t k):
    cdef Py_ssize_t h = img.shape[0] // k, w = img.shape[1] // k, i, j, di, dj
    cdef double m, v
    out_arr = np.empty((h, w))
    cdef double[:, ::1] out = out_arr
    for i in range(h):
        for j in range(w):
            m = img[i * k, j * k]
            for di in range(k):
                for dj in range(k):
                    v = img[i * k + di, j * k + dj]
                    if v > m:
                        m = v
            out[i, j] = m
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_normalize_rows(double[:, ::1] X):
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], i, j
    cdef double norm
    out_arr = np.empty((n, d))
    cdef double[:, ::1] out = out_arr
    for i in range(n):
        norm = 0.0
        for j in range(d):
            norm += X[i, j] * X[i, j]
        norm = sqrt(norm)
        for j in range(d):
            out[i, j] = X[i, j] / norm
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
def h_farthest_points(double[:, ::1] X, Py_ssize_t k):
    cdef Py_ssize_t n = X.shape[0], d = X.shape[1], c, i, j, current = 0, nxt
    cdef double best, s, t
    chosen_arr = np.zeros(k, dtype=np.int64)
    cdef long long[::1] chosen = chosen_arr
    cdef double[::1] dist = np.full(n, np.inf)
    for c in range(k):
        chosen[c] = current
        best = -1.0
        nxt = 0
        for i in range(n):
            s = 0.0
            for j in range(d):
                t = X[i, j] - X[current, j]
                s += t * t
            if s < dist[i]:
                dist[i] = s
            if dist[i] > best:
                best = dist[i]
                nxt = i
        current = nxt
    return chosen_arr

@cython.boundscheck(False)
@cython.wraparound(False)
def h_first_crossing(double[::1] x, double threshold):
    cdef Py_ssize_t i
    for i in range(x.shape[0]):
        if x[i] > threshold:
            return i
    return -1

@cython.cdivision(True)
def h_count_primes(Py_ssize_t n):
    cdef Py_ssize_t count = 0, k, d
    cdef bint prime
    for k in range(2, n):
        d = 2
        prime = True
        while d * d <= k:
            if k % d == 0:
                prime = False
                break
            d += 1
        if prime:
            count += 1
    return count

@cython.cdivision(True)
def h_collatz_longest(Py_ssize_t limit):
    cdef Py_ssize_t best_start = 1, best_steps = 0, start, steps
    cdef long long n
    for start in range(1, limit):
        n = start
        steps = 0
        while n != 1:
            if n % 2 == 0:
                n = n // 2
            else:
                n = 3 * n + 1
            steps += 1
        if steps > best_steps:
            best_steps = steps
            best_start = start
    return best_start, best_steps

@cython.boundscheck(False)
@cython.wraparound(False)
@cython.cdivision(True)
def h_moving_average(double[::1] x, Py_ssize_t k):
    cdef Py_ssize_t n = x.shape[0], i
    cdef double s = 0.0
    out_arr = np.empty(n - k + 1)
    cdef double[::1] out = out_arr
    for i in range(k):
        s += x[i]
    out[0] = s / k
    for i in range(k, n):
        s += x[i] - x[i - k]
        out[i - k + 1] = s / k
    return out_arr

@cython.boundscheck(False)
@cython.wraparound(False)
def h_running_max(double[::1] x):
    cdef Py_ssize_t i
    cdef double best = x[0], v
    out_arr = np.empty(x.shape[0])
    cdef double[::1] out = out_arr
    for i in range(x.shape[0]):
        v = x[i]
        if v > best:
            best = v
        out[i] = best
    return out_arr

def h_count_words(str text):
    cdef Py_ssize_t count = 0
    cdef bint in_word = False
    cdef Py_UCS4 ch
    for ch in text:
        if ch == u" " or ch == u"\\n":
            in_word = False
        elif not in_word:
            in_word = True
            count += 1
    return count

@cython.boundscheck(False)
@cython.wraparound(False)
def h_is_palindrome(str s):
    cdef Py_ssize_t i = 0, j = len(s) - 1
    while i < j:
        if s[i] != s[j]:
            return False
        i += 1
        j -= 1
    return True
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

def n_matmul(a, b):
    return a @ b

def n_blur(img):
    out = img.copy()
    out[1:-1, 1:-1] = (img[:-2, 1:-1] + img[2:, 1:-1] + img[1:-1, :-2] + img[1:-1, 2:] + img[1:-1, 1:-1]) / 5
    return out

def n_laplacian3d(u):
    out = np.zeros_like(u)
    c = u[1:-1, 1:-1, 1:-1]
    out[1:-1, 1:-1, 1:-1] = (u[:-2, 1:-1, 1:-1] + u[2:, 1:-1, 1:-1] + u[1:-1, :-2, 1:-1] + u[1:-1, 2:, 1:-1]
                             + u[1:-1, 1:-1, :-2] + u[1:-1, 1:-1, 2:] - 6 * c)
    return out

def n_max_pool(img, k):
    h, w = img.shape[0] // k, img.shape[1] // k
    return img[: h * k, : w * k].reshape(h, k, w, k).max(axis=(1, 3))

def n_normalize_rows(X):
    return X / np.sqrt((X ** 2).sum(axis=1))[:, None]

def n_farthest_points(X, k):
    chosen = np.zeros(k, dtype=np.int64)
    dist = np.full(X.shape[0], np.inf)
    current = 0
    for c in range(k):
        chosen[c] = current
        dist = np.minimum(dist, ((X - X[current]) ** 2).sum(axis=1))
        current = int(dist.argmax())
    return chosen

def n_first_crossing(x, threshold):
    hits = np.flatnonzero(x > threshold)
    return int(hits[0]) if hits.size else -1

def n_count_primes(n):
    prime = np.ones(n, dtype=bool)
    prime[:2] = False
    for k in range(2, int(n ** 0.5) + 1):
        if prime[k]:
            prime[k * k :: k] = False
    return int(prime.sum())

def n_moving_average(x, k):
    return np.convolve(x, np.ones(k) / k, mode="valid")

def n_running_max(x):
    return np.maximum.accumulate(x)
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
    "matmul": "matmul(mat_a, mat_b)",
    "blur": "blur(image)",
    "laplacian3d": "laplacian3d(volume)",
    "max_pool": "max_pool(image, 4)",
    "normalize_rows": "normalize_rows(rows)",
    "farthest_points": "farthest_points(cloud, 16)",
    "first_crossing": "first_crossing(series, 9.0)",
    "count_primes": "count_primes(10_000)",
    "collatz_longest": "collatz_longest(3_000)",
    "moving_average": "moving_average(walk, 50)",
    "running_max": "running_max(walk)",
    "count_words": "count_words(prose)",
    "is_palindrome": "is_palindrome(palindrome)",
}
# the kernels that work on text; the others are of the numeric kind
STRING_KERNELS = {"levenshtein", "count_words", "is_palindrome"}
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
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds per kernel and run")
    parser.add_argument("--runs", type=int, default=5, help="rounds over all kernels (medians over them)")
    parser.add_argument("--only", nargs="+", choices=sorted(CALLS), help="time these kernels only")
    args = parser.parse_args()
    names = args.only or list(CALLS)
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
    for name in names:
        result = shell.run_line_magic("cythonize", f'-o -q {name} --sample "{SAMPLES[name]}"')
        ns[f"c_{name}"] = result.function  # raises EquivalenceError unless every case agreed
        pyx_paths[name] = str(result.build.pyx_path)
        rows[name] = {
            "kind": "string" if name in STRING_KERNELS else "numeric",
            "variant": result.variant,
            "verified": result.verified,
            "still_python": [t.name for t in result.still_python],
            "python_lines_in_loops": sum(p.in_loop for p in result.python_lines),
            "cold_build_seconds": result.build.seconds,
            "run_medians": {},
        }
        print(f"{name}: {result.variant}, verified={result.verified}, built in {result.build.seconds:.1f} s",
              file=sys.stderr)
    for run in range(args.runs):
        for name in names:
            candidates = {"python": CALLS[name], "cythonize": "c_" + CALLS[name], "hand": "h_" + CALLS[name]}
            if f"n_{name}" in ns:
                candidates["numpy"] = "n_" + CALLS[name]
            comparison = wb.compare(candidates, namespace=ns, repeat=args.repeat)
            for candidate, timing in comparison.timings.items():
                rows[name]["run_medians"].setdefault(candidate, []).append(timing.median)
        print(f"run {run + 1} of {args.runs} done", file=sys.stderr)
    warm = json.loads(
        subprocess.run(
            [sys.executable, "-c", WARM, json.dumps(pyx_paths)], capture_output=True, text=True, check=True
        ).stdout
    )
    for name, (hit, seconds) in warm.items():
        assert hit, f"{name}: the warm build missed the cache"
        rows[name]["warm_build_seconds"] = seconds
    for row in rows.values():
        runs = row["run_medians"]
        row["median_seconds"] = {c: statistics.median(v) for c, v in runs.items()}
        # ratios within a run (its candidates shared the machine's load), then their median
        row["speedup"] = {
            c: statistics.median(p / t for p, t in zip(runs["python"], v, strict=True))
            for c, v in runs.items() if c != "python"
        }
        row["cythonize_over_hand"] = statistics.median(
            c / h for c, h in zip(runs["cythonize"], runs["hand"], strict=True)
        )
    speedups = [r["speedup"]["cythonize"] for r in rows.values()]
    numeric = [r["speedup"]["cythonize"] for r in rows.values() if r["kind"] == "numeric"]
    summary = {
        "median_speedup_cythonize": statistics.median(speedups),
        "min_numeric_speedup_cythonize": min(numeric) if numeric else None,
        "max_ratio_to_hand": max(r["cythonize_over_hand"] for r in rows.values()),
        "max_warm_build_seconds": max(r["warm_build_seconds"] for r in rows.values()),
        "hand_typed_compile_seconds": hand_compile,  # all kernels in one %%cython -f cell
        "goals_met": {
            "median_speedup_ge_50x": statistics.median(speedups) >= 50,
            "numeric_kernels_ge_10x": all(v >= 10 for v in numeric),
            "within_1_5x_of_hand": all(r["cythonize_over_hand"] <= 1.5 for r in rows.values()),
            "all_verified": all(r["verified"] for r in rows.values()),
            "warm_under_100ms": all(r["warm_build_seconds"] < 0.1 for r in rows.values()),
        },
    }
    report = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "repeat": args.repeat,
        "runs": args.runs,
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
        "| kernel | kind | python | %cythonize | hand-typed | NumPy | %cythonize / hand | verified | cold build "
        "| warm build |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for name, r in rows.items():
        med = r["median_seconds"]
        lines.append(
            f"| {name} | {r['kind']} | {med['python'] * 1e3:.2f} ms | {cell(r['speedup']['cythonize'])} | "
            f"{cell(r['speedup']['hand'])} | {cell(r['speedup'].get('numpy'))} | "
            f"{r['cythonize_over_hand']:.2f} | {'yes' if r['verified'] else 'NO'} | "
            f"{r['cold_build_seconds']:.1f} s | {r['warm_build_seconds'] * 1e3:.1f} ms |"
        )
    lines.append("")
    lines.append(
        f"median speedup of %cythonize over pure Python: {summary['median_speedup_cythonize']:.1f}x; "
        f"slowest numeric kernel: {summary['min_numeric_speedup_cythonize']:.1f}x; "
        f"worst %cythonize / hand-typed: {summary['max_ratio_to_hand']:.2f}; "
        f"slowest warm build: {summary['max_warm_build_seconds'] * 1e3:.1f} ms; "
        f"hand-typed %%cython compile: {summary['hand_typed_compile_seconds']:.1f} s"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
