#pragma once
// Options every meterctl command shares, and the result of the command that ran.

#include <chrono>
#include <string>

#include "cli/output.hpp"

namespace cli {

struct GlobalOptions {
  std::string meter;
  std::string output = "table";
  double timeout_seconds = 3.0;
  bool verbose = false;
  bool quiet = false;
  bool no_color = false;
};

struct Context {
  GlobalOptions global;
  int exit_code = 0;

  OutputFormat format() const { return parse_output_format(global.output).value_or(OutputFormat::table); }
  bool color() const { return color_enabled(global.no_color); }
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(global.timeout_seconds * 1000.0));
  }
};

}  // namespace cli
