// Parses meterctl's named-meters configuration file.
#include <cstdlib>
#include <string_view>

#include "cli/meter_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto config = cli::parse_meter_config(text, "config.yaml");
  if (!config && config.error().message.empty()) std::abort();
  return 0;
}
