# Become the sandbox user (uid, gid), then do ``what``: "kill" every process that user may signal (its
# own), or look at the NUL-separated paths on stdin with its eyes and print those it could "read",
# "write" or "replace" (rename or remove entries in: a writable folder that is not sticky), then "END".
import os
import signal
import sys


def main(uid: int, gid: int, what: str) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if what == "kill":
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        return
    paths = sys.stdin.buffer.read().decode().split("\0")
    if what == "replace":
        bad = [p for p in paths if p and os.access(p, os.W_OK) and not os.stat(p).st_mode & 0o1000]
    else:
        bad = [p for p in paths if p and os.path.lexists(p) and (os.access(p, os.R_OK) or os.path.isdir(p) and
               os.access(p, os.X_OK) or what == "write" and os.access(p, os.W_OK))]
    sys.stdout.buffer.write("\0".join([*bad, "END"]).encode())


if __name__ == "__main__":  # run as ``python -c``; imported, it does nothing
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
