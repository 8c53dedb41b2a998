#!/usr/bin/env python3
"""Data-parallel training over a simulated slower link, against bench/project_scaling.py's model.

Two ranks on this machine talk over TCP (Open MPI's tcp transport) through the loopback interface,
whose rate is limited in turn to each RATE with Linux's token-bucket filter (`tc qdisc add dev lo root
tbf rate RATE ...`). Both directions share the loopback's limit, so a rate R behaves like a full-duplex
link of R / 2 each way: the bus bandwidth that bench_allreduce measures through it is what counts.

Per model, first without a limit (shared memory): the compute time of a step with 2 ranks side by side
(bench_data_parallel --no-average) and 1 rank x 2 threads for reference. Then per rate:
  - bench_allreduce: the allreduce time and bus bandwidth of the model's gradients, in its buckets
  - bench_data_parallel, 2 ranks x 1 thread over TCP: the measured step, with the default progress
    (the averager's calls) and with --progress thread
  - project_scaling.py's prediction from the measured compute and allreduce times, and the ratio.

Needs: root, tc (iproute2) and the kernel's tbf module, Open MPI, a build with MPI (build/bench/).
The loopback's limit is removed at the end, on an error and on Ctrl-C too; the script refuses to start
when the loopback already has a queueing discipline of its own. Usage:
  python3 bench/simulated_link.py [--build DIR] [--models manet,lanmsff] [--steps N] [--json FILE]
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import project_scaling  # noqa: E402

RATES = {"manet": ["8gbit", "4gbit", "2gbit"], "lanmsff": ["400mbit", "100mbit"]}
# bench_allreduce's row for each model's gradients as the averager sends them, and the sizes to run.
ALLREDUCE_ROW = {"manet": "MA-Net, 25 MB buckets in turn", "lanmsff": "LANMSFF gradients (1.4 MB)"}
ALLREDUCE_MAX_MB = {"manet": 1000, "lanmsff": 2}

STEP = re.compile(r"([\d.]+) images/s, step ([\d.]+) ms \(compute ([\d.]+) of which backward ([\d.]+), "
                  r"allreduce wait ([\d.]+) = \d+ %, (\d+) buckets\)")


def mpi_env(threads, tcp):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    if tcp:
        env["OMPI_MCA_btl"] = "tcp,self"
    return env


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    # (--no-average exits 1: the ranks' weights then differ, as they must)
    if out.returncode != 0 and not (out.returncode == 1 and "--no-average" in cmd):
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def data_parallel(build, model, ranks, threads, steps, tcp, *extra):
    cmd = ["mpiexec", "--bind-to", "none", "-n", str(ranks), f"{build}/bench/bench_data_parallel", "--model", model,
           "--steps", str(steps), *extra]
    out = run(cmd, mpi_env(threads, tcp))
    m = STEP.search(out)
    if not m:
        sys.exit(f"unexpected output of {' '.join(cmd)}:\n{out}")
    ips, step, compute, backward, wait, buckets = (float(g) for g in m.groups())
    return {"images_per_s": ips, "step_ms": step, "compute_ms": compute, "backward_ms": backward,
            "wait_ms": wait, "buckets": int(buckets)}


def allreduce(build, model):
    out = run(["mpiexec", "-n", "2", f"{build}/bench/bench_allreduce", "--json", "--max-mb",
               str(ALLREDUCE_MAX_MB[model])], mpi_env(1, True))
    for row in json.loads(out)["results"]:
        if row["size"] == ALLREDUCE_ROW[model]:
            return {"allreduce_ms": row["ms"], "busbw_gbps": row["busbw_gbps"]}
    sys.exit(f"bench_allreduce printed no row {ALLREDUCE_ROW[model]!r}")


def limit(rate):
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True)
    if rate:
        subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate, "burst", "256kb", "latency",
                        "500ms"], check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default="build")
    parser.add_argument("--models", default="manet,lanmsff")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("simulated_link.py limits the loopback interface with tc: run it as root")
    shown = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True, text=True, check=True).stdout
    if any(line and not line.startswith("qdisc noqueue") for line in shown.splitlines()):
        sys.exit(f"the loopback interface already has a queueing discipline, which this script would replace:\n{shown}")
    results = []
    try:
        for model in args.models.split(","):
            limit(None)
            alone = data_parallel(args.build, model, 1, 2, args.steps, False)
            side_by_side = data_parallel(args.build, model, 2, 1, args.steps, False, "--no-average")
            shm = data_parallel(args.build, model, 2, 1, args.steps, False)
            print(f"{model}: 1 rank x 2 threads {alone['step_ms']:.0f} ms a step; 2 ranks side by side without "
                  f"averaging {side_by_side['step_ms']:.0f} ms; 2 ranks over shared memory {shm['step_ms']:.0f} ms "
                  f"({shm['buckets']} allreduces a step)", flush=True)
            for rate in RATES[model]:
                limit(rate)
                link = allreduce(args.build, model)
                calls = data_parallel(args.build, model, 2, 1, args.steps, True)
                thread = data_parallel(args.build, model, 2, 1, args.steps, True, "--progress", "thread")
                predicted = project_scaling.predicted_step(side_by_side["step_ms"], link["allreduce_ms"])
                row = {"model": model, "rate": rate, **link, "compute_ms": side_by_side["step_ms"],
                       "reference_1x2_ms": alone["step_ms"], "measured_ms": calls["step_ms"],
                       "wait_ms": calls["wait_ms"], "hidden": round(1 - calls["wait_ms"] / link["allreduce_ms"], 3),
                       "predicted_ms": round(predicted, 1), "measured_over_predicted": round(calls["step_ms"] / predicted, 3),
                       "thread_ms": thread["step_ms"]}
                results.append(row)
                print(f"  {rate:>8}: bus {link['busbw_gbps']:.3f} GB/s, allreduce {link['allreduce_ms']:.0f} ms; step "
                      f"measured {calls['step_ms']:.0f} ms (wait {calls['wait_ms']:.0f}), predicted {predicted:.0f} "
                      f"(x{row['measured_over_predicted']:.2f}); with a progress thread {thread['step_ms']:.0f} ms",
                      flush=True)
    finally:
        limit(None)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
