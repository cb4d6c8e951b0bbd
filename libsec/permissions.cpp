#include "libsec/permissions.hpp"

#include <cstddef>

namespace sec {

using proto::Result;
using proto::unexpected;

std::string_view to_string(Permission permission) {
  switch (permission) {
    case Permission::time_sync: return "time-sync";
    case Permission::read: return "read";
    case Permission::peak_demand_reset: return "peak-demand-reset";
    case Permission::comm_config: return "comm-config";
    case Permission::test_mode: return "test-mode";
    case Permission::full_meter_config: return "full-meter-config";
    case Permission::security_config: return "security-config";
  }
  return "unknown-permission";
}

std::string_view display_name(Permission permission) {
  switch (permission) {
    case Permission::time_sync: return "Time Sync";
    case Permission::read: return "Read";
    case Permission::peak_demand_reset: return "Peak Demand Reset";
    case Permission::comm_config: return "Comm Config";
    case Permission::test_mode: return "Test Mode";
    case Permission::full_meter_config: return "Full Meter Config";
    case Permission::security_config: return "Security Config";
  }
  return "Unknown Permission";
}

std::optional<Permission> parse_permission(std::string_view kebab) {
  for (const Permission permission : k_all_permissions) {
    if (to_string(permission) == kebab) return permission;
  }
  return std::nullopt;
}

std::vector<std::string_view> PermissionSet::names() const {
  std::vector<std::string_view> result;
  for (const Permission permission : k_all_permissions) {
    if (has(permission)) result.push_back(to_string(permission));
  }
  return result;
}

namespace {

constexpr std::string_view k_all_keyword = "all";
// An error quotes what it could not parse; a line pasted by mistake is cut here so that
// the message stays one readable line.
constexpr std::size_t k_max_quoted_length = 40;

std::string_view trim_blanks(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

// The item as it may be shown on a terminal or in a log: control and non-ASCII bytes
// become '?', so a crafted argument cannot move the cursor or forge a log line.
std::string quoted(std::string_view item) {
  std::string text = "\"";
  for (std::size_t i = 0; i < item.size() && i < k_max_quoted_length; ++i) {
    const char c = item[i];
    text += (c >= 0x20 && c <= 0x7E) ? c : '?';
  }
  if (item.size() > k_max_quoted_length) text += "...";
  text += '"';
  return text;
}

std::string valid_names() {
  std::string text = "valid names: ";
  for (const Permission permission : k_all_permissions) {
    text += to_string(permission);
    text += ", ";
  }
  text += "or ";
  text += k_all_keyword;
  return text;
}

}  // namespace

Result<PermissionSet, std::string> parse_permission_list(std::string_view text) {
  if (trim_blanks(text).empty()) return unexpected("empty permission list; " + valid_names());
  PermissionSet set;
  std::size_t position = 1;
  while (true) {
    const auto comma = text.find(',');
    const std::string_view item = trim_blanks(text.substr(0, comma));
    if (item.empty()) {
      return unexpected("empty permission name at position " + std::to_string(position) + " of the list; " +
                        valid_names());
    }
    if (item == k_all_keyword) {
      set = set.with(PermissionSet::all());
    } else if (const auto permission = parse_permission(item)) {
      set.add(*permission);
    } else {
      return unexpected("unknown permission " + quoted(item) + "; " + valid_names());
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    ++position;
  }
  return set;
}

}  // namespace sec
