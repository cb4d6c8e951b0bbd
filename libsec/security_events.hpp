#pragma once
// The meter's cybersecurity events and their priorities (seed 004, the vendor's July 2020
// what's new, "Cybersecurity event logs and reports": "set-up cybersecurity event logs and
// alarms using event priorities"). Every event type carries a configurable priority; the
// priority decides whether the event is written to the security event log and, above 63,
// which alarm level it raises. Pure values and functions: the log file itself is
// firmware/security_event_log.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sec {

// IEEE 1686-2013 clause 5.2.x audit trail event types, plus the meter's own.
// Stored by name (to_string), never by value, so the order here is free to change.
enum class SecurityEventType : std::uint8_t {
  login,
  login_failed,
  logout,
  timed_logout,
  lockout,
  unlock,
  configuration_access,
  configuration_change,
  security_configuration_change,
  mode_change,
  firmware_change,
  user_created,
  user_changed,
  user_deleted,
  password_changed,
  audit_log_access,
  time_change,
  alarm
};
inline constexpr std::size_t k_security_event_type_count = 18;

// snake_case, as the enumerator; "unknown" for a value outside the enumeration.
std::string_view to_string(SecurityEventType type);
// The inverse of to_string: exact, case-sensitive; nullopt for anything else.
std::optional<SecurityEventType> parse_security_event_type(std::string_view text);

// Priorities: 0 not logged; 1-5 informational, not logged by default; 6-63 logged;
// 64-127 low alarm; 128-191 medium; 192-255 high alarm.
enum class PrioritySeverity { not_logged, informational, logged, low, medium, high };

// The band `priority` falls in (see above).
PrioritySeverity severity_of(std::uint8_t priority);
// "not_logged", "informational", "logged", "low", "medium", "high".
std::string_view to_string(PrioritySeverity severity);

// The event log cut-off: priorities 0..5 are not written to the log, 6..255 are.
inline constexpr std::uint8_t k_lowest_recorded_priority = 6;
bool is_recorded(std::uint8_t priority);  // priority >= 6

// The factory priority of each event type; security_events.cpp says why each one.
std::uint8_t default_priority(SecurityEventType type);

// Per-type priorities, configurable; constructed with the defaults.
class EventPriorities {
 public:
  EventPriorities();  // default_priority of every type
  // An out-of-range type reads as 0 (not logged) and is ignored by set.
  std::uint8_t of(SecurityEventType type) const;
  void set(SecurityEventType type, std::uint8_t priority);
  friend bool operator==(const EventPriorities&, const EventPriorities&) = default;

 private:
  std::array<std::uint8_t, k_security_event_type_count> priorities_{};
};

// One entry of the audit trail: IEEE 1686-2013 clause 5.2 asks for an event record
// number, the date and time, the user and the event type.
struct SecurityEventRecord {
  std::uint64_t number = 0;  // ever increasing, never reused, survives restarts and wrap-around
  double time = 0;           // meter time, Unix seconds
  std::string user;          // "" = anonymous / not applicable
  std::string protocol;      // "native", "modbus", "web", "console", "meter"
  std::string connection;    // "ethernet", "serial", "local"
  SecurityEventType type = SecurityEventType::login;
  std::uint8_t priority = 0;
  std::string detail;  // short text, never a password or hash

  friend bool operator==(const SecurityEventRecord&, const SecurityEventRecord&) = default;
};

}  // namespace sec
