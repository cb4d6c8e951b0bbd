#pragma once
// Firmware versions: "4.6.0" as people write them and "V004.006.000" as the vendor's
// release notes and firmware files do.

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace proto::model {

struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;

  friend auto operator<=>(const Version&, const Version&) = default;

  std::string to_string() const;     // 4.6.0
  std::string vendor_form() const;   // V004.006.000

  // Accepts both forms; each part 0..999.
  static std::optional<Version> parse(std::string_view text);
};

}  // namespace proto::model
