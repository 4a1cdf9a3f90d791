"""Where each probe's inputs come from: seed strings derived here, in the grader, from the course secret.

The course secret never leaves the grader's process: a worker is sent, for each probe it runs, a seed
derived from the secret, the submission's content key and the probe's name (HMAC-SHA256), and the
reference's expected data is computed for the same derived seeds. A value student code finds in its
worker (and prints, or sends home) is then worth that probe of that submission's own run: any other
content, any other probe draws other inputs. No secret (``check``, a student release) means the public
seed for every probe, exactly as the release's expected data was computed.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Iterable, Mapping

VERSION = "1"  # part of every derived seed: a new scheme draws new inputs (and new --resume keys)


@dataclass(frozen=True)
class Inputs:
    """The inputs of one submission's probes.

    ``secret`` "" and nothing ``packaged``: the public seed. ``scope``: the submission's content key
    (``intake.content_key``), "" for inputs shared by every submission. ``packaged``: seeds fixed when an
    autograder was built (it holds no reference to compute expected data for others), used as they are.
    """
    secret: str = ""
    scope: str = ""
    packaged: Mapping[str, str] = field(default_factory=dict)

    @property
    def per_submission(self) -> bool:
        return bool(self.secret and self.scope)

    def seeds(self, probes: Iterable[str]) -> dict[str, str]:
        """probe -> its seed string; a probe left out draws from the public seed."""
        if not self.secret:
            return {p: self.packaged[p] for p in probes if p in self.packaged}
        return {p: derive(self.secret, self.scope, p) for p in probes}


def derive(secret: str, scope: str, probe: str) -> str:
    message = f"reglab-probe\0{VERSION}\0{scope}\0{probe}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]
