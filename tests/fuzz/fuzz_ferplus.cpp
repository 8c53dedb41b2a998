// FERPlus vote files (fer2013new.csv): header, usage, image names, ten vote columns and the majority
// rule, joined row by row with the pixels of a valid FER-2013 file (the committed fixture; run from
// tests/, as ctest does).
#include "fuzz.hpp"
#include "lanmsff/io/ferplus.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  static const bool pixels_ready = [] {
    std::filesystem::copy_file("data/datasets/ferplus/fer2013.csv", fuzz::scratch() / "fer2013.csv",
                               std::filesystem::copy_options::overwrite_existing);
    return true;
  }();
  (void)pixels_ready;
  const auto path = fuzz::scratch() / "fer2013new.csv";
  fuzz::write_file(path, {data, size});
  for (const io::Split split : {io::Split::all, io::Split::train}) {
    io::LoadOptions options;
    options.split = split;
    fuzz::refusal_is_fine([&] {
      const io::Dataset d = io::load_ferplus(path, options);
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d.label(i) < 0 || d.label(i) >= d.num_classes()) fuzz::broken("FERPlus label out of range");
    });
  }
  return 0;
}
