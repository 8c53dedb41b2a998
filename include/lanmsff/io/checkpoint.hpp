// Model checkpoints as safetensors files: every parameter and BatchNorm moving statistic of a model,
// under its dotted name, as F32 with its logical shape (Parameter::shape). Loading compares the whole
// file with the model first and changes nothing unless every name, dtype and shape matches.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "lanmsff/io/safetensors.hpp"
#include "lanmsff/version.hpp"

namespace lanmsff::io {

// Metadata key that save_checkpoint fills with the library version unless the caller sets it.
inline constexpr const char* checkpoint_version_key = "lanmsff.version";

namespace detail {

template <class P>
std::vector<std::int64_t> parameter_shape(const std::string& name, const P& parameter) {
  std::vector<std::int64_t> shape(parameter.shape.begin(), parameter.shape.end());
  std::uint64_t count = 1;
  for (std::int64_t extent : shape) count *= static_cast<std::uint64_t>(extent < 0 ? 0 : extent);
  if (count != parameter.size())  // a layer bug, not a user error: the writer would read out of bounds
    throw std::logic_error("parameter '" + name + "' has shape " + shape_text(shape) + " but " +
                           std::to_string(parameter.size()) + " values");
  return shape;
}

}  // namespace detail

// Adds every parameter of `model` to `writer` as F32, named prefix + its dotted name (a file that also
// holds other state, such as a training run's resume.safetensors, keeps the weights under "model.").
// Model: anything with for_each_parameter(f), f(const std::string& name, Parameter<T>& p).
template <class Model>
void add_parameters(SafetensorsWriter& writer, Model& model, const std::string& prefix = "") {
  model.for_each_parameter([&](const std::string& name, auto& parameter) {
    writer.add(prefix + name, detail::parameter_shape(name, parameter), parameter.data(), "F32");
  });
}

template <class Model>
void save_checkpoint(Model& model, const std::filesystem::path& path,
                     const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  add_parameters(writer, model);
  for (const auto& [key, value] : metadata) writer.set_metadata(key, value);
  if (!metadata.contains(checkpoint_version_key)) writer.set_metadata(checkpoint_version_key, version_string);
  writer.write(path);
}

// Loads every parameter of `model` from the tensors of `file` named prefix + its name (F32 or F64);
// tensors without the prefix are other state and ignored. On any mismatch it throws one
// std::runtime_error listing every difference (`source` names the file), and the model is unchanged.
template <class Model>
void load_parameters(Model& model, const Safetensors& file, const std::string& source, const std::string& prefix = "") {
  std::vector<std::string> missing, wrong_dtype, wrong_shape, unexpected;
  std::set<std::string> expected;
  model.for_each_parameter([&](const std::string& name, auto& parameter) {
    expected.insert(prefix + name);
    const std::vector<std::int64_t> shape = detail::parameter_shape(name, parameter);
    const TensorEntry* entry = file.find(prefix + name);
    if (!entry) {
      missing.push_back(prefix + name + " " + detail::shape_text(shape));
      return;
    }
    if (entry->dtype != "F32" && entry->dtype != "F64")
      wrong_dtype.push_back(name + " is " + entry->dtype + " in the file, expected F32 or F64");
    if (entry->shape != shape)
      wrong_shape.push_back(name + " is " + detail::shape_text(entry->shape) + " in the file, " +
                            detail::shape_text(shape) + " in the model");
  });
  for (const TensorEntry& entry : file.entries())
    if (entry.name.starts_with(prefix) && !expected.contains(entry.name))
      unexpected.push_back(entry.name + " " + detail::shape_text(entry.shape));

  if (!missing.empty() || !wrong_dtype.empty() || !wrong_shape.empty() || !unexpected.empty()) {
    std::string message = "checkpoint '" + source + "' does not match the model:";
    const auto list = [&](const char* label, const std::vector<std::string>& items) {
      for (const std::string& item : items) message += std::string("\n  ") + label + ": " + item;
    };
    list("missing", missing), list("dtype", wrong_dtype), list("shape", wrong_shape), list("unexpected", unexpected);
    throw std::runtime_error(message);
  }

  // Everything is read (and allocated) before the first parameter changes, so that even a failure
  // while reading leaves the model as it was; the commits only copy into buffers of the right size.
  std::vector<std::function<void()>> commits;
  model.for_each_parameter([&](const std::string& name, auto& parameter) {
    using T = typename std::remove_reference_t<decltype(parameter.value)>::value_type;
    commits.push_back([&parameter, values = file.read<T>(prefix + name)] {
      std::copy(values.begin(), values.end(), parameter.value.begin());
    });
  });
  for (const auto& commit : commits) commit();
}

// Loads every parameter of `model` from `path` (F32 or F64) and returns the file's metadata. On any
// mismatch it throws one std::runtime_error listing every difference, and the model is unchanged.
template <class Model>
std::map<std::string, std::string> load_checkpoint(Model& model, const std::filesystem::path& path) {
  const Safetensors file = Safetensors::load(path);
  load_parameters(model, file, path.string());
  return file.metadata();
}

// The metadata of a checkpoint (the file is read and validated in full).
inline std::map<std::string, std::string> read_checkpoint_metadata(const std::filesystem::path& path) {
  return Safetensors::load(path).metadata();
}

}  // namespace lanmsff::io
