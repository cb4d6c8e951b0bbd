// Parses arbitrary text as a meter profile. Whatever parses must format to a document
// that parses again to the same settings, and formatting that must give the same text:
// a profile the tools write is only worth keeping in Git if it reads back unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "libsec/meter_profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto profile = sec::parse_meter_profile(text, "fuzz.yaml");
  if (!profile) return 0;
  const auto formatted = sec::format_meter_profile(*profile, "fuzz");
  const auto again = sec::parse_meter_profile(formatted, "formatted.yaml");
  if (!again || !sec::same_settings(*profile, *again)) std::abort();
  if (sec::format_meter_profile(*again, "fuzz") != formatted) std::abort();
  // Flattening and diffing walk the same settings; neither may throw or disagree.
  if (!sec::diff_profiles(*profile, *again).empty()) std::abort();
  return 0;
}
