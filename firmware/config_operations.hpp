#pragma once
// The native protocol's `config.*` operations (configuration as code, meterctl config;
// the contract is config-protocol in meter-native-protocol(7)): get, plan, apply, confirm
// and rollback. All need the Security Config permission: a profile covers security, and
// plan verifies passwords.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "firmware/native_service.hpp"

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

// The confirm timer's callback: when the pending configuration's deadline has passed,
// puts the previous one back (ports included), logs it and records the event.
void expire_pending_confirm(NativeService& service);

}  // namespace meterd
