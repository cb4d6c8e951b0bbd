#pragma once
// The security configuration as a file (the vendor's Security Configuration File, .scf,
// seed 004 "Cybersecurity configuration"): YAML with apiVersion meterctl/v1 and kind
// SecurityConfiguration. `meterctl security export` writes one, `security apply` sends
// one to the meter, which parses it with this same code and applies it all or nothing.
//
// Passwords are never in the file: a user entry may name a `password_file` (read by
// meterctl, next to the YAML file) or carry an already-hashed `password_hash` (PHC).
// Sections left out keep the meter's current values; within a section, so do keys left
// out. When `users` is present it is the complete list: accounts not in it are removed.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libproto/result.hpp"
#include "libsec/modbus_access.hpp"
#include "libsec/security_config.hpp"

namespace sec {

inline constexpr std::string_view k_security_document_api_version = "meterctl/v1";
inline constexpr std::string_view k_security_document_kind = "SecurityConfiguration";

struct DocumentUser {
  std::string name;
  std::optional<PermissionSet> permissions;
  std::optional<std::string> password_file;  // relative to the YAML file's directory
  std::optional<std::string> password_hash;  // PHC string
  std::string location;                      // "file:line:col" of the entry, for errors found later
  friend bool operator==(const DocumentUser&, const DocumentUser&) = default;
};

struct DocumentLockout {
  std::optional<std::uint32_t> attempts;
  std::optional<std::chrono::seconds> window;
  std::optional<std::chrono::seconds> duration;
  friend bool operator==(const DocumentLockout&, const DocumentLockout&) = default;
};

struct SecurityDocument {
  std::optional<SecurityMode> mode;
  std::optional<Complexity> complexity;
  std::optional<std::size_t> min_length;
  DocumentLockout native_lockout;
  DocumentLockout web_lockout;
  std::optional<std::chrono::seconds> session_timeout;
  std::optional<bool> web_server;
  std::optional<bool> web_server_programming;
  std::optional<bool> front_panel_programming;
  std::optional<bool> revenue_lock;
  std::optional<bool> time_sync;
  std::optional<ModbusAccess> modbus_access;
  std::optional<bool> ssh;
  std::optional<bool> sftp;
  std::optional<bool> telnet;
  std::optional<bool> ftp;
  std::optional<std::uint8_t> hash_log2_n;
  std::optional<std::uint32_t> hash_r;
  std::optional<std::uint32_t> hash_p;
  std::optional<bool> fleet_allowed;
  std::vector<std::pair<SecurityEventType, std::uint8_t>> priorities;
  bool users_listed = false;
  std::vector<DocumentUser> users;
  friend bool operator==(const SecurityDocument&, const SecurityDocument&) = default;
};

// Parses and checks the form of a document; the error is "file:line:col: what and what
// to do". Rules that depend on the meter (its modes, lengths) are checked on apply.
proto::Result<SecurityDocument, std::string> parse_security_document(std::string_view yaml_text,
                                                                     std::string_view source_name);

// What the firmware keeps outside SecurityConfig but exports with it.
struct MeterSecuritySettings {
  ModbusAccess modbus_access = k_default_modbus_access;
  bool time_sync = true;
};

// The full document for a meter, passwords left out. `meter` goes into a comment.
std::string format_security_document(const SecurityConfig& config, const MeterSecuritySettings& settings,
                                     std::string_view meter);

// The outcome of a user's password in a document, decided by the meter (which alone can
// compare a password with a stored hash): unchanged, or a new PHC string.
struct ResolvedPassword {
  std::optional<std::string> new_hash;  // nullopt: the password given is the current one
  bool is_factory_password = false;
};

struct AppliedDocument {
  SecurityConfig config;
  MeterSecuritySettings settings;
  std::vector<std::string> changes;  // human-readable, empty when nothing changes
};

// The configuration the document asks for, validated, and what changes. `passwords`
// holds the meter's verdict for each user whose entry carried a password_file.
proto::Result<AppliedDocument, std::string> apply_security_document(
    const SecurityConfig& current, const MeterSecuritySettings& current_settings, const SecurityDocument& document,
    const std::map<std::string, ResolvedPassword>& passwords, const SecurityLimits& limits);

// Human-readable differences between two configurations ("mode: legacy -> advanced",
// "user alice added", "user bob: password changed"); never a password or hash.
std::vector<std::string> describe_changes(const SecurityConfig& before, const SecurityConfig& after);

}  // namespace sec
