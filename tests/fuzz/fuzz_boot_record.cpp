// Parses a boot record: anything must end in a record or an error naming the file, and a
// record that parses formats to text that parses back to the same record.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "firmware/boot_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto record = meterd::parse_boot_record(text, "boot.json");
  if (!record) {
    if (record.error().find("boot.json") == std::string::npos) std::abort();
    return 0;
  }
  const auto formatted = meterd::format_boot_record(*record);
  const auto again = meterd::parse_boot_record(formatted, "boot.json");
  if (!again || !(*again == *record) || meterd::format_boot_record(*again) != formatted) std::abort();
  return 0;
}
