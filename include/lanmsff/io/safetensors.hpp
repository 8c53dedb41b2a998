// Reading and writing safetensors files (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and byte range,
// then the raw little-endian data. The reader validates the whole file before it hands out a value.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#define LANMSFF_POSIX_FILES 1
#endif

namespace lanmsff::io {

struct TensorEntry {
  std::string name;
  std::string dtype;                // "F32", "I64", ... as written in the file
  std::vector<std::int64_t> shape;  // empty for a 0-d (scalar) tensor
  std::size_t begin = 0, end = 0;   // byte offsets into the data section
};

namespace detail {

enum class DType { boolean, u8, i8, i16, u16, i32, u32, i64, u64, f16, bf16, f32, f64 };

struct DTypeInfo {
  std::string_view name;
  DType type;
  std::size_t size;
};

// The dtypes this reader understands (the 8-bit float and complex types of newer files are refused).
inline constexpr DTypeInfo dtype_table[] = {
    {"BOOL", DType::boolean, 1}, {"U8", DType::u8, 1},   {"I8", DType::i8, 1},     {"I16", DType::i16, 2},
    {"U16", DType::u16, 2},      {"I32", DType::i32, 4}, {"U32", DType::u32, 4},   {"I64", DType::i64, 8},
    {"U64", DType::u64, 8},      {"F16", DType::f16, 2}, {"BF16", DType::bf16, 2}, {"F32", DType::f32, 4},
    {"F64", DType::f64, 8}};

inline const DTypeInfo* dtype_info(std::string_view name) {
  for (const auto& info : dtype_table)
    if (info.name == name) return &info;
  return nullptr;
}

// Python's tuple notation, as lanmsff::shape_string: (3, 3, 1, 66), (8,), ().
inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

inline bool multiply_checked(std::uint64_t a, std::uint64_t b, std::uint64_t& product) {
  if (b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b) return false;
  product = a * b;
  return true;
}

// Byte-wise so that it is correct on any host and never needs aligned data.
template <class U>
U load_le(const std::uint8_t* p) {
  U value = 0;
  for (std::size_t i = 0; i < sizeof(U); ++i) value |= static_cast<U>(static_cast<U>(p[i]) << (8 * i));
  return value;
}
template <class U>
void store_le(U value, std::uint8_t* p) {
  for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu;
  std::uint32_t bits;
  if (exponent == 0x1F) {
    bits = sign | 0x7F800000u | (mantissa << 13);  // infinity or NaN (payload kept)
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);  // rebias 15 -> 127
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalise, it is a normal float
    exponent = 113;
    while (!(mantissa & 0x400u)) mantissa <<= 1, --exponent;
    bits = sign | (exponent << 23) | ((mantissa & 0x3FFu) << 13);
  }
  return std::bit_cast<float>(bits);
}

inline float bfloat16_to_float(std::uint16_t b) { return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16); }

// Converts one stored value to T; false when T cannot hold it exactly (integer targets only:
// a float target rounds, as a cast would).
template <class T, class S>
bool convert_value(S value, T& out) {
  if constexpr (std::is_floating_point_v<T>) {
    out = static_cast<T>(value);
    return true;
  } else if constexpr (std::is_floating_point_v<S>) {
    if (!std::isfinite(value) || value != std::trunc(value)) return false;
    const S upper = std::ldexp(S(1), std::numeric_limits<T>::digits);  // exclusive, exact in S
    const S lower = std::is_signed_v<T> ? -upper : S(0);
    if (!(value >= lower && value < upper)) return false;
    out = static_cast<T>(value);
    return true;
  } else {
    if (!std::in_range<T>(value)) return false;
    out = static_cast<T>(value);
    return true;
  }
}

inline constexpr std::uint64_t max_header_size = 100'000'000;  // the reference implementation's limit

// Writes `bytes` to `path` so that readers see the old file or the new one, never a mix: the data
// goes to a temporary file in the same directory (rename is atomic only within a file system), is
// flushed to disk, and is renamed over the target. The temporary file never outlives a failure.
inline void write_file_atomically(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  namespace fs = std::filesystem;
  const std::string target = path.string();
  if (!path.has_filename()) throw std::invalid_argument("cannot write '" + target + "': not a file name");
  const fs::path directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code error;
  const fs::file_type directory_type = fs::status(directory, error).type();
  if (directory_type != fs::file_type::directory)
    throw std::runtime_error("cannot write '" + target + "': directory '" + directory.string() + "' " +
                             (directory_type == fs::file_type::not_found ? std::string("does not exist")
                              : error                                    ? "cannot be accessed: " + error.message()
                                                                         : std::string("is not a directory")));
  if (fs::is_directory(path, error)) throw std::runtime_error("cannot write '" + target + "': it is a directory");
#ifdef LANMSFF_POSIX_FILES
  // Takes errno as an argument read by the caller, before any allocation can change it.
  const auto fail = [&](const char* what, int code) {
    throw std::runtime_error("cannot write '" + target + "': " + what + ": " + std::strerror(code));
  };
  static std::atomic<unsigned> counter{0};
  fs::path temporary;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    // Built by appending (GCC 12 reports a false -Wrestrict overlap in `"." + std::string`, its bug 105329).
    std::string name(1, '.');
    name.append(path.filename().string()).append(".tmp").append(std::to_string(::getpid())).append(1, '-');
    name.append(std::to_string(counter++)).append(1, '-').append(std::to_string(tick % 1000000));
    temporary = directory / name;
    fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    const int code = errno;  // before anything else can change it
    if (fd < 0 && (code != EEXIST || attempt == 100)) fail("cannot create a temporary file beside it", code);
  }
  struct Cleanup {  // closes and removes the temporary file unless the rename succeeded
    int& fd;
    const fs::path& temporary;
    bool committed = false;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      if (!committed) ::unlink(temporary.c_str());
    }
  } cleanup{fd, temporary};
  for (std::size_t written = 0; written < bytes.size();) {
    const ::ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    const int code = errno;
    if (n < 0 && code == EINTR) continue;
    if (n < 0) fail("write failed", code);
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync failed", errno);
  const int closed = ::close(fd), close_code = errno;
  fd = -1;
  if (closed != 0) fail("close failed", close_code);
  if (::rename(temporary.c_str(), path.c_str()) != 0) fail("rename of the temporary file failed", errno);
  cleanup.committed = true;
  // Make the rename itself durable; a failure here leaves a complete file, so it is not an error.
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_CLOEXEC);
  if (directory_fd >= 0) ::fsync(directory_fd), ::close(directory_fd);
#else
  fs::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      out.close();
      fs::remove(temporary, error);
      throw std::runtime_error("cannot write '" + target + "': writing the temporary file failed");
    }
  }
  fs::rename(temporary, path, error);
  if (error) {
    fs::remove(temporary, error);
    throw std::runtime_error("cannot write '" + target + "': rename of the temporary file failed");
  }
#endif
}

}  // namespace detail

// A validated safetensors file held in memory.
class Safetensors {
 public:
  static Safetensors load(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::error_code error;
    const std::filesystem::file_type type = std::filesystem::status(path, error).type();
    if (type == std::filesystem::file_type::not_found)
      throw std::runtime_error("safetensors file '" + name + "' does not exist");
    if (type == std::filesystem::file_type::directory)
      throw std::runtime_error("safetensors file '" + name + "' is a directory, not a file");
    if (error) throw std::runtime_error("cannot access safetensors file '" + name + "': " + error.message());
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw std::runtime_error("cannot open safetensors file '" + name + "' for reading");
    const std::streamoff size = in.tellg();
    if (size < 0) throw std::runtime_error("cannot determine the size of safetensors file '" + name + "'");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
    in.seekg(0);
    if (!in.read(reinterpret_cast<char*>(bytes.data()), size))
      throw std::runtime_error("error while reading safetensors file '" + name + "'");
    return parse(std::move(bytes), name);
  }

  static Safetensors parse(std::vector<std::uint8_t> bytes, std::string source_name) {
    Safetensors file;
    file.bytes_ = std::move(bytes);
    file.source_ = std::move(source_name);
    file.parse_header();
    return file;
  }

  const std::vector<TensorEntry>& entries() const { return entries_; }  // sorted by data offset
  const TensorEntry* find(std::string_view name) const {
    const auto it = index_.find(name);
    return it == index_.end() ? nullptr : &entries_[it->second];
  }
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  // The tensor's values in row-major order, converted to T. Integer targets must hold every value
  // exactly (no truncation of fractions, no wrap-around); a floating-point target rounds.
  template <class T>
  std::vector<T> read(std::string_view name) const {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "Safetensors::read<T>: T must be a floating-point or integer type");
    const TensorEntry* entry = find(name);
    if (!entry) fail("no tensor named '" + std::string(name) + "'");
    const detail::DTypeInfo& info = *detail::dtype_info(entry->dtype);  // validated by parse
    const std::size_t count = (entry->end - entry->begin) / info.size;
    const std::uint8_t* source = bytes_.data() + data_start_ + entry->begin;
    std::vector<T> values(count);
    const auto decode = [&](auto load) {
      for (std::size_t i = 0; i < count; ++i) {
        if (!detail::convert_value(load(source + i * info.size), values[i]))
          fail("tensor '" + entry->name + "': the " + entry->dtype + " value at index " + std::to_string(i) +
               " cannot be represented exactly in the requested integer type");
      }
    };
    using detail::load_le;
    switch (info.type) {
      case detail::DType::boolean:
        decode([&](const std::uint8_t* p) {
          if (*p > 1) fail("tensor '" + entry->name + "': BOOL byte " + std::to_string(*p) + " is neither 0 nor 1");
          return *p;
        });
        break;
      case detail::DType::u8:
        decode([](const std::uint8_t* p) { return *p; });
        break;
      case detail::DType::i8:
        decode([](const std::uint8_t* p) { return static_cast<std::int8_t>(*p); });
        break;
      case detail::DType::i16:
        decode([](const std::uint8_t* p) { return static_cast<std::int16_t>(load_le<std::uint16_t>(p)); });
        break;
      case detail::DType::u16:
        decode([](const std::uint8_t* p) { return load_le<std::uint16_t>(p); });
        break;
      case detail::DType::i32:
        decode([](const std::uint8_t* p) { return static_cast<std::int32_t>(load_le<std::uint32_t>(p)); });
        break;
      case detail::DType::u32:
        decode([](const std::uint8_t* p) { return load_le<std::uint32_t>(p); });
        break;
      case detail::DType::i64:
        decode([](const std::uint8_t* p) { return static_cast<std::int64_t>(load_le<std::uint64_t>(p)); });
        break;
      case detail::DType::u64:
        decode([](const std::uint8_t* p) { return load_le<std::uint64_t>(p); });
        break;
      case detail::DType::f16:
        decode([](const std::uint8_t* p) { return detail::half_to_float(load_le<std::uint16_t>(p)); });
        break;
      case detail::DType::bf16:
        decode([](const std::uint8_t* p) { return detail::bfloat16_to_float(load_le<std::uint16_t>(p)); });
        break;
      case detail::DType::f32:
        decode([](const std::uint8_t* p) { return std::bit_cast<float>(load_le<std::uint32_t>(p)); });
        break;
      case detail::DType::f64:
        decode([](const std::uint8_t* p) { return std::bit_cast<double>(load_le<std::uint64_t>(p)); });
        break;
    }
    return values;
  }

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& source() const { return source_; }  // file name for error messages

 private:
  using json = nlohmann::json;

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("safetensors file '" + source_ + "': " + what);
  }

  void parse_header() {
    if (bytes_.size() < 8)
      fail("the file is " + std::to_string(bytes_.size()) + " bytes long, too short for the 8-byte header length");
    const std::uint64_t header_size = detail::load_le<std::uint64_t>(bytes_.data());
    if (header_size > detail::max_header_size)
      fail("header length " + std::to_string(header_size) +
           " exceeds the 100 MB limit (corrupt or not a safetensors file)");
    if (header_size > bytes_.size() - 8)
      fail("header length " + std::to_string(header_size) + " is larger than the rest of the file (" +
           std::to_string(bytes_.size() - 8) + " bytes); the file is truncated or corrupt");
    data_start_ = 8 + static_cast<std::size_t>(header_size);
    const json header = parse_json(bytes_.data() + 8, bytes_.data() + data_start_);
    if (!header.is_object()) fail("the header is not a JSON object");
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__")
        parse_metadata(value);
      else
        entries_.push_back(parse_entry(name, value));
    }
    std::sort(entries_.begin(), entries_.end(), [](const TensorEntry& a, const TensorEntry& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    check_coverage();
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
  }

  // nlohmann::json keeps the last of duplicate keys silently; a callback sees every key as it is parsed.
  json parse_json(const std::uint8_t* first, const std::uint8_t* last) const {
    std::vector<std::set<std::string>> open_objects;
    std::string duplicate;
    bool duplicate_is_tensor = false;
    const json::parser_callback_t watch_keys = [&](int, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::object_start) {
        open_objects.emplace_back();
      } else if (event == json::parse_event_t::object_end) {
        if (!open_objects.empty()) open_objects.pop_back();
      } else if (event == json::parse_event_t::key && !open_objects.empty() && duplicate.empty()) {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second) duplicate = key, duplicate_is_tensor = open_objects.size() == 1;
      }
      return true;
    };
    json header;
    try {
      header = json::parse(first, last, watch_keys, /*allow_exceptions=*/true, /*ignore_comments=*/false);
    } catch (const json::exception& e) {
      fail(std::string("the header is not valid JSON: ") + e.what());
    }
    if (!duplicate.empty())
      fail(duplicate_is_tensor ? "tensor name '" + duplicate + "' appears more than once in the header"
                               : "key '" + duplicate + "' appears more than once in one object of the header");
    return header;
  }

  void parse_metadata(const json& value) {
    if (!value.is_object()) fail("__metadata__ is not an object of string values");
    for (const auto& [key, text] : value.items()) {
      if (!text.is_string())
        fail("__metadata__ value of key '" + key + "' is " + text.type_name() + ", expected a string");
      metadata_.emplace(key, text.get<std::string>());
    }
  }

  TensorEntry parse_entry(const std::string& name, const json& value) const {
    const std::string who = "tensor '" + name + "': ";
    if (!value.is_object())
      fail(who + "expected an object with dtype, shape and data_offsets, got " + value.type_name());
    for (const auto& [key, unused] : value.items())
      if (key != "dtype" && key != "shape" && key != "data_offsets")
        fail(who + "unexpected field '" + key + "' (expected dtype, shape and data_offsets)");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!value.contains(key)) fail(who + "missing field '" + key + "'");

    TensorEntry entry;
    entry.name = name;
    const json& dtype = value["dtype"];
    if (!dtype.is_string()) fail(who + "dtype is " + dtype.type_name() + ", expected a string");
    entry.dtype = dtype.get<std::string>();
    const detail::DTypeInfo* info = detail::dtype_info(entry.dtype);
    if (!info)
      fail(who + "unknown or unsupported dtype '" + entry.dtype +
           "' (supported: BOOL, U8, I8, I16, U16, I32, U32, I64, U64, F16, BF16, F32, F64)");

    const json& shape = value["shape"];
    if (!shape.is_array()) fail(who + "shape is " + shape.type_name() + ", expected an array of integers");
    std::uint64_t bytes = info->size;
    for (const json& dim : shape) {
      if (dim.is_number_integer() && !dim.is_number_unsigned())
        fail(who + "negative dimension " + dim.dump() + " in shape " + shape.dump());
      if (!dim.is_number_unsigned()) fail(who + "shape " + shape.dump() + " is not an array of non-negative integers");
      const std::uint64_t extent = dim.get<std::uint64_t>();
      if (extent > std::uint64_t(std::numeric_limits<std::int64_t>::max()) ||
          !detail::multiply_checked(bytes, extent, bytes))
        fail(who + "shape " + shape.dump() + " is too large (its byte count overflows 64 bits)");
      entry.shape.push_back(static_cast<std::int64_t>(extent));
    }

    const json& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_integer() ||
        !offsets[1].is_number_integer())
      fail(who + "data_offsets " + offsets.dump() + " is not an array of two integers [begin, end]");
    if (!offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
      fail(who + "data_offsets " + offsets.dump() + " contains a negative offset");
    const std::uint64_t begin = offsets[0].get<std::uint64_t>(), end = offsets[1].get<std::uint64_t>();
    const std::uint64_t data_size = bytes_.size() - data_start_;
    if (begin > end) fail(who + "data_offsets " + offsets.dump() + ": begin is after end");
    if (end > data_size)
      fail(who + "data_offsets " + offsets.dump() + " end beyond the data section (" + std::to_string(data_size) +
           " bytes); the file is truncated or corrupt");
    if (end - begin != bytes)
      fail(who + "data_offsets " + offsets.dump() + " hold " + std::to_string(end - begin) + " bytes, but dtype " +
           entry.dtype + " and shape " + detail::shape_text(entry.shape) + " need " + std::to_string(bytes));
    entry.begin = static_cast<std::size_t>(begin), entry.end = static_cast<std::size_t>(end);
    return entry;
  }

  // The format requires the tensors to tile the data section: no overlaps, no gaps, nothing after.
  void check_coverage() const {
    std::size_t covered = 0;
    const TensorEntry* previous = nullptr;
    const auto range = [](const TensorEntry& e) {
      return "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ")";
    };
    for (const TensorEntry& entry : entries_) {
      if (entry.begin < covered)
        fail("tensor '" + entry.name + "' at bytes " + range(entry) + " overlaps tensor '" + previous->name +
             "' at bytes " + range(*previous));
      if (entry.begin > covered)
        fail("gap in the data section: bytes [" + std::to_string(covered) + ", " + std::to_string(entry.begin) +
             ") before tensor '" + entry.name + "' belong to no tensor");
      covered = entry.end, previous = &entry;
    }
    const std::size_t data_size = bytes_.size() - data_start_;
    if (covered != data_size)
      fail("gap in the data section: the last " + std::to_string(data_size - covered) +
           " bytes of the file belong to no tensor");
  }

  std::vector<std::uint8_t> bytes_;
  std::size_t data_start_ = 0;
  std::string source_;
  std::vector<TensorEntry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// Builds a safetensors file: tensors in insertion order, the header padded with spaces to a multiple
// of 8 bytes (as the reference implementation does, so the data section is 8-byte aligned).
class SafetensorsWriter {
 public:
  // dtype "F32" or "F64"; `data` points to product(shape) values, converted (and copied) now.
  void add(std::string name, std::vector<std::int64_t> shape, const float* data, std::string dtype = "F32") {
    add_floating(std::move(name), std::move(shape), data, std::move(dtype));
  }
  void add(std::string name, std::vector<std::int64_t> shape, const double* data, std::string dtype = "F32") {
    add_floating(std::move(name), std::move(shape), data, std::move(dtype));
  }
  void add_i64(std::string name, std::vector<std::int64_t> shape, const std::int64_t* data) {
    const std::size_t count = admit(name, shape, data);
    Pending& tensor = push(std::move(name), std::move(shape), "I64", count * 8);
    for (std::size_t i = 0; i < count; ++i)
      detail::store_le(static_cast<std::uint64_t>(data[i]), tensor.data.data() + i * 8);
  }
  void set_metadata(std::string key, std::string value) {
    require_utf8(key, "metadata key"), require_utf8(value, "metadata value of key '" + key + "'");
    metadata_[std::move(key)] = std::move(value);
  }

  std::vector<std::uint8_t> bytes() const {
    using ordered_json = nlohmann::ordered_json;
    // Written key by key: compact JSON like serde_json's, fields in the reference order.
    std::string header = "{";
    const auto append = [&](const std::string& key, const ordered_json& value) {
      if (header.size() > 1) header += ',';
      header += ordered_json(key).dump() + ':' + value.dump();
    };
    if (!metadata_.empty()) append("__metadata__", ordered_json(metadata_));
    std::uint64_t offset = 0;
    for (const Pending& tensor : tensors_) {
      ordered_json entry;
      entry["dtype"] = tensor.dtype;
      entry["shape"] = tensor.shape;
      entry["data_offsets"] = {offset, offset + std::uint64_t(tensor.data.size())};
      append(tensor.name, entry);
      offset += tensor.data.size();
    }
    header += '}';
    header.append((8 - header.size() % 8) % 8, ' ');

    std::vector<std::uint8_t> file(8 + header.size());
    detail::store_le(static_cast<std::uint64_t>(header.size()), file.data());
    std::copy(header.begin(), header.end(), file.begin() + 8);
    file.reserve(file.size() + offset);
    for (const Pending& tensor : tensors_) file.insert(file.end(), tensor.data.begin(), tensor.data.end());
    return file;
  }

  // Atomic: a temporary file in the same directory, flushed to disk, then renamed over `path`.
  void write(const std::filesystem::path& path) const { detail::write_file_atomically(path, bytes()); }

 private:
  struct Pending {
    std::string name, dtype;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> data;
  };

  static void require_utf8(const std::string& text, const std::string& what) {
    try {
      (void)nlohmann::json(text).dump();
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument("SafetensorsWriter: " + what + " is not valid UTF-8");
    }
  }

  // Validates a new tensor and returns its element count.
  std::size_t admit(const std::string& name, const std::vector<std::int64_t>& shape, const void* data) const {
    const std::string who = "SafetensorsWriter: tensor '" + name + "': ";
    if (name == "__metadata__") throw std::invalid_argument(who + "the name __metadata__ is reserved by the format");
    require_utf8(name, "tensor name '" + name + "'");
    if (names_.contains(name)) throw std::invalid_argument(who + "a tensor of that name was already added");
    std::uint64_t count = 1, bytes = 0;
    for (std::int64_t extent : shape) {
      if (extent < 0) throw std::invalid_argument(who + "negative dimension in shape " + detail::shape_text(shape));
      if (!detail::multiply_checked(count, static_cast<std::uint64_t>(extent), count) ||
          !detail::multiply_checked(count, 8, bytes) || bytes > std::numeric_limits<std::size_t>::max())
        throw std::invalid_argument(who + "shape " + detail::shape_text(shape) + " is too large");
    }
    if (count > 0 && !data) throw std::invalid_argument(who + "null data pointer for a non-empty tensor");
    return static_cast<std::size_t>(count);
  }

  Pending& push(std::string name, std::vector<std::int64_t> shape, std::string dtype, std::size_t bytes) {
    names_.insert(name);
    tensors_.push_back({std::move(name), std::move(dtype), std::move(shape), std::vector<std::uint8_t>(bytes)});
    return tensors_.back();
  }

  template <class S>
  void add_floating(std::string name, std::vector<std::int64_t> shape, const S* data, std::string dtype) {
    if (dtype != "F32" && dtype != "F64")
      throw std::invalid_argument("SafetensorsWriter: tensor '" + name + "': dtype '" + dtype +
                                  "' is not supported for floating-point data (use F32 or F64)");
    const std::size_t count = admit(name, shape, data);
    const bool single = dtype == "F32";
    Pending& tensor = push(std::move(name), std::move(shape), std::move(dtype), count * (single ? 4 : 8));
    for (std::size_t i = 0; i < count; ++i) {
      if (single)
        detail::store_le(std::bit_cast<std::uint32_t>(static_cast<float>(data[i])), tensor.data.data() + i * 4);
      else
        detail::store_le(std::bit_cast<std::uint64_t>(static_cast<double>(data[i])), tensor.data.data() + i * 8);
    }
  }

  std::vector<Pending> tensors_;
  std::set<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace lanmsff::io
