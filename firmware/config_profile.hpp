#pragma once
// A meter's configuration as a meter profile (meter-profile(5)) and back: the complete
// profile of what a configuration is (every key set, so that comparing two of them gives
// exactly what changes), and the configuration a profile asks for, laid over the one in
// force (a key the profile leaves out keeps the meter's value).

#include <map>
#include <string>
#include <vector>

#include "firmware/config_runtime.hpp"
#include "firmware/meter.hpp"
#include "firmware/password_resolution.hpp"
#include "libsec/meter_profile.hpp"
#include "libsec/profile_rules.hpp"

namespace meterd {

enum class PasswordHashes { left_out, included };

// The full profile of `configuration` on `meter` with its services on `ports`. Identity is
// the meter's (model, feature set, running firmware as min_firmware); the security
// section holds the fields `security export` writes. Password hashes are never sent to a
// client: `included` is for comparing two configurations only, and shows a changed
// password as a changed key.
sec::MeterProfile configuration_profile(const Meter& meter, const MeterConfiguration& configuration,
                                        const ListenerPorts& ports, PasswordHashes hashes);

// The ports `configuration` listens on: a disabled service (or one the command line keeps
// closed) none; an enabled one its configured port, else the command line's or default
// port, else (the kernel chose) the one it has now.
ListenerPorts wanted_ports(const MeterConfiguration& configuration, const ConfigRuntime& runtime);

// What is wrong with `profile` for this meter, one problem per entry ("file:line:col:
// message"): the model's rules (profile_rules.hpp), then the meter's own (a built-in
// scenario, known measurement points, an existing time zone, distinct ports that no other
// meter of this process uses, a native management port left open).
std::vector<sec::ProfileProblem> check_profile_for_meter(const sec::MeterProfile& profile, const Meter& meter,
                                                         const ConfigRuntime& runtime);

// The configuration `profile` asks for, over the one in force. `passwords` holds the
// meter's verdict on each password sent (password_resolution.hpp).
proto::Result<MeterConfiguration, std::string> target_configuration(const sec::MeterProfile& profile, const Meter& meter,
                                                                    const ResolvedPasswords& passwords);

// Whether `name` is a time zone this host knows (/usr/share/zoneinfo), or UTC.
bool is_known_time_zone(const std::string& name);

}  // namespace meterd
