"""C code a generated module carries besides the functions: wrappers with Python's errors.

Keys name what a function needs: ``math:sqrt`` or ``numpy:exp`` (a libc function, with
:mod:`math`'s errors for ``math``), ``int`` (``int()`` of a double), ``list`` (a list
argument read as an array), ``range`` (the length of a range with a variable step).
"""

from __future__ import annotations

from workbench.cythonize import idioms

# int() of a C double: C truncation where Python's result fits (one comparison: NaN fails
# it too), Python's errors for NaN and infinity; a finite value beyond 64 bits raises
# OverflowError (Python would return a big int)
_INT_ERROR = [
    "cdef Py_ssize_t _wb_int_error(double x) except -1:",
    "    if x != x:",
    "        raise ValueError('cannot convert float NaN to integer')",
    "    if x == INFINITY or x == -INFINITY:",
    "        raise OverflowError('cannot convert float infinity to integer')",
    "    raise OverflowError('cannot convert float to a 64-bit integer')",
]


def _to_int(name: str, params: str, value: str) -> list[str]:
    return [
        f"cdef inline Py_ssize_t {name}({params}) except? -1:",
        f"    cdef double r = {value}",
        "    if -9.223372036854775e18 <= r < 9.223372036854775e18:",
        "        return <Py_ssize_t>r",
        "    return _wb_int_error(r)",
    ]


# a list argument read as an array: only when NumPy reads it as numbers of the sample's
# dtype (never strings parsed as numbers), so other lists raise TypeError as Python would
_LIST_WRAPPER = [
    "cdef _wb_list_array(object values, str dtype):",
    "    array = _wb_np.asarray(values)",
    "    if array.size == 0:",
    "        return _wb_np.zeros(0, dtype=dtype)",
    "    if array.dtype != dtype or array.ndim != 1:",
    "        raise TypeError(f'expected a flat list of {dtype} numbers, got {array.dtype} items')",
    "    return array",
]

# the length of range(start, stop, step), with range's error for a zero step
_RANGE_LEN = [
    "@cython.cdivision(True)",
    "cdef inline Py_ssize_t _wb_range_len(Py_ssize_t start, Py_ssize_t stop, Py_ssize_t step) except -1:",
    "    if step == 0:",
    "        raise ValueError('range() arg 3 must not be zero')",
    "    if step > 0:",
    "        return (stop - start + step - 1) // step if stop > start else 0",
    "    return (start - stop - step - 1) // (-step) if start > stop else 0",
]


def _scalar_function(function: idioms.ScalarFunction) -> list[str]:
    params = "double x, double y" if function.arity == 2 else "double x"
    call = f"_c_{function.libc}(x, y)" if function.arity == 2 else f"_c_{function.libc}(x)"
    name = function.wrapper
    if function.result == "bool":
        return [f"cdef inline bint {name}({params}) noexcept:", f"    return {call} != 0"]
    if function.result == "int":
        return _to_int(name, params, call)
    if function.error is None:
        return [f"cdef inline double {name}({params}) noexcept:", f"    return {call}"]
    condition, exception = function.error
    return [
        f"cdef inline double {name}({params}) except? -1:",
        f"    cdef double r = {call}",
        f"    if {condition}:",
        f"        raise {exception}",
        "    return r",
    ]


def support_code(key: str) -> list[str]:
    if key == "int":
        return _to_int("_wb_int", "double x", "x")
    if key == "int_error":
        return _INT_ERROR
    if key == "list":
        return _LIST_WRAPPER
    if key == "range":
        return _RANGE_LEN
    module, name = key.split(":")
    table = idioms.MATH_FUNCTIONS if module == "math" else idioms.NUMPY_FUNCTIONS
    return _scalar_function(table[name])


def support_keys(used: set[str]) -> list[str]:
    """The support code a module needs for what its functions ``used``, in the order to emit."""
    keys = set(used)
    if "int" in keys or any(k.split(":")[-1] in {"floor", "ceil", "trunc"} and k.startswith("math:") for k in keys):
        keys.add("int_error")
    return sorted(keys, key=lambda k: (k != "int_error", k))


def libc_names(support: set[str]) -> list[str]:
    names = set()
    for key in support:
        if ":" in key:
            module, name = key.split(":")
            names.add((idioms.MATH_FUNCTIONS if module == "math" else idioms.NUMPY_FUNCTIONS)[name].libc)
    return sorted(names)


__all__ = ["libc_names", "support_code", "support_keys"]
