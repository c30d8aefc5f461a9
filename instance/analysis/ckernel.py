"""The compiled move kernel (``_kernel.c``), loaded with ctypes when it was built.

setuptools compiles ``_kernel.c`` at install time as an optional extension
(``[tool.setuptools] ext-modules`` in pyproject.toml): where no C compiler is
available the install still succeeds, ``load_library()`` returns None and the
pure Python kernel takes over. The C file includes no Python header; ctypes
calls its ``fa_*`` functions directly.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
from collections.abc import Sequence
from pathlib import Path

from instance.analysis.kernel_result import MAX_TOOLS, KernelResult

_HERE = Path(__file__).resolve().parent
_NLIM = 18
_TOTALS = 4 + MAX_TOOLS + 6
# Set to "python" to force the portable kernel (tests, benchmarks, debugging).
KERNEL_ENV = "FABFLEET_ANALYSIS_KERNEL"

_lib: ctypes.CDLL | None = None
_loaded = False


def library_path(directory: Path = _HERE) -> Path | None:
    """The built ``_kernel`` shared library next to this module, if any."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"_kernel{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.fa_new.argtypes = [ctypes.POINTER(ctypes.c_double)]
    lib.fa_new.restype = ctypes.c_void_p
    lib.fa_feed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.fa_feed.restype = None
    lib.fa_finish.argtypes = [ctypes.c_void_p]
    lib.fa_finish.restype = None
    lib.fa_totals.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double)]
    lib.fa_totals.restype = None
    lib.fa_layer_count.argtypes = [ctypes.c_void_p]
    lib.fa_layer_count.restype = ctypes.c_size_t
    lib.fa_layers.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double), ctypes.c_size_t]
    lib.fa_layers.restype = None
    lib.fa_free.argtypes = [ctypes.c_void_p]
    lib.fa_free.restype = None
    return lib


def load_library(path: Path | None = None) -> ctypes.CDLL | None:
    """The compiled kernel, or None when it was not built (or cannot be loaded)."""
    global _lib, _loaded
    if path is not None:
        return _bind(ctypes.CDLL(str(path)))
    if not _loaded:
        _loaded = True
        found = library_path()
        if found is not None:
            try:
                _lib = _bind(ctypes.CDLL(str(found)))
            except OSError:
                _lib = None
    return _lib


def compiled_available() -> bool:
    return load_library() is not None and os.environ.get(KERNEL_ENV, "") != "python"


class CKernel:
    """Same interface as ``PyKernel``: ``feed`` complete lines, then ``finish``."""

    def __init__(self, limits: Sequence[float], lib: ctypes.CDLL | None = None) -> None:
        found = lib if lib is not None else load_library()
        if found is None:
            raise RuntimeError("the compiled analysis kernel is not built")
        self._lib = found
        values = (ctypes.c_double * _NLIM)(*[float(v) for v in limits])
        handle = self._lib.fa_new(values)
        if not handle:
            raise MemoryError("analysis kernel state")
        self._handle: int | None = handle

    def feed(self, data: bytes) -> None:
        if self._handle is None:
            raise RuntimeError("kernel already finished")
        self._lib.fa_feed(self._handle, data, len(data))

    def finish(self) -> KernelResult:
        handle = self._handle
        if handle is None:
            raise RuntimeError("kernel already finished")
        try:
            self._lib.fa_finish(handle)
            totals = (ctypes.c_double * _TOTALS)()
            self._lib.fa_totals(handle, totals)
            count = int(self._lib.fa_layer_count(handle))
            layers = (ctypes.c_double * max(count, 1))()
            self._lib.fa_layers(handle, layers, count)
        finally:
            self._lib.fa_free(handle)
            self._handle = None
        bb = tuple(totals[4 + MAX_TOOLS : _TOTALS])
        return KernelResult(
            time_s=totals[0],
            dwell_s=totals[1],
            extruded_mm=tuple(totals[4 : 4 + MAX_TOOLS]),
            bbox=None if bb[0] > bb[1] else (bb[0], bb[1], bb[2], bb[3], bb[4], bb[5]),
            layer_z=tuple(layers[:count]),
            move_count=int(totals[2]),
            limit_lines=int(totals[3]),
        )

    def __del__(self) -> None:
        if getattr(self, "_handle", None) is not None:
            self._lib.fa_free(self._handle)
            self._handle = None
