"""Progress a TA can read: plain lines with done/total, rate and ETA off a terminal; failing and
slowest submissions named as they happen; a live tqdm bar on a terminal."""
import io

from grader.progress import Progress
from grader.results import CRASH_MESSAGE, CRASHED, CheckResult, Outcome, SubmissionResult


def result(name, score, seconds, outcome=Outcome.PASSED, message="", cause=""):
    return SubmissionResult(name=name, checks=(CheckResult("p.x", "penalties", "x", outcome, score, 10.0,
                                                           message=message, cause=cause),), duration=seconds)


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def test_plain_lines_name_the_slow_and_the_failing():
    out, clock = io.StringIO(), Clock()
    show = Progress(out, live=False, clock=clock)
    clock.t = 10
    show(result("ann", 10, 4.0), 1, 4)
    clock.t = 20
    show(result("ben", 0, 9.0, Outcome.TIMEOUT, "ran too long"), 2, 4)
    clock.t = 30
    show(result("cat", 10, 2.0), 3, 4)
    clock.t = 40
    show(result("dan", 0, 1.0, Outcome.FAILED), 4, 4)
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/4] ann: 10/10 in 4.0 s · 6.0/min · ETA 0m30s"
    assert lines[1].startswith("[2/4] ben: 0/10") and "! timed out" in lines[1] and "(slowest so far)" in lines[1]
    assert "ETA 0m10s" in lines[2] and "!" not in lines[2]
    assert "! 0 points" in lines[3]
    assert lines[4] == "to look at: ben (timed out), dan (0 points)"


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_live_bar():
    out = Tty()
    show = Progress(out)
    show(result("ann", 10, 4.0), 1, 2)
    show(result("ben", 0, 9.0, Outcome.ERROR, CRASH_MESSAGE + ": the process was killed by SIGKILL", CRASHED), 2, 2)
    text = out.getvalue()
    assert "2/2" in text and "\r" in text and "slowest ben" in text
    assert "! ben: crashed" in text
