// The tool's command line (examples/tool/cli.hpp): every command, option and value check, and the checks
// that need the whole line. The input is an argument list, arguments separated by NUL bytes (the first
// is the program name, as in argv). Parsing may refuse a line with CLI11's error (CLI::ParseError, which
// the tool prints with its exit code) or CLI11's --help/--version output; nothing is run.
#include <vector>

#include "fuzz.hpp"
#include "tool/cli.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> arguments{"lanmsff"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      arguments.push_back(current), current.clear();
    } else {
      current += char(data[i]);
    }
  }
  if (!current.empty()) arguments.push_back(current);
  if (arguments.size() > 64) return 0;
  std::vector<const char*> argv;
  for (const auto& a : arguments) argv.push_back(a.c_str());
  lanmsff::tool::CommandLine line;
  try {
    line.parse(int(argv.size()), argv.data());
  } catch (const CLI::ParseError&) {  // the tool's message and exit code (--help and --version included)
    return 0;
  }
  // A line that parses names exactly one command.
  const int commands = bool(*line.train) + bool(*line.eval) + bool(*line.predict) + bool(*line.summary) +
                       bool(*line.bench);
  if (commands != 1) lanmsff::fuzz::broken("a parsed line names " + std::to_string(commands) + " commands");
  if (*line.train && line.t.resume.empty() && (line.t.data.empty() || line.t.out.empty()))
    lanmsff::fuzz::broken("train without --resume parsed without --data or --out");
  return 0;
}
