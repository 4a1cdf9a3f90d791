"""What a sandboxed run gives back, as plain data: each probe's outcome, and the run as a whole."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProbeOutcome:
    status: str                     # ok | not_implemented | raised | bad_return | missing | import_error
                                    # | timeout | crashed | corrupted | worker | grader
    values: dict = field(default_factory=dict)
    message: str = ""
    location: str = ""
    traceback: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class SandboxRun:
    outcomes: dict[str, ProbeOutcome]
    module_errors: dict[str, str]   # module -> why it could not be imported
    output: str                     # what the student's code printed (capped)
    starts: int                     # how many workers it took
    elapsed: float
    copied: tuple[str, ...]         # the files that were graded
    problems: tuple[str, ...] = ()  # e.g. files too large or links left out
