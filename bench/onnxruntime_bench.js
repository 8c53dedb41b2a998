// Times inference of an ONNX model with ONNX Runtime (npm onnxruntime-node, CPU execution provider), as
// bench/compare_pytorch.py's ONNX Runtime column: prints {"images_per_second": ...} as JSON.
// Usage: node bench/onnxruntime_bench.js '{"module": ".../onnxruntime-node", "model": "m.onnx",
//          "shape": [batch, channels, height, width], "threads": 2, "seconds": 5}'
// One warm-up run, then runs until `seconds` have passed (at least 2), like `lanmsff bench`. The session uses
// `threads` intra-op threads and runs the graph's nodes one after the other (inter-op parallelism off), with
// every graph optimisation on: ONNX Runtime at its best on the CPU.
"use strict";

async function main() {
  const run = JSON.parse(process.argv[2]);
  const ort = require(run.module);
  const session = await ort.InferenceSession.create(run.model, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    intraOpNumThreads: run.threads,
    interOpNumThreads: 1,
  });
  const size = run.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; ++i) data[i] = Math.random();
  const feeds = { [session.inputNames[0]]: new ort.Tensor("float32", data, run.shape) };
  await session.run(feeds);  // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < run.seconds || n < 2) {
    await session.run(feeds);
    ++n;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  console.log(JSON.stringify({ images_per_second: (n * run.shape[0]) / elapsed, version: ort.env.versions?.common }));
}

main().catch((error) => {
  console.error(`onnxruntime_bench: ${error.message}`);
  process.exit(1);
});
