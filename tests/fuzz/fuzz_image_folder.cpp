// Image-folder walking and loading: the input is a small tree of files, records of
//   [1 byte: where] [1 byte: length L] [L bytes: the file]
// where the byte picks the split folder (none, train/, test/), the class folder (a, b, c, or a hidden
// .d), the extension (.png, .jpg, .bmp, .txt) and a name. The tree is loaded strictly (any bad file
// fails the load) and with LoadOptions::skipped (bad files listed, the rest loaded), at a fixed size.
#include "fuzz.hpp"
#include "lanmsff/io/image_folder.hpp"
#include "lanmsff/io/load_dataset.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  namespace fs = std::filesystem;
  const fs::path root = fuzz::scratch() / "folder";
  fs::remove_all(root);
  fs::create_directories(root);
  static constexpr const char* splits[] = {"", "train/", "test/"};
  static constexpr const char* classes[] = {"a", "b", "c", ".d"};
  static constexpr const char* extensions[] = {".png", ".jpg", ".bmp", ".txt"};
  std::size_t files = 0;
  for (std::size_t at = 0; at + 2 <= size && files < 12; ++files) {
    const int where = data[at], length = data[at + 1];
    at += 2;
    const std::size_t n = std::min<std::size_t>(std::size_t(length), size - at);
    const fs::path dir = root / (std::string(splits[where % 3]) + classes[(where / 3) % 4]);
    fs::create_directories(dir);
    fuzz::write_file(dir / ("f" + std::to_string(files) + extensions[(where / 12) % 4]), {data + at, n});
    at += n;
  }
  io::LoadOptions options;
  options.format = io::DatasetFormat::image_folder;
  options.height = options.width = 8;
  fuzz::refusal_is_fine([&] { (void)io::load_dataset(root, options); });
  std::vector<io::SkippedFile> skipped;
  options.skipped = &skipped;
  for (const io::Split split : {io::Split::all, io::Split::train}) {
    options.split = split;
    fuzz::refusal_is_fine([&] {
      const io::Dataset d = io::load_dataset(root, options);
      for (std::size_t i = 0; i < d.size(); ++i)
        if (d.pixels(i).size() != d.image_shape().size() || d.label(i) < 0 || d.label(i) >= d.num_classes())
          fuzz::broken("image folder sample " + std::to_string(i) + " has a bad size or label");
    });
  }
  return 0;
}
