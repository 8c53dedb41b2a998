// FER-2013 CSV files (Kaggle's emotion,pixels,Usage and icml_face_data's column order): the header, the
// fields, the pixel lists and the usage names, loaded whole and by split, at the stored size and resized.
#include "fuzz.hpp"
#include "lanmsff/io/fer2013.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  const auto path = fuzz::scratch() / "fer2013.csv";
  fuzz::write_file(path, {data, size});
  io::LoadOptions options;
  for (const io::Split split : {io::Split::all, io::Split::test}) {
    options.split = split;
    fuzz::refusal_is_fine([&] {
      const io::Dataset d = io::load_fer2013(path, options);
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d.pixels(i).size() != 48u * 48u || d.label(i) < 0 || d.label(i) >= d.num_classes())
          fuzz::broken("FER-2013 sample " + std::to_string(i) + " has a bad size or label");
    });
  }
  options.split = io::Split::all, options.height = options.width = 8, options.channels = 3;
  fuzz::refusal_is_fine([&] { (void)io::load_fer2013(path, options); });
  return 0;
}
