"""Limit OpenBLAS threads while the rating code runs (its matrices are small; it parallelises itself)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Callable, Iterator

# Our dense matrices are at most (models + 5)^2, far too small to gain from BLAS threads, while the bootstrap
# runs its own thread pool. OpenBLAS threads spin-wait, so a 2-thread BLAS inside each of 2 pool threads (or
# beside other busy processes) turns a 0.5 ms Cholesky into 300 ms. numpy and scipy each bundle an OpenBLAS;
# both are limited here, through threadpoolctl when installed, else through OpenBLAS's own C entry points.
_PREFIXES = ("scipy_", "")
_SUFFIXES = ("64_", "_64", "", "_")


@functools.cache
def _controls() -> tuple[tuple[Callable[[], int], Callable[[int], None]], ...]:
    """(get, set) pairs for every OpenBLAS library loaded in this process (Linux; elsewhere none)."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS)
    import scipy.linalg  # noqa: F401  (loads scipy's)

    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        return ()
    found = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for pre in _PREFIXES:
            names = [(f"{pre}openblas_get_num_threads{s}", f"{pre}openblas_set_num_threads{s}") for s in _SUFFIXES]
            pair = next(((g, s) for g, s in names if hasattr(lib, g) and hasattr(lib, s)), None)
            if pair:
                get, put = getattr(lib, pair[0]), getattr(lib, pair[1])
                get.restype, get.argtypes = ctypes.c_int, []
                put.restype, put.argtypes = None, [ctypes.c_int]
                found.append((get, put))
                break
    return tuple(found)


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Run the block with at most `n` BLAS threads, then restore the previous setting."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        with threadpool_limits(limits=n, user_api="blas"):
            yield
        return
    controls = _controls()
    previous = [get() for get, _ in controls]
    for _, put in controls:
        put(n)
    try:
        yield
    finally:
        for (_, put), old in zip(controls, previous, strict=True):
            put(old)
