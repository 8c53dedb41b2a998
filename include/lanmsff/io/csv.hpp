// A small streaming CSV reader for the data-set loaders: RFC 4180 quoting, CRLF or LF line ends,
// a UTF-8 byte-order mark, blanks around fields trimmed, and the line number of every record so
// that an error can say "fer2013.csv:1234: ...".
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lanmsff::io {

class CsvReader {
 public:
  explicit CsvReader(const std::filesystem::path& path) : path_(path.string()), file_(path, std::ios::binary) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      throw std::runtime_error(path_ + ": " +
                               (std::filesystem::exists(path, ec) ? "not a regular file" : "no such file"));
    if (!file_) throw std::runtime_error(path_ + ": cannot open for reading");
  }

  // Reads the next record into `fields`, skipping blank lines; false at the end of the file.
  bool next(std::vector<std::string>& fields) {
    std::string text;
    while (std::getline(file_, text)) {
      ++line_;
      if (line_ == 1 && text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
      if (!text.empty() && text.back() == '\r') text.pop_back();
      if (text.find_first_not_of(" \t") == std::string::npos) continue;
      split(text, fields);
      return true;
    }
    if (file_.bad()) fail("read error");
    return false;
  }

  // 1-based line of the record last returned by next().
  std::size_t line() const { return line_; }
  const std::string& path() const { return path_; }

  // Throws std::runtime_error("<file>:<line>: <what>").
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error(path_ + ":" + std::to_string(line_) + ": " + what);
  }

 private:
  void split(const std::string& text, std::vector<std::string>& fields) const {
    fields.clear();
    std::size_t i = 0;
    while (true) {
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
      std::string field;
      if (i < text.size() && text[i] == '"') {
        ++i;
        while (true) {
          if (i >= text.size()) fail("unterminated quoted field (a quoted field may not span lines)");
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          field += text[i++];
        }
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        if (i < text.size() && text[i] != ',')
          fail("unexpected text after the closing quote of field " + std::to_string(fields.size() + 1));
      } else {
        const std::size_t end = std::min(text.find(',', i), text.size());
        field = text.substr(i, end - i);
        while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.pop_back();
        i = end;
      }
      fields.push_back(std::move(field));
      if (i >= text.size()) return;
      ++i;  // the comma
    }
  }

  std::string path_;
  std::ifstream file_;
  std::size_t line_ = 0;
};

// Index of the column named `name` (case-insensitive, blanks ignored), or -1.
inline int csv_column(const std::vector<std::string>& header, std::string_view name) {
  auto normal = [](std::string_view s) {
    std::string out;
    for (char ch : s)
      if (ch != ' ' && ch != '\t' && ch != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
  };
  const std::string wanted = normal(name);
  for (std::size_t i = 0; i < header.size(); ++i)
    if (normal(header[i]) == wanted) return static_cast<int>(i);
  return -1;
}

}  // namespace lanmsff::io
