#include "libsec/security_events.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace sec;

namespace {
SecurityEventType type_at(std::size_t index) { return static_cast<SecurityEventType>(index); }
}  // namespace

TEST_CASE("Security event types round trip through their snake_case names", "[libsec][events]") {
  std::set<std::string_view> names;
  for (std::size_t index = 0; index < k_security_event_type_count; ++index) {
    const auto name = to_string(type_at(index));
    CHECK(name != "unknown");
    CHECK(parse_security_event_type(name) == type_at(index));
    names.insert(name);
  }
  CHECK(names.size() == k_security_event_type_count);
  CHECK(to_string(SecurityEventType::security_configuration_change) == "security_configuration_change");
  CHECK(to_string(SecurityEventType::login_failed) == "login_failed");
  CHECK(to_string(type_at(k_security_event_type_count)) == "unknown");
  CHECK_FALSE(parse_security_event_type("Login"));
  CHECK_FALSE(parse_security_event_type("login "));
  CHECK_FALSE(parse_security_event_type(""));
  CHECK_FALSE(parse_security_event_type("unknown"));
}

TEST_CASE("Priority severity bands change exactly at 1, 6, 64, 128 and 192", "[libsec][events]") {
  const std::pair<std::uint8_t, PrioritySeverity> boundaries[] = {
      {0, PrioritySeverity::not_logged},  {1, PrioritySeverity::informational}, {5, PrioritySeverity::informational},
      {6, PrioritySeverity::logged},      {63, PrioritySeverity::logged},       {64, PrioritySeverity::low},
      {127, PrioritySeverity::low},       {128, PrioritySeverity::medium},      {191, PrioritySeverity::medium},
      {192, PrioritySeverity::high},      {255, PrioritySeverity::high},
  };
  for (const auto& [priority, severity] : boundaries) {
    INFO("priority " << int(priority));
    CHECK(severity_of(priority) == severity);
    CHECK(is_recorded(priority) == (priority >= 6));
  }
  CHECK(to_string(PrioritySeverity::not_logged) == "not_logged");
  CHECK(to_string(PrioritySeverity::informational) == "informational");
  CHECK(to_string(PrioritySeverity::logged) == "logged");
  CHECK(to_string(PrioritySeverity::low) == "low");
  CHECK(to_string(PrioritySeverity::medium) == "medium");
  CHECK(to_string(PrioritySeverity::high) == "high");
}

TEST_CASE("Default security event priorities", "[libsec][events]") {
  CHECK(default_priority(SecurityEventType::login) == 10);
  CHECK(default_priority(SecurityEventType::logout) == 10);
  CHECK(default_priority(SecurityEventType::timed_logout) == 10);
  CHECK(default_priority(SecurityEventType::login_failed) == 70);
  CHECK(default_priority(SecurityEventType::lockout) == 200);
  CHECK(default_priority(SecurityEventType::unlock) == 100);
  CHECK(default_priority(SecurityEventType::configuration_access) == 5);
  CHECK(default_priority(SecurityEventType::configuration_change) == 40);
  CHECK(default_priority(SecurityEventType::security_configuration_change) == 140);
  CHECK(default_priority(SecurityEventType::mode_change) == 160);
  CHECK(default_priority(SecurityEventType::firmware_change) == 160);
  CHECK(default_priority(SecurityEventType::user_created) == 140);
  CHECK(default_priority(SecurityEventType::user_changed) == 140);
  CHECK(default_priority(SecurityEventType::user_deleted) == 140);
  CHECK(default_priority(SecurityEventType::password_changed) == 140);
  CHECK(default_priority(SecurityEventType::audit_log_access) == 20);
  CHECK(default_priority(SecurityEventType::time_change) == 40);
  CHECK(default_priority(SecurityEventType::alarm) == 192);

  // Reading the configuration is the one event not logged by default; every other is.
  for (std::size_t index = 0; index < k_security_event_type_count; ++index) {
    INFO(to_string(type_at(index)));
    CHECK(is_recorded(default_priority(type_at(index))) == (type_at(index) != SecurityEventType::configuration_access));
  }
  CHECK(severity_of(default_priority(SecurityEventType::login_failed)) == PrioritySeverity::low);
  CHECK(severity_of(default_priority(SecurityEventType::lockout)) == PrioritySeverity::high);
  CHECK(severity_of(default_priority(SecurityEventType::alarm)) == PrioritySeverity::high);
  CHECK(default_priority(type_at(k_security_event_type_count)) == 0);
}

TEST_CASE("Event priorities start at the defaults and change per type", "[libsec][events]") {
  EventPriorities priorities;
  for (std::size_t index = 0; index < k_security_event_type_count; ++index) {
    CHECK(priorities.of(type_at(index)) == default_priority(type_at(index)));
  }
  CHECK(priorities == EventPriorities{});

  priorities.set(SecurityEventType::configuration_access, 30);
  CHECK(priorities.of(SecurityEventType::configuration_access) == 30);
  CHECK(priorities.of(SecurityEventType::configuration_change) == 40);
  CHECK_FALSE(priorities == EventPriorities{});
  priorities.set(SecurityEventType::configuration_access, 5);
  CHECK(priorities == EventPriorities{});

  // A value outside the enumeration is neither stored nor read.
  priorities.set(type_at(k_security_event_type_count), 99);
  CHECK(priorities.of(type_at(k_security_event_type_count)) == 0);
  CHECK(priorities == EventPriorities{});
}
