// Parses a security event log file: whatever the bytes, every record accepted must format
// back to a line that parses to the same record, and the re-formatted log must parse to
// the same records with nothing skipped (the decode, encode, decode of STYLE.md practice 4).
//
// A mutated byte almost always breaks a line's CRC, which would keep the fuzzer in front
// of the field checks. So the input is parsed twice: as it is, and with each of its lines
// taken as the JSON of a record and given a correct CRC.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "firmware/security_event_log.hpp"

namespace {

// CRC-32 (IEEE 802.3), written out again here rather than taken from the log's code, so
// that a mistake there is not copied into the oracle.
std::uint32_t crc32(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFU;
  for (const char c : bytes) {
    crc ^= static_cast<unsigned char>(c);
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1U) != 0 ? (crc >> 1) ^ 0xEDB88320U : crc >> 1;
  }
  return crc ^ 0xFFFFFFFFU;
}

std::string with_valid_checksums(std::string_view text) {
  static constexpr char k_digits[] = "0123456789abcdef";
  std::string lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto body = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    const auto checksum = crc32(body);
    for (int shift = 28; shift >= 0; shift -= 4) lines += k_digits[(checksum >> shift) & 0xFU];
    lines.append(" ").append(body).append("\n");
  }
  return lines;
}

void check_round_trip(std::string_view text) {
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_round_trip(text);
  check_round_trip(with_valid_checksums(text));
  return 0;
}
