"""HTML reports: one self-contained page per submission and a summary page per batch.

Pages carry inline CSS and no external resources. The student page has no script at all; the
summary has one small sort script, allowed by its hash in a Content-Security-Policy, so that
markup a student smuggles into a message could not run even if escaping ever failed.

Text is translated as it is rendered (grader.i18n; the templates use Jinja's i18n extension with
``_()``/``ngettext`` bound to the active catalog); ``<html lang>`` names the language, so the
stylesheet picks a Korean font stack and Korean line breaking for Korean pages.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote, urlsplit

import jinja2
from markupsafe import Markup

from grader import lab, outputs
from grader.files import write_atomic
from grader.i18n import N_, _, current, ngettext
# status is re-exported: the summary's view and grades.csv share one definition (grader.results)
from grader.results import (PARTS, STATUS_LABELS, CheckResult, Outcome, SubmissionResult, status,  # noqa: F401
                            troubles, worst)
from grader.training import lab_settings
from grader.writers.notes import not_run

OUTCOME_LABELS = {  # message ids: the templates translate them
    Outcome.PASSED: N_("passed"),
    Outcome.FAILED: N_("failed"),
    Outcome.ERROR: N_("error"),
    Outcome.TIMEOUT: N_("timed out"),
    Outcome.NOT_IMPLEMENTED: N_("not implemented"),
    Outcome.SKIPPED: N_("skipped"),
    Outcome.GRADER_ERROR: N_("grader error"),
}
# What a person reads for each status key; grades.csv keeps results.STATUS_LABELS (machine-read).
# Every status has a badge (results.STATUS_LABELS, marked for translation); the headline counts each
# of them, worst first, so that the counts add up to the submissions.
STATUS_TEXT = dict(STATUS_LABELS)
EXPECTED_RUNS = tuple(run.name for run in lab_settings().runs)
BASELINE = EXPECTED_RUNS[0] if EXPECTED_RUNS else ""  # the run every margin is measured from
# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies. Each of the lab's
# runs keeps its place (the first, its baseline, in black); other runs take the colours after them.
_COLOURS = ("#000000", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#999999")
_PASS, _FAIL, _INK, _MUTED = "#1a7f37", "#b42318", "#1b1b1b", "#5c5c5c"
# The same Korean fonts as the stylesheet's: an SVG's font-family attribute does not inherit the page's.
SVG_FONTS = ('system-ui, "Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", '
             'sans-serif')
_BASE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


# ---------------------------------------------------------------- environment and formatting

def fmt_points(x: float) -> str:
    return f"{round(x, 2) + 0.0:.2f}".rstrip("0").rstrip(".")


def fmt_seconds(s: float) -> str:
    if s < 60:
        return _("{s} s").format(s=f"{s:.1f}")
    minutes, secs = divmod(round(s), 60)
    if minutes >= 60:
        return _("{h} h {min} min").format(h=minutes // 60, min=minutes % 60)
    return _("{min} min {s} s").format(min=minutes, s=secs)


def fmt_loss(v: float | None) -> str:
    return _("n/a") if v is None else f"{v:.4f}"


def fmt_percent(v: float) -> str:
    return f"{v:.1f}%"


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # newstyle: _("... %(n)s ...", n=x) formats after translating and escapes the values
    env.install_gettext_callables(_, ngettext, newstyle=True)
    env.filters.update(points=fmt_points, seconds=fmt_seconds, loss=fmt_loss, percent=fmt_percent)
    env.globals.update(OUTCOME_LABELS=OUTCOME_LABELS, STATUS_TEXT=STATUS_TEXT, not_run=not_run, current_lang=current,
                       lab_title=lab_title)
    return env


def lab_title() -> str:
    """The lab's title in the active language."""
    korean, english = lab.current().title
    return korean if current() == "ko" else english


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """One environment per process, so templates are compiled once per batch, not per report."""
    return make_environment()


def prepare() -> None:
    """Compile the report templates now: a check calls it in a thread of its own while its worker
    runs, so that writing the report after it is not another tenth of a second of the wait."""
    env = _env()
    for name in env.list_templates(filter_func=lambda name: "/" not in name and name.endswith(".j2")):
        env.get_template(name)


@functools.lru_cache(maxsize=1)
def _sort_script() -> tuple[Markup, str]:
    """The summary's sort script and the CSP source that allows exactly that script."""
    source = _env().loader.get_source(_env(), "sort.js")[0]
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return Markup(source), f"'sha256-{digest}'"


# ---------------------------------------------------------------- student page

def render_student(result: SubmissionResult) -> str:
    attention = [c for c in result.checks if c.outcome not in (Outcome.PASSED, Outcome.SKIPPED)]
    counts = Counter(c.outcome for c in result.checks)
    return _env().get_template("student.html.j2").render(
        csp=_BASE_CSP + "; script-src 'none'",
        result=result,
        counts=[(_(OUTCOME_LABELS[o]), counts[o]) for o in Outcome if counts[o]],
        attention=attention,
        passed=[c for c in result.checks if c.outcome is Outcome.PASSED],
        skipped=[c for c in result.checks if c.outcome is Outcome.SKIPPED],
        training=training_view(result.extra),
        sources=lambda check: notebook_sources(result.extra, check.location),
    )


def notebook_sources(extra: Mapping[str, Any], location: str | None) -> list[dict]:
    """The student's code behind a check's location ("penalties.py:l1_penalty / l2_penalty"), when the
    submission was a notebook: ``extra["notebook"]`` is grader.notebook's provenance (name -> cell, code)."""
    provenance = extra.get("notebook") or {}
    names = [n.strip() for n in (location or "").split(":", 1)[-1].split("/")]
    found = []
    for name in names:
        entry = provenance.get(name) or provenance.get(name.split(".")[0])
        if isinstance(entry, Mapping) and isinstance(entry.get("code"), str):
            where = f"cell {entry['cell']}" if "cell" in entry else f"line {entry.get('line', '?')}"
            found.append({"where": f"{name}, {where}", "code": entry["code"]})
    return found


@dataclass(frozen=True)
class RunView:
    name: str
    colour: str
    epochs: int
    final_train: float | None
    final_test: float | None
    margin: float | None  # baseline's final test loss minus this run's, as the grader computed it
    helped: bool | None   # margin >= threshold; None when either is unknown


@dataclass(frozen=True)
class TrainingView:
    device: str
    threshold: float | None
    runs: tuple[RunView, ...]
    missing: tuple[str, ...]
    chart: Markup


def _finite(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def _series(run: Mapping[str, Any], key: str) -> list[float | None]:
    values = run.get(key)
    return [_finite(v) for v in values] if isinstance(values, (list, tuple)) else []


def _epochs_of(run: Mapping[str, Any], key: str) -> list[int]:
    """The epoch of each value of a curve: the test curves name theirs (``test_epoch``: the test set
    is evaluated every few epochs); otherwise, and in results written before, one value an epoch."""
    count = len(_series(run, key))
    named = run.get("test_epoch") if key.startswith("test") else None
    if isinstance(named, (list, tuple)) and len(named) == count and \
            all(isinstance(e, int) and not isinstance(e, bool) and 1 <= e <= 100_000 for e in named):
        return list(named)
    return list(range(1, count + 1))


def _final_test(run: Mapping[str, Any]) -> float | None:
    # The last epoch's value, not the last finite one: a run that ended in NaN ended in NaN.
    if "final_test_loss" in run:
        return _finite(run["final_test_loss"])
    tests = _series(run, "test_loss")
    return tests[-1] if tests else None


def _run_order(runs: Mapping[str, Any]) -> list[str]:
    present = [n for n, r in runs.items() if isinstance(r, Mapping)]
    return [n for n in EXPECTED_RUNS if n in present] + [n for n in present if n not in EXPECTED_RUNS]


def _run_colours(names: Iterable[str]) -> dict[str, str]:
    order = [*EXPECTED_RUNS, *(n for n in names if n not in EXPECTED_RUNS)]
    return {n: _COLOURS[order.index(n) % len(_COLOURS)] for n in names}


def training_view(extra: Mapping[str, Any]) -> TrainingView | None:
    """What the training section shows, tolerant of absent runs, ragged lists and nulls."""
    training = extra.get("training")
    if not isinstance(training, Mapping):
        return None
    runs = training.get("runs") if isinstance(training.get("runs"), Mapping) else {}
    margins = training.get("margins") if isinstance(training.get("margins"), Mapping) else {}
    threshold = _finite(training.get("threshold"))
    names = _run_order(runs)
    colours = _run_colours(names)
    views = []
    for name in names:
        run = runs[name]
        trains = _series(run, "train_loss")
        margin = _finite(margins.get(name))
        views.append(RunView(
            name=name,
            colour=colours[name],
            epochs=max([len(trains), *_epochs_of(run, "test_loss")]),
            final_train=trains[-1] if trains else None,
            final_test=_final_test(run),
            margin=margin,
            helped=None if margin is None or threshold is None else margin >= threshold,
        ))
    return TrainingView(
        device=str(training.get("device", _("unknown"))),
        threshold=threshold,
        runs=tuple(views),
        missing=tuple(n for n in EXPECTED_RUNS if n not in names),
        chart=svg_curves(runs, margins if training.get("test_loss_margins", True) else None, threshold),
    )


# ---------------------------------------------------------------- SVG drawing

@dataclass(frozen=True)
class _Scale:
    """Linear map from data [lo, hi] to pixels [start, end]."""
    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, v: float) -> float:
        return self.start + (v - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def _nice_step(span: float, count: int) -> float:
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def _nice_range(lo: float, hi: float, count: int) -> tuple[float, float, list[float]]:
    """Widen [lo, hi] to whole ticks and return the ticks."""
    if hi - lo < 1e-12:
        pad = max(abs(lo) * 0.1, 0.05)
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, count)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return first * step, last * step, [k * step for k in range(first, last + 1)]


def _epoch_ticks(n_epochs: int) -> list[int]:
    step = max(1, round(_nice_step(max(n_epochs - 1, 1), 6)))
    return [1] + [k for k in range(step, n_epochs + 1, step) if k > 1]


def _text(x: float, y: float, label: Any, anchor: str = "start", fill: str = _INK) -> Markup:
    return Markup('<text x="{:.1f}" y="{:.1f}" text-anchor="{}" fill="{}">{}</text>').format(
        x, y, anchor, fill, label)


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> Markup:
    return Markup('<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}"{}/>').format(
        x1, y1, x2, y2, stroke, Markup(extra))


def _svg(width: int, height: int, label: str, body: list[Markup]) -> Markup:
    head = Markup(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}"'
        ' role="img" aria-label="{label}" font-family="{fonts}" font-size="12">'
    ).format(w=width, h=height, label=label, fonts=SVG_FONTS)
    return head + Markup("").join(body) + Markup("</svg>")


def svg_curves(runs: Mapping[str, Any], margins: Mapping[str, Any] | None, threshold: float | None) -> Markup:
    """Loss per epoch for each run (train dashed, test solid) with the verdict margin bracketed.

    One polyline per curve with one point per finite value; non-finite epochs are left out,
    so a curve that went NaN simply stops.
    """
    names = _run_order(runs)
    colours = _run_colours(names)
    curves = {(n, kind): _series(runs[n], f"{kind}_loss") for n in names for kind in ("train", "test")}
    epochs = {(n, kind): _epochs_of(runs[n], f"{kind}_loss") for n, kind in curves}
    bracket = _bracket(runs, margins or {}, names)
    values = [v for vals in curves.values() for v in vals if v is not None]
    values += [bracket[1], bracket[2]] if bracket else []
    if not values:
        return Markup('<p class="muted">{}</p>').format(_("No finite loss values to plot."))

    width, left, right, top, plot_h = 640, 56, 130, 12, 240
    plot_right, bottom = width - right, top + plot_h
    n_epochs = max([2, *(max(e) for e in epochs.values() if e)])
    x = _Scale(1, n_epochs, left, plot_right)
    y_lo, y_hi, y_ticks = _nice_range(min(values), max(values), 5)
    y = _Scale(y_lo, y_hi, bottom, top)

    body = []
    for t in y_ticks:
        body.append(_line(left, y(t), plot_right, y(t), "#e3e3e3"))
        body.append(_text(left - 6, y(t) + 4, f"{t:.4g}", "end", _MUTED))
    for e in _epoch_ticks(n_epochs):
        body.append(_line(x(e), bottom, x(e), bottom + 4, _MUTED))
        body.append(_text(x(e), bottom + 17, e, "middle", _MUTED))
    body.append(_line(left, top, left, bottom, _MUTED))
    body.append(_line(left, bottom, plot_right, bottom, _MUTED))
    body.append(_text((left + plot_right) / 2, bottom + 32, _("epoch"), "middle", _MUTED))
    body.append(Markup('<text transform="translate(14 {:.1f}) rotate(-90)" text-anchor="middle" fill="{}">{}</text>'
                       ).format((top + bottom) / 2, _MUTED, _("loss")))

    for (name, kind), vals in curves.items():
        points = [(x(e), y(v)) for e, v in zip(epochs[name, kind], vals) if v is not None]
        if not points:
            continue
        dash = ' stroke-dasharray="6 4"' if kind == "train" else ""
        body.append(Markup(
            '<polyline data-run="{}" data-series="{}" fill="none" stroke="{}" stroke-width="2"{} points="{}"/>'
        ).format(name, kind, colours[name], Markup(dash), " ".join(f"{px:.1f},{py:.1f}" for px, py in points)))
        if kind == "test":  # a dot on the last point keeps a one-epoch run visible
            body.append(Markup('<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>').format(
                *points[-1], colours[name]))

    if bracket:
        body += _bracket_marks(bracket, threshold, y, plot_right)
    rows, legend = _legend(names, colours, left, bottom + 52, (width - left) // 4)
    return _svg(width, bottom + 52 + 18 * rows, _("Train and test loss per epoch for each run"), body + legend)


_Bracket = tuple[str, float, float, float]  # best run, baseline's final test loss, best run's, margin


def _bracket(runs: Mapping[str, Any], margins: Mapping[str, Any], names: list[str]) -> _Bracket | None:
    """The largest finite margin, drawn down from the baseline's final test loss."""
    base = _final_test(runs[BASELINE]) if BASELINE in names else None
    scored = [(m, n) for n in names if n != BASELINE and (m := _finite(margins.get(n))) is not None]
    if base is None or not scored:
        return None
    margin, best = max(scored)
    return best, base, base - margin, margin


def _bracket_marks(bracket: _Bracket, threshold: float | None, y: _Scale, plot_right: float) -> list[Markup]:
    best, base, reg, margin = bracket
    helped = None if threshold is None else margin >= threshold
    colour = {None: _INK, True: _PASS, False: _FAIL}[helped]
    xb, yb, yr = plot_right + 14, y(base), y(reg)
    dotted = ' stroke-dasharray="2 3"'
    marks = [
        _line(plot_right, yb, xb, yb, _MUTED, dotted), _line(plot_right, yr, xb, yr, _MUTED, dotted),
        _line(xb, yb, xb, yr, colour, ' stroke-width="2"'),
        _line(xb - 4, yb, xb + 4, yb, colour, ' stroke-width="2"'),
        _line(xb - 4, yr, xb + 4, yr, colour, ' stroke-width="2"'),
    ]
    verdict = {None: [], True: [f"≥ {threshold:.4g} ✓"], False: [f"< {threshold:.4g} ✗"]}[helped]
    lines = [f"{BASELINE} − {best[:12]}", _("margin {margin}").format(margin=f"{margin:.3f}"), *verdict]
    mid = (yb + yr) / 2 - 7 * (len(lines) - 1)
    marks += [_text(xb + 9, mid + 4 + 14 * i, line, fill=colour) for i, line in enumerate(lines)]
    return marks


def _legend(names: list[str], colours: dict[str, str], left: float, top: float,
            col: float) -> tuple[int, list[Markup]]:
    """Four entries a row: one per run, then the line styles. Returns (rows, marks)."""
    entries = [(n, colours[n], "") for n in names]
    entries += [(_("test"), _MUTED, ""), (_("train"), _MUTED, ' stroke-dasharray="6 4"')]
    marks = []
    for i, (label, colour, dash) in enumerate(entries):
        ex, ey = left + col * (i % 4), top + 18 * (i // 4)
        marks.append(_line(ex, ey - 4, ex + 22, ey - 4, colour, ' stroke-width="2"' + dash))
        marks.append(_text(ex + 28, ey, label))
    return math.ceil(len(entries) / 4), marks


def svg_histogram(percents: list[float]) -> Markup:
    """Submissions per 10-point band of percent; 100% goes in the top band."""
    bins = [0] * 10
    for p in percents:
        bins[min(max(int(p // 10), 0), 9)] += 1
    width, left, top, plot_h = 640, 40, 16, 160
    bottom, bar_w = top + plot_h, (width - left - 10) / 10
    y = _Scale(0, max(max(bins), 1), bottom, top)
    body = [_line(left, bottom, width - 10, bottom, _MUTED)]
    for i, n in enumerate(bins):
        bx = left + i * bar_w
        body.append(Markup(
            '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="#0072B2">'
            '<title>{}–{}%: {}</title></rect>'
        ).format(bx + 2, y(n), bar_w - 4, bottom - y(n), i * 10, i * 10 + 10, n))
        if n:
            body.append(_text(bx + bar_w / 2, y(n) - 4, n, "middle"))
    body += [_text(left + i * bar_w, bottom + 16, f"{i * 10}", "middle", _MUTED) for i in range(11)]
    body.append(_text((left + width) / 2, bottom + 32, _("score (%)"), "middle", _MUTED))
    return _svg(width, bottom + 40, _("Histogram of submission scores in percent"), body)


# ---------------------------------------------------------------- summary page

@dataclass(frozen=True)
class CheckStats:
    id: str
    title: str
    part: str
    ran: int            # outcomes that say something about the student: not skipped, no grader error
    failed: int         # of those, the ones that did not pass
    grader_errors: int

    @property
    def rate(self) -> float:
        return self.failed / self.ran if self.ran else 0.0


def check_stats(results: list[SubmissionResult]) -> list[CheckStats]:
    """Per-check failure rates, worst first."""
    by_id: dict[str, list[CheckResult]] = defaultdict(list)
    for r in results:
        for c in r.checks:
            by_id[c.id].append(c)
    stats = [CheckStats(
        id=cid, title=checks[0].title, part=checks[0].part,
        ran=sum(c.outcome not in (Outcome.SKIPPED, Outcome.GRADER_ERROR) for c in checks),
        failed=sum(c.outcome.student_fault for c in checks),
        grader_errors=sum(c.outcome is Outcome.GRADER_ERROR for c in checks),
    ) for cid, checks in by_id.items()]
    return sorted(stats, key=lambda s: (-s.rate, -s.failed, s.id))


def common_mistakes(results: list[SubmissionResult]) -> list[tuple[str, list[SubmissionResult]]]:
    """Named mistakes with the submissions that made them, most widespread first."""
    who: dict[str, dict[str, SubmissionResult]] = defaultdict(dict)
    for r in results:
        for c in r.checks:
            if c.mistake:
                who[c.mistake][r.name] = r
    return sorted(((m, list(rs.values())) for m, rs in who.items()), key=lambda item: (-len(item[1]), item[0]))


def _safe_href(href: str | None) -> str | None:
    """Only relative links: a caller's mistake must not turn a student's name into a javascript: URL."""
    if not href:
        return None
    parts = urlsplit(href)
    return None if parts.scheme or parts.netloc else href


def default_links(results: list[SubmissionResult]) -> dict[str, str]:
    """Links for the layout ``<out_dir>/<name>/index.html`` that write_summary assumes by default."""
    return {r.name: quote(r.name) + "/index.html" for r in results}


def render_summary(results: list[SubmissionResult], *, links: dict[str, str], elapsed: float) -> str:
    script, script_src = _sort_script()
    percents = [r.percent for r in results]
    found = {r.name: troubles(r) for r in results}  # names are unique within a batch, as links assume
    statuses = {name: worst(f) for name, f in found.items()}
    return _env().get_template("summary.html.j2").render(
        csp=f"{_BASE_CSP}; script-src {script_src}",
        sort_script=script,
        results=results,
        links={r.name: _safe_href(links.get(r.name)) for r in results},
        statuses=statuses,
        parts=[p for p in PARTS if any(p in r.parts() for r in results)],
        mean=statistics.fmean(percents) if percents else 0.0,
        median=statistics.median(percents) if percents else 0.0,
        status_counts=Counter(statuses[r.name] for r in results),
        not_run_counts=Counter(note for r in results for note in not_run(r)),
        histogram=svg_histogram(percents),
        check_stats=check_stats(results),
        mistakes=common_mistakes(results),
        # what kept a submission from being graded normally (stubs left are in the table's status only)
        troubled=[(r, [t for t in found[r.name] if t[0] != "incomplete"]) for r in results
                  if any(t[0] != "incomplete" for t in found[r.name])],
        elapsed=elapsed,
        total_duration=sum(r.duration for r in results),
    )


# ---------------------------------------------------------------- writing

def write_student(result: SubmissionResult, path: Path) -> Path:
    write_atomic(Path(path), render_student(result))
    return Path(path)


def write_summary(results: list[SubmissionResult], out_dir: Path, elapsed: float, *,
                  links: dict[str, str] | None = None) -> Path:
    """Write ``<out_dir>/index.html``; links default to ``<name>/index.html`` beside it."""
    path = Path(out_dir) / outputs.SUMMARY_HTML
    write_atomic(path, render_summary(results, links=default_links(results) if links is None else links,
                                           elapsed=elapsed))
    return path
