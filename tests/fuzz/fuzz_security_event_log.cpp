// Parses a security event log file: whatever the bytes, every record accepted must format
// back to a line that parses to the same record, and the re-formatted log must parse to
// the same records with nothing skipped (the decode, encode, decode of STYLE.md practice 4).
#include <cstdlib>
#include <string>
#include <string_view>

#include "firmware/security_event_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = meterd::parse_security_event_log(text);
  std::string reformatted;
  for (const auto& record : parsed.records) {
    const auto line = meterd::format_security_event_line(record);
    if (line.size() > meterd::k_max_security_event_line_bytes + 1) std::abort();
    const auto again = meterd::parse_security_event_log(line);
    if (again.skipped_lines != 0 || again.records.size() != 1 || !(again.records[0] == record)) std::abort();
    reformatted += line;
  }
  const auto whole = meterd::parse_security_event_log(reformatted);
  if (whole.skipped_lines != 0 || whole.records != parsed.records) std::abort();
  return 0;
}
