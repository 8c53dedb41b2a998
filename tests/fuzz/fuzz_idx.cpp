// IDX files (MNIST / Fashion-MNIST), plain or gzipped: the header (magic, element type, dimensions) and
// the data size, read as a 1-dimensional (labels) and a 3-dimensional (images) array.
#include "fuzz.hpp"
#include "lanmsff/io/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  const auto path = fuzz::scratch() / "input-idx-ubyte";
  fuzz::write_file(path, {data, size});
  for (const int dims : {1, 3})
    fuzz::refusal_is_fine([&] {
      const io::IdxArray array = io::read_idx_u8(path, dims);
      std::size_t count = 1;
      for (const std::size_t d : array.dims) count *= d;
      if (int(array.dims.size()) != dims || array.data.size() != count)
        fuzz::broken("IDX dimensions do not match the data");
    });
  return 0;
}
