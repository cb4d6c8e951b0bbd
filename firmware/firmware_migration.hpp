#pragma once
// What a firmware change does to a meter's stored state, as its model file says
// (libproto/model/firmware_rules.hpp): every release entered on the way up applies its
// on_upgrade, every release left on the way down its on_downgrade. Meter::open runs it
// whenever the firmware it starts differs from the stored one, and records each note it
// returns as a security event.
//
// Seeds: 004 (3.0.0: "If Standard security was used before upgrading meter firmware to
// v3.0.0, Legacy security support is enabled", User1 with the "Same password used before
// upgrade"; "If Advanced security was used ..., Advanced security is enabled"), 000
// (4.0.0: "ION protocol without Secure ION is still supported and enabled by default upon
// upgrade"), 003 (ION8650 4.40.1: an upgrade keeps the security modules, hashes the
// passwords and leaves the web server disabled; a downgrade keeps the mode, sets every
// password to 0, leaves SSH and SFTP behind, Telnet and FTP off, web read on and web
// configuration off).

#include <string>
#include <vector>

#include "firmware/meter_state.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/model/version.hpp"
#include "libproto/result.hpp"
#include "libsec/security_config.hpp"

namespace meterd {

// Applies the effects of moving `state` from firmware `from` to `to` and returns what
// changed, one note a fact ("firmware 3.0.0: security mode standard became legacy, User1
// keeping its password"). `target_limits` are the security limits of `to`: a service
// that firmware does not offer is switched off. The security configuration is left alone
// when the state has none yet (the factory one is made for `to` afterwards). Hashing a
// password (a reset to "0", or a clear-text store) takes one scrypt at the state's cost;
// an error says which hash could not be made. `state.firmware` is not touched.
proto::Result<std::vector<std::string>, std::string> migrate_firmware(const proto::model::DeviceModel& model,
                                                                      const proto::model::Version& from,
                                                                      const proto::model::Version& to,
                                                                      MeterState& state,
                                                                      const sec::SecurityLimits& target_limits);

// A store written before passwords were hashed: each clear-text password hashed at the
// state's cost, replacing the user's hash, and forgotten; one note each.
proto::Result<proto::Ok, std::string> hash_clear_passwords(MeterState& state, std::vector<std::string>& notes);

}  // namespace meterd
