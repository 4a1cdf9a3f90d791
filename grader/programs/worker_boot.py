# Start a worker (or the fork server) from *this* grader package, by its location: arguments
# ``__init__.py``, the package folder, the module to run; what follows them is the module's own.
# ``-I`` drops PYTHONPATH and the current folder, so ``-m grader.worker`` would find whichever grader is
# installed (a student release, the Gradescope source folder run from PYTHONPATH); only the package
# itself is made importable, never the folder around it (which may hold the reference).
import importlib.util
import runpy
import sys

if __name__ == "__main__":  # run as ``python -c``; imported, it does nothing
    init, package, module = sys.argv[1:4]
    del sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("grader", init, submodule_search_locations=[package])
    grader = importlib.util.module_from_spec(spec)
    sys.modules["grader"] = grader
    spec.loader.exec_module(grader)
    runpy.run_module(module, run_name="__main__", alter_sys=True)
