#include "firmware/firmware_migration.hpp"

#include <array>

#include "libproto/model/firmware_rules.hpp"

namespace meterd {

namespace {

using proto::model::DowngradeEffects;
using proto::model::FirmwareRelease;
using proto::model::UpgradeEffects;

struct ServiceSwitch {
  const char* name;
  bool sec::ServiceSwitches::*member;  // the switch, and whether the firmware offers it
};

// The names on_downgrade lists services by, as the ION8650 FAQ (seed 003) names them.
constexpr std::array<ServiceSwitch, 4> k_services = {{{"ssh", &sec::ServiceSwitches::ssh},
                                                      {"sftp", &sec::ServiceSwitches::sftp},
                                                      {"telnet", &sec::ServiceSwitches::telnet},
                                                      {"ftp", &sec::ServiceSwitches::ftp}}};

bool* service_switch(sec::ServiceSwitches& services, std::string_view name) {
  for (const auto& service : k_services) {
    if (name == service.name) return &(services.*service.member);
  }
  return nullptr;
}

std::string user_names(const sec::SecurityConfig& config) {
  std::string names;
  for (const auto& user : config.users) names += (names.empty() ? "" : ", ") + user.name;
  return names;
}

class Migration {
 public:
  Migration(MeterState& state, std::vector<std::string>& notes) : state_(state), notes_(notes) {}

  proto::Result<proto::Ok, std::string> upgrade_to(const FirmwareRelease& release) {
    const auto prefix = "firmware " + release.version.to_string() + ": ";
    const UpgradeEffects& effects = release.on_upgrade;
    auto& security = state_.security;
    if (has_security() && !effects.security_mode.empty()) {
      const auto current = std::string(sec::to_string(security.mode));
      if (const auto mapped = effects.security_mode.find(current); mapped != effects.security_mode.end()) {
        const auto next = sec::parse_security_mode(mapped->second);
        if (next && *next != security.mode) {
          // The single-password modes share their one account, User1, and its hash, so the
          // password used before the upgrade opens the meter after it (seed 004).
          const bool same_account = sec::is_single_password_mode(security.mode) && sec::is_single_password_mode(*next);
          security.mode = *next;
          notes_.push_back(prefix + "security mode " + current + " became " + mapped->second +
                           (same_account ? ", User1 keeping its password" : ""));
        } else if (next) {
          notes_.push_back(prefix + "security mode " + current + " kept, with its users (" + user_names(security) + ")");
        }
      }
    }
    if (effects.passwords == "hashed") {
      if (!state_.clear_passwords.empty()) {
        if (auto hashed = hash_clear_passwords(state_, notes_); !hashed) return hashed;
      } else if (has_security()) {
        notes_.push_back(prefix + "passwords are to be stored hashed; every stored password is a scrypt hash already");
      }
    }
    if (effects.web_server && has_security()) {
      const bool on = *effects.web_server == "enabled";
      if (security.options.web_server != on) notes_.push_back(prefix + "web server " + *effects.web_server);
      security.options.web_server = on;
    }
    if (effects.plain_native_port) {
      const bool on = *effects.plain_native_port == "enabled";
      if (state_.communications.native.enabled != on) {
        notes_.push_back(prefix + "plain native port " + *effects.plain_native_port);
      }
      state_.communications.native.enabled = on;
    }
    return proto::Ok{};
  }

  proto::Result<proto::Ok, std::string> downgrade_from(const FirmwareRelease& release) {
    if (!release.on_downgrade || !has_security()) return proto::Ok{};
    const auto prefix = "leaving firmware " + release.version.to_string() + ": ";
    const DowngradeEffects& effects = *release.on_downgrade;
    auto& security = state_.security;
    if (effects.security_mode == "kept") {
      notes_.push_back(prefix + "security mode " + std::string(sec::to_string(security.mode)) + " kept");
    }
    if (effects.passwords_reset_to) {
      // One hash for every user: the password is the same published value for all of
      // them, so distinct salts would hide nothing, and each scrypt costs a fraction of a
      // second at the default cost.
      auto hash = sec::hash_password(*effects.passwords_reset_to, security.hashing.params);
      if (!hash) {
        return proto::unexpected(prefix + "cannot hash the reset password: " + std::string(sec::to_string(hash.error())));
      }
      const bool factory = *effects.passwords_reset_to == sec::k_factory_password;
      for (auto& user : security.users) {
        user.password_hash = *hash;
        user.default_credential = factory;
      }
      notes_.push_back(prefix + "password of every user (" + user_names(security) + ") reset to " +
                       *effects.passwords_reset_to);
    }
    for (const auto& [list, verb] : {std::pair{&effects.services_removed, "removed"},
                                     std::pair{&effects.services_disabled, "disabled"}}) {
      for (const auto& name : *list) {
        // The model loader takes any name; only services the meter has a switch for matter.
        bool* on = service_switch(security.options.services, name);
        if (!on) continue;
        notes_.push_back(prefix + name + " " + verb + (*on ? " (it was on)" : ""));
        *on = false;
      }
    }
    if (effects.web_read) {
      security.options.web_server = *effects.web_read == "enabled";
      notes_.push_back(prefix + "web server read access " + *effects.web_read);
    }
    if (effects.web_config) {
      security.options.web_server_programming = *effects.web_config == "enabled";
      notes_.push_back(prefix + "web server configuration " + *effects.web_config);
    }
    return proto::Ok{};
  }

  // A firmware that lacks a service cannot run it, whatever the older one left switched on.
  void switch_off_services_not_offered(const proto::model::Version& to, const sec::SecurityLimits& limits) {
    if (!has_security()) return;
    for (const auto& service : k_services) {
      bool& on = state_.security.options.services.*service.member;
      if (on && !(limits.services_offered.*service.member)) {
        on = false;
        notes_.push_back("firmware " + to.to_string() + " has no " + service.name + ": switched off");
      }
    }
  }

 private:
  bool has_security() const { return !state_.security_missing; }

  MeterState& state_;
  std::vector<std::string>& notes_;
};

}  // namespace

proto::Result<proto::Ok, std::string> hash_clear_passwords(MeterState& state, std::vector<std::string>& notes) {
  for (const auto& [name, password] : state.clear_passwords) {
    auto hash = sec::hash_password(password, state.security.hashing.params);
    if (!hash) {
      return proto::unexpected("cannot hash the clear-text password of " + name + ": " +
                               std::string(sec::to_string(hash.error())));
    }
    if (auto* user = state.security.find_user(name)) {
      user->password_hash = std::move(*hash);
      user->default_credential = password == sec::k_factory_password;
    }
    notes.push_back("clear-text password of " + name + " hashed");
  }
  state.clear_passwords.clear();
  return proto::Ok{};
}

proto::Result<std::vector<std::string>, std::string> migrate_firmware(const proto::model::DeviceModel& model,
                                                                      const proto::model::Version& from,
                                                                      const proto::model::Version& to,
                                                                      MeterState& state,
                                                                      const sec::SecurityLimits& target_limits) {
  std::vector<std::string> notes;
  Migration migration(state, notes);
  for (const auto& step : proto::model::firmware_change_steps(model, from, to)) {
    auto applied = step.upgrade ? migration.upgrade_to(*step.release) : migration.downgrade_from(*step.release);
    if (!applied) return proto::unexpected(applied.error());
  }
  migration.switch_off_services_not_offered(to, target_limits);
  return notes;
}

}  // namespace meterd
