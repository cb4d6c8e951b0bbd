#pragma once
// A meter's security configuration: the mode, the user accounts with their permissions
// and hashed passwords, the password policy, lockout and session settings, the options
// that shrink the attack surface and the cost of password hashing. Pure data and rules:
// the firmware stores it inside the meter state (one atomic file, so a change is all or
// nothing) and hashes passwords off its I/O thread before calling in here.
//
// Seeds: 004 (July 2020 what's new: Legacy security support, Advanced security, 50 users,
// seven permissions, lockouts, security options), 003 (ION8650 4.40.1 FAQ: Standard and
// Advanced, "No security: No longer available", the service switches and their factory
// defaults), 001 (4.6.0: password complexity), 000 (4.0.0: 16-character passwords).

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "libproto/result.hpp"
#include "libsec/lockout.hpp"
#include "libsec/password_hash.hpp"
#include "libsec/password_policy.hpp"
#include "libsec/permissions.hpp"
#include "libsec/security_events.hpp"

namespace sec {

// Legacy: "Legacy security support", the ION7400/ION9000/PM8000 default from 3.0.0.
// Standard: the ION8650's name for the same single-password mode (seed 003). Both keep
// one account, User1, with a numeric password, and allow anonymous reads.
enum class SecurityMode { legacy, standard, advanced };
std::string_view to_string(SecurityMode mode);
std::optional<SecurityMode> parse_security_mode(std::string_view text);
// Legacy and Standard: one numeric password, anonymous read.
bool is_single_password_mode(SecurityMode mode);

// Seed 004, "Legacy security support username": User1.
inline constexpr std::string_view k_legacy_user = "User1";
// Seed 004: "0 (zero) for new meters".
inline constexpr std::string_view k_factory_password = "0";
// Seed 004, "Managing user accounts": "The maximum number of users is 50." Models may say less.
inline constexpr std::size_t k_max_users = 50;
inline constexpr std::size_t k_max_user_name_length = 32;
// ION sessions have no vendor bounds; these keep a typo from disabling the timeout.
inline constexpr std::chrono::seconds k_min_session_timeout{30};
inline constexpr std::chrono::seconds k_max_session_timeout{24 * 3600};
inline constexpr std::chrono::seconds k_default_session_timeout{300};
// Lockout bounds: a window or duration beyond a week is a typo, not a policy.
inline constexpr std::uint32_t k_max_lockout_attempts = 1000;
inline constexpr std::chrono::seconds k_max_lockout_seconds{7 * 24 * 3600};

// The ION8650 FAQ's services (seed 003): "SSH disabled and sftp enabled" from the
// factory; Telnet and FTP are off after a downgrade and on no new meter.
struct ServiceSwitches {
  bool ssh = false;
  bool sftp = true;
  bool telnet = false;
  bool ftp = false;
  friend bool operator==(const ServiceSwitches&, const ServiceSwitches&) = default;
};

// Seed 004, "Security Options dialog": Active Web Server, Allow Web Server programming,
// Allow Front Panel programming; "Revenue-lock the meter" from its recommendations.
// Modbus Access and time synchronisation are options too, but they live with the
// settings they gate in the meter state; the firmware shows them alongside these.
struct SecurityOptions {
  bool web_server = true;
  // Off by default: configuration over the web is attack surface few sites need.
  bool web_server_programming = false;
  bool front_panel_programming = true;
  bool revenue_lock = false;
  ServiceSwitches services;
  friend bool operator==(const SecurityOptions&, const SecurityOptions&) = default;
};

struct PasswordHashing {
  ScryptParams params = k_default_scrypt;
  // Parameters below the OWASP minimum are refused unless this is set, and then
  // `security audit` reports them: for large virtual fleets on one host.
  bool fleet_allowed = false;
  friend bool operator==(const PasswordHashing&, const PasswordHashing&) = default;
};

struct UserAccount {
  std::string name;
  std::string password_hash;  // PHC string
  PermissionSet permissions;
  // Still the factory password "0" (seed 004: "Change the default password of 0").
  bool default_credential = false;
  friend bool operator==(const UserAccount&, const UserAccount&) = default;
};

struct SecurityConfig {
  SecurityMode mode = SecurityMode::legacy;
  std::vector<UserAccount> users;
  PasswordPolicy policy;
  LockoutPolicy native_lockout;
  LockoutPolicy web_lockout;
  std::chrono::seconds session_timeout = k_default_session_timeout;
  SecurityOptions options;
  PasswordHashing hashing;
  EventPriorities priorities;

  const UserAccount* find_user(std::string_view name) const;
  UserAccount* find_user(std::string_view name);
  const LockoutPolicy& lockout(LoginProtocol protocol) const;
  LockoutPolicy& lockout(LoginProtocol protocol);
  friend bool operator==(const SecurityConfig&, const SecurityConfig&) = default;
};

// What the meter's model and firmware allow; the firmware derives it from the model.
struct SecurityLimits {
  std::vector<SecurityMode> modes;   // legacy+advanced, or standard+advanced (ION8650)
  std::size_t max_users = k_max_users;
  std::size_t max_password_length = 16;
  bool complexity_available = false;
  std::string complexity_hint;       // "needs firmware 4.6.0 or later" or "not offered by the ION8650"
  bool lockouts_available = true;
  ServiceSwitches services_emulated{false, false, false, false};
  ServiceSwitches services_offered{false, false, false, false};
};

// A new meter: the first single-password mode the model has, User1 holding every
// permission with the factory password (already hashed by the caller).
SecurityConfig factory_security_config(const SecurityLimits& limits, std::string factory_password_hash);

// Every rule a stored or proposed configuration must keep. The message names the rule
// and what to do; it never contains a password or hash.
proto::Result<proto::Ok, std::string> validate(const SecurityConfig& config, const SecurityLimits& limits);

// The maximum password length in this mode: 8 digits in a single-password mode (seed 004),
// the model's maximum in Advanced.
std::size_t max_password_length(const SecurityConfig& config, const SecurityLimits& limits);
// The rules a new password must meet in this mode (never applied to existing passwords).
proto::Result<proto::Ok, PasswordRejection> check_new_password(const SecurityConfig& config,
                                                               const SecurityLimits& limits,
                                                               std::string_view password);
// User names: a letter, then letters, digits, '_', '-' or '.', at most 32 characters.
proto::Result<proto::Ok, std::string> check_user_name(std::string_view name);

// Changes. Each returns the changed copy, already validated, or why not.
proto::Result<SecurityConfig, std::string> switch_mode(SecurityConfig config, SecurityMode mode,
                                                       const SecurityLimits& limits);
proto::Result<SecurityConfig, std::string> add_user(SecurityConfig config, UserAccount user,
                                                    const SecurityLimits& limits);
proto::Result<SecurityConfig, std::string> remove_user(SecurityConfig config, std::string_view name,
                                                       const SecurityLimits& limits);
proto::Result<SecurityConfig, std::string> set_permissions(SecurityConfig config, std::string_view name,
                                                           PermissionSet permissions, const SecurityLimits& limits);
// `password_hash` is the new PHC string; `is_factory_password` whether it is "0".
proto::Result<SecurityConfig, std::string> set_password_hash(SecurityConfig config, std::string_view name,
                                                             std::string password_hash, bool is_factory_password,
                                                             const SecurityLimits& limits);

// The state file form. Hashes are stored; a clear password never is.
nlohmann::json to_json(const SecurityConfig& config);
// A store written before passwords were hashed keeps clear-text passwords; they come
// back separately so the firmware can hash and save at once (then log it).
struct LoadedSecurityConfig {
  SecurityConfig config;
  std::vector<std::pair<std::string, std::string>> clear_passwords;  // user, password
};
proto::Result<LoadedSecurityConfig, std::string> security_config_from_json(const nlohmann::json& json);

}  // namespace sec
