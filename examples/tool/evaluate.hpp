// `lanmsff eval`: accuracy, per-class precision / recall / F1 and the confusion matrix of a
// checkpoint on a data set (text, or JSON with --json). The loss decides the prediction (MA-Net:
// its two heads combined) and the loss reported.
#pragma once

#include <iomanip>
#include <iostream>

#include "data.hpp"
#include "models.hpp"
#include "quantize.hpp"
#include "run_files.hpp"

namespace lanmsff::tool {

struct EvalArgs {
  std::string weights, data, split = "auto";
  DataOptions data_options;
  int batch_size = 64;
  double beta = 0.6;  // MA-Net: weight of head 1
  std::size_t limit = 0;
  bool json = false;
  std::string confusion_png;
  std::string precision = "float";  // int8: the checkpoint's int8 calibration (lanmsff quantize)
};

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
void evaluate_model(const EvalArgs& args, const Loss& loss = {}) {
  auto model = std::make_unique<Model>();
  const auto meta = io::load_checkpoint(*model, args.weights);
  std::unique_ptr<quant::Int8Network<Model>> int8;  // --precision int8: built before the data is read
  if (int8_precision(args.precision)) int8 = int8_network(*model, meta, args.weights);
  std::vector<io::SkippedFile> skipped;  // unreadable images: reported, the rest evaluated
  io::Dataset data = load_data(args.data, args.split, io::Split::test, Model::input_shape, args.data_options, &skipped);
  for (const auto& file : skipped) std::fprintf(stderr, "lanmsff: error: %s (left out)\n", file.reason.c_str());
  data = random_subset(data, args.limit, 0);
  constexpr int classes = model_classes<Model, Loss>();
  if (data.num_classes() != classes)
    throw std::invalid_argument(args.data + " has " + std::to_string(data.num_classes()) + " classes, the checkpoint " +
                                args.weights + " " + std::to_string(classes));
  const Evaluation eval = int8 ? evaluate<quant::Int8Network<Model>, Loss>(*int8, data, args.batch_size, loss)
                               : evaluate<Model, Loss>(*model, data, args.batch_size, loss);
  if (!args.confusion_png.empty()) plot_confusion(args.confusion_png, eval.confusion, "Confusion matrix");
  if (args.json) {
    nlohmann::json out = eval.confusion.to_json();
    out["loss"] = eval.loss;
    out["weights"] = args.weights;
    out["data"] = data.description;
    out["precision"] = args.precision;
    out["skipped"] = nlohmann::json::array();
    for (const auto& file : skipped) out["skipped"].push_back({{"file", file.path}, {"error", file.reason}});
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "data: " << data.description << ", " << data.size() << " samples" << (int8 ? ", int8 model" : "") << "\n"
              << std::fixed << std::setprecision(4) << "loss " << eval.loss << ", accuracy " << std::setprecision(2)
              << 100 * eval.accuracy() << " %\n\n" << std::defaultfloat
              << eval.confusion.classification_report() << "\n"
              << eval.confusion.to_string();
  }
  std::cout.flush();
  throw_if_files_failed(skipped, "evaluated without them");
}

}  // namespace lanmsff::tool
