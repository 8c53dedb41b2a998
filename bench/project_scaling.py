#!/usr/bin/env python3
"""Projects data-parallel training's images/s from 1 to 64 nodes, from measurements on one machine.

The model (weak scaling: every node keeps its per-node batch b, the global batch grows with the nodes):
  step(N) = compute + exposed(N)
  compute  = one node's forward + backward + optimizer step at batch b (measured: bench_data_parallel,
             1 process, all cores)
  allreduce(N, S) = 2 (N - 1) / N * S / bandwidth + 2 (N - 1) * latency * buckets
             (a ring allreduce of S bytes: each link carries 2 (N - 1) / N of them, in 2 (N - 1) rounds
             per bucket)
  exposed(N) = max(last bucket's allreduce, allreduce(N, S) - overlap * compute)
             (buckets are reduced while the backward pass runs; `overlap` is the share of a step that
             communication can hide behind, the backward pass after the first bucket is ready; the last
             bucket, the first layers' gradients, can only start when backward ends)
  images/s(N) = N * b / step(N); efficiency = images/s(N) / (N * images/s(1)).

Usage:
  project_scaling.py [--json]                     the table for the built-in numbers
  project_scaling.py --check STEP_MS --model M --link L --nodes N
                                                  compares a measured step with the model's prediction
The built-in numbers are first estimates from bench_data_parallel and bench_allreduce on one 2-core
Zen 4 machine (Open MPI 4.1); they are not yet checked against a measured slower link, and no projection
from them is published yet. Pass --compute-ms / --bandwidth / --latency-us to use a machine's own."""
import argparse
import json
import sys

MiB = 1 << 20

# Per model: the gradients' bytes, the per-node batch, one node's step time (ms, 1 process x all cores),
# and the share of the step that communication can hide behind (the backward pass after its first
# bucket; bench_data_parallel --model M prints forward/backward times).
MEASURED_MODELS = {
    "lanmsff": {"bytes": 356451 * 4, "batch": 32, "compute_ms": 213.0, "overlap": 0.55},
    "manet": {"bytes": 50547214 * 4, "batch": 16, "compute_ms": 1080.0, "overlap": 0.55},
}

# Links: bus bandwidth (GB/s, what each link carries per second in a ring allreduce) and the latency of
# one message (us). The first two are measured here by bench_allreduce; the others are nominal.
LINKS = {
    "shared-memory": {"bandwidth": 3.1, "latency_us": 5.0, "what": "this machine's shared memory (measured)"},
    "tcp-loopback": {"bandwidth": 1.0, "latency_us": 30.0, "what": "TCP over loopback (measured)"},
    "10GbE": {"bandwidth": 1.1, "latency_us": 50.0, "what": "10 Gb Ethernet, TCP (nominal)"},
    "100Gb-IB": {"bandwidth": 11.0, "latency_us": 2.0, "what": "100 Gb/s InfiniBand, RDMA (nominal)"},
}

BUCKET = 4 * MiB  # GradientAverager's default bucket size


def allreduce_ms(nodes, nbytes, link, bucket=BUCKET):
    if nodes == 1:
        return 0.0
    buckets = max(1, -(-nbytes // bucket))
    transfer = 2 * (nodes - 1) / nodes * nbytes / (link["bandwidth"] * 1e9)
    rounds = 2 * (nodes - 1) * link["latency_us"] * 1e-6 * buckets
    return 1e3 * (transfer + rounds)


def step_ms(nodes, model, link):
    compute = model["compute_ms"]
    total = allreduce_ms(nodes, model["bytes"], link)
    last = allreduce_ms(nodes, min(model["bytes"], BUCKET), link)
    exposed = max(last if nodes > 1 else 0.0, total - model["overlap"] * compute)
    return compute + exposed, total, exposed


def table(models, links, node_counts):
    rows = []
    for name, model in models.items():
        one = model["batch"] / (model["compute_ms"] / 1e3)
        for link_name, link in links.items():
            for n in node_counts:
                step, total, exposed = step_ms(n, model, link)
                ips = n * model["batch"] / (step / 1e3)
                rows.append({"model": name, "link": link_name, "nodes": n, "step_ms": round(step, 1),
                             "allreduce_ms": round(total, 1), "exposed_ms": round(exposed, 1),
                             "images_per_s": round(ips, 1), "efficiency": round(ips / (n * one), 3)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", choices=sorted(MEASURED_MODELS))
    parser.add_argument("--link", choices=sorted(LINKS))
    parser.add_argument("--compute-ms", type=float, help="override the model's measured step time")
    parser.add_argument("--bandwidth", type=float, help="override the link's bus bandwidth, GB/s")
    parser.add_argument("--latency-us", type=float, help="override the link's latency, us")
    parser.add_argument("--check", type=float, metavar="STEP_MS", help="a measured step time to compare with")
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args()
    models = {k: dict(v) for k, v in MEASURED_MODELS.items() if not args.model or k == args.model}
    links = {k: dict(v) for k, v in LINKS.items() if not args.link or k == args.link}
    for m in models.values():
        if args.compute_ms:
            m["compute_ms"] = args.compute_ms
    for link in links.values():
        if args.bandwidth:
            link["bandwidth"] = args.bandwidth
        if args.latency_us is not None:
            link["latency_us"] = args.latency_us
    if args.check is not None:
        if len(models) != 1 or len(links) != 1:
            sys.exit("--check needs --model and --link")
        (model,), (link,) = models.values(), links.values()
        predicted, total, exposed = step_ms(args.nodes, model, link)
        print(f"predicted step {predicted:.1f} ms (compute {model['compute_ms']:.1f}, allreduce {total:.1f}, "
              f"exposed {exposed:.1f}); measured {args.check:.1f} ms; measured / predicted {args.check / predicted:.2f}")
        return 0
    rows = table(models, links, [1, 2, 4, 8, 16, 32, 64])
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'model':8} {'link':14} {'nodes':>5} {'step ms':>9} {'allreduce ms':>13} {'exposed ms':>11} "
          f"{'images/s':>9} {'efficiency':>10}")
    for r in rows:
        print(f"{r['model']:8} {r['link']:14} {r['nodes']:5d} {r['step_ms']:9.1f} {r['allreduce_ms']:13.1f} "
              f"{r['exposed_ms']:11.1f} {r['images_per_s']:9.1f} {r['efficiency']:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
