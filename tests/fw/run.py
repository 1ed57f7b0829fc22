"""Run firmware test modules under MicroPython (or CPython) without a framework.

    micropython -X heapsize=256K tests/fw/run.py test_loop test_config ...
    micropython tests/fw/run.py --path build/fw --path build/tests test_loop

--path DIR (repeatable) puts DIR first on sys.path: the lane runs the
firmware and the tests from .mpy files, as a board does (compiling the
sources on the device would need far more heap than running them).

Each module's `test_*` functions run in file order; a failure prints its
traceback. Ends with the line "N passed, N failed" and exit status 1 on any
failure. Prints the peak heap seen between tests when gc.mem_alloc exists.
"""

import gc
import os
import sys

HERE = sys.argv[0].rsplit("/", 1)[0] if "/" in sys.argv[0] else "."
sys.path.insert(0, HERE)
sys.path.insert(0, HERE + "/../../firmware")


def _print_exc(e):
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


def run_module(name, counts):
    try:
        mod = __import__(name)
    except Exception as e:
        print("ERROR importing %s" % name)
        _print_exc(e)
        counts[1] += 1
        return
    names = [n for n in dir(mod) if n.startswith("test_")]
    # MicroPython's dir() order is not file order: sort for stable output.
    names.sort()
    for n in names:
        fn = getattr(mod, n)
        gc.collect()
        try:
            fn()
        except Exception as e:
            print("FAIL %s.%s" % (name, n))
            _print_exc(e)
            counts[1] += 1
        else:
            print("ok   %s.%s" % (name, n))
            counts[0] += 1
        gc.collect()
        if hasattr(gc, "mem_alloc"):
            used = gc.mem_alloc()
            if used > counts[2]:
                counts[2] = used


def main():
    counts = [0, 0, 0]
    args = sys.argv[1:]
    paths = []
    while args and args[0] == "--path":
        paths.append(args[1])
        args = args[2:]
    for p in reversed(paths):
        sys.path.insert(0, p)
    modules = [a[:-3] if a.endswith(".py") else a for a in args]
    import support

    here = HERE if HERE.startswith("/") else os.getcwd() + "/" + HERE
    support.ROOT = here + "/../.."
    for name in modules:
        run_module(name.rsplit("/", 1)[-1], counts)
    if counts[2]:
        print("heap in use after tests, peak: %d bytes" % counts[2])
    print("%d passed, %d failed" % (counts[0], counts[1]))
    sys.exit(1 if counts[1] or not counts[0] else 0)


main()
