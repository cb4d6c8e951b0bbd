#pragma once
// The native protocol's `config.*` operations (configuration as code, meterctl config;
// the contract is config-protocol in meter-native-protocol(7)): get, plan, apply, confirm
// and rollback. All need the Security Config permission: a profile covers security, and
// plan verifies passwords.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/native_service.hpp"
#include "libsec/meter_profile.hpp"
#include "libsec/profile_rules.hpp"

namespace meterd {

// config.apply's confirm_timeout_s bounds: long enough to reconnect and check, short
// enough that a meter cut off by a bad configuration is not lost for long.
inline constexpr std::uint64_t k_min_confirm_timeout_s = 10;
inline constexpr std::uint64_t k_max_confirm_timeout_s = 3600;
// A rollback that cannot reopen its ports (taken meanwhile) is tried again after this.
inline constexpr std::int64_t k_rollback_retry_s = 10;

bool is_config_operation(std::string_view operation);

NativeOutcome run_config_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                   const nlohmann::json& arguments, const Caller& caller);

// The pieces of config.apply that backup.restore shares (backup_operations.hpp).

// Puts `configuration` in force with the ports it wants: listeners first (a port that
// cannot be opened changes nothing), then the one atomic save, then the old listeners go.
// The error is the code and message to reply with; nothing has changed then.
proto::Result<proto::Ok, std::pair<proto::codec::native::ErrorCode, std::string>> switch_configuration(
    NativeService& service, MeterConfiguration configuration, std::optional<PendingConfirm> pending);
// [{path, before?, after?}], as config.plan and config.apply reply.
nlohmann::json changes_json(const std::vector<sec::ProfileChange>& changes);
// One problem per line, within the protocol's limit on error text.
std::string problems_text(const std::vector<sec::ProfileProblem>& problems);

// The confirm timer's callback: when the pending configuration's deadline has passed,
// puts the previous one back (ports included), logs it and records the event.
void expire_pending_confirm(NativeService& service);

}  // namespace meterd
