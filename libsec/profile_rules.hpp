#pragma once
// The checks a profile must pass against the meter it is for: what the model, feature set
// and firmware version offer and allow (profiles/models/). A meter runs them before it
// applies anything; `meterctl config validate` runs them offline against the lowest
// firmware the profile accepts. Each problem names the limit and, where a later firmware
// lifts it, that firmware ("password_max_length is 6 on ION7400 3.0.0; 4.0.0 allows 16").

#include <string>
#include <vector>

#include "libproto/model/device_model.hpp"
#include "libsec/meter_profile.hpp"

namespace sec {

struct ProfileProblem {
  std::string location;  // "file:line:col", or "" when the profile itself says nothing there
  std::string message;
  std::string to_string() const;  // "location: message" (or the message alone)
};

// Checks identity expectations (model, feature set, minimum firmware) against
// `capabilities`, then every value against the features and limits it has: complexity
// needs password_complexity, min_length and users within password_max_length and users,
// secure_native needs secure_native, bacnet-era and recorder limits, security modes the
// firmware offers, Modbus access none needs modbus_access_none. `model` gives the
// firmware list, used to name the version that lifts a limit. Empty when all is well.
std::vector<ProfileProblem> check_profile(const MeterProfile& profile, const proto::model::DeviceModel& model,
                                          const proto::model::Capabilities& capabilities);

// "; 4.0.0 allows 16", or "; no ION8650 firmware allows 17": the first later firmware of
// `model` (same feature set and shipped firmware: an upgrade changes neither) whose limit
// `which` allows `value`. For the meter's own checks outside check_profile, such as the
// length of a password it was sent, so that they too name the firmware that lifts a limit.
std::string limit_lifted_note(const proto::model::DeviceModel& model, const proto::model::Capabilities& capabilities,
                              proto::model::Limit which, std::int64_t value);

// The capabilities a profile is checked against offline: its model at its min_firmware
// (else the model's first release) with its feature set (else the default), shipped with
// that same firmware. An error when the profile names no model or an unknown one.
proto::Result<proto::model::Capabilities, std::string> offline_capabilities(const MeterProfile& profile,
                                                                           const proto::model::DeviceModel& model);

}  // namespace sec
