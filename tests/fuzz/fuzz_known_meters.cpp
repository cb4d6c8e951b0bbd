// Parses a known-meters file: anything must end in entries or an error naming the file,
// and accepted entries must survive serializing and parsing again unchanged.
#include <cstdlib>
#include <string_view>

#include "libsec/known_meters.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto known = sec::parse_known_meters(text, "known_meters");
  if (!known) {
    if (!known.error().starts_with("known_meters:")) std::abort();
    return 0;
  }
  const auto again = sec::parse_known_meters(sec::serialize_known_meters(*known), "known_meters");
  if (!again || again->entries.size() != known->entries.size()) std::abort();
  for (std::size_t i = 0; i < known->entries.size(); ++i) {
    if (again->entries[i].address != known->entries[i].address ||
        again->entries[i].fingerprint != known->entries[i].fingerprint || again->entries[i].line != i + 1) {
      std::abort();
    }
  }
  return 0;
}
