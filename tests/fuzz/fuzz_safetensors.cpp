// The safetensors reader: header length, header JSON (names, dtypes, shapes, offsets, metadata), data
// layout; then every tensor read as float and double.
#include <vector>

#include "fuzz.hpp"
#include "lanmsff/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  fuzz::refusal_is_fine([&] {
    const io::Safetensors file = io::Safetensors::parse(std::vector<std::uint8_t>(data, data + size), "fuzz input");
    for (const io::TensorEntry& entry : file.entries()) {
      std::uint64_t count = 1;
      for (const auto extent : entry.shape) count *= std::uint64_t(extent);
      const auto as_float = file.read<float>(entry.name);
      if (as_float.size() != count) fuzz::broken(entry.name + ": read gives another count than the shape");
      if (file.find(entry.name) != &entry) fuzz::broken(entry.name + ": find() does not return the entry");
      (void)file.read<double>(entry.name);
    }
    for (const auto& [key, value] : file.metadata()) (void)key, (void)value;
  });
  return 0;
}
