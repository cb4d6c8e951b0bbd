// Parses a meter state file: anything must end in a state or an error naming the file.
#include <cstdlib>
#include <string_view>

#include "firmware/meter_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto state = meterd::parse_meter_state(text, "meter-state.json");
  if (!state && state.error().find("meter-state.json") == std::string::npos) std::abort();
  return 0;
}
