#pragma once
// The native protocol's `backup.*` operations (meterctl backup and restore; BACKUPS in
// meter-native-protocol(7)). Both need the Security Config permission: a backup carries
// the users' password hashes.
//
//   backup.get {} -> {"identity": {serial_number, model, feature_set, firmware,
//       shipped_firmware}, "configuration": <as meter-state.json stores it>,
//       "config_version": n, "events": [<security.events records>], "events_omitted": n}
//   backup.restore {"backup": <that object>, "expected_version"?: n}
//       -> {"changed", "config_version", "previous_version", "changes"}
//
// A restore puts the backup's configuration in force the way config.apply does (ports
// prepared, one atomic save, then committed) after every check config.apply makes, on a
// meter of the same model only. Identity and events are not written back: the event log
// is append-only history, and the serial number is the meter's own.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "firmware/native_service.hpp"
#include "libproto/codec/native_frame.hpp"

namespace meterd {

// backup.get's reply is one body (meter-native-protocol(7), limits: 256 KiB). The
// configuration always goes; of the event log, the newest records that fit in what is
// left after this margin for the reply's envelope.
inline constexpr std::size_t k_backup_reply_margin_bytes = 4096;
static_assert(k_backup_reply_margin_bytes < proto::codec::native::k_max_body_size);

bool is_backup_operation(std::string_view operation);

NativeOutcome run_backup_operation(NativeService& service, std::uint32_t request_id, const std::string& operation,
                                   const nlohmann::json& arguments, const Caller& caller);

// The members of `given` that `understood` lacks, as dotted paths ("settings.bacnet_port",
// "security.users[1].totp"): what a configuration holds that this firmware dropped when
// it read it (a setting added by a newer firmware). Arrays are compared item by item.
std::vector<std::string> unknown_members(const nlohmann::json& given, const nlohmann::json& understood);

}  // namespace meterd
