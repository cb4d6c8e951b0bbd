#pragma once
// Passwords sent beside a configuration document (security.apply, config.plan and
// config.apply): the document names a password_file for a user, meterctl reads the file
// and sends the password itself, and only the meter can tell whether it is the password
// the user has now. So the meter verifies each against the stored hash, and hashes the
// ones that are new, on the password worker (DeferredReply): the same password sent
// again is no change, and the I/O thread never runs scrypt.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/meter.hpp"
#include "firmware/native_service.hpp"
#include "libproto/result.hpp"
#include "libsec/security_document.hpp"

namespace meterd {

// The request's `passwords` ({user: password}): text only, one for each user whose entry
// names a password_file and for no one else. Errors name the operation and the entry.
proto::Result<std::map<std::string, std::string>, std::string> read_sent_passwords(
    const nlohmann::json& arguments, const std::vector<sec::DocumentUser>& users, std::string_view operation);

using ResolvedPasswords = std::map<std::string, sec::ResolvedPassword>;

// Verifies and hashes `passwords` off the I/O thread, then calls `finish` with the verdict
// for each user. `rules` is the configuration the passwords will live in (its mode and
// policy decide whether a new password is acceptable); `params` the hashing cost for new
// hashes. A password that fails the rules is refused only when it is new: an existing
// password keeps working under stricter rules until it is changed.
NativeOutcome resolve_passwords(const Meter& meter, std::uint32_t request_id, std::map<std::string, std::string> passwords,
                                const sec::SecurityConfig& rules, const sec::ScryptParams& params,
                                std::function<NativeOutcome(const ResolvedPasswords&)> finish);

}  // namespace meterd
