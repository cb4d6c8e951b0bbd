#pragma once
// The native protocol's `security.*` and `users.*` operations (meterctl security and
// meterctl users). Every one needs the Security Config permission, except a user changing
// their own password over a session. Changes are validated against the model, saved with
// the meter state in one atomic write, and logged in the cybersecurity event log.

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "firmware/native_service.hpp"
#include "libsec/security_events.hpp"

namespace meterd {

bool is_security_operation(std::string_view operation);

NativeOutcome run_security_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                     const nlohmann::json& arguments, const Caller& caller);

// One record of the cybersecurity event log as security.events sends it (and backup.get).
nlohmann::json security_event_json(const sec::SecurityEventRecord& record);

}  // namespace meterd
