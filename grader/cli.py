"""``python -m grader``: check (a student's self-check), grade (a TA's batch), report, stubs.

Exit status: 0 when grading completed; 1 when the score is below --fail-under; 2 for usage
or set-up errors (with a message saying what to fix).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import warnings
from pathlib import Path

from . import config as configuration
from . import i18n, lab
from . import backends, isolation, sandboxuser
from . import outputs
from . import stubgen
from .i18n import _
from .lab import current

EXIT_OK, EXIT_BELOW, EXIT_USAGE = 0, 1, 2


def _course_errors() -> tuple[type[Exception], ...]:
    """The course commands' usage errors, imported only when an error is being reported: a student's
    `check` loads none of the course modules (time zones, rosters) it does not use."""
    from .lms import ExportError
    from .roster import RosterError
    from .shard import ShardError

    return RosterError, ExportError, ShardError


class UsageError(Exception):
    pass


def say(*args, file=None) -> None:
    """print, except that a reader who went away (``check ... | head``) ends the output, not the command:
    the results are written all the same and the exit status is still the grade's."""
    stream = file or sys.stdout
    try:
        print(*args, file=stream, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # later writes and the flush at exit go nowhere, quietly
        os.close(devnull)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-training", dest="training", action="store_const", const=False, default=None,
                   help="skip the CIFAR-10 training check")
    p.add_argument("--data", default=None, help="CIFAR-10 root holding cifar-10-batches-py/ (env REGLAB_DATA)")
    p.add_argument("--fail-under", type=float, default=None, metavar="PCT",
                   help="exit with status 1 when the score is below PCT percent")
    p.add_argument("--device", default=None, choices=("auto", "cpu", "cuda"), help="device for the training check")
    p.add_argument("--config", type=Path, default=None, help=f"settings file (default ./{configuration.CONFIG_FILE})")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m grader", description="reglab: the grader of the lab under labs/")
    sub = top.add_subparsers(dest="command", required=True)
    lang = argparse.ArgumentParser(add_help=False)
    lang.add_argument("--lang", choices=i18n.LANGUAGES, default=None,
                      help="language of every message (default: REGLAB_LANG, reglab.toml, then the locale)")
    lang.add_argument("--lab", default=None, help="the lab to grade, a package under labs/ (default: REGLAB_LAB, "
                                                  "reglab.toml, then the only one or the course's default)")
    add_parser = sub.add_parser
    sub.add_parser = lambda *a, **kw: add_parser(*a, parents=[lang], **kw)  # --lang and --lab on every command
    check = sub.add_parser("check", help="self-check one submission (default ./assignment)")
    check.add_argument("path", nargs="?", type=Path, default=Path("assignment"))
    check.add_argument("--out", type=Path, default=Path("reports"), help="where result files go (default reports/)")
    check.add_argument("-v", "--verbose", action="store_true", help="also show passed checks' details")
    check.add_argument("--ci", action="store_true",
                       help="GitHub Actions output: annotations, Classroom points, $GITHUB_STEP_SUMMARY")
    check.add_argument("--fresh", dest="reuse", action="store_const", const=False, default=None,
                       help="run every part (by default a part whose files did not change is not run again; "
                            "env REGLAB_REUSE=0)")
    check.add_argument("--watch", action="store_true",
                       help="stay up and check again on every save (Ctrl-C ends it); training in the background")
    _common(check)
    grade = sub.add_parser("grade", help="grade every folder or .zip inside SUBMISSIONS")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--out", type=Path, required=True)
    grade.add_argument("--jobs", type=int, default=None, help="submissions graded at once")
    grade.add_argument("--unsafe-no-sandbox", dest="unsafe_no_sandbox", action="store_const", const=True,
                       default=None, help="grade even where no sandbox backend works (every result says so)")
    grade.add_argument("--only", default=None, metavar="NAME[,NAME]",
                       help="grade only these submissions (folder names or names as handed in); the class "
                            "files still list every result in --out")
    grade.add_argument("--resume", action="store_true",
                       help="keep each result in --out made from the same submission content by the same grader")
    grade.add_argument("--roster", default=None, help="roster CSV: match submissions to students (grader/roster.py)")
    grade.add_argument("--shard", default=None, metavar="K/N", help="grade only slice K of N (then: merge)")
    _common(grade)
    _course_commands(sub)
    data = sub.add_parser("data", help="get CIFAR-10 for the training check (download it, or say which file "
                                       "to put where) and verify it")
    data.add_argument("--data", default=None, help="where it goes (default ./data; env REGLAB_DATA)")
    data.add_argument("--config", type=Path, default=None, help=f"settings file (default ./{configuration.CONFIG_FILE})")
    report = sub.add_parser("report", help="re-render the HTML reports of a graded folder without regrading")
    report.add_argument("dir", type=Path)
    stubs = sub.add_parser("stubs", help="generate assignment/ from solution/")
    stubs.add_argument("--check", action="store_true", help="only report drift; exit 1 when assignment/ is stale")
    stubs.add_argument("--solution", type=Path, default=None, help="the reference (default: the lab's)")
    stubs.add_argument("--assignment", type=Path, default=None, help="the stubs' folder (default: the lab's)")
    release = sub.add_parser("release", help="write the student release (stubs, grader, expected data, "
                                             "README, Classroom workflow): no reference code")
    release.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    release.add_argument("--config", type=Path, default=None, help="settings file (hidden = [check ids])")
    release.add_argument("--repo-url", default=None, help="the course repository students install the release "
                         "from (git URL): the notebook's self-check cell installs the grader from it")
    gradescope = sub.add_parser("gradescope", help="build the Gradescope autograder zip (hidden checks included)")
    gradescope.add_argument("--out", type=Path, default=Path("autograder.zip"))
    gradescope.add_argument("--config", type=Path, default=None, help="settings file (hidden = [check ids])")
    return top


def _course_commands(sub) -> None:
    from .lms import FORMATS

    export = sub.add_parser("export", help="gradebook file for Canvas, Moodle, Blackboard or a plain CSV")
    export.add_argument("dir", type=Path, help="a graded folder")
    export.add_argument("--format", required=True, choices=FORMATS)
    export.add_argument("--roster", default=None, help="roster CSV (default: the one it was graded with)")
    export.add_argument("--out", type=Path, default=None, help="file to write (default DIR/<format>.csv)")
    export.add_argument("--assignment", default=None, help="the LMS column's name (default: the lab's title)")
    export.add_argument("--assignment-id", default="", help="the LMS column's id (Canvas assignment / Blackboard column)")
    export.add_argument("--scale", type=float, default=None, help="the LMS column's points (rescales the score)")
    export.add_argument("--parts", action="store_true", help="one more column per part")
    export.add_argument("--missing", choices=("blank", "zero"), default="blank",
                        help="rostered students without a submission: empty cell (default) or 0")
    export.add_argument("--moodle-lang", choices=("en", "ko"), default="en", help="the Moodle site's language")
    export.add_argument("--template", type=Path, default=None, help="Moodle: the worksheet downloaded from the site")
    export.add_argument("--config", type=Path, default=None)
    similarity = sub.add_parser("similarity", help="similar pairs per part, side by side, for human review")
    similarity.add_argument("dir", type=Path, help="a graded folder")
    similarity.add_argument("--out", type=Path, default=None, help="default DIR/similarity/")
    similarity.add_argument("--submissions", type=Path, default=None, help="where the entries are now, if moved")
    similarity.add_argument("--threshold", type=float, default=0.7,
                            help="shared fraction of a file (default 0.7: independent short solutions share up to ~55%%)")
    similarity.add_argument("--top", type=int, default=20, help="pairs per part (default 20)")
    similarity.add_argument("--boilerplate", type=Path, action="append", default=[],
                            help="given code that never counts (e.g. the notebook template); repeatable")
    merge = sub.add_parser("merge", help="merge the folders of grade --shard runs into one")
    merge.add_argument("parts", type=Path, nargs="+")
    merge.add_argument("--out", type=Path, required=True)


def _config(args) -> configuration.Config:
    cli = {k: getattr(args, k, None) for k in ("training", "data", "fail_under", "device", "jobs", "unsafe_no_sandbox",
                                           "roster", "shard", "reuse")}
    return configuration.resolve(cli, config_file=args.config)


def _sandbox(cfg: configuration.Config, required: bool):
    """This run's sandbox backend, chosen once; a set-up error when grading marks without one."""
    try:
        return backends.select(cfg.isolation.sandbox, unsafe=cfg.isolation.unsafe_no_sandbox, required=required)
    except backends.SandboxUnavailable as exc:
        raise UsageError(str(exc)) from None


def _below(percent: float, cfg: configuration.Config) -> bool:
    return cfg.grading.fail_under is not None and percent + 1e-9 < cfg.grading.fail_under


def _require_data(cfg: configuration.Config) -> None:
    """grade and --ci need CIFAR-10 unless told --no-training: a missing copy is a set-up error."""
    from .grading import DataMissing, require_data

    try:
        require_data(cfg)
    except DataMissing as exc:
        raise UsageError(str(exc)) from None


def _check_progress(args):
    """check's progress lines on stderr: live on a terminal, plain elsewhere, none with --ci (its log is
    the annotations and the summary)."""
    if args.ci:
        return None
    from .progress import CheckProgress

    return CheckProgress(sys.stderr, live=sys.stderr.isatty())


def cmd_check(args) -> int:
    show = _check_progress(args)
    if show:  # first, before the imports that take seconds
        show.line(_("reglab: checking {path} (the first start imports torch: up to a minute)").format(path=args.path))
    try:
        return _check(args, show)
    finally:
        if show:
            show.close()


def _check(args, show) -> int:
    cfg = _config(args)
    isolation.prestart(cfg.isolation.warm_start)  # first: the fork server's imports are a check's critical path
    from .batch import write_report
    from .files import safe_name
    from . import report_html, selfcheck
    from .grading import find_lab_folder
    from .release import select_checks
    from .writers import github, gradescope, terminal

    backend = _sandbox(cfg, required=False)
    if show:
        show.line(backends.notice(backend))
    elif not backend.isolated:  # the student's own code on their own machine
        print(backends.notice(backend), file=sys.stderr)
    if not args.path.exists():
        raise UsageError(_("{path} does not exist: pass the folder with your penalties.py, model.py, ...")
                         .format(path=args.path))
    selection = select_checks(cfg)
    if args.ci and any(c.part == current().training for c in selection.checks):
        _require_data(cfg)  # in CI a missing data set is the workflow's fault, not a student's zero
    plan = selfcheck.plan_for(args.path, cfg, selection.checks, selection.expected, args.out,
                              fresh=not cfg.grading.reuse or args.ci, name=safe_name(args.path.resolve().name))
    if args.watch:
        return _watch(args, plan, show)
    if show:
        show.plan(selection.checks)
        show.line(_("starting the sandboxed worker that runs your code"))
    threading.Thread(target=report_html.prepare, name="reglab-templates", daemon=True).start()
    result, ran = selfcheck.run(plan, selfcheck.salt(cfg), listener=show)
    if show:
        show.close()
    reused = sorted({c.part for c in selection.checks} - ran) if plan.cache else []
    if reused:
        say(_("not run again, their files unchanged since the last check: {parts} (--fresh runs every part)")
            .format(parts=", ".join(reused)), file=sys.stderr)
    folder = args.out / result.name
    gradescope.write(result, folder)
    write_report(result, folder)
    if args.ci:
        say(github.report(result, find_lab_folder(args.path), note=selection.note()))
    else:
        say(terminal.render(result, color=sys.stdout.isatty(), verbose=args.verbose))
        if selection.note():
            say(f"\n{selection.note()}.")
    say("\n" + _("Report: {report}   Results: {results}").format(report=folder / "index.html",
                                                              results=folder / gradescope.RESULTS_FILE))
    if _below(result.percent, cfg):
        say(_("below --fail-under: {percent}% < {limit}% (exit status 1)").format(
            percent=f"{result.percent:.1f}", limit=f"{cfg.grading.fail_under:g}"), file=sys.stderr)
        return EXIT_BELOW
    return EXIT_OK


def _watch(args, plan, show) -> int:
    """check --watch: the result of every save, what changed since the last one; Ctrl-C ends it."""
    from . import selfcheck
    from .batch import write_report
    from .writers import gradescope, terminal

    if show:
        show.close()
    color = sys.stdout.isatty()

    def shown(result, changes: list[str], what: str) -> None:
        folder = args.out / result.name
        gradescope.write(result, folder)
        write_report(result, folder)
        stamp = time.strftime("%H:%M:%S")
        if not changes:  # the first run: the whole report
            say(terminal.render(result, color=color, verbose=args.verbose))
        else:
            label = _("training check") if what == "training" else _("check")
            say(f"[{stamp}] {label}: {terminal.headline(result)}")
            for line in changes:
                say(f"  {line}")
        say(_("watching {path}: save a file to check again (Ctrl-C to stop)").format(path=plan.path))

    try:
        selfcheck.watch(plan, shown)
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def cmd_grade(args) -> int:
    from .batch import BatchError, grade_all, progress_printer
    from .grading import secrets
    from .intake import discover, look_alikes

    os.umask(sandboxuser.PRIVATE_UMASK)  # before the grader creates anything: grades, caches, its folders
    cfg = _config(args)
    isolation.prestart(cfg.isolation.warm_start)
    if not args.submissions.is_dir():
        raise UsageError(_("{path} is not a folder of submissions").format(path=args.submissions))
    entries = discover(args.submissions, skip=(args.out,))
    if not entries:
        raise UsageError(_("no submissions found in {path}").format(path=args.submissions))
    for notice in dict.fromkeys(look_alikes(entries).values()):  # one line per group of look-alikes
        print(notice, file=sys.stderr)
    _require_data(cfg)
    backend = _sandbox(cfg, required=True)
    print(backends.notice(backend) + (" (--unsafe-no-sandbox)" if not backend.isolated else ""), file=sys.stderr)
    # Without a whitelisted view only permissions keep them private: made now, so that they are checked.
    sandboxuser.private_folders([args.out, cfg.paths.cache], backend)
    try:
        sandboxuser.check_exposure([args.submissions, args.out, *secrets(cfg)], backend)
    except backends.SandboxUnavailable as exc:
        raise UsageError(str(exc)) from None
    _require_a_worker(cfg, backend)
    only = tuple(n.strip() for n in (args.only or "").split(",") if n.strip())
    try:
        batch = grade_all(args.submissions, args.out, cfg, progress_printer(), only=only, resume=args.resume)
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    if not batch.results and cfg.grading.shard:  # a small class can leave a shard empty: nothing to do is fine
        print(f"shard {cfg.grading.shard}: no submission of {args.submissions} falls in this slice")
        return EXIT_OK
    if batch.course and batch.course.matching:
        from .files import write_atomic

        print(batch.course.matching.summary(), file=sys.stderr)
        write_atomic(args.out / outputs.ROSTER_TXT, batch.course.matching.summary() + "\n")
    mean = sum(r.percent for r in batch.results) / len(batch.results)
    kept = " " + _("({n} kept from an earlier run)").format(n=len(batch.kept)) if batch.kept else ""
    say(_("graded {n} submission(s){kept} in {seconds} s, mean {mean}%; the class files list {everyone} → "
          "{files}").format(n=len(batch.graded), kept=kept, seconds=f"{batch.elapsed:.1f}", mean=f"{mean:.1f}",
                            everyone=len(batch.everyone),
                            files=", ".join(str(args.out / f) for f in (outputs.SUMMARY_HTML, outputs.GRADES_CSV,
                                                                        outputs.JUNIT_XML))))
    below = [r.display for r in batch.results if _below(r.percent, cfg)]
    if below:
        say(f"below --fail-under {cfg.grading.fail_under:g}%: {len(below)} submission(s): {', '.join(below[:10])}"
            f"{' ...' if len(below) > 10 else ''} (exit status 1)", file=sys.stderr)
        return EXIT_BELOW
    return EXIT_OK


def _require_a_worker(cfg: configuration.Config, backend: backends.Backend) -> None:
    """Stop before grading anyone when no worker starts here, even on a known-good package: every
    submission would otherwise be graded as the grader's own failure."""
    import tempfile

    from .grading import limits_of, secrets
    from .sandbox import known_good

    why = known_good(limits_of(cfg), hide=secrets(cfg))
    if why:
        raise UsageError(_("no worker starts in this grader's sandbox ({backend}), not even on a known-good package, "
                           "so nothing was graded: {why}\nTo fix: a worker runs as the sandbox user in a folder made "
                           "under {tmp} (TMPDIR), and that user must be able to enter every folder on the way there "
                           "(chmod o+x each of them, or point TMPDIR at a folder such as /tmp); or choose another "
                           "backend with sandbox in reglab.toml or REGLAB_SANDBOX.").format(
            backend=backend.name, why=why, tmp=tempfile.gettempdir()))


def cmd_data(args) -> int:
    from . import cifar

    cfg = configuration.resolve({"data": args.data}, config_file=args.config)
    try:
        splits = cifar.get(cfg.paths.data)
    except cifar.CifarDataError as exc:
        raise UsageError(_("CIFAR-10 is not ready: {why}").format(why=exc)) from None
    train, test = splits
    state = "verified (official md5 sums)" if train.verified and test.verified else \
        f"usable, not verified: {train.notice or test.notice}"
    say(f"CIFAR-10 is ready in {train.source}: {len(train.targets)} training and {len(test.targets)} test "
        f"images, {state}")
    return EXIT_OK


def cmd_report(args) -> int:
    from .batch import write_class_files, write_report
    from .writers import gradescope

    paths = sorted(args.dir.glob(f"*/{gradescope.RESULTS_FILE}"))
    if not paths:
        raise UsageError(_("no */{file} found in {path}").format(file=gradescope.RESULTS_FILE, path=args.dir))
    results = []
    for path in paths:
        try:
            result = gradescope.read(path)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            say(f"skipped {path}: not a reglab result ({exc})", file=sys.stderr)
            continue
        # In this command's language, whichever the results were graded in (each text's making is kept).
        result = result.translated(i18n.current())
        write_report(result, path.parent)
        results.append(result)
    if len(paths) > 1 or (args.dir / outputs.GRADES_CSV).exists():
        write_class_files(sorted(results, key=lambda r: r.name), args.dir, sum(r.duration for r in results))
    say(f"re-rendered {len(results)} report(s) in {args.dir}")
    return EXIT_OK


def cmd_stubs(args) -> int:
    solution, assignment = args.solution or current().reference_folder, args.assignment or current().stubs_folder
    if args.check:
        stale = stubgen.drift(solution, assignment)
        if stale:
            print(f"assignment/ is out of date with solution/: {', '.join(stale)} — run python -m grader stubs")
            return EXIT_BELOW
        say("assignment/ matches solution/")
        return EXIT_OK
    say("wrote", ", ".join(stubgen.write(solution, assignment)))
    return EXIT_OK


def cmd_release(args) -> int:
    from . import release

    try:
        built = release.build(args.out, _config(args), repo_url=args.repo_url)
    except release.ReleaseError as exc:
        raise UsageError(str(exc)) from None
    for warning in built.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote the student release to {built.root}: {len(built.files)} files, "
          f"{sum(size for _, size in built.files) / 1024:.0f} KiB; {len(built.public)} public checks "
          f"({sum(c.points for c in built.public):g} points), {len(built.hidden)} hidden left out; "
          f"no reference code inside ({built.functions_checked} reference fragments searched for)")
    return EXIT_OK


def cmd_gradescope(args) -> int:
    from . import gradescope_build, release

    try:
        built = gradescope_build.build(args.out, _config(args))
    except release.ReleaseError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote the Gradescope autograder {built.root}: {len(built.files)} files; {len(built.public)} checks, "
          f"{len(built.hidden)} of them hidden (after_published); no reference code inside "
          f"({built.functions_checked} reference fragments searched for)")
    return EXIT_OK


def _graded(folder: Path):
    from .writers import gradescope

    paths = sorted(folder.glob(f"*/{gradescope.RESULTS_FILE}"))
    if not paths:
        raise UsageError(f"no */{gradescope.RESULTS_FILE} found in {folder}: pass a graded folder")
    return [gradescope.read(p) for p in paths]


def cmd_export(args) -> int:
    from . import course, lms, roster

    cfg = configuration.resolve({"roster": args.roster}, config_file=args.config)
    results = sorted(_graded(args.dir), key=lambda r: (str(r.extra.get("entry", r.name)), r.name))
    students = roster.read(Path(cfg.course.roster), cfg.course.roster_columns) if cfg.course.roster else ()
    if students:
        results, matching = course.attach(results, students)
        print(matching.summary(), file=sys.stderr)
    opts = lms.Options(assignment=args.assignment or current().title[1], assignment_id=args.assignment_id,
                       scale=args.scale, parts=args.parts, missing=args.missing, lang=args.moodle_lang)
    template = args.template.read_bytes() if args.template else None
    text = lms.export(args.format, results, students, opts, template)
    out = args.out or args.dir / outputs.export_file(args.format)
    from .files import write_atomic

    # Excel opens UTF-8 only with a BOM; the LMS importers want none.
    write_atomic(out, ("\ufeff" if args.format == "csv" else "") + text)
    print(f"wrote {out} ({args.format}, {text.count(chr(10)) - 1} row(s))")
    return EXIT_OK


def cmd_similarity(args) -> int:
    from . import similarity
    from .files import write_atomic

    results = _graded(args.dir)
    codes = similarity.collect(results, args.submissions)
    pairs = similarity.compare(codes, threshold=args.threshold, top=args.top, boilerplate=args.boilerplate)
    out = args.out or args.dir / outputs.SIMILARITY
    write_atomic(out / "index.html", similarity.render(pairs, threshold=args.threshold,
                                                         counts={p: len(c) for p, c in codes.items()}))
    for part, found in pairs.items():
        for pair in found[:3]:
            print(f"{part}: {pair.a} ~ {pair.b} {pair.similarity:.0%}")
    print(f"wrote {out / 'index.html'} ({sum(map(len, pairs.values()))} pair(s) at or above "
          f"{args.threshold:.0%}; no grade changed)")
    return EXIT_OK


def cmd_merge(args) -> int:
    from . import merging
    from .batch import write_class_files

    results = merging.merge(args.parts, args.out)
    write_class_files(results, args.out, round(sum(r.duration for r in results), 3))
    print(f"merged {len(results)} submission(s) from {len(args.parts)} folder(s) into {args.out}")
    return EXIT_OK


COMMANDS = {"check": cmd_check, "grade": cmd_grade, "report": cmd_report, "stubs": cmd_stubs,
            "release": cmd_release, "gradescope": cmd_gradescope, "data": cmd_data,
            "export": cmd_export, "similarity": cmd_similarity, "merge": cmd_merge}


def choose_lab(argv: list[str] | None) -> None:
    """The lab, before anything else reads it (the parser's own choices do, and so do the language's
    catalogs): ``--lab`` > REGLAB_LAB > ``lab`` in the settings file > the only one. Raises LabError."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--lab", default=None)
    first.add_argument("--config", type=Path, default=None)
    known, _rest = first.parse_known_args(argv)
    try:
        chosen = configuration.setting("lab", {"lab": known.lab}, config_file=known.config)
    except configuration.ConfigError:  # another bad setting: the command reports it, in its language
        chosen = known.lab or ""
    lab.select(chosen)
    lab.current()


def main(argv: list[str] | None = None) -> int:
    try:
        choose_lab(argv)
    except lab.LabError as exc:
        print(f"error: {exc}", file=sys.stderr)  # in English: the catalogs are the lab's too
        return EXIT_USAGE
    args = parser().parse_args(argv)
    # Numbers a student's code returns can overflow in the grader's comparisons: that is judged, and
    # never a warning on the TA's terminal.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"grader(\.|$)")
    try:
        i18n.setup(args.lang, getattr(args, "config", None))
        return COMMANDS[args.command](args)
    except (UsageError, configuration.ConfigError, stubgen.StubError, *_course_errors()) as exc:
        say(_("error: {message}").format(message=exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(_("interrupted"), file=sys.stderr)
        return 130
