#include "libsec/profile_rules.hpp"

#include <algorithm>
#include <cctype>
#include <functional>

namespace sec {

using proto::unexpected;
using proto::model::Capabilities;
using proto::model::DeviceModel;
using proto::model::Feature;
using proto::model::Limit;

namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool model_mentions(const DeviceModel& model, Feature feature) {
  return std::any_of(model.firmware.begin(), model.firmware.end(), [&](const auto& release) {
    return std::find(release.brings.begin(), release.brings.end(), feature) != release.brings.end() ||
           std::find(release.brings_when_shipped.begin(), release.brings_when_shipped.end(), feature) !=
               release.brings_when_shipped.end();
  });
}

// The first later firmware of the model, on the same feature set and shipped firmware
// (an upgrade changes neither), that `allows` what is asked.
std::optional<Capabilities> first_later_firmware(const DeviceModel& model, const Capabilities& capabilities,
                                                 const std::function<bool(const Capabilities&)>& allows) {
  for (const auto& release : model.firmware) {
    if (release.version <= capabilities.firmware) continue;
    auto later = model.capabilities(capabilities.feature_set, release.version, capabilities.shipped_firmware);
    if (later && allows(*later)) return std::move(*later);
  }
  return std::nullopt;
}

class Checker {
 public:
  Checker(const MeterProfile& profile, const DeviceModel& model, const Capabilities& capabilities)
      : profile_(profile), model_(model), capabilities_(capabilities) {}

  std::vector<ProfileProblem> take() { return std::move(problems_); }

  void problem(std::string_view path, std::string message) {
    problems_.push_back({profile_.location_of(path), std::move(message)});
  }

  // `value` must not exceed the limit `which`, when the meter has one.
  void limit(std::string_view path, const std::string& what, Limit which, std::int64_t value) {
    const auto allowed = capabilities_.limit(which);
    if (!allowed || value <= *allowed) return;
    auto message = what + "; " + meter_name(which) + " allows " + std::to_string(*allowed) + " (" +
                   std::string(to_string(which)) + ")";
    message += limit_lifted_note(model_, capabilities_, which, value);
    problem(path, std::move(message));
  }

  // The meter must offer one of `features` (the first one names it in the message).
  void feature(std::string_view path, const std::string& what, std::initializer_list<Feature> features) {
    const auto offers = [&](const Capabilities& candidate) {
      return std::any_of(features.begin(), features.end(), [&](Feature each) { return candidate.has(each); });
    };
    if (offers(capabilities_)) return;
    auto message = what + "; " + meter_name() + " does not offer " + std::string(to_string(*features.begin()));
    if (const auto later = first_later(offers)) {
      message += "; " + later->firmware.to_string() + " does";
    } else {
      message += "; no " + model_.name + " firmware does";
    }
    problem(path, std::move(message));
  }

  const Capabilities& capabilities() const { return capabilities_; }

 private:
  // "ION7400 4.0.0", with the feature set where it, not the firmware, sets the limit.
  std::string meter_name(std::optional<Limit> which = std::nullopt) const {
    auto name = capabilities_.model + " " + capabilities_.firmware.to_string();
    if (which) {
      const auto* set = model_.find_feature_set(capabilities_.feature_set);
      if (set && set->limits[static_cast<std::size_t>(*which)]) name += " (" + capabilities_.feature_set + ")";
    }
    return name;
  }

  std::optional<Capabilities> first_later(const std::function<bool(const Capabilities&)>& allows) const {
    return first_later_firmware(model_, capabilities_, allows);
  }

  const MeterProfile& profile_;
  const DeviceModel& model_;
  const Capabilities& capabilities_;
  std::vector<ProfileProblem> problems_;
};

void check_identity(const MeterProfile& profile, Checker& checker) {
  const auto& capabilities = checker.capabilities();
  const auto& identity = profile.identity;
  const auto meter =
      capabilities.model + " " + capabilities.firmware.to_string() + " (" + capabilities.feature_set + ")";
  if (identity.model && !equals_ignoring_case(*identity.model, capabilities.model)) {
    checker.problem("meter.model", "the profile is for model " + *identity.model + "; this meter is " + meter);
  }
  if (identity.feature_set && !equals_ignoring_case(*identity.feature_set, capabilities.feature_set)) {
    checker.problem("meter.feature_set",
                    "the profile is for feature set " + *identity.feature_set + "; this meter is " + meter);
  }
  if (identity.min_firmware) {
    const auto wanted = proto::model::Version::parse(*identity.min_firmware);
    if (!wanted) {
      checker.problem("meter.min_firmware", "meter.min_firmware '" + *identity.min_firmware + "' is not X.Y.Z");
    } else if (capabilities.firmware < *wanted) {
      checker.problem("meter.min_firmware", "the profile needs firmware " + wanted->to_string() +
                                                " or later; this meter is " + meter + "; upgrade it first");
    }
  }
}

void check_security(const MeterProfile& profile, Checker& checker) {
  const auto& security = profile.security;
  if (security.mode) {
    const auto mode = std::string(to_string(*security.mode));
    const auto needed = *security.mode == SecurityMode::legacy     ? Feature::legacy_security
                        : *security.mode == SecurityMode::standard ? Feature::standard_security
                                                                   : Feature::advanced_security;
    checker.feature("security.mode", "security.mode is " + mode, {needed});
  }
  if (security.complexity && *security.complexity != Complexity::none) {
    checker.feature("security.policy.complexity",
                    "security.policy.complexity is " + std::string(to_string(*security.complexity)),
                    {Feature::password_complexity});
  }
  if (security.min_length) {
    checker.limit("security.policy.min_length", "security.policy.min_length is " + std::to_string(*security.min_length),
                  Limit::password_max_length, static_cast<std::int64_t>(*security.min_length));
  }
  if (security.users_listed) {
    checker.limit("security.users", "security.users lists " + std::to_string(security.users.size()) + " accounts",
                  Limit::users, static_cast<std::int64_t>(security.users.size()));
  }
  for (const auto& [name, value, feature] :
       {std::tuple{"ssh", security.ssh, Feature::ssh}, std::tuple{"sftp", security.sftp, Feature::sftp},
        std::tuple{"telnet", security.telnet, Feature::telnet}, std::tuple{"ftp", security.ftp, Feature::ftp}}) {
    if (value == true) {
      const auto path = "security.options.services." + std::string(name);
      checker.feature(path, path + " is true", {feature});
    }
  }
}

void check_communications(const MeterProfile& profile, const DeviceModel& model, Checker& checker) {
  if (profile.security.modbus_access == ModbusAccess::none) {
    checker.feature("communications.modbus_tcp.access", "communications.modbus_tcp.access is none",
                    {Feature::modbus_access_none});
  }
  if (profile.communications.secure_native.enabled == true) {
    checker.feature("communications.secure_native.enabled", "communications.secure_native.enabled is true",
                    {Feature::secure_native});
  }
  const auto mode = profile.communications.web_mode;
  if (mode && *mode != WebMode::disabled) {
    // Only models whose releases describe their web server are held to it; for the
    // others the data says nothing either way.
    const bool https = model_mentions(model, Feature::https_web);
    const bool web = model_mentions(model, Feature::web_server);
    if (https || web) {
      const auto what = "communications.web.mode is " + std::string(to_string(*mode));
      if (https) {
        checker.feature("communications.web.mode", what, {Feature::https_web, Feature::web_server});
      } else {
        checker.feature("communications.web.mode", what, {Feature::web_server, Feature::https_web});
      }
    }
  }
}

void check_recorders(const MeterProfile& profile, Checker& checker) {
  std::int64_t with_outage_records = 0;
  for (const auto& recorder : profile.recorders) {
    const bool triggered = recorder.triggered == true;
    checker.limit("recorders[" + recorder.name + "].sources",
                  "recorder '" + recorder.name + "' logs " + std::to_string(recorder.sources.size()) + " sources" +
                      (triggered ? " on a trigger" : ""),
                  triggered ? Limit::recorder_linked_sources_with_trigger : Limit::recorder_linked_sources,
                  static_cast<std::int64_t>(recorder.sources.size()));
    if (recorder.insert_outage_records == true) ++with_outage_records;
  }
  if (with_outage_records > 0) {
    checker.limit("recorders", std::to_string(with_outage_records) + " recorders insert outage records",
                  Limit::recorders_with_insert_outage_records, with_outage_records);
  }
}

}  // namespace

std::string ProfileProblem::to_string() const { return location.empty() ? message : location + ": " + message; }

std::string limit_lifted_note(const DeviceModel& model, const Capabilities& capabilities, Limit which,
                              std::int64_t value) {
  const auto later = first_later_firmware(model, capabilities, [&](const Capabilities& candidate) {
    const auto limit = candidate.limit(which);
    return !limit || value <= *limit;
  });
  if (!later) return "; no " + model.name + " firmware allows " + std::to_string(value);
  const auto limit = later->limit(which);
  return "; " + later->firmware.to_string() + " allows " + (limit ? std::to_string(*limit) : "it");
}

std::vector<ProfileProblem> check_profile(const MeterProfile& profile, const DeviceModel& model,
                                          const Capabilities& capabilities) {
  Checker checker(profile, model, capabilities);
  check_identity(profile, checker);
  check_security(profile, checker);
  check_communications(profile, model, checker);
  check_recorders(profile, checker);
  return checker.take();
}

proto::Result<Capabilities, std::string> offline_capabilities(const MeterProfile& profile, const DeviceModel& model) {
  const auto at = [&](std::string_view path) {
    const auto location = profile.location_of(path);
    return location.empty() ? std::string() : location + ": ";
  };
  if (!profile.identity.model) {
    return unexpected(at("meter") +
                      "the profile names no meter.model, so there is nothing to check it against; "
                      "add meter: {model: ION7400} (or the model it is for)");
  }
  if (!equals_ignoring_case(*profile.identity.model, model.name)) {
    return unexpected(at("meter.model") + "the profile is for model " + *profile.identity.model + ", not " +
                      model.name + "; check meter.model");
  }
  const proto::model::FirmwareRelease* release = &model.firmware.front();
  if (profile.identity.min_firmware) {
    const auto wanted = proto::model::Version::parse(*profile.identity.min_firmware);
    if (!wanted) {
      return unexpected(at("meter.min_firmware") + "meter.min_firmware '" + *profile.identity.min_firmware +
                        "' is not X.Y.Z");
    }
    const auto found = std::find_if(model.firmware.begin(), model.firmware.end(),
                                    [&](const auto& each) { return each.version >= *wanted; });
    if (found == model.firmware.end()) {
      std::string versions;
      for (const auto& each : model.firmware) versions += (versions.empty() ? "" : ", ") + each.version.to_string();
      return unexpected(at("meter.min_firmware") + "no " + model.name + " firmware is " + wanted->to_string() +
                        " or later; known versions: " + versions);
    }
    release = &*found;
  }
  const auto feature_set = profile.identity.feature_set.value_or(model.default_feature_set);
  auto capabilities = model.capabilities(feature_set, release->version, release->version);
  if (!capabilities) return unexpected(at("meter.feature_set") + capabilities.error());
  return std::move(*capabilities);
}

}  // namespace sec
