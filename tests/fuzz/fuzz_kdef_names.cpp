// KDEF file names (AF01ANS.JPG: session, gender, subject, expression, angle): what parses must print back
// to the same name, case aside.
#include <cctype>

#include "fuzz.hpp"
#include "lanmsff/io/kdef.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lanmsff;
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  const auto parsed = io::parse_kdef_name(name);
  if (!parsed) return 0;
  if (parsed->subject < 1 || parsed->subject > 35 || parsed->expression < 0 || parsed->expression >= 7)
    fuzz::broken("KDEF subject or expression out of range");
  std::string upper;
  for (const char ch : name) upper += char(std::toupper(static_cast<unsigned char>(ch)));
  const std::string rebuilt = std::string(1, parsed->session) + parsed->person() +
                              std::string(io::kdef_expression_codes[std::size_t(parsed->expression)]) + parsed->angle;
  if (!upper.starts_with(rebuilt)) fuzz::broken("KDEF name " + upper + " parses as " + rebuilt);
  return 0;
}
