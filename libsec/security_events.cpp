#include "libsec/security_events.hpp"

namespace sec {

namespace {

struct EventTypeInfo {
  SecurityEventType type;
  std::string_view name;
  std::uint8_t default_priority;
};

// Default priorities. The bands (security_events.hpp) follow the ION meters of seed 004:
// the Event Log Controller logs priorities above its cut-off of 5, and 64-127, 128-191 and
// 192-255 raise low, medium and high alarms (PM8000/ION7400 user manuals, "Default event
// log configuration"). Why each default:
//  - routine access (login, logout, timed logout) is logged for the audit trail but is no
//    alarm: 10;
//  - one failed login is usually a typing mistake, but it is the first trace of password
//    guessing, so it is a low alarm (70); the lockout that guessing ends in is high (200);
//  - unlocking an account restores access an attacker was denied: low alarm (100);
//  - reading the configuration happens on every poll of a configuration tool and would
//    push real events out of a circular log, so it is informational (5) and not logged
//    unless a site raises it;
//  - metering configuration changes are expected work that the audit trail must show (40),
//    as are clock changes, on which every timestamp and billing interval depends (40);
//  - changes to who may do what (security configuration, users, passwords) are medium
//    alarms (140); a new security mode or firmware changes the meter wholesale (160);
//  - reading the audit log is logged, so that reading it is itself traceable (20);
//  - the meter's own alarms start at the lowest high priority (192).
constexpr std::array<EventTypeInfo, k_security_event_type_count> k_event_types{{
    {SecurityEventType::login, "login", 10},
    {SecurityEventType::login_failed, "login_failed", 70},
    {SecurityEventType::logout, "logout", 10},
    {SecurityEventType::timed_logout, "timed_logout", 10},
    {SecurityEventType::lockout, "lockout", 200},
    {SecurityEventType::unlock, "unlock", 100},
    {SecurityEventType::configuration_access, "configuration_access", 5},
    {SecurityEventType::configuration_change, "configuration_change", 40},
    {SecurityEventType::security_configuration_change, "security_configuration_change", 140},
    {SecurityEventType::mode_change, "mode_change", 160},
    {SecurityEventType::firmware_change, "firmware_change", 160},
    {SecurityEventType::user_created, "user_created", 140},
    {SecurityEventType::user_changed, "user_changed", 140},
    {SecurityEventType::user_deleted, "user_deleted", 140},
    {SecurityEventType::password_changed, "password_changed", 140},
    {SecurityEventType::audit_log_access, "audit_log_access", 20},
    {SecurityEventType::time_change, "time_change", 40},
    {SecurityEventType::alarm, "alarm", 192},
}};

// The table is indexed by the enumerator's value; this keeps the two in step.
constexpr bool table_matches_enumeration() {
  for (std::size_t index = 0; index < k_event_types.size(); ++index) {
    if (static_cast<std::size_t>(k_event_types[index].type) != index) return false;
  }
  return static_cast<std::size_t>(SecurityEventType::alarm) + 1 == k_security_event_type_count;
}
static_assert(table_matches_enumeration(), "k_event_types must list every SecurityEventType in order");

const EventTypeInfo* info_of(SecurityEventType type) {
  const auto index = static_cast<std::size_t>(type);
  return index < k_event_types.size() ? &k_event_types[index] : nullptr;
}

}  // namespace

std::string_view to_string(SecurityEventType type) {
  const auto* info = info_of(type);
  return info != nullptr ? info->name : "unknown";
}

std::optional<SecurityEventType> parse_security_event_type(std::string_view text) {
  for (const auto& info : k_event_types) {
    if (info.name == text) return info.type;
  }
  return std::nullopt;
}

PrioritySeverity severity_of(std::uint8_t priority) {
  if (priority == 0) return PrioritySeverity::not_logged;
  if (priority < k_lowest_recorded_priority) return PrioritySeverity::informational;
  if (priority < 64) return PrioritySeverity::logged;
  if (priority < 128) return PrioritySeverity::low;
  if (priority < 192) return PrioritySeverity::medium;
  return PrioritySeverity::high;
}

std::string_view to_string(PrioritySeverity severity) {
  switch (severity) {
    case PrioritySeverity::not_logged: return "not_logged";
    case PrioritySeverity::informational: return "informational";
    case PrioritySeverity::logged: return "logged";
    case PrioritySeverity::low: return "low";
    case PrioritySeverity::medium: return "medium";
    case PrioritySeverity::high: return "high";
  }
  return "unknown";
}

bool is_recorded(std::uint8_t priority) { return priority >= k_lowest_recorded_priority; }

std::uint8_t default_priority(SecurityEventType type) {
  const auto* info = info_of(type);
  return info != nullptr ? info->default_priority : 0;
}

EventPriorities::EventPriorities() {
  for (const auto& info : k_event_types) priorities_[static_cast<std::size_t>(info.type)] = info.default_priority;
}

std::uint8_t EventPriorities::of(SecurityEventType type) const {
  const auto index = static_cast<std::size_t>(type);
  return index < priorities_.size() ? priorities_[index] : 0;
}

void EventPriorities::set(SecurityEventType type, std::uint8_t priority) {
  const auto index = static_cast<std::size_t>(type);
  if (index < priorities_.size()) priorities_[index] = priority;
}

}  // namespace sec
