# The prefixes and library folders of the interpreter that runs this, as JSON (isolation's view of what a
# worker, started with -I, needs to read).
import json
import site
import sys
import sysconfig

if __name__ == "__main__":  # run as ``python -c``; imported, it does nothing
    print(json.dumps([sys.prefix, sys.exec_prefix, sys.base_prefix,
                      *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
                      *site.getsitepackages()]))
