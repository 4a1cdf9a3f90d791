"""Numeric comparison with float32-appropriate tolerances; every result says how far off it was.

The one rule about NaN and infinity, used by every comparison and every "changed / unchanged"
test of the grader: a non-finite value is a mismatch, always — also where the expected value is
non-finite too, and also when the thing tested is "nothing changed" (a NaN difference is a change).
"""
from __future__ import annotations

import numpy as np

from .i18n import _

RTOL, ATOL = 1e-4, 1e-5


def describe(value) -> str:
    """A short, readable rendering of a number or array for 'expected' / 'got'."""
    if isinstance(value, np.ndarray):
        if value.size <= 10:
            return np.array2string(value, precision=6, separator=", ", suppress_small=False)
        flat = value.reshape(-1)
        finite = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
        mean = f"{finite.mean():.6g}" if finite.size else _("none finite")
        return _("array of shape {shape}: [{first}, …] (mean {mean})").format(
            shape=tuple(value.shape), first=", ".join(f"{v:.6g}" for v in flat[:4]), mean=mean)
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _nonfinite(a: np.ndarray) -> str | None:
    if np.isnan(a).any():
        return _("contains NaN ({count} of {size} values)").format(count=int(np.isnan(a).sum()), size=a.size)
    if np.isinf(a).any():
        return _("contains infinite values ({count} of {size} values)").format(count=int(np.isinf(a).sum()),
                                                                               size=a.size)
    return None


def mismatch(got, want, rtol: float = RTOL, atol: float = ATOL) -> str | None:
    """``None`` when ``got`` is close to ``want`` (both finite); otherwise what is wrong, in words."""
    try:
        g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    except (TypeError, ValueError):
        return _("{value} is not a number").format(value=repr(got))
    if g.shape != w.shape:
        return _("shape {got} instead of {expected}").format(got=tuple(g.shape), expected=tuple(w.shape))
    why = _nonfinite(g)
    if why:
        return why
    if _nonfinite(w):
        return _("the expected value is not finite: nothing can match it")
    err = np.abs(g - w)
    bad = ~(err <= atol + rtol * np.abs(w))
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), g.shape) if g.ndim else ()
    values = dict(error=f"{float(err[worst]):.3g}", count=int(bad.sum()), size=g.size, atol=f"{atol:g}",
                  rtol=f"{rtol:g}")
    if g.ndim:
        return _("off by {error} at index {index} ({count} of {size} values outside {atol} + {rtol}·|expected|)"
                 ).format(index=tuple(int(i) for i in worst), **values)
    return _("off by {error} ({count} of {size} values outside {atol} + {rtol}·|expected|)").format(**values)


def close(got, want, rtol: float = RTOL, atol: float = ATOL) -> bool:
    return mismatch(got, want, rtol, atol) is None


def unchanged(before, after, rtol: float = 0.0, atol: float = 0.0) -> bool:
    """True when ``after`` equals ``before`` within the tolerance and both are finite: a value
    that became (or was) NaN or infinite counts as changed."""
    return close(after, before, rtol, atol)


def differs(a, b, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """True when two results are not the same (a NaN or infinity in either counts as different)."""
    return not close(a, b, rtol, atol)


def first_mismatch(got: dict, want: dict, keys, rtol: float = RTOL, atol: float = ATOL) -> tuple[str, str] | None:
    """The first key (in order) whose values differ, and how; ``None`` when all agree."""
    for key in keys:
        if key not in got:
            return key, _("missing from the result")
        a, b = got[key], want[key]
        if isinstance(b, (str, bool)) or b is None:
            if a != b or type(a) is not type(b):
                return key, _("{got} instead of {expected}").format(got=repr(a), expected=repr(b))
            continue
        if isinstance(a, (str, bool)) or a is None:
            return key, _("{got} instead of a number").format(got=repr(a))
        why = mismatch(a, b, rtol, atol)
        if why:
            return key, why
    return None
