"""What bounds one submission's workers: times, memory, processes, files, what the channel carries."""
from __future__ import annotations

from dataclasses import dataclass, field

from .channel import Caps


@dataclass(frozen=True)
class Limits:
    probe_timeout: float = 20.0     # seconds of wall time for one probe
    startup_timeout: float = 90.0   # starting Python and torch, before any student code runs
    import_timeout: float = 20.0    # importing one of the submission's modules
    total_timeout: float = 300.0    # the whole submission
    memory_mb: int = 8192           # address space (torch alone maps about 3.5 GB)
    sandbox_memory_mb: int = 4096   # memory of the worker and all it starts, together (cgroup or watchdog)
    processes: int = 512            # processes and threads of the worker and all it starts, together
    scratch_mb: int = 1024          # each of its scratch folder, /tmp and /dev/shm (tmpfs, or measured: uid)
    cgroup: bool = True             # a cgroup per worker where the grader can make one
    file_mb: int = 128              # largest file the worker may write (output log included)
    output_kb: int = 64             # printed text kept for the report
    caps: Caps = field(default_factory=Caps)  # what the result channel carries
    threads: int = 1
    warm_start: bool = True         # fork workers from a process that imported torch once (Linux)
