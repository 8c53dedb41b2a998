// `lanmsff export`: a checkpoint as an ONNX model (io/onnx.hpp) that ONNX Runtime, OpenCV's dnn
// module and other engines run: input "input" (N, C, H, W) float in [0, 1] as the tool feeds the
// network, outputs "logits" and "probabilities" (for MA-Net the softmax of beta * fc_1 +
// (1 - beta) * fc_2, as predict gives). With --precision int8, the int8 model of a checkpoint from
// `lanmsff quantize` as a QDQ model (quant/qdq.hpp). docs/deployment.md shows how to run them.
#pragma once

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>

#include "lanmsff/io/checkpoint.hpp"
#include "lanmsff/io/onnx.hpp"
#include "lanmsff/quant/qdq.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/trainer.hpp"
#include "quantize.hpp"

namespace lanmsff::tool {

struct ExportArgs {
  std::string weights;
  std::string output;
  std::string format = "onnx";
  double beta = 0.6;  // MA-Net: weight of head 1 in the probabilities
  std::string precision = "float";  // int8: the checkpoint's int8 model as QDQ (quant/qdq.hpp)
};

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
void export_checkpoint(const ExportArgs& args) {
  if (args.format != "onnx") throw std::invalid_argument("--format " + args.format + ": the formats are: onnx");
  auto model = std::make_unique<Model>();
  const auto meta = io::load_checkpoint(*model, args.weights);
  onnx::ExportOptions options;
  options.graph_name = std::string(Model::name);
  options.heads = loss_heads<Loss>();
  options.beta = args.beta;
  // The doc string: what the model is, then one line "classes: <JSON list>" that readers parse
  // (tools/onnx_predict.py).
  std::string doc = std::string(Model::name) + ", input " + to_string(Model::input_shape) +
                    " (NCHW in the graph: N x C x H x W, values in [0, 1]), exported by lanmsff " + version_string +
                    " from " + std::filesystem::path(args.weights).filename().string() + "\n";
  if (options.heads == 2)
    doc += "probabilities = softmax(beta * fc_1 + (1 - beta) * fc_2), beta = " + std::to_string(args.beta) + "\n";
  if (auto it = meta.find("class_names"); it != meta.end()) doc += "classes: " + it->second + "\n";
  options.doc = doc;
  const bool int8 = int8_precision(args.precision);
  if (int8) {
    options.doc += "int8: QDQ, weights per output channel, activations calibrated by lanmsff quantize\n";
    const quant::Program program = quant::record(*model);
    const quant::Int8Model int8_model(program, read_int8_calibration(program, meta, args.weights));
    onnx::write_model(quant::export_qdq(int8_model, options), args.output);
  } else {
    onnx::export_model(*model, args.output, options);
  }
  std::cout << "wrote " << args.output << " (" << Model::name << (int8 ? " in int8 (QDQ)" : "") << ", input N x "
            << Model::input_shape.c << " x " << Model::input_shape.h << " x " << Model::input_shape.w << ", "
            << model_classes<Model, Loss>() << " classes)\n";
}

}  // namespace lanmsff::tool
