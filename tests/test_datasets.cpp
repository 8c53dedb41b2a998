// Data-set loaders on the committed fixtures (tests/data/datasets, written by
// tools/make_dataset_fixtures.py): IDX (plain and gzipped), FER-2013 (both header layouts),
// FERPlus (the majority rule on hand-made vote rows), KDEF, image folders, format detection,
// every malformed fixture's error message, and the real Fashion-MNIST files where installed.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <lanmsff/io/load_dataset.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef LANMSFF_TEST_DATA_DIR
#define LANMSFF_TEST_DATA_DIR "."
#endif

namespace fs = std::filesystem;
using lanmsff::Shape;
using lanmsff::io::Dataset;
using lanmsff::io::DatasetFormat;
using lanmsff::io::LoadOptions;
using lanmsff::io::Split;

namespace {

const fs::path data_dir = fs::path(LANMSFF_TEST_DATA_DIR) / "data" / "datasets";

LoadOptions split(Split s) {
  LoadOptions options;
  options.split = s;
  return options;
}

std::vector<int> labels_of(const Dataset& d) { return d.labels(); }

// The FER fixtures' faces (face() in the fixture script): (x + 2y + row) % 10 with marked corners.
int face_pixel(int row, int y, int x) {
  if (y == 0 && x == 0) return 100 + row;
  if (y == 47 && x == 47) return 255 - row;
  if (y == 0 && x == 47) return 200;
  return (x + 2 * y + row) % 10;
}

void check_face(const Dataset& d, std::size_t i, int row) {
  const auto p = d.pixels(i);
  REQUIRE(p.size() == 48u * 48u);
  int wrong = 0;
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 48; ++x) wrong += p[y * 48 + x] != face_pixel(row, y, x);
  CHECK_MESSAGE(wrong == 0, "sample " << i << " is not face row " << row);
}

}  // namespace

TEST_CASE("parse_split accepts the data sets' own names, case-insensitively") {
  CHECK(lanmsff::io::parse_split("all") == Split::all);
  CHECK(lanmsff::io::parse_split("Training") == Split::train);
  CHECK(lanmsff::io::parse_split("train") == Split::train);
  CHECK(lanmsff::io::parse_split("PublicTest") == Split::val);
  CHECK(lanmsff::io::parse_split("validation") == Split::val);
  CHECK(lanmsff::io::parse_split("PrivateTest") == Split::test);
  CHECK(lanmsff::io::parse_split("TEST") == Split::test);
  CHECK_THROWS_WITH_AS(lanmsff::io::parse_split("dev"), doctest::Contains("unknown split 'dev'"),
                       std::invalid_argument);
}

// ---- IDX ---------------------------------------------------------------------------------------

TEST_CASE("IDX: plain and gzipped files give the same samples; train, test and all splits") {
  for (const char* dir : {"idx_plain", "idx_gz"}) {
    CAPTURE(dir);
    const Dataset train = lanmsff::io::load_dataset(data_dir / dir, split(Split::train));
    CHECK(train.size() == 5);
    CHECK(train.image_shape() == Shape{4, 3, 1});
    CHECK(labels_of(train) == std::vector<int>{9, 0, 3, 3, 7});
    CHECK(train.num_classes() == 10);
    CHECK(train.class_names().front() == "0");
    CHECK(train.class_counts() == std::vector<std::size_t>{1, 0, 0, 2, 0, 0, 0, 1, 0, 1});
    // pixel (n, y, x) = 30n + 10y + x
    CHECK(int(train.pixels(1)[2 * 3 + 1]) == 30 + 20 + 1);
    CHECK(int(train.pixels(4)[3 * 3 + 2]) == 120 + 30 + 2);
    CHECK(train.image(4)(3, 2, 0) == doctest::Approx(152.0 / 255.0));

    const Dataset test = lanmsff::io::load_dataset(data_dir / dir, split(Split::test));
    CHECK(labels_of(test) == std::vector<int>{1, 2, 0});
    CHECK(int(test.pixels(0)[0]) == 150);

    const Dataset all = lanmsff::io::load_dataset(data_dir / dir);
    CHECK(labels_of(all) == std::vector<int>{9, 0, 3, 3, 7, 1, 2, 0});
    CHECK(int(all.pixels(7)[0]) == 210);
  }
  // One images file names its labels file; the split must agree with the file.
  const Dataset file = lanmsff::io::load_dataset(data_dir / "idx_gz" / "t10k-images-idx3-ubyte.gz");
  CHECK(labels_of(file) == std::vector<int>{1, 2, 0});
  CHECK_THROWS_WITH_AS(
      lanmsff::io::load_dataset(data_dir / "idx_gz" / "t10k-images-idx3-ubyte.gz", split(Split::train)),
      doctest::Contains("is not of split train"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "idx_plain", split(Split::val)),
                       doctest::Contains("no val split"), std::invalid_argument);
}

TEST_CASE("IDX: a target size and channels are applied once, at load time") {
  LoadOptions options = split(Split::train);
  options.height = 8, options.width = 6, options.channels = 3;
  const Dataset d = lanmsff::io::load_dataset(data_dir / "idx_plain", options);
  CHECK(d.image_shape() == Shape{8, 6, 3});
  const Dataset original = lanmsff::io::load_dataset(data_dir / "idx_plain", split(Split::train));
  const auto expected = lanmsff::io::resize_bilinear(lanmsff::io::convert_channels(original.image_u8(2), 3), 8, 6);
  CHECK(d.image_u8(2) == expected);

  options.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  CHECK(lanmsff::io::load_dataset(data_dir / "idx_plain", options).class_names()[9] == "j");
  options.class_names = {"too", "few"};
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "idx_plain", options),
                       doctest::Contains("class_names has 2 names but a label is 9"), std::invalid_argument);
}

TEST_CASE("IDX: corrupt files are errors naming the file and the fault") {
  const LoadOptions train = split(Split::train);
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "bad_magic", train),
                    doctest::Contains("bad_magic/train-images-idx3-ubyte: bad IDX magic"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "truncated", train),
                    doctest::Contains("truncated/train-images-idx3-ubyte: truncated: the header promises 60 bytes "
                                      "of data, the file holds 53"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "count_mismatch", train),
                    doctest::Contains("has 5 images but"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "count_mismatch", train),
                    doctest::Contains("count_mismatch/train-labels-idx1-ubyte has 4 labels"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "float_type", train),
                    doctest::Contains("IDX element type 13 is not supported"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "truncated_gz", train),
                    doctest::Contains("train-images-idx3-ubyte.gz: damaged or truncated gzip data (zlib: "
                                      "unexpected end of file)"));
  // split all also needs the t10k files, which these directories lack.
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "idx_bad" / "truncated"),
                    doctest::Contains("no t10k-images-idx3-ubyte[.gz] file"));

  // Dimensions 2^31 x 2^31 x 4 multiply to 2^64, which wraps to 0 in 64 bits: without the overflow check a
  // file of the bare header would pass the size check as 2^31 images of no data.
  const fs::path wrapped = fs::temp_directory_path() / ("lanmsff-idx-wrap-" + std::to_string(::getpid()));
  const std::vector<std::uint8_t> header{0, 0, 8, 3, 0x80, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 4};
  std::ofstream(wrapped, std::ios::binary).write(reinterpret_cast<const char*>(header.data()), std::streamsize(header.size()));
  const std::string message = [&] {
    try {
      lanmsff::io::read_idx_u8(wrapped, 3);
    } catch (const std::exception& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  }();
  fs::remove(wrapped);
  CHECK_MESSAGE(message.find("the IDX dimensions multiply past any possible size") != std::string::npos, message);
}

TEST_CASE("Fashion-MNIST as Debian installs it: 60000 + 10000 gzipped 28x28 images") {
  const fs::path dir = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(dir)) {
    MESSAGE("skipped: " << dir.string() << " is not installed (Debian package dataset-fashion-mnist)");
    return;
  }
  const Dataset train = lanmsff::io::load_dataset(dir, split(Split::train));
  CHECK(train.size() == 60000);
  CHECK(train.image_shape() == Shape{28, 28, 1});
  CHECK(train.label(0) == 9);
  CHECK(train.class_names()[9] == "Ankle boot");
  CHECK(train.class_counts() == std::vector<std::size_t>(10, 6000));
  const Dataset test = lanmsff::io::load_dataset(dir, split(Split::test));
  CHECK(test.size() == 10000);
  CHECK(test.label(0) == 9);
  CHECK(test.label(1) == 2);
}

// ---- FER-2013 ----------------------------------------------------------------------------------

TEST_CASE("FER-2013: Kaggle's emotion,pixels,Usage and icml_face_data's emotion, Usage, pixels") {
  for (const char* file : {"fer2013.csv", "icml_face_data.csv"}) {
    CAPTURE(file);
    const fs::path path = data_dir / "fer2013" / file;
    CHECK(lanmsff::io::detect_dataset_format(path) == DatasetFormat::fer2013);
    const Dataset all = lanmsff::io::load_dataset(path);
    REQUIRE(all.size() == 5);
    CHECK(all.image_shape() == Shape{48, 48, 1});
    CHECK(labels_of(all) == std::vector<int>{0, 3, 6, 5, 2});
    CHECK(all.class_names() == lanmsff::io::fer2013_class_names());
    CHECK(all.class_names()[6] == "Neutral");
    for (int row = 0; row < 5; ++row) check_face(all, row, row);
    CHECK(all.source(1) == path.string() + ":3");

    const Dataset train = lanmsff::io::load_dataset(path, split(Split::train));
    CHECK(labels_of(train) == std::vector<int>{0, 3, 2});
    check_face(train, 2, 4);
    const Dataset val = lanmsff::io::load_dataset(path, split(Split::val));  // PublicTest
    CHECK(labels_of(val) == std::vector<int>{6});
    check_face(val, 0, 2);
    const Dataset test = lanmsff::io::load_dataset(path, split(Split::test));  // PrivateTest
    CHECK(labels_of(test) == std::vector<int>{5});
  }
}

TEST_CASE("FER-2013: resized to 64x64 RGB at load time") {
  LoadOptions options;
  options.height = options.width = 64;
  options.channels = 3;
  const Dataset d = lanmsff::io::load_dataset(data_dir / "fer2013" / "fer2013.csv", options);
  CHECK(d.image_shape() == Shape{64, 64, 3});
  const Dataset original = lanmsff::io::load_dataset(data_dir / "fer2013" / "fer2013.csv");
  CHECK(d.image_u8(3) == lanmsff::io::resize_bilinear(lanmsff::io::convert_channels(original.image_u8(3), 3), 64, 64));
}

TEST_CASE("FER-2013: each malformed row is an error naming the file, the line and the fault") {
  const fs::path bad = data_dir / "fer2013_bad";
  // Split train: rows of other splits are validated too, never skipped unread.
  const LoadOptions train = split(Split::train);
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "wrong_pixel_count.csv", train),
                    doctest::Contains("wrong_pixel_count.csv:3: pixels: expected 2304 values (48x48), found 2303"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "non_numeric.csv", train),
                    doctest::Contains("non_numeric.csv:4: pixels: value 51 ('1a') is not an integer"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "pixel_out_of_range.csv", train),
                    doctest::Contains("pixel_out_of_range.csv:2: pixels: value 1 (256) is not in 0..255"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "label_out_of_range.csv", train),
                    doctest::Contains("label_out_of_range.csv:2: emotion 7 is not in 0..6"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "unknown_usage.csv", train),
                    doctest::Contains("unknown_usage.csv:3: Usage 'Validation' is not Training, PublicTest or "
                                      "PrivateTest"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "missing_field.csv", train),
                    doctest::Contains("missing_field.csv:2: expected 3 fields like the header, found 2"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "no_pixels_column.csv"),
                    doctest::Contains("no_pixels_column.csv:1: neither a FER-2013 header"));
  LoadOptions as_fer = train;
  as_fer.format = DatasetFormat::fer2013;
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "no_pixels_column.csv", as_fer),
                    doctest::Contains("no_pixels_column.csv:1: no 'pixels' column"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "missing.csv"), doctest::Contains("missing.csv: no such file"));
}

// ---- FERPlus -----------------------------------------------------------------------------------

TEST_CASE("FERPlus majority rule (Microsoft's reference reader) on hand-made vote rows") {
  using V = std::array<int, 10>;
  auto label = [](V v) { return lanmsff::io::ferplus_majority_label(v); };
  // neutral happiness surprise sadness anger disgust fear contempt unknown NF
  CHECK(label({6, 0, 1, 1, 0, 0, 0, 0, 2, 0}) == 0);   // single votes dropped: 6 of 8
  CHECK(label({2, 1, 1, 1, 1, 1, 1, 1, 1, 0}) == 0);   // only 2 of 10 raw, but 2 of 2 after outlier removal
  CHECK(label({3, 0, 0, 0, 0, 0, 0, 2, 0, 0}) == 0);   // 3 of 5
  CHECK(label({0, 0, 6, 0, 0, 0, 4, 0, 0, 0}) == 2);   // 6 of 10
  CHECK(label({0, 0, 0, 0, 0, 0, 0, 10, 0, 0}) == 7);  // contempt is a class
  CHECK(label({1, 1, 0, 8, 0, 0, 0, 0, 0, 0}) == 3);
  CHECK(!label({4, 0, 0, 1, 3, 2, 0, 0, 0, 0}));  // 4 of 9: no majority
  CHECK(!label({5, 5, 0, 0, 0, 0, 0, 0, 0, 0}));  // exactly half is not more than half
  CHECK(!label({0, 0, 0, 0, 0, 0, 0, 0, 7, 3}));  // unknown wins
  CHECK(!label({0, 0, 0, 0, 0, 0, 0, 0, 3, 7}));  // not a face wins
  CHECK(!label({1, 1, 1, 1, 1, 1, 1, 1, 1, 1}));  // nothing survives outlier removal
  CHECK(!label({0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
  // Counts near INT_MAX (a hostile file; found by fuzz_ferplus): the sums must not overflow.
  CHECK(label({2'000'000'000, 2'000'000'000, 2'000'000'000, 0, 0, 0, 0, 0, 0, 0}) == std::nullopt);
  CHECK(label({0, 2'147'483'647, 2, 0, 0, 0, 0, 0, 0, 0}) == 1);
  CHECK_THROWS_AS(lanmsff::io::ferplus_majority_label(std::vector<int>{1, 2, 3}), std::invalid_argument);
}

TEST_CASE("FERPlus: votes from fer2013new.csv, pixels from the sibling fer2013.csv, per split") {
  const fs::path votes = data_dir / "ferplus" / "fer2013new.csv";
  CHECK(lanmsff::io::detect_dataset_format(votes) == DatasetFormat::ferplus);
  const Dataset all = lanmsff::io::load_dataset(votes);
  CHECK(all.class_names() == lanmsff::io::ferplus_class_names());
  CHECK(labels_of(all) == std::vector<int>{0, 2, 7, 3});
  CHECK(all.excluded == 3);  // no majority, no image name, NF
  CHECK(all.source(0) == votes.string() + ":3");
  // The pixels of fer2013.csv row r are face(10 + r).
  check_face(all, 0, 11);
  check_face(all, 3, 16);

  const Dataset train = lanmsff::io::load_dataset(votes, split(Split::train));
  CHECK(labels_of(train) == std::vector<int>{0, 3});
  CHECK(train.excluded == 2);
  const Dataset val = lanmsff::io::load_dataset(votes, split(Split::val));
  CHECK(labels_of(val) == std::vector<int>{2});
  CHECK(val.excluded == 1);
  const Dataset test = lanmsff::io::load_dataset(votes, split(Split::test));
  CHECK(labels_of(test) == std::vector<int>{7});
  CHECK(test.excluded == 0);
}

TEST_CASE("FERPlus: malformed or mismatched files are errors naming file and line") {
  const fs::path bad = data_dir / "ferplus_bad";
  LoadOptions options;
  options.fer2013_csv = (data_dir / "ferplus" / "fer2013.csv").string();
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "usage_mismatch.csv", options),
                    doctest::Contains("usage_mismatch.csv:6: Usage Training disagrees with"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "usage_mismatch.csv", options),
                    doctest::Contains("fer2013.csv:6 (Usage PublicTest)"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "too_few_rows.csv", options),
                    doctest::Contains("fer2013.csv:6: this row has no partner: "));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "too_many_rows.csv", options),
                    doctest::Contains("too_many_rows.csv:9: this row has no partner"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "bad_vote.csv", options),
                    doctest::Contains("bad_vote.csv:3: vote count neutral 'six' is not a non-negative integer"));
  options.format = DatasetFormat::ferplus;
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "missing_column.csv", options),
                    doctest::Contains("missing_column.csv:1: no 'contempt' column"));
  // Without fer2013_csv the pixels are looked for next to the votes.
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(bad / "usage_mismatch.csv"),
                    doctest::Contains(((bad / "fer2013.csv").string() + " does not exist").c_str()));
}

// ---- KDEF --------------------------------------------------------------------------------------

TEST_CASE("KDEF file names: session, gender, subject, expression, angle") {
  const auto name = lanmsff::io::parse_kdef_name("AF01ANFL.JPG");
  REQUIRE(name);
  CHECK(name->session == 'A');
  CHECK(name->gender == 'F');
  CHECK(name->subject == 1);
  CHECK(name->expression == 1);  // AN
  CHECK(name->angle == "FL");
  CHECK(name->person() == "F01");
  const auto straight = lanmsff::io::parse_kdef_name("bm35sus.jpeg");
  REQUIRE(straight);
  CHECK(straight->session == 'B');
  CHECK(straight->person() == "M35");
  CHECK(straight->expression == 6);  // SU
  CHECK(straight->angle == "S");
  for (const char* bad : {"AF36ANS.JPG", "AF00ANS.JPG", "AF01XXS.JPG", "CF01ANS.JPG", "AX01ANS.JPG", "AF01ANS.PNG",
                          "AF01ANXX.JPG", "AF1ANS.JPG", "AF01ANSS.JPG", "AF01AN.JPG"})
    CHECK_MESSAGE(!lanmsff::io::parse_kdef_name(bad), bad);
}

TEST_CASE("KDEF: every image, angles, and the subject-independent split") {
  const fs::path dir = data_dir / "kdef";
  CHECK(lanmsff::io::detect_dataset_format(dir) == DatasetFormat::kdef);
  const Dataset all = lanmsff::io::load_dataset(dir);
  CHECK(all.image_shape() == Shape{8, 6, 3});
  CHECK(all.class_names() == lanmsff::io::kdef_class_names());
  // Sorted paths: AF01 ANS HAFL SUHR, AF03 SAS has, AM02 AFFR DIS, AM04 ANHL NES, BF01 NEHL.
  CHECK(labels_of(all) == std::vector<int>{1, 3, 6, 5, 3, 0, 2, 1, 4, 4});
  CHECK(all.class_counts() == std::vector<std::size_t>{1, 2, 1, 2, 2, 1, 1});
  // Colours per expression (fixture script): angry (20, 250, 20), neutral (128, 128, 128).
  const auto angry = all.image_u8(0);
  CHECK(std::abs(int(angry(4, 3, 0)) - 20) <= 2);
  CHECK(std::abs(int(angry(4, 3, 1)) - 250) <= 2);
  CHECK(std::abs(int(all.image_u8(9)(7, 5, 2)) - 128) <= 2);

  LoadOptions straight;
  straight.kdef_angles = {"s"};
  CHECK(labels_of(lanmsff::io::load_dataset(dir, straight)) == std::vector<int>{1, 5, 3, 2, 4});

  // F01 is held out in both sessions (AF01 and BF01).
  LoadOptions by_list;
  by_list.test_subjects = {"F01"};
  by_list.split = Split::test;
  const Dataset held_out = lanmsff::io::load_dataset(dir, by_list);
  CHECK(labels_of(held_out) == std::vector<int>{1, 3, 6, 4});
  CHECK(held_out.source(3).find("BF01NEHL") != std::string::npos);
  by_list.split = Split::train;
  CHECK(lanmsff::io::load_dataset(dir, by_list).size() == 6);

  // A drawn half of the four people: disjoint, complete, the same for the same seed.
  auto people = [](const Dataset& d) {
    std::set<std::string> out;
    for (std::size_t i = 0; i < d.size(); ++i)
      out.insert(lanmsff::io::parse_kdef_name(fs::path(d.source(i)).filename().string())->person());
    return out;
  };
  LoadOptions drawn;
  drawn.test_fraction = 0.5;
  drawn.seed = 7;
  drawn.split = Split::test;
  const Dataset test = lanmsff::io::load_dataset(dir, drawn);
  drawn.split = Split::train;
  const Dataset train = lanmsff::io::load_dataset(dir, drawn);
  CHECK(people(test).size() == 2);
  CHECK(people(train).size() == 2);
  for (const auto& p : people(test)) CHECK(people(train).count(p) == 0);
  CHECK(test.size() + train.size() == all.size());
  drawn.split = Split::test;
  CHECK(lanmsff::io::load_dataset(dir, drawn).labels() == test.labels());

  LoadOptions small;
  small.channels = 1;
  small.height = 16, small.width = 12;
  const Dataset gray = lanmsff::io::load_dataset(dir, small);
  CHECK(gray.image_shape() == Shape{16, 12, 1});
  CHECK(std::abs(int(gray.image_u8(9)(8, 6, 0)) - 128) <= 2);
}

TEST_CASE("KDEF: bad names, corrupt JPEGs and bad options are errors naming the file or field") {
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "kdef_bad_name"),
                    doctest::Contains("AF01XXS.JPG: not a KDEF file name"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "kdef_corrupt"),
                    doctest::Contains("AF01ANS.JPG: cannot decode image (stb_image: "));
  LoadOptions options;
  options.split = Split::test;
  options.test_subjects = {"F09"};
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "kdef", options),
                       doctest::Contains("test subject 'F09' is not among the people found"), std::invalid_argument);
  options.test_subjects.clear();
  options.kdef_angles = {"UP"};
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "kdef", options),
                       doctest::Contains("unknown KDEF angle 'UP'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "kdef", split(Split::val)),
                       doctest::Contains("KDEF has no val split"), std::invalid_argument);
  options = split(Split::test);
  options.test_fraction = 1.5;
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "kdef", options),
                       doctest::Contains("test_fraction must be in [0, 1]"), std::invalid_argument);
}

// ---- image folders -----------------------------------------------------------------------------

TEST_CASE("image folder with train/ and test/: one class list from both, PNG/JPEG/BMP") {
  const fs::path dir = data_dir / "folder";
  CHECK(lanmsff::io::detect_dataset_format(dir) == DatasetFormat::image_folder);
  const Dataset train = lanmsff::io::load_dataset(dir, split(Split::train));
  CHECK(train.class_names() == std::vector<std::string>{"bird", "cat", "dog"});  // bird only in test/
  CHECK(labels_of(train) == std::vector<int>{1, 1, 2});
  CHECK(train.image_shape() == Shape{4, 4, 1});  // the first image (a.png) is gray
  CHECK(int(train.pixels(0)[5]) == 10);
  CHECK(std::abs(int(train.pixels(1)[5]) - 90) <= 2);  // JPEG
  CHECK(int(train.pixels(2)[5]) == 124);               // BMP (200, 100, 50) -> luma 124.2
  const Dataset test = lanmsff::io::load_dataset(dir, split(Split::test));
  CHECK(labels_of(test) == std::vector<int>{0, 1, 2});
  CHECK(int(test.pixels(0)[0]) == 240);
  CHECK(lanmsff::io::load_dataset(dir).size() == 6);
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(dir, split(Split::val)), doctest::Contains("no val/ sub-folder"),
                       std::invalid_argument);

  LoadOptions rgb = split(Split::train);
  rgb.channels = 3;
  const Dataset colour = lanmsff::io::load_dataset(dir, rgb);
  CHECK(colour.image_shape() == Shape{4, 4, 3});
  const auto dog = colour.image_u8(2);
  CHECK(int(dog(1, 1, 0)) == 200);
  CHECK(int(dog(1, 1, 1)) == 100);
  CHECK(int(dog(1, 1, 2)) == 50);
  CHECK(int(colour.image_u8(0)(3, 3, 2)) == 10);
}

TEST_CASE("image folder without splits: sub-folders at any depth; other files are not samples") {
  const fs::path dir = data_dir / "folder_flat";
  const Dataset d = lanmsff::io::load_dataset(dir);
  CHECK(d.class_names() == std::vector<std::string>{"a", "b"});
  CHECK(labels_of(d) == std::vector<int>{0, 1, 1});  // README.txt and .hidden.png are not images
  CHECK(d.image_shape() == Shape{4, 4, 3});          // the first image (red 1.png) is colour
  CHECK(int(d.image_u8(0)(0, 0, 0)) == 255);
  CHECK(int(d.image_u8(2)(0, 0, 2)) == 255);  // b/sub/3.bmp is blue
  CHECK(d.source(2) == (dir / "b" / "sub" / "3.bmp").string());
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(dir, split(Split::train)), doctest::Contains("no train/ sub-folder"),
                       std::invalid_argument);
}

TEST_CASE("image folder errors: an undecodable file, mixed sizes without a target size") {
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "folder_bad"),
                    doctest::Contains("broken.png: cannot decode image (damaged PNG: a chunk claims 14 bytes, 0 are left in the file)"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "folder_sizes"), doctest::Contains("b.png: image is 5x5 but"));
  LoadOptions sized;
  sized.height = sized.width = 4;
  const Dataset d = lanmsff::io::load_dataset(data_dir / "folder_sizes", sized);
  CHECK(d.size() == 2);
  CHECK(int(d.pixels(1)[0]) == 60);
}

TEST_CASE("image folder with LoadOptions::skipped: unreadable files are left out and listed, the rest load") {
  std::vector<lanmsff::io::SkippedFile> skipped;
  LoadOptions keep_going;
  keep_going.skipped = &skipped;
  const Dataset d = lanmsff::io::load_dataset(data_dir / "folder_bad", keep_going);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].path.ends_with("broken.png"));
  CHECK(skipped[0].reason.find("cannot decode image") != std::string::npos);
  CHECK(d.size() >= 1);
  for (std::size_t i = 0; i < d.size(); ++i) CHECK(d.source(i).find("broken.png") == std::string::npos);

  // Without a target size the first file that decodes sets it; another size is left out too.
  skipped.clear();
  const Dataset sizes = lanmsff::io::load_dataset(data_dir / "folder_sizes", keep_going);
  CHECK(sizes.size() == 1);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].reason.find("b.png: image is 5x5 but") != std::string::npos);
}

// ---- detection, options, the Dataset type ------------------------------------------------------

TEST_CASE("format detection and option errors") {
  CHECK(lanmsff::io::detect_dataset_format(data_dir / "idx_plain") == DatasetFormat::idx);
  CHECK(lanmsff::io::detect_dataset_format(data_dir / "idx_gz" / "train-images-idx3-ubyte.gz") == DatasetFormat::idx);
  CHECK(lanmsff::io::detect_dataset_format(data_dir / "folder_flat") == DatasetFormat::image_folder);
  CHECK(lanmsff::io::parse_dataset_format("kdef") == DatasetFormat::kdef);
  CHECK_THROWS_AS(lanmsff::io::parse_dataset_format("mnist"), std::invalid_argument);
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "nowhere"),
                    doctest::Contains("nowhere: no such file or directory"));
  CHECK_THROWS_WITH(lanmsff::io::load_dataset(data_dir / "resize_bilinear_torch.txt"),
                    doctest::Contains("not a recognised data set file"));
  LoadOptions options;
  options.channels = 2;
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "idx_plain", options),
                       doctest::Contains("channels must be 0 (as stored), 1 or 3, got 2"), std::invalid_argument);
  options.channels = 0;
  options.height = 32;
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "fer2013" / "fer2013.csv", options),
                       doctest::Contains("target size must be both positive or both 0, got 32x0"),
                       std::invalid_argument);
  options.height = 0;
  options.class_names = {"x"};
  CHECK_THROWS_WITH_AS(lanmsff::io::load_dataset(data_dir / "fer2013" / "fer2013.csv", options),
                       doctest::Contains("class_names has 1 names, the data set has 7 classes"), std::invalid_argument);
}

TEST_CASE("Dataset: add checks shape and label; subset, class_counts and make_batch") {
  Dataset d({2, 2, 1}, {"a", "b", "c"});
  d.add(std::vector<std::uint8_t>{0, 51, 102, 255}, 2);
  d.add(std::vector<std::uint8_t>{1, 2, 3, 4}, 0);
  d.add(std::vector<std::uint8_t>{5, 6, 7, 8}, 2);
  CHECK_THROWS_AS(d.add(std::vector<std::uint8_t>{1, 2, 3}, 0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(d.add(std::vector<std::uint8_t>{1, 2, 3, 4}, 3), doctest::Contains("label 3 is not in 0..2"),
                       std::invalid_argument);
  CHECK_THROWS_AS(d.add(std::vector<std::uint8_t>{1, 2, 3, 4}, 0, "named.png"), std::invalid_argument);
  CHECK(d.size() == 3);
  CHECK(d.class_counts() == std::vector<std::size_t>{1, 0, 2});
  CHECK_THROWS_AS(d.pixels(3), std::out_of_range);

  const std::vector<std::size_t> pick{2, 0, 2};
  const Dataset s = d.subset(pick);
  CHECK(labels_of(s) == std::vector<int>{2, 2, 2});
  CHECK(int(s.pixels(1)[3]) == 255);

  lanmsff::Tensor<float> batch;
  std::vector<int> labels;
  const std::vector<std::size_t> indices{1, 0};
  lanmsff::io::make_batch(d, indices, batch, labels);
  CHECK(batch.n() == 2);
  CHECK(batch.shape() == Shape{2, 2, 1});
  CHECK(labels == std::vector<int>{0, 2});
  CHECK(batch(0, 1, 1, 0) == doctest::Approx(4.0 / 255.0));
  CHECK(batch(1, 0, 1, 0) == doctest::Approx(0.2));
  CHECK(batch(1, 1, 1, 0) == 1.0f);
  const std::vector<std::size_t> out_of_range{5};
  CHECK_THROWS_AS(lanmsff::io::make_batch(d, out_of_range, batch, labels), std::out_of_range);
}
