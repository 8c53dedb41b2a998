// `lanmsff quantize`: a checkpoint calibrated for int8 inference, and what eval, predict and bench need
// to run a model in int8 (--precision int8).
//
// quantize records the model as a program (quant/program.hpp), runs it in float on calibration images
// from a data set (the training split by default) and writes a copy of the checkpoint whose metadata
// key "lanmsff.int8" holds every value's uint8 quantisation (JSON: the method, the images, and per value
// its node's name and operation, scale and zero point). The weights stay float in the file; they are
// quantised per output channel when the int8 model is built (quant/int8_model.hpp). A float run of the
// file is the float model, unchanged.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data.hpp"
#include "lanmsff/io/checkpoint.hpp"
#include "lanmsff/quant/int8_model.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/trainer.hpp"

namespace lanmsff::tool {

struct QuantizeArgs {
  std::string weights, data, output;
  std::string split = "auto";   // auto: the training split
  DataOptions data_options;
  std::size_t images = 512;     // calibration images (a seeded random subset)
  std::string method = "mse";   // mse, minmax, percentile (quant/calibration.hpp)
  double percentile = 0.9999;
  int batch_size = 32;
};

inline constexpr const char* int8_metadata_key = "lanmsff.int8";

inline quant::Calibration calibration_method(const std::string& name) {
  if (name == "mse") return quant::Calibration::mse;
  if (name == "minmax") return quant::Calibration::minmax;
  if (name == "percentile") return quant::Calibration::percentile;
  throw std::invalid_argument("--method " + name + ": the methods are mse, minmax and percentile");
}

// The calibration of a checkpoint's program, read from its metadata and checked against the program:
// one entry per value, with the node's name and operation (a file quantised for another model or another
// version of it is refused, naming the first difference).
inline std::vector<quant::QuantParams> read_int8_calibration(const quant::Program& program,
                                                             const std::map<std::string, std::string>& meta,
                                                             const std::string& weights) {
  const auto it = meta.find(int8_metadata_key);
  if (it == meta.end())
    throw std::invalid_argument(weights + " has no int8 calibration: make one with `lanmsff quantize --weights " + weights +
                                " --calibrate DATA OUT.safetensors`, then give OUT.safetensors");
  const auto bad = [&](const std::string& what) {
    return std::runtime_error(weights + ": its int8 calibration (metadata " + int8_metadata_key + ") " + what);
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& error) {
    throw bad(std::string("is not valid JSON (") + error.what() + ")");
  }
  if (!j.is_object() || !j.contains("values") || !j["values"].is_array()) throw bad("has no \"values\" list");
  const nlohmann::json& values = j["values"];
  if (values.size() != program.size())
    throw bad("has " + std::to_string(values.size()) + " values, the model's program " + std::to_string(program.size()) +
              " (quantised for another model or version: quantize again)");
  std::vector<quant::QuantParams> params;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const nlohmann::json& v = values[i];
    const quant::Node& node = program.nodes[i];
    if (!v.is_array() || v.size() != 4 || !v[0].is_string() || !v[1].is_string() || !v[2].is_number() || !v[3].is_number_integer())
      throw bad("value " + std::to_string(i) + " is not [name, operation, scale, zero point]");
    if (v[0].get<std::string>() != node.name || v[1].get<std::string>() != quant::op_name(node.kind))
      throw bad("value " + std::to_string(i) + " is " + v[1].get<std::string>() + " '" + v[0].get<std::string>() + "', the model's " +
                std::string(quant::op_name(node.kind)) + " '" + node.name + "' (quantised for another model: quantize again)");
    const double scale = v[2].get<double>();
    const int zero = v[3].get<int>();
    if (!(scale > 0) || !std::isfinite(scale) || zero < 0 || zero > 255)
      throw bad("value " + std::to_string(i) + " ('" + node.name + "') has scale " + std::to_string(scale) + " and zero point " +
                std::to_string(zero) + " (a positive scale and a zero point in 0..255 expected)");
    params.push_back({float(scale), zero});
  }
  return params;
}

// The int8 model of a loaded checkpoint (its metadata `meta`, read from `weights`).
template <class Model>
std::unique_ptr<quant::Int8Network<Model>> int8_network(Model& model, const std::map<std::string, std::string>& meta,
                                                        const std::string& weights) {
  const quant::Program program = quant::record(model);
  return std::make_unique<quant::Int8Network<Model>>(program, read_int8_calibration(program, meta, weights));
}

// --precision: float or int8 (CLI11 checks the value; a program calling these directly gets this).
inline bool int8_precision(const std::string& precision) {
  if (precision != "float" && precision != "int8") throw std::invalid_argument("--precision " + precision + ": float or int8");
  return precision == "int8";
}

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
void quantize_checkpoint(const QuantizeArgs& args) {
  const quant::Calibration method = calibration_method(args.method);
  auto model = std::make_unique<Model>();
  auto meta = io::load_checkpoint(*model, args.weights);
  io::Dataset data = load_data(args.data, args.split, io::Split::train, Model::input_shape, args.data_options);
  data = random_subset(data, args.images, 0);
  const quant::Program program = quant::record(*model);
  quant::Calibrator calibrator(program);
  Tensor<float> batch;
  std::vector<int> labels;
  std::vector<std::size_t> indices;
  for (std::size_t begin = 0; begin < data.size(); begin += std::size_t(args.batch_size)) {
    indices.resize(std::min(std::size_t(args.batch_size), data.size() - begin));
    std::iota(indices.begin(), indices.end(), begin);
    io::make_batch(data, indices, batch, labels);
    calibrator.observe(batch.data(), batch.n());
  }
  const std::vector<quant::QuantParams> params = calibrator.params(method, args.percentile);

  // The int8 model against the float one on the calibration images: how often their top classes agree.
  quant::Int8Network<Model> int8(program, params);
  std::size_t agree = 0;
  constexpr int classes = model_classes<Model, Loss>();
  for (std::size_t begin = 0; begin < data.size(); begin += std::size_t(args.batch_size)) {
    indices.resize(std::min(std::size_t(args.batch_size), data.size() - begin));
    std::iota(indices.begin(), indices.end(), begin);
    io::make_batch(data, indices, batch, labels);
    const Tensor<float>& a = model->forward(batch);
    const Tensor<float>& b = int8.forward(batch);
    for (int n = 0; n < batch.n(); ++n) {  // the first head's top class (both heads are quantised alike)
      const float* pa = a.sample(n);
      const float* pb = b.sample(n);
      agree += std::max_element(pa, pa + classes) - pa == std::max_element(pb, pb + classes) - pb;
    }
  }

  nlohmann::json values = nlohmann::json::array();
  for (std::size_t i = 0; i < program.size(); ++i)
    values.push_back({program.nodes[i].name, std::string(quant::op_name(program.nodes[i].kind)), params[i].scale, params[i].zero});
  meta[int8_metadata_key] = nlohmann::json{{"method", args.method},
                                           {"percentile", args.percentile},
                                           {"images", data.size()},
                                           {"data", data.description},
                                           {"values", values}}
                                .dump();
  io::save_checkpoint(*model, args.output, meta);
  std::printf("wrote %s: %s with an int8 calibration of %zu values on %zu images of %s, ranges by %s; the int8 model's top "
              "class is the float model's on %.2f %% of them\n",
              args.output.c_str(), std::string(Model::name).c_str(), program.size(), data.size(), data.description.c_str(),
              args.method.c_str(), 100.0 * double(agree) / double(data.size()));
}

}  // namespace lanmsff::tool
