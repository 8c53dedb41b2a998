// `lanmsff predict`: class probabilities for image files (MA-Net: the softmax of its two heads
// combined), and with --explain (LANMSFF only) a picture of the input with MassAtt's spatial
// attention maps (blocks 2 and 4) overlaid.
#pragma once

#include <iomanip>
#include <iostream>

#include "lanmsff/io/image.hpp"
#include "lanmsff/io/plot.hpp"
#include "lanmsff/io/resize.hpp"
#include "lanmsff/layers/softmax.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/trainer.hpp"
#include "lanmsff/train/two_head_loss.hpp"
#include "models.hpp"
#include "run_files.hpp"

namespace lanmsff::tool {

struct PredictArgs {
  std::string weights;
  std::vector<std::string> images;
  bool json = false;
  std::string explain;
  double beta = 0.6;  // MA-Net: weight of head 1
};

// Only LANMSFF has MassAtt blocks whose maps --explain draws.
template <class Model>
constexpr bool has_mass_att_maps = Model::name == std::string_view("lanmsff");

// Class probabilities of one forward pass: the softmax of the per-class scores the loss predicts
// from (the logits; for a two-head loss, beta * head 1 + (1 - beta) * head 2).
template <class Loss, class T>
void class_probabilities(const Loss& loss, const Tensor<T>& logits, Tensor<T>& probabilities) {
  Tensor<T> combined;
  const Tensor<T>* scores = &logits;
  if constexpr (loss_heads<Loss>() == 2) combine_heads(logits, combined, loss.beta), scores = &combined;
  probabilities.resize(scores->n(), scores->shape());
  kernels::softmax_rows(scores->data(), probabilities.data(), scores->n(), int(scores->sample_size()));
}

// The spatial attention maps (H x W x 1, values in [0, 1]) of every MassAtt in the last forward pass.
template <class Model>
std::vector<std::pair<std::string, Tensor<typename Model::scalar>>> spatial_attention_maps(Model& model) {
  std::vector<std::pair<std::string, Tensor<typename Model::scalar>>> maps;
  model.for_each_layer([&](const std::string& path, auto& layer, int) {
    using L = std::remove_cvref_t<decltype(layer)>;
    if constexpr (requires { L::kind; layer.template branch_output<1>(); })
      if (L::kind == std::string_view("MassAtt")) maps.emplace_back(path, layer.template branch_output<1>());
  });
  return maps;
}

// Input | one overlay per attention map: the map upsampled to the panel, min-max scaled (a short
// run's maps are nearly flat; the structure is what matters), as a red heat over the gray input.
inline io::ImageU8 explanation_image(const io::Image& input, const std::vector<std::pair<std::string, io::Image>>& maps) {
  const int size = 192, gap = 8, top = 22;
  const io::Image base = io::resize_bilinear(input, size, size);
  io::Canvas canvas((size + gap) * int(1 + maps.size()), size + top);
  const auto gray_at = [&](int y, int x) {
    const float* p = base.pixel(y, x);
    return base.c() == 3 ? 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2] : p[0];
  };
  for (int panel = 0; panel <= int(maps.size()); ++panel) {
    io::Image heat;
    float lo = 0, hi = 1;
    if (panel > 0) {
      heat = io::resize_bilinear(maps[std::size_t(panel - 1)].second, size, size);
      lo = *std::min_element(heat.begin(), heat.end()), hi = *std::max_element(heat.begin(), heat.end());
    }
    const int left = panel * (size + gap);
    canvas.text(left + 2, 6, panel == 0 ? std::string("input") : maps[std::size_t(panel - 1)].first, io::black);
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) {
        const float g = gray_at(y, x);
        float r = g, gr = g, b = g;
        if (panel > 0) {
          const float a = hi > lo ? (heat(y, x, 0) - lo) / (hi - lo) : 0.0f;
          r = 0.4f * g + 0.6f * a, gr = 0.4f * g + 0.2f * a, b = 0.4f * g * (1 - a);
        }
        canvas.set(left + x, top + y, {io::to_byte(r), io::to_byte(gr), io::to_byte(b)});
      }
  }
  return canvas.image();
}

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
void predict_images(const PredictArgs& args, const Loss& loss = {}) {
  using T = typename Model::scalar;
  if (!has_mass_att_maps<Model> && !args.explain.empty())
    throw std::invalid_argument("--explain draws LANMSFF's MassAtt attention maps; " + std::string(Model::name) +
                                " has none (leave --explain out)");
  auto model = std::make_unique<Model>();
  const auto meta = io::load_checkpoint(*model, args.weights);
  std::vector<std::string> names;
  if (auto it = meta.find("class_names"); it != meta.end()) names = nlohmann::json::parse(it->second).template get<std::vector<std::string>>();
  constexpr int K = model_classes<Model, Loss>();
  if (int(names.size()) != K) {
    names.clear();
    for (int k = 0; k < K; ++k) names.push_back(std::to_string(k));
  }
  if (!args.explain.empty() && args.images.size() != 1)
    throw std::invalid_argument("--explain writes one picture: give exactly one image");
  nlohmann::json results = nlohmann::json::array();
  Tensor<T> x(1, Model::input_shape), probabilities;
  std::vector<io::SkippedFile> failed;  // a bad file is reported, and the others are still predicted
  for (const auto& file : args.images) {
    io::Image image;
    try {
      image = io::load_image(file, Model::input_shape.c);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "lanmsff: error: %s\n", error.what());
      failed.push_back({file, error.what()});
      if (args.json) results.push_back({{"image", file}, {"error", error.what()}});
      continue;
    }
    const io::Image resized = io::resize_bilinear(image, Model::input_shape.h, Model::input_shape.w);
    for (std::size_t i = 0; i < resized.size(); ++i) x[i] = T(resized[i]);
    class_probabilities(loss, model->forward(x), probabilities);
    const int best = int(std::max_element(probabilities.data(), probabilities.data() + K) - probabilities.data());
    if (args.json) {
      nlohmann::json p;
      for (int k = 0; k < K; ++k) p[names[std::size_t(k)]] = probabilities[std::size_t(k)];
      results.push_back({{"image", file}, {"prediction", names[std::size_t(best)]}, {"probabilities", p}});
    } else {
      std::cout << file << ": " << names[std::size_t(best)] << "\n";
      for (int k = 0; k < K; ++k)
        std::cout << "  " << std::left << std::setw(14) << names[std::size_t(k)] << std::right << std::fixed
                  << std::setprecision(4) << probabilities[std::size_t(k)] << "\n";
    }
    if constexpr (has_mass_att_maps<Model>) {
      if (!args.explain.empty()) {
        std::vector<std::pair<std::string, io::Image>> maps;
        for (const auto& [path, map] : spatial_attention_maps(*model)) {
          io::Image m(map.h(), map.w(), 1);
          for (std::size_t i = 0; i < m.size(); ++i) m[i] = float(map[i]);
          maps.emplace_back(path + " attention", std::move(m));
        }
        io::save_png(args.explain, explanation_image(resized, maps));
        if (!args.json) std::cout << "attention maps (blocks 2 and 4) written to " << args.explain << "\n";
      }
    }
  }
  if (args.json) std::cout << results.dump(2) << "\n";
  std::cout.flush();
  throw_if_files_failed(failed, "the others were predicted");
}

}  // namespace lanmsff::tool
