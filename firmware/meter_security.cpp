#include "firmware/meter_security.hpp"

#include <algorithm>

namespace meterd {

using proto::model::Feature;
using proto::model::Limit;

namespace {

// "needs firmware 4.6.0 or later on the ION7400", or that the model has no such firmware.
std::string feature_hint(const proto::model::DeviceModel& model, Feature feature) {
  for (const auto& release : model.firmware) {
    if (std::find(release.brings.begin(), release.brings.end(), feature) != release.brings.end()) {
      return "needs firmware " + release.version.to_string() + " or later on the " + model.name;
    }
  }
  return "is not offered by the " + model.name;
}

AuditFinding finding(std::string id, bool failed, FindingSeverity severity_when_failed, std::string title,
                     std::string detail, std::string remedy) {
  if (!failed) return {std::move(id), FindingSeverity::pass, std::move(title), "ok", ""};
  return {std::move(id), severity_when_failed, std::move(title), std::move(detail), std::move(remedy)};
}

std::string_view to_string(FindingSeverity severity) {
  switch (severity) {
    case FindingSeverity::pass: return "pass";
    case FindingSeverity::warn: return "warn";
    case FindingSeverity::fail: return "fail";
  }
  return "fail";
}

}  // namespace

sec::SecurityLimits security_limits_for(const proto::model::DeviceModel& model,
                                        const proto::model::Capabilities& capabilities) {
  sec::SecurityLimits limits;
  // Seed 003: the ION8650 keeps Standard and Advanced ("No security: No longer
  // available"); the others have Legacy security support and Advanced (seed 004).
  if (capabilities.has(Feature::legacy_security)) limits.modes.push_back(sec::SecurityMode::legacy);
  if (capabilities.has(Feature::standard_security)) limits.modes.push_back(sec::SecurityMode::standard);
  if (capabilities.has(Feature::advanced_security)) limits.modes.push_back(sec::SecurityMode::advanced);
  if (limits.modes.empty()) limits.modes.push_back(sec::SecurityMode::advanced);
  limits.max_users = static_cast<std::size_t>(capabilities.limit(Limit::users).value_or(sec::k_max_users));
  limits.max_password_length = static_cast<std::size_t>(capabilities.limit(Limit::password_max_length).value_or(6));
  limits.complexity_available = capabilities.has(Feature::password_complexity);
  limits.complexity_hint = feature_hint(model, Feature::password_complexity);
  limits.lockouts_available = true;
  limits.services_offered = {capabilities.has(Feature::ssh), capabilities.has(Feature::sftp),
                             capabilities.has(Feature::telnet), capabilities.has(Feature::ftp)};
  return limits;
}

std::vector<AuditFinding> audit_security(const sec::SecurityConfig& config, const AuditFacts& facts) {
  std::vector<AuditFinding> findings;
  std::string defaults;
  for (const auto& user : config.users) {
    if (user.default_credential) defaults += (defaults.empty() ? "" : ", ") + user.name;
  }
  findings.push_back(finding("default-password", !defaults.empty(), FindingSeverity::fail,
                             "No account uses the factory password",
                             defaults + " still has the factory password 0",
                             "meterctl users passwd " + (defaults.empty() ? std::string("User1") : defaults.substr(0, defaults.find(','))) +
                                 " (seed: change the default password of 0)"));
  findings.push_back(finding("single-password-mode", sec::is_single_password_mode(config.mode), FindingSeverity::fail,
                             "Advanced security is in use",
                             std::string(sec::to_string(config.mode)) +
                                 " security: one numeric password, and anyone may read the meter without one",
                             "meterctl security mode advanced, then give each person an account (users add)"));
  findings.push_back(finding("plain-native-port", facts.plain_native_port_open, FindingSeverity::fail,
                             "The management protocol runs over TLS only",
                             "the plain native port is open: logins and commands cross the network in clear",
                             "move clients to the secure port (meterctl --secure), then start meterd with --no-native"));
  findings.push_back(finding("web-server-programming", config.options.web_server_programming, FindingSeverity::fail,
                             "Configuration over the web is off", "web server programming is on",
                             "meterctl security options --web-server-programming off"));
  findings.push_back(finding("weak-password-hashing", !sec::meets_owasp_minimum(config.hashing.params),
                             FindingSeverity::fail, "Password hashing meets the OWASP minimum",
                             "passwords are hashed with " + sec::describe(config.hashing.params) +
                                 ", below scrypt N=2^17 r=8 p=1 (allowed here for a virtual fleet)",
                             "set password_hashing back to log2_n: 17, r: 8, p: 1 and fleet_allowed: false "
                             "(security apply); passwords are rehashed at their next login"));
  findings.push_back(finding("lockout-disabled", config.native_lockout.attempts == 0, FindingSeverity::warn,
                             "Failed logins lead to a lockout", "native protocol lockout is off (attempts 0)",
                             "meterctl security lockout --protocol native --attempts 5"));
  findings.push_back(finding("no-password-complexity",
                             facts.complexity_available && config.policy.complexity == sec::Complexity::none,
                             FindingSeverity::warn, "Password complexity is enforced",
                             "this firmware can enforce NERC CIP-007-5 or IEEE 1686-2013, and does not",
                             "meterctl security policy --complexity nerc-cip-007-5"));
  findings.push_back(finding("modbus-read-write", facts.modbus_access == sec::ModbusAccess::read_write,
                             FindingSeverity::warn, "Modbus cannot change the configuration",
                             "Modbus access is read-write: anyone on the network may change metering settings",
                             "meterctl security options --modbus-access read-only"));
  return findings;
}

bool audit_passed(const std::vector<AuditFinding>& findings) {
  return std::none_of(findings.begin(), findings.end(),
                      [](const AuditFinding& each) { return each.severity == FindingSeverity::fail; });
}

nlohmann::json to_json(const std::vector<AuditFinding>& findings) {
  auto list = nlohmann::json::array();
  for (const auto& each : findings) {
    list.push_back({{"id", each.id},
                    {"severity", std::string(to_string(each.severity))},
                    {"title", each.title},
                    {"detail", each.detail},
                    {"remedy", each.remedy}});
  }
  return list;
}

}  // namespace meterd
