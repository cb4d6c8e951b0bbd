#pragma once
// What a meter's model and firmware allow its security configuration to be, and the
// Device Configuration Checklist (seed 004, "Passwords": "View the Device Configuration
// Checklist to quickly determine if the default password is used") that `meterctl
// security audit` prints.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "libproto/model/device_model.hpp"
#include "libsec/modbus_access.hpp"
#include "libsec/security_config.hpp"

namespace meterd {

sec::SecurityLimits security_limits_for(const proto::model::DeviceModel& model,
                                        const proto::model::Capabilities& capabilities);

// The facts the checklist needs beyond the configuration itself.
struct AuditFacts {
  bool plain_native_port_open = false;
  sec::ModbusAccess modbus_access = sec::k_default_modbus_access;
  bool complexity_available = false;
};

enum class FindingSeverity { pass, warn, fail };

struct AuditFinding {
  std::string id;  // stable, for scripts: default-password, single-password-mode, ...
  FindingSeverity severity = FindingSeverity::pass;
  std::string title;
  std::string detail;
  std::string remedy;  // what to do; empty when it passes
};

std::vector<AuditFinding> audit_security(const sec::SecurityConfig& config, const AuditFacts& facts);
// The meter passes when no finding is a failure (warnings do not fail it).
bool audit_passed(const std::vector<AuditFinding>& findings);
nlohmann::json to_json(const std::vector<AuditFinding>& findings);

}  // namespace meterd
