// Parses a stored password hash (PHC string). parse_phc() is strict, so every string it
// accepts is the one format_phc() writes for its value: re-encoding must give back the
// input byte for byte, and the value must respect the documented limits. No scrypt runs
// here; the parser is what reads untrusted files.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "libsec/password_hash.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = sec::parse_phc(text);
  if (!parsed) {
    if (sec::to_string(parsed.error()).empty()) std::abort();
    return 0;
  }
  if (text.size() > sec::k_max_phc_length || !sec::params_in_bounds(parsed->params)) std::abort();
  if (parsed->salt.size() < sec::k_min_salt_bytes || parsed->salt.size() > sec::k_max_salt_bytes) std::abort();
  if (parsed->hash.size() < sec::k_min_hash_bytes || parsed->hash.size() > sec::k_max_hash_bytes) std::abort();
  if (sec::format_phc(*parsed) != text) std::abort();
  return 0;
}
