// Runs an ONNX model with ONNX Runtime (npm onnxruntime-node) on one float input read from a raw
// little-endian file, and writes every graph output as raw floats: OUT.<output name>.
// With OPTIMIZED, also writes the graph ONNX Runtime runs after its optimisations there (to see which
// operators it fused: QLinearConv for an int8 model's convolutions).
// Usage: node tests/onnx/run_onnxruntime.js MODULE MODEL INPUT.raw N,C,H,W OUT_PREFIX [OPTIMIZED.onnx]
"use strict";
const fs = require("fs");

async function main() {
  const [module, model, input, shape, prefix, optimized] = process.argv.slice(2);
  const ort = require(module);
  const options = { executionProviders: ["cpu"], graphOptimizationLevel: "all" };
  if (optimized) options.optimizedModelFilePath = optimized, options.logSeverityLevel = 3;  // (its note: the file is for this CPU)
  const session = await ort.InferenceSession.create(model, options);
  const dims = shape.split(",").map(Number);
  const bytes = fs.readFileSync(input);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const results = await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", data, dims) });
  for (const name of session.outputNames) {
    const t = results[name];
    fs.writeFileSync(`${prefix}.${name}`, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    console.log(`${name}: [${t.dims.join(", ")}]`);
  }
}

main().catch((error) => {
  console.error(`run_onnxruntime: ${error.message}`);
  process.exit(1);
});
