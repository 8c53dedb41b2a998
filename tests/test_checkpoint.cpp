// Model checkpoints: a save/load round trip reproduces a network bit for bit (BatchNorm moving
// statistics included), and every kind of mismatch or damage is refused with a message that names
// it while the model keeps its parameters.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "lanmsff/io/checkpoint.hpp"
#include "lanmsff/lanmsff.hpp"

namespace fs = std::filesystem;
using namespace lanmsff;
using io::load_checkpoint;
using io::save_checkpoint;

namespace {

template <int Classes, class Norm = BatchNorm<>, class T = float>
using SmallNet = Network<Sequential<Conv2D<4, 3>, Norm, ReLU, GlobalAvgPool, Dense<Classes>>, Shape{8, 8, 1}, T>;
using Small = SmallNet<3>;

struct TemporaryDirectory {
  fs::path path;
  TemporaryDirectory() {
    path = fs::temp_directory_path() /
           ("lanmsff-checkpoint-" +
            std::to_string(Rng(std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count())).next()));
    fs::create_directories(path);
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

template <class Model>
std::map<std::string, std::vector<double>> snapshot(Model& model) {
  std::map<std::string, std::vector<double>> values;
  model.for_each_parameter(
      [&](const std::string& name, auto& p) { values[name].assign(p.value.begin(), p.value.end()); });
  return values;
}

Tensor<float> random_batch(int n, std::uint64_t seed) {
  Tensor<float> x(n, Shape{8, 8, 1});
  Rng rng(seed);
  for (auto& v : x) v = static_cast<float>(rng.uniform(-1, 1));
  return x;
}

// A network whose BatchNorm moving statistics have moved away from their initial 0 and 1.
Small trained_network() {
  Small net(1);
  for (int step = 0; step < 5; ++step) net.forward(random_batch(6, 100 + step), Context::train(step));
  return net;
}

template <class Model>
std::vector<float> outputs(Model& model, const Tensor<float>& x) {
  const Tensor<float>& y = model.forward(x, Context::inference());
  return {y.begin(), y.end()};
}

// Writes a file from a model's parameters through `edit(name, writer, parameter)`, which decides what goes in.
template <class Model, class Edit>
void write_edited(Model& model, const fs::path& path, Edit edit) {
  io::SafetensorsWriter writer;
  model.for_each_parameter([&](const std::string& name, auto& p) { edit(name, writer, p); });
  writer.write(path);
}

std::vector<std::int64_t> shape_of(const Parameter<float>& p) { return {p.shape.begin(), p.shape.end()}; }

std::string message_of(auto&& action) {
  try {
    action();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("checkpoint: save and load reproduce a network bit for bit") {
  TemporaryDirectory directory;
  const fs::path path = directory.path / "small.safetensors";
  Small original = trained_network();
  save_checkpoint(original, path, {{"epoch", "5"}, {"dataset", "fashion-mnist"}});

  // The file holds every parameter and moving statistic as F32 under its dotted name and logical shape.
  const io::Safetensors file = io::Safetensors::load(path);
  std::vector<std::string> names;
  for (const auto& entry : file.entries()) names.push_back(entry.name);
  CHECK(names == std::vector<std::string>{"0.kernel", "0.bias", "1.gamma", "1.beta", "1.moving_mean",
                                          "1.moving_variance", "4.kernel", "4.bias"});
  for (const auto& entry : file.entries()) CHECK(entry.dtype == "F32");
  CHECK(file.find("0.kernel")->shape == std::vector<std::int64_t>{3, 3, 1, 4});
  CHECK(file.find("4.kernel")->shape == std::vector<std::int64_t>{4, 3});
  CHECK(file.find("1.moving_mean")->shape == std::vector<std::int64_t>{4});
  const auto moving_mean = file.read<double>("1.moving_mean");
  CHECK(moving_mean == snapshot(original)["1.moving_mean"]);
  CHECK(std::any_of(moving_mean.begin(), moving_mean.end(), [](double v) { return v != 0; }));

  Small restored(99);
  const Tensor<float> x = random_batch(5, 7);
  const std::vector<float> expected = outputs(original, x);
  CHECK(outputs(restored, x) != expected);

  const auto metadata = load_checkpoint(restored, path);
  CHECK(metadata.at("epoch") == "5");
  CHECK(metadata.at("dataset") == "fashion-mnist");
  CHECK(metadata.at(io::checkpoint_version_key) == version_string);
  CHECK(metadata.size() == 3);
  CHECK(io::read_checkpoint_metadata(path) == metadata);
  CHECK(snapshot(restored) == snapshot(original));
  const std::vector<float> after = outputs(restored, x);
  CHECK(std::memcmp(after.data(), expected.data(), after.size() * sizeof(float)) == 0);

  SUBCASE("saving again over the same file replaces it") {
    Small other(5);
    save_checkpoint(other, path, {{"lanmsff.version", "custom"}});
    CHECK(io::read_checkpoint_metadata(path) == std::map<std::string, std::string>{{"lanmsff.version", "custom"}});
    load_checkpoint(restored, path);
    CHECK(snapshot(restored) == snapshot(other));
  }
}

TEST_CASE("checkpoint: F64 files load, double networks save F32") {
  TemporaryDirectory directory;
  Small source = trained_network();

  const fs::path wide = directory.path / "wide.safetensors";
  write_edited(source, wide, [](const std::string& name, io::SafetensorsWriter& w, Parameter<float>& p) {
    w.add(name, shape_of(p), p.data(), "F64");
  });
  Small from_wide(3);
  load_checkpoint(from_wide, wide);
  CHECK(snapshot(from_wide) == snapshot(source));

  SmallNet<3, BatchNorm<>, double> precise(4);
  const fs::path narrow = directory.path / "narrow.safetensors";
  save_checkpoint(precise, narrow);
  const io::Safetensors narrow_file = io::Safetensors::load(narrow);
  for (const auto& entry : narrow_file.entries()) CHECK(entry.dtype == "F32");
  Small from_double(5);
  load_checkpoint(from_double, narrow);
  const auto expected = snapshot(precise), loaded = snapshot(from_double);
  REQUIRE(loaded.size() == expected.size());
  for (const auto& [name, values] : expected)
    for (std::size_t i = 0; i < values.size(); ++i) CHECK(loaded.at(name)[i] == double(float(values[i])));
}

TEST_CASE("checkpoint: mismatches and damage are refused and leave the model unchanged") {
  TemporaryDirectory directory;
  const fs::path path = directory.path / "small.safetensors";
  Small source = trained_network();
  save_checkpoint(source, path);
  const std::string prefix = "checkpoint '" + path.string() + "' does not match the model:";

  SUBCASE("wrong shape: a network with 4 classes") {
    SmallNet<4> wider(2);
    const auto before = snapshot(wider);
    CHECK(message_of([&] { load_checkpoint(wider, path); }) ==
          prefix +
              "\n  shape: 4.kernel is (4, 3) in the file, (4, 4) in the model"
              "\n  shape: 4.bias is (3,) in the file, (4,) in the model");
    CHECK(snapshot(wider) == before);  // the matching conv and BN parameters were not loaded either
  }

  SUBCASE("wrong names: the BatchNorm is named differently") {
    SmallNet<3, Named<"bn", BatchNorm<>>> renamed(2);
    const auto before = snapshot(renamed);
    const std::string message = message_of([&] { load_checkpoint(renamed, path); });
    CHECK(message.starts_with(prefix));
    for (const char* line : {"\n  missing: bn.gamma (4,)", "\n  missing: bn.moving_variance (4,)",
                             "\n  unexpected: 1.gamma (4,)", "\n  unexpected: 1.moving_mean (4,)"})
      CHECK_MESSAGE(message.find(line) != std::string::npos, line);
    CHECK(message.find("0.kernel") == std::string::npos);  // matching tensors are not listed
    CHECK(snapshot(renamed) == before);
  }

  Small target(2);
  const auto before = snapshot(target);

  SUBCASE("a missing tensor") {
    const fs::path partial = directory.path / "partial.safetensors";
    write_edited(source, partial, [](const std::string& name, io::SafetensorsWriter& w, Parameter<float>& p) {
      if (name != "1.moving_variance") w.add(name, shape_of(p), p.data());
    });
    CHECK(message_of([&] { load_checkpoint(target, partial); }) ==
          "checkpoint '" + partial.string() + "' does not match the model:\n  missing: 1.moving_variance (4,)");
  }

  SUBCASE("an extra tensor") {
    const fs::path extra = directory.path / "extra.safetensors";
    write_edited(source, extra, [](const std::string& name, io::SafetensorsWriter& w, Parameter<float>& p) {
      w.add(name, shape_of(p), p.data());
      if (name == "4.bias") w.add("optimizer.step", {}, p.data());
    });
    CHECK(message_of([&] { load_checkpoint(target, extra); }).ends_with(":\n  unexpected: optimizer.step ()"));
  }

  SUBCASE("a wrong dtype") {
    const fs::path integers = directory.path / "integers.safetensors";
    write_edited(source, integers, [](const std::string& name, io::SafetensorsWriter& w, Parameter<float>& p) {
      if (name != "4.bias") return w.add(name, shape_of(p), p.data());
      const std::vector<std::int64_t> zeros(p.size(), 0);
      w.add_i64(name, shape_of(p), zeros.data());
    });
    CHECK(message_of([&] {
            load_checkpoint(target, integers);
          }).ends_with(":\n  dtype: 4.bias is I64 in the file, expected F32 or F64"));
  }

  SUBCASE("a corrupted header") {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(8);
    file.put('[');  // the header's opening brace
    file.close();
    const std::string message = message_of([&] { load_checkpoint(target, path); });
    CHECK(message.find("safetensors file '" + path.string() + "'") != std::string::npos);
    CHECK(message.find("not valid JSON") != std::string::npos);
  }

  SUBCASE("a truncated file") {
    fs::resize_file(path, fs::file_size(path) - 1);
    const std::string message = message_of([&] { load_checkpoint(target, path); });
    CHECK(message.find("'" + path.string() + "'") != std::string::npos);
    CHECK(message.find("end beyond the data section") != std::string::npos);
  }

  SUBCASE("a missing file and an unwritable place") {
    CHECK(message_of([&] { load_checkpoint(target, directory.path / "none.safetensors"); }).find("does not exist") !=
          std::string::npos);
    CHECK(message_of([&] {
            save_checkpoint(target, directory.path / "no" / "x.safetensors");
          }).find("does not exist") != std::string::npos);
  }

  CHECK(snapshot(target) == before);
}
