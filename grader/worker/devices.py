"""Where a training probe trains: the ``device`` setting (auto | cpu | cuda) made a torch device."""
from __future__ import annotations

import torch


def device(preference: str) -> torch.device:
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")
