#!/usr/bin/env python3
"""lanmsff as its users build it, on every instruction-set path, against PyTorch: side by side in one run.

Installs the library (headers and CMake package only) into a temporary prefix and builds bench/consumer, a
program that uses it exactly as the README's find_package example does, twice with the same compiler: as is
(no -march anywhere: the kernels pick their instruction set at run time) and with -march=native. Then, round
after round, for LANMSFF inference at batch 1 and 32 and the training step at batch 32 (8 classes, 64x64x1,
Adam), it runs:

  default build          the consumer as built, on the path it picks (the widest the CPU has)
  default build, <isa>   the same binary held to each lower path this CPU has (LANMSFF_ISA=avx2, baseline)
  -march=native build    the consumer compiled for this CPU
  PyTorch                PyTorch 1.13 at its best (see compare_pytorch.py: a caching malloc), and held to AVX2
                         (DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2) on x86-64

and prints the medians, a table per path, and the ratios the portability goals are stated in: the default
build over the -march=native one, the AVX2 path over PyTorch held to AVX2 and over our AVX-512 path.

Usage: /usr/bin/python3 bench/compare_paths.py [--threads 2] [--seconds 3] [--rounds 3] [--cxx g++]
                                               [--work DIR] [--no-pytorch]
Needs cmake, a C++20 compiler, lanmsff's dependencies, and for the PyTorch columns Debian's python3-torch.
"""
import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import compare_pytorch  # noqa: E402  (PyTorch's side, shared)

ROWS = [("inference, batch 1", 1, False), ("inference, batch 32", 32, False), ("training step, batch 32", 32, True)]
PYTORCH_AVX2 = {"DNNL_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(f"failed (exit {result.returncode}): {' '.join(map(str, cmd))}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def build(work, cxx):
    """Installs lanmsff into work/prefix and builds the consumer twice; returns {build name: executable}."""
    prefix, library = work / "prefix", work / "library"
    common = ["-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_CXX_COMPILER={cxx}"]
    run(["cmake", "-S", ROOT, "-B", library, *common, "-DLANMSFF_BUILD_TESTS=OFF", "-DLANMSFF_BUILD_EXAMPLES=OFF",
         "-DLANMSFF_BUILD_BENCHMARKS=OFF"])
    run(["cmake", "--install", library, "--prefix", prefix])
    programs = {}
    for name, flags in [("default", []), ("native", ["-DCMAKE_CXX_FLAGS=-march=native"])]:
        out = work / f"consumer-{name}"
        run(["cmake", "-S", ROOT / "bench/consumer", "-B", out, *common, f"-DCMAKE_PREFIX_PATH={prefix}", *flags])
        run(["cmake", "--build", out, "-j", str(os.cpu_count())])
        programs[name] = out / "consumer_bench"
    return programs


def ours(program, isa, threads, batch, train, seconds):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("LANMSFF_ISA", None)
    if isa:
        env["LANMSFF_ISA"] = isa
    cmd = [program, "--batch", str(batch), "--seconds", str(seconds)] + (["--train"] if train else [])
    result = json.loads(run(cmd, env=env))
    return result["images_per_second"], result["isa"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=3, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="repeat every measurement; tables give medians")
    parser.add_argument("--cxx", default="g++", help="the C++ compiler of both builds")
    parser.add_argument("--work", help="build directory (default: a temporary one)")
    parser.add_argument("--no-pytorch", action="store_true", help="leave out the PyTorch columns")
    args = parser.parse_args()
    work = pathlib.Path(args.work) if args.work else pathlib.Path(tempfile.mkdtemp(prefix="lanmsff-paths-"))
    print(f"building into {work} with {args.cxx} ...", flush=True)
    programs = build(work, args.cxx)

    # The paths of this CPU, from the default build (its --isa list is what the CPU supports).
    _, best = ours(programs["default"], None, args.threads, 1, False, 0.01)
    x86 = platform.machine() in ("x86_64", "AMD64")
    lower = [isa for isa in (["avx2", "baseline"] if x86 else ["baseline"]) if isa != best]
    lower = [isa for isa in lower if subprocess.run([programs["default"], "--seconds", "0.01", "--batch", "1"],
                                                    env=dict(os.environ, LANMSFF_ISA=isa),
                                                    capture_output=True).returncode == 0]
    # The two builds side by side first (the machine's speed drifts over a round), then the lower paths.
    columns = [(f"default build ({best})", "default", None), ("-march=native build", "native", None)]
    columns += [(f"default build, {isa}", "default", isa) for isa in lower]
    references = []
    if not args.no_pytorch:
        references.append(("PyTorch", {"keras_semantics": False}))
        if x86:
            references.append(("PyTorch, AVX2", {"keras_semantics": False, "env": PYTORCH_AVX2}))
    names = [c[0] for c in columns] + [r[0] for r in references]
    samples = {(row, name): [] for row in range(len(ROWS)) for name in names}
    print(f"== LANMSFF, {args.threads} threads, {args.rounds} round(s) of {args.seconds:g} s per measurement")
    for round_index in range(args.rounds):
        for row, (label, batch, train) in enumerate(ROWS):
            line = []
            for name, program, isa in columns:
                speed, _ = ours(programs[program], isa, args.threads, batch, train, args.seconds)
                samples[row, name].append(speed)
                line.append(f"{name} {speed:.1f}")
            for name, options in references:
                speed, _ = compare_pytorch.pytorch("lanmsff", options, args.threads, batch, train, args.seconds)
                samples[row, name].append(speed)
                line.append(f"{name} {speed:.1f}")
            print(f"round {round_index + 1}: {label:24s} " + "   ".join(line), flush=True)

    median = {key: statistics.median(values) for key, values in samples.items()}
    print("\nimages/s (medians of the rounds; batch 1 also as ms per image):\n")
    print("| measurement | " + " | ".join(names) + " |")
    print("|---" * (1 + len(names)) + "|")
    for row, (label, batch, _) in enumerate(ROWS):
        cells = [f"{median[row, n]:.1f}" + (f" ({1e3 / median[row, n]:.2f} ms)" if batch == 1 else "") for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")

    def ratio(a, b):
        return " | ".join(f"{median[row, a] / median[row, b]:.2f}×" for row in range(len(ROWS)))

    print("\nratios (" + ", ".join(r[0] for r in ROWS) + "):\n")
    print("| ratio | " + " | ".join(r[0] for r in ROWS) + " |")
    print("|---" * (1 + len(ROWS)) + "|")
    default, native = columns[0][0], "-march=native build"
    print(f"| default build / -march=native build | {ratio(default, native)} |")
    avx2 = default if best == "avx2" else next((n for n, _, isa in columns if isa == "avx2"), None)
    if avx2 and "PyTorch, AVX2" in names:
        print(f"| AVX2 path / PyTorch held to AVX2 | {ratio(avx2, 'PyTorch, AVX2')} |")
    if avx2 and best == "avx512":
        print(f"| AVX2 path / AVX-512 path | {ratio(avx2, default)} |")
    if "PyTorch" in names:
        print(f"| default build / PyTorch | {ratio(default, 'PyTorch')} |")
    spread = {key: (min(v), max(v)) for key, v in samples.items()}
    if args.rounds > 1:
        print("\n(spread, min-max images/s per cell:)")
        for row, (label, _, _) in enumerate(ROWS):
            print(f"  {label:24s} " + "   ".join(f"{n} {spread[row, n][0]:.1f}-{spread[row, n][1]:.1f}" for n in names))


if __name__ == "__main__":
    main()
