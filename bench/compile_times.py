#!/usr/bin/env python3
"""How long a user's source file that uses lanmsff takes to compile: header-only, with the kernels compiled once,
and with the shipped networks compiled once too.

Compiles bench/consumer/main.cpp (LANMSFF inference and an Adam training step, as a user's program would run them)
with one compiler and its flags, without a compiler cache, one compile after the other:

  header-only             the file alone, every kernel and the network's own code compiled in it (the default)
  extern kernels          the same file with -DLANMSFF_EXTERN_KERNELS: the kernels only declared
  extern models           with -DLANMSFF_EXTERN_KERNELS -DLANMSFF_EXTERN_MODELS: the shipped networks (LANMSFF
                          8 classes among them) only declared too (compose/network.hpp)
  the kernels, once       src/kernels.cpp, which compiles the kernels for the whole program (kernels/entry.hpp)
  LANMSFF networks, once  src/models_lanmsff.cpp (the shipped LANMSFF networks; lanmsff::models)

then links the three programs and runs each for a moment, so that all are known to work. Prints a table of the
wall and CPU seconds of each compile. docs/benchmarks.md ("Compile time") has the figures of this machine.

Usage: /usr/bin/python3 bench/compile_times.py [--cxx g++] [--flags "-O2"] [--work DIR] [--launcher ccache]
  --launcher runs each compile through a program such as ccache: the times then measure the cache, not the
  compiler; the docs' check (tests/docs/check_doc_commands.py) uses it to check that the script works.
"""
import argparse
import pathlib
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def eigen_flags():
    try:
        return shlex.split(subprocess.run(["pkg-config", "--cflags", "eigen3"], check=True, capture_output=True,
                                          text=True).stdout)
    except (OSError, subprocess.CalledProcessError):
        return ["-I/usr/include/eigen3"]


def timed(command):
    """Runs command; returns (wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"compile_times: failed ({done.returncode}): {shlex.join(command)}\n{done.stderr[-4000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cxx", default="g++", help="the compiler (default g++)")
    parser.add_argument("--flags", default="-O2", help='its flags (default "-O2"; e.g. "-O2 -march=native")')
    parser.add_argument("--work", help="directory for the objects and programs (default: a temporary one)")
    parser.add_argument("--launcher", help="run each compile through this program (e.g. ccache): for checks, "
                                           "the times are then not the compiler's")
    args = parser.parse_args()
    if not shutil.which(args.cxx):
        sys.exit(f"compile_times: no compiler '{args.cxx}'")
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="lanmsff-compile-times."))
    work.mkdir(parents=True, exist_ok=True)
    launcher = shlex.split(args.launcher) if args.launcher else []
    common = [*launcher, args.cxx, "-std=c++20", *shlex.split(args.flags), "-fopenmp", f"-I{ROOT / 'include'}", *eigen_flags()]
    source = ROOT / "bench/consumer/main.cpp"
    steps = [
        ("header-only", [*common, "-c", str(source), "-o", str(work / "header_only.o")]),
        ("extern kernels", [*common, "-DLANMSFF_EXTERN_KERNELS", "-c", str(source), "-o", str(work / "extern.o")]),
        ("extern models", [*common, "-DLANMSFF_EXTERN_KERNELS", "-DLANMSFF_EXTERN_MODELS", "-c", str(source), "-o",
                           str(work / "extern_models.o")]),
        ("the kernels, once", [*common, "-c", str(ROOT / "src/kernels.cpp"), "-o", str(work / "kernels.o")]),
        ("LANMSFF networks, once", [*common, "-DLANMSFF_EXTERN_KERNELS", "-DLANMSFF_EXTERN_MODELS", "-c",
                                    str(ROOT / "src/models_lanmsff.cpp"), "-o", str(work / "models.o")]),
    ]
    print(f"{args.cxx} {args.flags}: {source.relative_to(ROOT)}" +
          (f" (each compile through {args.launcher}: not the compiler's times)" if launcher else ""), flush=True)
    results = []
    for name, command in steps:
        wall, cpu = timed(command)
        results.append((name, wall, cpu))
        print(f"  {name:<22} {wall:6.1f} s", flush=True)
    for program, objects in (("header_only", ["header_only.o"]), ("extern", ["extern.o", "kernels.o"]),
                             ("extern_models", ["extern_models.o", "models.o", "kernels.o"])):
        timed([args.cxx, *shlex.split(args.flags), "-fopenmp", *[str(work / o) for o in objects], "-lz", "-o",
               str(work / program)])
        ran = subprocess.run([str(work / program), "--batch", "2", "--seconds", "0.05", "--train"], capture_output=True,
                             text=True)
        if ran.returncode != 0 or "images_per_second" not in ran.stdout:
            sys.exit(f"compile_times: the {program} program did not run: {ran.stdout}{ran.stderr}")
    print("\n| compile | wall | CPU |\n|---|---|---|")
    for name, wall, cpu in results:
        print(f"| {name} | {wall:.1f} s | {cpu:.1f} s |")
    seconds = {name: wall for name, wall, _ in results}
    print(f"\nWith the kernels extern the file compiles in {seconds['extern kernels'] / seconds['header-only']:.0%} of the "
          f"header-only time, with the networks extern too in {seconds['extern models'] / seconds['header-only']:.0%}; "
          f"once per program, the kernels' file costs {seconds['the kernels, once']:.1f} s and the LANMSFF networks' "
          f"{seconds['LANMSFF networks, once']:.1f} s. The three programs ran.")
    if not args.work:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
