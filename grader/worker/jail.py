"""The worker's last steps before any student code runs: give up everything (Linux).

``grader/isolation.py`` starts the worker in its backend (bubblewrap, unshare, or none of the two;
a worker forked by the fork server first enters that sandbox's namespaces with ``join``) and says
what to do here in ``REGLAB_JAIL`` (JSON): take its rlimits, hide the grader's secrets with empty mounts
(unshare: the host is visible otherwise), become the dedicated sandbox user with no supplementary
group (as root), forbid gaining privileges again (``PR_SET_NO_NEW_PRIVS``), drop every capability,
and, where there are no namespaces (``uid``), restrict itself with Landlock to the view bubblewrap would
give (where the kernel has it: ``landlock.py``) and install a seccomp filter that refuses every socket
but an anonymous pair, tracing other processes, and making or entering namespaces and mounts. Nothing
of this can be undone by the code that runs afterwards.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os

from . import landlock, sharing

try:
    import resource
except ImportError:  # pragma: no cover - Windows: the grader's wall clock is the only limit
    resource = None

MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
NAMESPACE_FLAGS = (CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET)
# Refused as Docker's default profile refuses them: namespaces and mounts (how a sandbox is escaped).
NAMESPACE_CALLS = ("unshare", "setns", "mount", "umount2", "pivot_root", "fsopen", "fsmount", "fsconfig",
                   "move_mount", "open_tree", "mount_setattr")
# Refused to the student's code: other processes' memory, the kernel's extension points.
PRIVILEGED_CALLS = ("ptrace", "process_vm_readv", "process_vm_writev", "chroot", "bpf", "perf_event_open",
                    "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
                    "open_by_handle_at", "name_to_handle_at", "kexec_load", "kexec_file_load", "init_module",
                    "finit_module", "delete_module", "userfaultfd", "swapon", "swapoff", "reboot", "acct",
                    "quotactl", "lookup_dcookie", "pidfd_getfd")
# Refused to the student's code where there is no network namespace (uid): the grader's channel is pipes,
# and any socket reaches something shared, an abstract Unix socket another worker or root listens on
# above all. socketpair() stays: an anonymous, already connected pair reaches nobody (multiprocessing.Pipe).
SOCKET_CALLS = ("socket", "connect", "bind", "listen", "accept", "accept4")

_libc = ctypes.CDLL(None, use_errno=True)
NS_FLAGS = {"user": CLONE_NEWUSER, "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "net": CLONE_NEWNET,
            "pid": CLONE_NEWPID, "cgroup": CLONE_NEWCGROUP, "mnt": CLONE_NEWNS}
NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace


def join(namespaces: list[tuple[str, int]]) -> None:
    """Enter a sandbox's namespaces (a fork server's child, before it forks the worker): ``namespaces``
    are (kind, descriptor) of the sandbox's holder process, opened by the grader, mount last.

    bwrap nests its user namespace in the one that owns its mounts, so that one is entered first and the
    holder's own last. The PID namespace applies to the children forked afterwards; entering the mount
    namespace sets the root and the current folder to the sandbox's.
    """
    if not namespaces:
        return
    import fcntl  # Linux only, as is everything here

    fds = dict(namespaces)
    steps = [("user", fcntl.ioctl(fds["mnt"], NS_GET_USERNS)), *((k, fd) for k, fd in namespaces if k != "user")]
    if "user" in fds:
        steps.append(("user", fds["user"]))
    want = {kind: os.fstat(fd).st_ino for kind, fd in namespaces}
    current = {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in NS_FLAGS}  # /proc is the host's until mnt
    try:
        for kind, fd in steps:
            ino = os.fstat(fd).st_ino
            if ino == current[kind]:
                continue  # one the sandbox shares with the grader (root's user namespace), or entered already
            if _libc.setns(fd, NS_FLAGS[kind]) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({kind}): {os.strerror(err)}")
            current[kind] = ino
    finally:
        for _, fd in steps:
            os.close(fd)
    if all(current[kind] == ino for kind, ino in want.items()):
        os.chdir("/")
        return
    raise OSError(errno.EPERM, "the sandbox's namespaces were not all entered")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    if _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def seccomp_filter(student: bool):
    """The filter: namespaces, mounts (and clone3, whose flags it cannot read) refused; with ``student``
    also the calls in PRIVILEGED_CALLS and SOCKET_CALLS. ``student=False`` is what a
    container without namespaces (Docker's default profile) does, used by the tests to simulate one."""
    import pyseccomp as sc

    deny = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)

    def rule(action, name, *args) -> None:
        try:
            f.add_rule(action, name, *args)
        except (ValueError, OSError, RuntimeError):  # a call this kernel or architecture does not have
            pass

    for name in NAMESPACE_CALLS + (PRIVILEGED_CALLS if student else ()):
        rule(deny, name)
    for flag in NAMESPACE_FLAGS:
        rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")  # libc falls back to clone, whose flags the filter reads
    if student:
        for name in SOCKET_CALLS:
            rule(sc.ERRNO(errno.EACCES), name)
    return f


def _private_temporaries(spec: dict, uid: int | None, gid: int | None) -> None:
    """unshare: a fresh tmpfs (``spec["size"]``) over /tmp and /dev/shm (1777), and over the scratch
    folder (the sandbox user's own), in the worker's mount namespace. What the worker needs from the
    host's /tmp (``spec["keep"]``: its work folder, its code) is bound back into the new one."""
    keep = [(path, os.open(path, os.O_PATH | os.O_DIRECTORY)) for path in spec["keep"] if os.path.isdir(path)]
    size = spec["size"]
    _mount("tmpfs", "/tmp", "tmpfs", 0, f"{size}mode=1777")
    for path, fd in keep:
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
        os.close(fd)
    if os.path.isdir("/dev/shm"):
        _mount("tmpfs", "/dev/shm", "tmpfs", 0, f"{size}mode=1777")
    owner = f",uid={uid},gid={gid}" if uid is not None else ""
    _mount("tmpfs", spec["scratch"], "tmpfs", 0, f"{size}mode=0700{owner}")


def enter() -> dict:
    """Carry out ``REGLAB_JAIL`` (and remove it from the environment); returns what was asked."""
    raw = os.environ.pop("REGLAB_JAIL", "")
    if not raw:
        return {}
    spec = json.loads(raw)
    if resource is not None:  # first: the grader forks nothing itself to set them (see isolation.limit_values)
        for name, (soft, hard) in spec.get("rlimits", {}).items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
    if "oom_score_adj" in spec:
        with open("/proc/self/oom_score_adj", "w") as fh:  # raising it needs no privilege
            fh.write(str(spec["oom_score_adj"]))
    if spec.get("hide_dirs") or spec.get("hide_files") or spec.get("tmpfs"):
        _mount(None, "/", None, MS_REC | MS_PRIVATE, None)  # nothing we mount leaks to the host
    if spec.get("tmpfs"):
        _private_temporaries(spec["tmpfs"], spec.get("uid"), spec.get("gid"))
    if spec.get("hide_dirs") or spec.get("hide_files"):
        for path in spec.get("hide_dirs", []):
            if os.path.isdir(path):
                _mount("tmpfs", path, "tmpfs", 0, "size=4k,mode=0555")
        for path in spec.get("hide_files", []):
            if os.path.isfile(path):
                _mount("/dev/null", path, None, MS_BIND, None)
    if spec.get("lock"):
        for cap in range(64):  # the bounding set (needs CAP_SETPCAP: best effort; the uid switch empties the rest)
            _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    seccomp = seccomp_filter(student=True) if spec.get("seccomp") else None  # built while the library is readable
    if "uid" in spec:
        uid, gid = int(spec["uid"]), int(spec["gid"])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # from root: clears every capability too
        if os.getuid() != uid or os.geteuid() != uid or os.getgroups():
            raise OSError(errno.EPERM, "the switch to the sandbox user did not hold")
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc/self stays readable to it
    if spec.get("lock"):
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        _drop_capabilities()
    if spec.get("landlock"):  # after no_new_privs, which it needs; before any student code
        view = spec["landlock"]
        landlock.restrict(view["read"], view["write"], view["devices"])
    if seccomp is not None:
        sharing.by_value()  # tensors cross the worker's processes without a socket
        seccomp.load()
    return spec
