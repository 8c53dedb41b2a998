// The models the command-line tool knows, and the dispatch from run-time choices (model name,
// class count, input channels) to the compile-time LANMSFF types. MA-Net's types live in their own
// translation unit (manet_commands.cpp), reached through manet_commands.hpp.
#pragma once

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lanmsff/models/lanmsff.hpp"
#include "numbers.hpp"

namespace lanmsff::tool {

struct ModelChoice {
  std::string name = "lanmsff";
  int classes = 0;
  int channels = 1;
  int size = 64;
};

// MA-Net takes 224x224 RGB: its patch grid is laid out for that size (docs/models.md).
inline constexpr int manet_size = 224;
inline ModelChoice manet_choice(int classes) { return {.name = "manet", .classes = classes, .channels = 3, .size = manet_size}; }

// Each (classes, channels) pair is its own model type, compiled into the tool: gray models for 2 to
// 10 classes, RGB models for 7 and 8 (FER-2013 / KDEF / RAF-DB and FERPlus / AffectNet class sets).
// A program of your own can instantiate models::LANMSFF<Classes, Size, Channels> for anything else.
using GrayClasses = std::integer_sequence<int, 2, 3, 4, 5, 6, 7, 8, 9, 10>;
using RGBClasses = std::integer_sequence<int, 7, 8>;

namespace detail {
// lanmsff::models compiles these networks once for the tool (LANMSFF_FOR_EACH_COMPILED_LANMSFF): a model
// of the tool missing there would compile in the tool's own files again, slowly.
template <int Channels, int... Classes>
constexpr bool all_compiled(std::integer_sequence<int, Classes...>) {
#define LANMSFF_TOOL_COMPILED_(C, Ch) std::pair{C, Ch},
  constexpr std::pair<int, int> compiled[] = {LANMSFF_FOR_EACH_COMPILED_LANMSFF(LANMSFF_TOOL_COMPILED_)};
#undef LANMSFF_TOOL_COMPILED_
  return ((std::ranges::find(compiled, std::pair{Classes, Channels}) != std::end(compiled)) && ...);
}
static_assert(all_compiled<1>(GrayClasses{}) && all_compiled<3>(RGBClasses{}),
              "a model of the tool is not in LANMSFF_FOR_EACH_COMPILED_LANMSFF (models/lanmsff.hpp)");

template <int Channels, class F, int... Classes>
void dispatch_classes(int classes, F& f, std::integer_sequence<int, Classes...>) {
  const bool found =
      ((classes == Classes ? (f.template operator()<models::LANMSFF<Classes, 64, Channels>>(), true) : false) || ...);
  if (!found) {
    std::string list;
    ((list += (list.empty() ? "" : ", ") + std::to_string(Classes)), ...);
    throw std::invalid_argument("the tool's " + std::string(Channels == 1 ? "gray" : "RGB") + " LANMSFF models have " +
                                list + " classes, not " + std::to_string(classes) +
                                " (instantiate models::LANMSFF<Classes, Size, Channels> in your own program for others)");
  }
}
}  // namespace detail

// Calls f.template operator()<Model>() with the model type for `choice`.
template <class F>
void with_model(const ModelChoice& choice, F&& f) {
  if (choice.name != "lanmsff")
    throw std::invalid_argument("unknown model '" + choice.name + "' (available: lanmsff, manet)");
  if (choice.size != 64) throw std::invalid_argument("the tool's LANMSFF takes 64x64 inputs, not " + std::to_string(choice.size));
  if (choice.channels == 1) detail::dispatch_classes<1>(choice.classes, f, GrayClasses{});
  else if (choice.channels == 3) detail::dispatch_classes<3>(choice.classes, f, RGBClasses{});
  else throw std::invalid_argument("input channels must be 1 or 3, not " + std::to_string(choice.channels));
}

// What a checkpoint's metadata says about its model.
inline ModelChoice model_from_metadata(const std::map<std::string, std::string>& meta, const std::string& file) {
  const auto get = [&](const char* key) {
    const auto it = meta.find(key);
    if (it == meta.end()) throw std::runtime_error(file + ": the checkpoint's metadata has no '" + key + "'");
    return it->second;
  };
  ModelChoice choice;
  choice.name = get("model");
  const std::string classes = get("classes"), shape = get("input_shape");  // "7", "64x64x1"
  const auto malformed = [&](const char* key, const std::string& value, const char* expected) {
    return std::runtime_error(file + ": the checkpoint's metadata '" + key + "' = '" + value + "' is not " + expected);
  };
  const std::optional<long long> count = parse_integer(classes);
  if (!count || *count < 1 || *count > 1'000'000) throw malformed("classes", classes, "a positive class count");
  choice.classes = int(*count);
  const auto x1 = shape.find('x'), x2 = shape.rfind('x');
  const auto height = parse_integer(std::string_view(shape).substr(0, x1));
  const auto width = x1 < x2 ? parse_integer(std::string_view(shape).substr(x1 + 1, x2 - x1 - 1)) : std::nullopt;
  const auto channels = x1 < x2 ? parse_integer(std::string_view(shape).substr(x2 + 1)) : std::nullopt;
  if (!height || !width || !channels || *height != *width || *height < 1 || *height > 65536 || *channels < 1 ||
      *channels > 4)
    throw malformed("input_shape", shape, "SIZExSIZExCHANNELS (a square input of 1 to 4 channels)");
  choice.size = int(*height), choice.channels = int(*channels);
  return choice;
}

}  // namespace lanmsff::tool
