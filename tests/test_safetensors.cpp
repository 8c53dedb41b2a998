// The safetensors reader and writer: values of every dtype from a file written by an independent
// implementation (tools/make_safetensors_fixture.py), byte-exact writer output, round trips, every
// validation error, robustness against truncated and corrupted files, and atomic writes.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lanmsff/core/random.hpp"
#include "lanmsff/io/safetensors.hpp"

#ifndef LANMSFF_TEST_DATA_DIR
#define LANMSFF_TEST_DATA_DIR "."  // the tests run from tests/
#endif

namespace fs = std::filesystem;
using lanmsff::io::Safetensors;
using lanmsff::io::SafetensorsWriter;

namespace {

const fs::path fixtures = fs::path(LANMSFF_TEST_DATA_DIR) / "data" / "safetensors";

std::vector<std::uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "fixture missing: ", path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file with the given header text (unpadded) followed by `data_size` zero bytes.
std::vector<std::uint8_t> file_with_header(const std::string& header, std::size_t data_size = 0) {
  std::vector<std::uint8_t> bytes(8 + header.size() + data_size, 0);
  lanmsff::io::detail::store_le<std::uint64_t>(header.size(), bytes.data());
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  return bytes;
}

// A fresh directory under the system's temporary directory, removed with its contents at scope exit.
struct TemporaryDirectory {
  fs::path path;
  explicit TemporaryDirectory(const std::string& tag) {
    path = fs::temp_directory_path() /
           ("lanmsff-" + tag + "-" +
            std::to_string(
                lanmsff::Rng(std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count())).next()));
    fs::create_directories(path);
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

bool same_bits(float a, float b) { return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b); }

}  // namespace

TEST_CASE("safetensors: every dtype from an independently written file") {
  const Safetensors file = Safetensors::load(fixtures / "dtypes.safetensors");
  // entries() is in data order, which is the generator's insertion order, not name order.
  std::vector<std::string> names;
  for (const auto& entry : file.entries()) names.push_back(entry.name);
  CHECK(names == std::vector<std::string>{"i64", "f32", "f64", "f16", "bf16", "i32", "i16", "i8", "u8", "u16", "u32",
                                          "u64", "bool", "scalar", "empty"});
  CHECK(file.metadata() == std::map<std::string, std::string>{{"format", "pt"}, {"note", "h\u00e9llo \u2713"}});
  CHECK(file.source() == (fixtures / "dtypes.safetensors").string());

  const auto* f32 = file.find("f32");
  REQUIRE(f32 != nullptr);
  CHECK(f32->dtype == "F32");
  CHECK(f32->shape == std::vector<std::int64_t>{2, 3});
  CHECK(f32->end - f32->begin == 24);
  const auto f32_values = file.read<float>("f32");
  REQUIRE(f32_values.size() == 6);
  CHECK(f32_values[0] == 0.0f);
  CHECK(f32_values[1] == 1.5f);
  CHECK(f32_values[2] == -2.25f);
  CHECK(f32_values[3] == std::numeric_limits<float>::max());
  CHECK(f32_values[4] == std::numeric_limits<float>::denorm_min());
  CHECK(same_bits(f32_values[5], -0.0f));

  CHECK(file.read<double>("f64") == std::vector<double>{0.1, -1e300, 2.5});
  CHECK(file.read<float>("f64")[0] == 0.1f);  // rounds like a cast

  const auto half = file.read<float>("f16");
  CHECK(half[0] == 1.0f);
  CHECK(half[1] == -2.5f);
  CHECK(half[2] == 65504.0f);
  CHECK(half[3] == std::ldexp(1.0f, -24));  // smallest subnormal half
  CHECK(half[4] == std::numeric_limits<float>::infinity());
  CHECK(std::isnan(half[5]));
  CHECK(file.read<float>("bf16") == std::vector<float>{1.0f, -3.5f, 0.15625f, std::ldexp(1.0f, 100)});

  CHECK(file.read<std::int64_t>("i64") == std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(),
                                                                    std::numeric_limits<std::int64_t>::max(), 0, -1});
  CHECK(file.read<int>("i32") == std::vector<int>{std::numeric_limits<int>::min(), std::numeric_limits<int>::max(), 7});
  CHECK(file.read<int>("i16") == std::vector<int>{-32768, 32767});
  CHECK(file.read<int>("i8") == std::vector<int>{-128, 127, -1});
  CHECK(file.read<int>("u8") == std::vector<int>{0, 255, 17, 128});
  CHECK(file.read<float>("u8") == std::vector<float>{0, 255, 17, 128});
  CHECK(file.read<int>("u16") == std::vector<int>{65535});
  CHECK(file.read<std::uint32_t>("u32") == std::vector<std::uint32_t>{4294967295u});
  CHECK(file.read<std::uint64_t>("u64") == std::vector<std::uint64_t>{std::numeric_limits<std::uint64_t>::max()});
  CHECK(file.read<int>("bool") == std::vector<int>{1, 0, 1});

  CHECK(file.find("scalar")->shape.empty());
  CHECK(file.read<double>("scalar") == std::vector<double>{42.5});
  CHECK(file.find("empty")->shape == std::vector<std::int64_t>{0, 3});
  CHECK(file.read<float>("empty").empty());

  CHECK(file.contains("i8"));
  CHECK_FALSE(file.contains("I8"));
  CHECK(file.find("nope") == nullptr);
  CHECK_THROWS_WITH_AS(file.read<float>("nope"), doctest::Contains("no tensor named 'nope'"), std::runtime_error);
  // Integer targets get exact values or an error, never a silent truncation or wrap-around.
  CHECK_THROWS_WITH_AS(file.read<int>("i64"), doctest::Contains("cannot be represented exactly"), std::runtime_error);
  CHECK_THROWS_WITH_AS(file.read<int>("f32"), doctest::Contains("tensor 'f32'"), std::runtime_error);
  CHECK_THROWS_WITH_AS(file.read<std::uint8_t>("i8"), doctest::Contains("index 0"), std::runtime_error);
  CHECK_THROWS_AS(file.read<std::int64_t>("f16"), std::runtime_error);  // infinity
}

TEST_CASE("safetensors: writer output is byte-identical to the independent implementation") {
  SafetensorsWriter writer;
  const float kernel[] = {1.0f, -2.5f, 3.25f, 1e-3f};
  const double from_double[] = {0.1, -1e-30, 2.5};
  const double wide[] = {0.1, -1e300, 2.5};
  const std::int64_t step[] = {-3, std::int64_t(1) << 40};
  const float scalar = 7.0f, half = 0.5f;
  writer.add("block1.conv1.kernel", {2, 2}, kernel);
  writer.add("from_double", {3}, from_double);  // F32 by default, converted from double
  writer.add("wide", {3}, wide, "F64");
  writer.add_i64("step", {2}, step);
  writer.add("scalar", {}, &scalar);
  writer.add("empty", {0}, static_cast<const float*>(nullptr));
  writer.add("quote \" and \u00e9", {1}, &half);
  writer.set_metadata("z", "last");
  writer.set_metadata("a", "1");
  const std::vector<std::uint8_t> bytes = writer.bytes();
  CHECK(bytes == read_bytes(fixtures / "writer_reference.safetensors"));
}

TEST_CASE("safetensors: round trip of shapes, dtypes and metadata") {
  lanmsff::Rng rng(7);
  std::vector<float> a(2 * 3 * 4 * 5);
  for (auto& v : a) v = static_cast<float>(rng.normal());
  std::vector<double> b(17);
  for (auto& v : b) v = rng.normal() * 1e-200;
  const std::vector<std::int64_t> c = {5, -6, std::numeric_limits<std::int64_t>::min()};
  const double scalar = -0.125;

  SafetensorsWriter writer;
  writer.add("a", {2, 3, 4, 5}, a.data());
  writer.add("b", {17}, b.data(), "F64");
  writer.add_i64("c", {3, 1}, c.data());
  writer.add("scalar", {}, &scalar);
  writer.add("nothing", {4, 0, 2}, a.data());
  writer.set_metadata("epoch", "12");
  writer.set_metadata("note", "");
  const auto bytes = writer.bytes();

  const std::uint64_t header_size = lanmsff::io::detail::load_le<std::uint64_t>(bytes.data());
  CHECK((8 + header_size) % 8 == 0);  // the data section is 8-byte aligned
  CHECK(bytes[8 + header_size - 1] != '\0');

  const Safetensors file = Safetensors::parse(bytes, "memory");
  REQUIRE(file.entries().size() == 5);
  CHECK(file.entries()[0].name == "a");  // insertion order is data order
  CHECK(file.entries()[4].name == "nothing");
  const auto a_read = file.read<float>("a");
  CHECK(std::equal(a.begin(), a.end(), a_read.begin(), a_read.end(), same_bits));
  CHECK(file.read<double>("b") == b);
  CHECK(file.find("b")->dtype == "F64");
  CHECK(file.read<std::int64_t>("c") == c);
  CHECK(file.find("c")->shape == std::vector<std::int64_t>{3, 1});
  CHECK(file.read<float>("scalar") == std::vector<float>{-0.125f});
  CHECK(file.find("scalar")->shape.empty());
  CHECK(file.find("nothing")->shape == std::vector<std::int64_t>{4, 0, 2});
  CHECK(file.read<float>("nothing").empty());
  CHECK(file.metadata() == std::map<std::string, std::string>{{"epoch", "12"}, {"note", ""}});

  SUBCASE("an empty file (no tensors, no metadata) is valid") {
    const auto empty = Safetensors::parse(SafetensorsWriter().bytes(), "empty");
    CHECK(empty.entries().empty());
    CHECK(empty.metadata().empty());
  }
}

TEST_CASE("safetensors: writer refuses bad arguments") {
  SafetensorsWriter writer;
  const float x[4] = {};
  writer.add("x", {4}, x);
  CHECK_THROWS_WITH_AS(writer.add("x", {4}, x), doctest::Contains("already added"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.add("__metadata__", {4}, x), doctest::Contains("reserved"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.add("y", {2, -2}, x), doctest::Contains("negative dimension"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.add("y", {4}, x, "F16"), doctest::Contains("dtype 'F16'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.add("y", {4}, static_cast<const float*>(nullptr)), doctest::Contains("null data"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.add("y", {std::int64_t(1) << 62, 8}, x), doctest::Contains("too large"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.add("bad\xff", {4}, x), doctest::Contains("not valid UTF-8"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(writer.set_metadata("k", "\xc3"), doctest::Contains("not valid UTF-8"), std::invalid_argument);
  // A refused tensor leaves nothing behind.
  CHECK(Safetensors::parse(writer.bytes(), "w").entries().size() == 1);
}

TEST_CASE("safetensors: every validation error names the file and the problem") {
  const auto refuses = [](const std::vector<std::uint8_t>& bytes, const char* problem) {
    CAPTURE(problem);
    CHECK_THROWS_WITH_AS(Safetensors::parse(bytes, "bad.safetensors"), doctest::Contains(problem), std::runtime_error);
    CHECK_THROWS_WITH_AS(Safetensors::parse(bytes, "bad.safetensors"), doctest::Contains("'bad.safetensors'"),
                         std::runtime_error);
  };
  const auto header = [](const std::string& text, std::size_t data_size = 0) {
    return file_with_header(text, data_size);
  };

  refuses({1, 2, 3, 4, 5}, "5 bytes long, too short");
  std::vector<std::uint8_t> huge(16, 0);
  lanmsff::io::detail::store_le<std::uint64_t>(200'000'000, huge.data());
  refuses(huge, "exceeds the 100 MB limit");
  std::vector<std::uint8_t> long_header(28, ' ');
  lanmsff::io::detail::store_le<std::uint64_t>(100, long_header.data());
  refuses(long_header, "header length 100 is larger than the rest of the file (20 bytes)");

  refuses(header(R"({"a":)"), "not valid JSON");
  refuses(header("{\"a\xff\":1}"), "not valid JSON");  // ill-formed UTF-8
  refuses(header(R"({} trailing)"), "not valid JSON");
  refuses(header(R"([1, 2])"), "not a JSON object");
  refuses(header(R"({"a":5})"), "tensor 'a': expected an object");
  refuses(header(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", 4), "tensor 'a': missing field 'dtype'");
  refuses(header(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4), "missing field 'shape'");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "missing field 'data_offsets'");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4), "unexpected field 'extra'");
  refuses(header(R"({"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4), "dtype is number, expected a string");
  refuses(header(R"({"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}})", 4), "unknown or unsupported dtype 'Q4'");
  refuses(header(R"({"a":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4), "shape is string");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
          "not an array of non-negative integers");
  refuses(header(R"({"a":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,4]}})", 4), "negative dimension -2");
  refuses(header(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}})", 4),
          "overflows 64 bits");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4), "not an array of two integers");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4), "negative offset");
  refuses(header(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", 4), "begin is after end");
  refuses(header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", 8),
          "end beyond the data section (8 bytes)");
  refuses(header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
          "hold 8 bytes, but dtype F32 and shape (3,) need 12");
  refuses(
      header(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          8),
      "tensor 'b' at bytes [4, 8) overlaps tensor 'a' at bytes [0, 8)");
  refuses(
      header(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          12),
      "bytes [4, 8) before tensor 'b' belong to no tensor");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "bytes [0, 4) before tensor 'a'");
  refuses(header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8),
          "the last 4 bytes of the file belong to no tensor");
  refuses(
      header(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          8),
      "tensor name 'a' appears more than once");
  refuses(header(R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", 4),
          "key 'dtype' appears more than once");
  refuses(header(R"({"__metadata__":{"k":"v","k":"w"}})"), "key 'k' appears more than once");
  refuses(header(R"({"__metadata__":["v"]})"), "__metadata__ is not an object");
  refuses(header(R"({"__metadata__":{"epoch":3}})"), "__metadata__ value of key 'epoch' is number, expected a string");

  // A BOOL byte other than 0/1 is found when the tensor is read.
  auto bools = header(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", 2);
  bools.back() = 2;
  CHECK_THROWS_WITH_AS(Safetensors::parse(bools, "b").read<int>("m"), doctest::Contains("BOOL byte 2"),
                       std::runtime_error);

  TemporaryDirectory directory("st-load");
  CHECK_THROWS_WITH_AS(Safetensors::load(directory.path / "absent.safetensors"), doctest::Contains("does not exist"),
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(Safetensors::load(directory.path), doctest::Contains("is a directory"), std::runtime_error);
}

TEST_CASE("safetensors: truncated and corrupted files throw, never crash") {
  const std::vector<std::uint8_t> valid = read_bytes(fixtures / "dtypes.safetensors");
  const std::size_t header_end = 8 + lanmsff::io::detail::load_le<std::uint64_t>(valid.data());
  const auto read_everything = [](const Safetensors& file) {
    double sum = 0;
    for (const auto& entry : file.entries())
      for (double v : file.read<double>(entry.name)) sum += v;
    return sum;
  };

  // Every proper prefix is missing bytes the header promises, so every one must be refused.
  for (std::size_t length = 0; length < valid.size(); ++length) {
    CAPTURE(length);
    CHECK_THROWS_WITH_AS(Safetensors::parse({valid.begin(), valid.begin() + std::ptrdiff_t(length)}, "cut"),
                         doctest::Contains("safetensors file 'cut': "), std::runtime_error);
  }
  CHECK_NOTHROW(read_everything(Safetensors::parse(valid, "whole")));

  lanmsff::Rng rng(2024);
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::uint8_t> bytes = valid;
    const int flips = 1 + int(rng.below(3));
    for (int f = 0; f < flips; ++f) bytes[rng.below(header_end)] ^= std::uint8_t(1u << rng.below(8));
    try {
      read_everything(Safetensors::parse(std::move(bytes), "flipped"));
      ++loaded;
    } catch (const std::runtime_error&) {
      ++refused;
    }
  }
  CHECK(loaded + refused == 3000);
  CHECK(refused > 1000);  // most flips break the JSON, a length or an offset
  CHECK(loaded > 0);      // some only change a name or a metadata character

  // Flips in the data section change values, not validity (BOOL aside, which is read-checked).
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::uint8_t> bytes = valid;
    bytes[header_end + rng.below(valid.size() - header_end)] ^= std::uint8_t(1u << rng.below(8));
    const Safetensors file = Safetensors::parse(std::move(bytes), "data-flipped");
    CHECK(file.entries().size() == 15);
  }

  // Random headers of every small size.
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text(rng.below(64), ' ');
    const char alphabet[] = "{}[]\":,0123456789-eE.F3I6dtypeshapdaofs_ \\u\xff";
    for (char& ch : text) ch = alphabet[rng.below(sizeof(alphabet) - 1)];
    try {
      read_everything(Safetensors::parse(file_with_header(text, rng.below(16)), "random"));
    } catch (const std::runtime_error&) {
    }
  }
}

TEST_CASE("safetensors: writes are atomic and leave no temporary files") {
  TemporaryDirectory directory("st-write");
  const fs::path target = directory.path / "weights.safetensors";
  // Two versions of different sizes, each internally consistent.
  const auto version = [](float value, std::size_t count) {
    SafetensorsWriter writer;
    const std::vector<float> data(count, value);
    writer.add("w", {std::int64_t(count)}, data.data());
    return writer;
  };
  const SafetensorsWriter old_version = version(1.0f, 50'000), new_version = version(2.0f, 20'000);

  old_version.write(target);
  CHECK(Safetensors::load(target).read<float>("w").size() == 50'000);
  new_version.write(target);
  CHECK(Safetensors::load(target).read<float>("w") == std::vector<float>(20'000, 2.0f));
  CHECK(directory.listing() == std::vector<std::string>{"weights.safetensors"});

  // A reader that keeps loading while the file is rewritten sees one whole version or the other.
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      try {
        const auto w = Safetensors::load(target).read<float>("w");
        const bool whole = (w.size() == 50'000 && w.front() == 1.0f && w.back() == 1.0f) ||
                           (w.size() == 20'000 && w.front() == 2.0f && w.back() == 2.0f);
        if (!whole) ++torn;
      } catch (const std::exception&) {
        ++torn;
      }
      ++reads;
    }
  });
  for (int i = 0; i < 40; ++i) (i % 2 ? new_version : old_version).write(target);
  done = true;
  reader.join();
  CHECK(reads > 0);
  CHECK(torn == 0);
  CHECK(directory.listing() == std::vector<std::string>{"weights.safetensors"});

  const std::string missing_directory = "directory '" + (directory.path / "missing").string() + "' does not exist";
  CHECK_THROWS_WITH_AS(new_version.write(directory.path / "missing" / "w.safetensors"),
                       doctest::Contains(missing_directory.c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(new_version.write(target / "w.safetensors"), doctest::Contains("is not a directory"),
                       std::runtime_error);
  fs::create_directory(directory.path / "taken");
  CHECK_THROWS_WITH_AS(new_version.write(directory.path / "taken"), doctest::Contains("is a directory"),
                       std::runtime_error);
  CHECK(directory.listing() == std::vector<std::string>{"taken", "weights.safetensors"});

  // A relative path writes into the current directory's tree like any other.
  const fs::path previous = fs::current_path();
  fs::current_path(directory.path);
  new_version.write("relative.safetensors");
  fs::current_path(previous);
  CHECK(Safetensors::load(directory.path / "relative.safetensors").read<float>("w").size() == 20'000);
}

TEST_CASE("safetensors: a write that fails (a full disk) throws and leaves the previous file whole") {
  // The file-size limit makes writes past 64 KiB fail with EFBIG, as a full disk fails them with ENOSPC.
  TemporaryDirectory directory("st-full");
  const fs::path target = directory.path / "weights.safetensors";
  SafetensorsWriter small, large;
  const std::vector<float> few(100, 1.0f), many(100'000, 2.0f);
  small.add("w", {100}, few.data());
  large.add("w", {100'000}, many.data());
  small.write(target);

  rlimit previous{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &previous) == 0);
  rlimit limited = previous;
  limited.rlim_cur = 64 * 1024;
  const auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // an error return instead of the signal
  REQUIRE(setrlimit(RLIMIT_FSIZE, &limited) == 0);
  std::string message;
  try {
    large.write(target);
  } catch (const std::exception& error) {
    message = error.what();
  }
  setrlimit(RLIMIT_FSIZE, &previous);
  std::signal(SIGXFSZ, previous_handler);
  CHECK_MESSAGE(message.find("weights.safetensors': write failed: ") != std::string::npos, message);
  CHECK(Safetensors::load(target).read<float>("w") == few);  // the previous version, whole
  CHECK(directory.listing() == std::vector<std::string>{"weights.safetensors"});  // no partial temporary file
}
