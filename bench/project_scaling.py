#!/usr/bin/env python3
"""Projects data-parallel training's images/s from 1 to 64 nodes, from measurements on one machine.

The model (weak scaling: every node keeps its batch b, the global batch grows with the nodes):
  step(N)      = compute + exposed(N)
  compute      = one node's forward + backward + optimizer step at batch b, all its cores
                 (bench_data_parallel, 1 process)
  allreduce(N) = 2 (N - 1) / N * S / bandwidth + 2 ceil(log2 N) * latency * buckets
                 (S bytes of gradients: the reduce-scatter and the allgather of a large allreduce
                 each carry (N - 1) / N of them over every node's link, in log2 N rounds per bucket
                 for MPI's recursive-halving algorithms)
  exposed(N)   = (1 - hidden) * allreduce(N)
                 (the share `hidden` of the allreduces runs while the backward pass computes; with the
                 default progress, by the averager's calls between layers, it is small: measured
                 0.04-0.14 over simulated links of 0.12-0.49 GB/s, bench/simulated_link.py)
  images/s(N)  = N * b / step(N); efficiency = images/s(N) / (N * images/s(1)).
`bandwidth` is the bus bandwidth that bench_allreduce prints (what each node's link carries per second;
for 2 ranks it equals bytes / time of one allreduce).

Usage:
  project_scaling.py [--json] [--model M] [--link L] [--compute-ms C] [--bandwidth GBPS] [--latency-us U]
                                            the table
  project_scaling.py --check STEP_MS --compute-ms C --allreduce-ms A [--hidden H]
                                            a measured 2-node step against the model's prediction
                                            (bench/simulated_link.py runs it for every link it simulates)
The compute times are this project's 2-core Zen 4 measurements (bench_data_parallel, 1 process x 2
threads); a cluster node with more cores computes its batch faster, which makes the communication's
share larger: pass its own --compute-ms. The links' bandwidths other than the measured ones are nominal.
"""
import argparse
import json
import math
import sys

# Per model: the gradients' bytes, the per-node batch, one node's step (ms, 1 process x 2 threads on
# the 2-core machine), and the number of allreduces a step makes (bench_data_parallel prints it:
# 25 MB buckets, and every parameter of 1 MB or more reduced on its own).
MODELS = {
    "lanmsff": {"bytes": 356451 * 4, "batch": 32, "compute_ms": 215.0, "buckets": 1},
    "manet": {"bytes": 50547214 * 4, "batch": 16, "compute_ms": 1140.0, "buckets": 73},
}

# Links between nodes: bus bandwidth (GB/s) and the latency of one message (us), nominal (what MPI over
# TCP or RDMA reaches on such a network). bench/simulated_link.py measures what a limited link gives.
LINKS = {
    "1GbE": {"bandwidth": 0.11, "latency_us": 50.0, "what": "1 Gb Ethernet, TCP (nominal)"},
    "10GbE": {"bandwidth": 1.1, "latency_us": 30.0, "what": "10 Gb Ethernet, TCP (nominal)"},
    "100Gb-IB": {"bandwidth": 11.0, "latency_us": 2.0, "what": "100 Gb/s InfiniBand, RDMA (nominal)"},
}

HIDDEN = 0.05  # the share of the allreduces hidden behind the backward pass (conservative: measured 0.04-0.14)


def allreduce_ms(nodes, model, link):
    if nodes == 1:
        return 0.0
    transfer = 2 * (nodes - 1) / nodes * model["bytes"] / (link["bandwidth"] * 1e9)
    rounds = 2 * math.ceil(math.log2(nodes)) * link["latency_us"] * 1e-6 * model["buckets"]
    return 1e3 * (transfer + rounds)


def step_ms(nodes, model, link, hidden=HIDDEN):
    total = allreduce_ms(nodes, model, link)
    exposed = (1 - hidden) * total
    return model["compute_ms"] + exposed, total, exposed


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


def predicted_step(compute_ms, allreduce, hidden=HIDDEN):
    """The model's 2-node step from a measured compute time and a measured allreduce time."""
    return compute_ms + (1 - hidden) * allreduce


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--model", choices=sorted(MODELS))
    parser.add_argument("--link", choices=sorted(LINKS))
    parser.add_argument("--compute-ms", type=float, help="one node's step time (ms) instead of the measured one")
    parser.add_argument("--bandwidth", type=float, help="the link's bus bandwidth, GB/s")
    parser.add_argument("--latency-us", type=float, help="the link's latency, us")
    parser.add_argument("--check", type=float, metavar="STEP_MS", help="a measured 2-node step to compare with")
    parser.add_argument("--allreduce-ms", type=float, help="with --check: the measured allreduce time of a step")
    parser.add_argument("--hidden", type=float, default=HIDDEN, help="the share of the allreduces hidden")
    args = parser.parse_args()
    if args.check is not None:
        if args.compute_ms is None or args.allreduce_ms is None:
            sys.exit("--check needs --compute-ms and --allreduce-ms")
        predicted = predicted_step(args.compute_ms, args.allreduce_ms, args.hidden)
        print(f"predicted step {predicted:.1f} ms (compute {args.compute_ms:.1f} + {1 - args.hidden:.2f} x allreduce "
              f"{args.allreduce_ms:.1f}); measured {args.check:.1f} ms; measured / predicted {args.check / predicted:.2f}")
        return 0
    models = {k: dict(v) for k, v in MODELS.items() if not args.model or k == args.model}
    links = {k: dict(v) for k, v in LINKS.items() if not args.link or k == args.link}
    for m in models.values():
        if args.compute_ms:
            m["compute_ms"] = args.compute_ms
    for link in links.values():
        if args.bandwidth:
            link["bandwidth"] = args.bandwidth
        if args.latency_us is not None:
            link["latency_us"] = args.latency_us
    nodes = [1, 2, 4, 8, 16, 32, 64]
    rows = table(models, links, nodes)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    # One line per model and link: images/s and efficiency for each node count.
    print(f"{'model':8} {'link':9} " + " ".join(f"{n:>13}" for n in nodes))
    for name, model in models.items():
        for link_name in links:
            cells = [r for r in rows if r["model"] == name and r["link"] == link_name]
            print(f"{name:8} {link_name:9} " + " ".join(f"{r['images_per_s']:7.0f} {r['efficiency']:5.0%}" for r in cells))
        print(f"{'':18}(one node: {model['compute_ms']:.0f} ms a step of {model['batch']}, "
              f"{model['bytes'] / 1e6:.1f} MB of gradients in {model['buckets']} allreduces)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
