# Whether a sandbox user (uid, gid: the arguments) can start this Python and import what a worker imports
# first: exit status 0 if so.
import os
import sys

if __name__ == "__main__":  # run as ``python -c``; imported, it does nothing
    uid, gid = int(sys.argv[1]), int(sys.argv[2])
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    import encodings.idna, json, sysconfig  # noqa: E401,F401 - what a worker's start reads

    sysconfig.get_paths()
