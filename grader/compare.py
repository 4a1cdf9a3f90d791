"""Numeric comparison with float32-appropriate tolerances; every result says how far off it was."""
from __future__ import annotations

import numpy as np

RTOL, ATOL = 1e-4, 1e-5


def describe(value) -> str:
    """A short, readable rendering of a number or array for 'expected' / 'got'."""
    if isinstance(value, np.ndarray):
        if value.size <= 10:
            return np.array2string(value, precision=6, separator=", ", suppress_small=False)
        flat = value.reshape(-1)
        return (f"array of shape {tuple(value.shape)}: [{', '.join(f'{v:.6g}' for v in flat[:4])}, …] "
                f"(mean {np.nanmean(flat):.6g})")
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def mismatch(got, want, rtol: float = RTOL, atol: float = ATOL) -> str | None:
    """``None`` when ``got`` is close to ``want``; otherwise what is wrong, in words."""
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return f"shape {tuple(g.shape)} instead of {tuple(w.shape)}"
    if np.isnan(g).any() and not np.isnan(w).any():
        return f"contains NaN ({int(np.isnan(g).sum())} of {g.size} values)"
    if np.isinf(g).any() and not np.isinf(w).any():
        return "contains infinite values"
    err = np.abs(g - w)
    bad = ~(err <= atol + rtol * np.abs(w)) & ~(np.isnan(g) & np.isnan(w))
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.nanargmax(np.where(bad, err, -1))), g.shape) if g.ndim else ()
    where = f" at index {tuple(int(i) for i in worst)}" if g.ndim else ""
    return (f"off by {float(err[worst]):.3g}{where} ({int(bad.sum())} of {g.size} values outside "
            f"{atol:g} + {rtol:g}·|expected|)")


def close(got, want, rtol: float = RTOL, atol: float = ATOL) -> bool:
    return mismatch(got, want, rtol, atol) is None


def first_mismatch(got: dict, want: dict, keys, rtol: float = RTOL, atol: float = ATOL) -> tuple[str, str] | None:
    """The first key (in order) whose values differ, and how; ``None`` when all agree."""
    for key in keys:
        if key not in got:
            return key, "missing from the result"
        a, b = got[key], want[key]
        if isinstance(b, (str, bool)) or b is None:
            if a != b:
                return key, f"{a!r} instead of {b!r}"
            continue
        why = mismatch(a, b, rtol, atol)
        if why:
            return key, why
    return None
