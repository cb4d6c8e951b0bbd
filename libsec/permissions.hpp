#pragma once
// The permissions a meter user account can hold (seed 004, "Managing user accounts",
// step 5: "Select each user and assign individual permissions"). There are seven, each
// granted on its own; none implies another. In particular Read does not cover security
// settings (seed 004: "View parameters, except security configuration"), and managing
// user accounts needs Security Config (seed 004, "Managing user accounts": "Required for
// this procedure: ... Security configuration access privileges").
//
// Names: the kebab-case spelling (to_string, parse_permission) is the one used in
// configuration files, on the command line and on the wire; display_name is the vendor's
// wording for people.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libproto/result.hpp"

namespace sec {

// Seed 004, "Managing user accounts", table "Permission level / Description", in the
// seed's order. The values are bit positions in PermissionSet::bits(), so they must not
// be renumbered once stored.
enum class Permission : std::uint8_t {
  time_sync,          // "Set the meter's time and time synchronization parameters."
  read,               // "View parameters, except security configuration."
  peak_demand_reset,  // "Reset peak demand values."
  comm_config,        // "Configure communication settings."
  test_mode,          // "Switch the meter to test mode, if available with your meter type."
  full_meter_config,  // "Configure meter settings."
  security_config,    // "Configure security settings."
};

inline constexpr std::array<Permission, 7> k_all_permissions{
    Permission::time_sync,  Permission::read,      Permission::peak_demand_reset, Permission::comm_config,
    Permission::test_mode, Permission::full_meter_config, Permission::security_config,
};

// "time-sync", "read", "peak-demand-reset", "comm-config", "test-mode",
// "full-meter-config", "security-config".
std::string_view to_string(Permission permission);
// The seed's words without the trailing "Access": "Time Sync", "Read", "Peak Demand
// Reset", "Comm Config", "Test Mode", "Full Meter Config", "Security Config".
std::string_view display_name(Permission permission);
// The inverse of to_string: exact, lowercase kebab case only, so that each permission has
// one spelling in files and logs.
std::optional<Permission> parse_permission(std::string_view kebab);

// A set of permissions, stored as one bit per Permission (bit n is the permission whose
// value is n), which is also how it is stored and sent: see bits() and from_bits().
class PermissionSet {
 public:
  constexpr PermissionSet() = default;

  static constexpr PermissionSet all() {
    PermissionSet set;
    set.bits_ = k_all_bits;
    return set;
  }
  static constexpr PermissionSet of(std::initializer_list<Permission> permissions) {
    PermissionSet set;
    for (const Permission permission : permissions) set.add(permission);
    return set;
  }

  constexpr bool has(Permission permission) const { return (bits_ & bit_of(permission)) != 0; }
  constexpr void add(Permission permission) { bits_ = static_cast<std::uint8_t>(bits_ | bit_of(permission)); }
  constexpr void remove(Permission permission) { bits_ = static_cast<std::uint8_t>(bits_ & ~bit_of(permission)); }

  // The union and the difference, leaving this set as it is.
  constexpr PermissionSet with(PermissionSet other) const {
    return from_bits(static_cast<std::uint8_t>(bits_ | other.bits_));
  }
  constexpr PermissionSet without(PermissionSet other) const {
    return from_bits(static_cast<std::uint8_t>(bits_ & ~other.bits_));
  }

  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  // Bits that name no permission (bit 7) are dropped rather than refused: a set read from
  // a file or a newer peer grants only what this code knows of, never more.
  static constexpr PermissionSet from_bits(std::uint8_t bits) {
    PermissionSet set;
    set.bits_ = static_cast<std::uint8_t>(bits & k_all_bits);
    return set;
  }

  // The kebab-case names of the permissions held, in k_all_permissions order.
  std::vector<std::string_view> names() const;

  friend bool operator==(const PermissionSet&, const PermissionSet&) = default;

 private:
  static constexpr std::uint8_t k_all_bits = (1U << k_all_permissions.size()) - 1U;
  static constexpr std::uint8_t bit_of(Permission permission) {
    return static_cast<std::uint8_t>(1U << static_cast<unsigned>(permission));
  }

  std::uint8_t bits_ = 0;
};

// Parses a comma-separated list of kebab-case names, as written on a command line or in a
// profile: "read,time-sync", "read, time-sync". Spaces and tabs around a name are ignored;
// "all" stands for every permission and may be combined with other names; a name given
// twice counts once. The error, for an unknown or empty name, quotes the offending item
// and lists the valid names. An empty (or blank) text is an error too, not the empty set:
// an account without permissions is one that cannot even read, which is more likely a
// mistake than a wish, and a caller that means it can use PermissionSet{}.
proto::Result<PermissionSet, std::string> parse_permission_list(std::string_view text);

}  // namespace sec
