// `lanmsff predict`: class probabilities (MA-Net: the softmax of its two heads combined) for every
// face in photos and videos (--faces detect, tool/faces.hpp: detection, alignment, then the model),
// or for images that are face crops already (--faces aligned: the whole image, resized). With
// --explain (LANMSFF only) a picture of each input with MassAtt's spatial attention maps (blocks 2
// and 4) overlaid.
#pragma once

#include <filesystem>
#include <iomanip>
#include <iostream>

#include "lanmsff/io/image.hpp"
#include "lanmsff/io/plot.hpp"
#include "lanmsff/io/resize.hpp"
#include "lanmsff/io/save_image.hpp"
#include "lanmsff/layers/softmax.hpp"
#include "lanmsff/train/loss.hpp"
#include "lanmsff/train/trainer.hpp"
#include "lanmsff/train/two_head_loss.hpp"
#include "models.hpp"
#include "quantize.hpp"
#include "run_files.hpp"

namespace lanmsff::tool {

// Whether this tool was built with the face front end (dlib; lanmsff::faces), and with video (OpenCV).
#if defined(LANMSFF_WITH_FACES)
inline constexpr bool tool_has_faces = true;
#else
inline constexpr bool tool_has_faces = false;
#endif
#if defined(LANMSFF_WITH_VIDEO)
inline constexpr bool tool_has_video = true;
#else
inline constexpr bool tool_has_video = false;
#endif

struct PredictArgs {
  std::string weights;
  std::vector<std::string> images;  // files and folders (walked recursively)
  bool json = false, csv = false;
  std::string explain, annotate;
  double beta = 0.6;  // MA-Net: weight of head 1
  std::string faces = tool_has_faces ? "detect" : "aligned";
  int min_face = 0;   // detect: smallest face in pixels; 0 = 40 in photos, 80 in video
  std::string landmarks;                       // the landmark model (empty: found as faces/detector.hpp says)
  float eye_line = 0.40f, eye_distance = 0.36f;  // the aligned crop's eye geometry (faces/align.hpp)
  int camera = -1;                             // predict on a camera's frames (video)
  long max_frames = 0;                         // video: stop after this many frames (0 = all)
  std::string precision = "float";             // int8: the checkpoint's int8 calibration (lanmsff quantize)
};

// `lanmsff prepare-faces IN OUT` (tool/faces.hpp).
struct PrepareFacesArgs {
  std::string input, output, model = "lanmsff", landmarks;
  int size = 0, channels = 0, min_face = 40;
  float eye_line = 0.40f, eye_distance = 0.36f;
};

// Photos in which no face was found (after the others were predicted): exit status 3.
struct NoFaceFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The image files under the given paths: a folder is walked recursively (its images in path order),
// a file is taken as it is (a bad one is reported when it is read).
inline bool is_image_file(const std::filesystem::path& path) {
  const std::string ext = io::lower_extension(path);
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm", ".pnm"})
    if (ext == e) return true;
  return false;
}

template <class Accept>
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, Accept&& accept) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& input : inputs) {
    std::error_code error;
    if (!fs::is_directory(input, error)) {
      files.push_back(input);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, error);
         !error && it != fs::recursive_directory_iterator(); it.increment(error))
      if (it->is_regular_file(error) && accept(it->path())) found.push_back(it->path().string());
    if (error) throw std::runtime_error(input + ": cannot list the folder: " + error.message());
    if (found.empty()) throw std::runtime_error(input + ": the folder holds no image files");
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

inline std::string fixed4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

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

// The model of a checkpoint, ready to classify inputs of its input shape.
template <class Model, class Loss>
class Predictor {
 public:
  using T = typename Model::scalar;
  static constexpr int classes = model_classes<Model, Loss>();

  Predictor(const std::string& weights, const Loss& loss, bool int8 = false) : model_(std::make_unique<Model>()), loss_(loss) {
    const auto meta = io::load_checkpoint(*model_, weights);
    if (int8) int8_ = int8_network(*model_, meta, weights);
    if (auto it = meta.find("class_names"); it != meta.end())
      names_ = nlohmann::json::parse(it->second).template get<std::vector<std::string>>();
    if (int(names_.size()) != classes) {
      names_.clear();
      for (int k = 0; k < classes; ++k) names_.push_back(std::to_string(k));
    }
  }
  const std::vector<std::string>& names() const { return names_; }

  // Class probabilities of one input that has the model's input shape (values in [0, 1]).
  std::vector<float> classify(const io::Image& input) {
    if (input.shape() != Model::input_shape)
      throw std::logic_error("Predictor::classify: input " + to_string(input.shape()) + ", the model takes " +
                             to_string(Model::input_shape));
    x_.resize(1, Model::input_shape);
    for (std::size_t i = 0; i < input.size(); ++i) x_[i] = T(input[i]);
    class_probabilities(loss_, int8_ ? int8_->forward(x_) : model_->forward(x_), probabilities_);
    return std::vector<float>(probabilities_.data(), probabilities_.data() + classes);
  }
  int best(const std::vector<float>& p) const { return int(std::max_element(p.begin(), p.end()) - p.begin()); }

  // The MassAtt maps of the last classify() (LANMSFF), as images.
  std::vector<std::pair<std::string, io::Image>> attention_maps() {
    std::vector<std::pair<std::string, io::Image>> maps;
    if constexpr (has_mass_att_maps<Model>) {
      for (const auto& [path, map] : spatial_attention_maps(*model_)) {
        io::Image m(map.h(), map.w(), 1);
        for (std::size_t i = 0; i < m.size(); ++i) m[i] = float(map[i]);
        maps.emplace_back(path + " attention", std::move(m));
      }
    }
    return maps;
  }

  // The JSON object of class probabilities, keyed by class name.
  nlohmann::json json_probabilities(const std::vector<float>& p) const {
    nlohmann::json j;
    for (int k = 0; k < classes; ++k) j[names_[std::size_t(k)]] = p[std::size_t(k)];
    return j;
  }
  // "  name     0.1234" lines.
  void print_probabilities(std::ostream& out, const std::vector<float>& p, const std::string& indent = "  ") const {
    for (int k = 0; k < classes; ++k)
      out << indent << std::left << std::setw(14) << names_[std::size_t(k)] << std::right << std::fixed
          << std::setprecision(4) << p[std::size_t(k)] << "\n";
  }
  std::string csv_class_columns() const {
    std::string s;
    for (const auto& name : names_) s.append(1, ',').append(csv_field(name));
    return s;
  }
  std::string csv_probabilities(const std::vector<float>& p) const {
    std::string s;
    for (float v : p) s.append(1, ',').append(fixed4(v));
    return s;
  }

 private:
  std::unique_ptr<Model> model_;
  std::unique_ptr<quant::Int8Network<Model>> int8_;  // --precision int8
  Loss loss_;
  std::vector<std::string> names_;
  Tensor<T> x_, probabilities_;
};

// --faces aligned: each image is a face crop; the whole image, resized to the model's input, is classified.
template <class Model, class Loss>
void predict_aligned(const PredictArgs& args, Predictor<Model, Loss>& predictor, const std::vector<std::string>& images) {
  if (!args.annotate.empty())
    throw std::invalid_argument("--annotate draws the faces found in photos: it needs --faces detect");
  if (!args.explain.empty() && images.size() != 1)
    throw std::invalid_argument("--explain writes one picture: give exactly one image");
  nlohmann::json results = nlohmann::json::array();
  if (args.csv) std::cout << "image,prediction" << predictor.csv_class_columns() << "\n";
  std::vector<io::SkippedFile> failed;  // a bad file is reported, and the others are still predicted
  for (const auto& file : images) {
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
    const std::vector<float> p = predictor.classify(resized);
    const std::string& top = predictor.names()[std::size_t(predictor.best(p))];
    if (args.json) {
      results.push_back({{"image", file}, {"prediction", top}, {"probabilities", predictor.json_probabilities(p)}});
    } else if (args.csv) {
      std::cout << csv_field(file) << "," << csv_field(top) << predictor.csv_probabilities(p) << "\n";
    } else {
      std::cout << file << ": " << top << "\n";
      predictor.print_probabilities(std::cout, p);
    }
    if (!args.explain.empty()) {
      io::save_png(args.explain, explanation_image(resized, predictor.attention_maps()));
      if (!args.json && !args.csv) std::cout << "attention maps (blocks 2 and 4) written to " << args.explain << "\n";
    }
  }
  if (args.json) std::cout << results.dump(2) << "\n";
  std::cout.flush();
  throw_if_files_failed(failed, "the others were predicted");
}

template <class Model, class Loss>
void predict_detected(const PredictArgs& args, Predictor<Model, Loss>& predictor, const std::vector<std::string>& inputs);

template <class Model, class Loss = SoftmaxCrossEntropy<typename Model::scalar>>
void predict_images(const PredictArgs& args, const Loss& loss = {}) {
  if (!has_mass_att_maps<Model> && !args.explain.empty())
    throw std::invalid_argument("--explain draws LANMSFF's MassAtt attention maps; " + std::string(Model::name) +
                                " has none (leave --explain out)");
  if (args.json && args.csv) throw std::invalid_argument("--json and --csv: choose one output format");
  if (args.faces != "detect" && args.faces != "aligned")
    throw std::invalid_argument("--faces " + args.faces + ": detect (find the faces in photos) or aligned (the images are face crops)");
  if (args.faces == "aligned" && args.camera >= 0) throw std::invalid_argument("--camera needs --faces detect");
  if (args.faces == "detect" && !tool_has_faces)
    throw std::invalid_argument("this lanmsff was built without the face front end (dlib; Debian libdlib-dev "
                                "libdlib-data): predict on face crops with --faces aligned, or rebuild with dlib installed");
  if (args.images.empty() && args.camera < 0) throw std::invalid_argument("predict: give images, folders or videos (or --camera N)");
  const bool int8 = int8_precision(args.precision);
  if (int8 && !args.explain.empty())
    throw std::invalid_argument("--explain draws the float model's attention maps: leave --precision int8 out");
  Predictor<Model, Loss> predictor(args.weights, loss, int8);
  if (args.faces == "aligned") {
    predict_aligned(args, predictor, expand_inputs(args.images, [](const std::filesystem::path& p) { return is_image_file(p); }));
    return;
  }
  predict_detected(args, predictor, args.images);
}

}  // namespace lanmsff::tool

#if defined(LANMSFF_WITH_FACES)
#include "faces.hpp"
#else
template <class Model, class Loss>
void lanmsff::tool::predict_detected(const PredictArgs&, Predictor<Model, Loss>&, const std::vector<std::string>&) {
  throw std::logic_error("predict_detected: built without the face front end");
}
namespace lanmsff::tool {
inline void prepare_faces(const PrepareFacesArgs&) {
  throw std::invalid_argument("prepare-faces: this lanmsff was built without the face front end (dlib; Debian "
                              "libdlib-dev libdlib-data): rebuild with dlib installed");
}
}  // namespace lanmsff::tool
#endif
