#include "libproto/model/version.hpp"

#include <charconv>
#include <cstdio>

namespace proto::model {

namespace {
// The vendor form has three digits per part.
constexpr int k_max_version_part = 999;
}  // namespace

std::string Version::to_string() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::string Version::vendor_form() const {
  char text[16];
  std::snprintf(text, sizeof text, "V%03d.%03d.%03d", major, minor, patch);
  return text;
}

std::optional<Version> Version::parse(std::string_view text) {
  if (!text.empty() && (text.front() == 'V' || text.front() == 'v')) text.remove_prefix(1);
  int parts[3] = {};
  for (int i = 0; i < 3; ++i) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), parts[i]);
    if (error != std::errc() || end == text.data() || parts[i] < 0 || parts[i] > k_max_version_part) {
      return std::nullopt;
    }
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    if (i < 2) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  if (!text.empty()) return std::nullopt;
  return Version{parts[0], parts[1], parts[2]};
}

}  // namespace proto::model
