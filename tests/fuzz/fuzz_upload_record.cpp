// Parses a firmware upload record (<state>/firmware/upload/upload.json). A record that
// parses must format to a record that parses to the same values; anything longer than
// the store reads is not tried.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "firmware/upload_store.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > meterd::k_max_upload_record_bytes) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto record = meterd::parse_upload_record(text);
  if (!record) return 0;
  if (record->length == 0 || record->length > meterd::k_max_package_bytes || !meterd::is_sha256_hex(record->sha256) ||
      record->offset != 0) {
    std::abort();
  }
  const auto again = meterd::parse_upload_record(meterd::format_upload_record(*record));
  if (!again || !(*again == *record)) std::abort();
  return 0;
}
