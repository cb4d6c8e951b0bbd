#include "firmware/meter.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <tuple>
#include <utility>

#include "firmware/firmware_migration.hpp"
#include "firmware/log.hpp"
#include "firmware/meter_security.hpp"
#include "firmware/scenario_catalog.hpp"
#include "firmware/state_writer.hpp"
#include "libproto/model/firmware_rules.hpp"

namespace meterd {

using proto::model::ConfigSetting;

std::optional<std::string> check_demand_settings(std::int64_t interval_minutes, std::int64_t subintervals) {
  if (subintervals < 1 || (interval_minutes * 60) % subintervals != 0) {
    return "demand_subintervals (" + std::to_string(subintervals) + ") must divide the " +
           std::to_string(interval_minutes) + "-minute window into whole seconds";
  }
  return std::nullopt;
}

namespace {

simulation::DemandSettings demand_settings_of(const MeterState& state) {
  return {static_cast<int>(state.setting(ConfigSetting::demand_interval_minutes)),
          static_cast<int>(state.setting(ConfigSetting::demand_subintervals))};
}

// Holds the state directory's lock file descriptor until it is handed to the Meter.
class LockHandle {
 public:
  explicit LockHandle(int fd) : fd_(fd) {}
  LockHandle(LockHandle&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  ~LockHandle() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Two meterd processes on one state directory would overwrite each other's state.
proto::Result<LockHandle, std::string> lock_state_directory(const std::filesystem::path& directory,
                                                            std::chrono::milliseconds wait) {
  const auto path = directory / k_lock_file_name;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return proto::unexpected("cannot open " + path.string() + ": " + std::strerror(errno));
  LockHandle held(fd);
  const auto give_up = std::chrono::steady_clock::now() + wait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char owner[32] = {};
    const auto got = ::pread(fd, owner, sizeof owner - 1, 0);
    return proto::unexpected("state directory " + directory.string() + " is in use by another meterd" +
                             (got > 0 ? " (pid " + std::string(owner, static_cast<std::size_t>(got)) + ")" : "") +
                             "; stop it or use another --state-dir");
  }
  // The pid only makes the message above more helpful; the lock is what counts.
  const auto pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return held;
}

// Settings that change what the meter bills; revenue lock freezes them for every protocol
// (seed 004: "Revenue-lock the meter ... before putting the meter into service").
bool is_revenue_setting(ConfigSetting setting) { return setting != ConfigSetting::time_sync_enabled; }

// A new meter gets the factory configuration; a store from before hashing is hashed now.
proto::Result<proto::Ok, std::string> prepare_security(MeterState& state, const sec::SecurityLimits& limits,
                                                       const std::optional<sec::PasswordHashing>& hashing,
                                                       const std::filesystem::path& directory,
                                                       std::vector<std::string>& notes) {
  const auto where = [&](const std::string& what) {
    return directory.string() + ": security configuration: " + what;
  };
  if (state.security_missing) {
    const auto chosen = hashing.value_or(sec::PasswordHashing{});
    auto hash = sec::hash_password(sec::k_factory_password, chosen.params);
    if (!hash) return proto::unexpected(where(std::string(sec::to_string(hash.error()))));
    state.security = sec::factory_security_config(limits, std::move(*hash));
    state.security.hashing = chosen;
    state.security_missing = false;
    notes.push_back("factory security configuration created");
  } else if (hashing && *hashing != state.security.hashing) {
    state.security.hashing = *hashing;
    notes.push_back("password hashing set to " + sec::describe(hashing->params));
  }
  // Left by a firmware change without a hashing step, or a store loaded on the firmware
  // that wrote it: this meter never keeps a clear-text password, whatever it runs.
  if (auto hashed = hash_clear_passwords(state, notes); !hashed) return proto::unexpected(where(hashed.error()));
  if (auto valid = sec::validate(state.security, limits); !valid) return proto::unexpected(where(valid.error()));
  return proto::Ok{};
}

}  // namespace

Meter::~Meter() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

proto::Result<std::unique_ptr<Meter>, std::string> Meter::open(MeterSetup setup) {
  std::error_code error;
  std::filesystem::create_directories(setup.state_dir, error);
  if (error) {
    return proto::unexpected("cannot create state directory " + setup.state_dir.string() + ": " + error.message());
  }
  auto lock = lock_state_directory(setup.state_dir, setup.state_lock_wait);
  if (!lock) return proto::unexpected(lock.error());
  auto loaded = load_meter_state(setup.state_dir);
  if (!loaded) return proto::unexpected(loaded.error());

  MeterState state;
  const bool fresh = !loaded->has_value();
  std::optional<proto::model::Version> firmware_before;  // set when this start changes the firmware
  if (fresh) {
    state.serial_number = new_serial_number();
    state.model = setup.model.name;
    state.feature_set = setup.feature_set.value_or(setup.model.default_feature_set);
    if (const auto* set = setup.model.find_feature_set(state.feature_set)) state.feature_set = set->name;
    state.firmware = setup.firmware.value_or(setup.model.latest_firmware().version);
    state.shipped_firmware = state.firmware;
    state.settings = default_settings();
    state.security_missing = true;
  } else {
    state = std::move(**loaded);
    if (state.model != setup.model.name) {
      return proto::unexpected("state directory " + setup.state_dir.string() + " belongs to a " + state.model +
                               " meter, not a " + setup.model.name + "; use another --state-dir");
    }
    if (setup.feature_set && *setup.feature_set != state.feature_set) {
      const auto* set = setup.model.find_feature_set(*setup.feature_set);
      if (set) state.feature_set = set->name;
      else state.feature_set = *setup.feature_set;  // rejected by capabilities() below with the known names
    }
    if (setup.firmware && *setup.firmware != state.firmware) {
      if (auto refused = proto::model::check_firmware_change(setup.model, state.firmware, *setup.firmware)) {
        return proto::unexpected(*refused);
      }
      log::info("meter.firmware_changed", {{"serial", state.serial_number},
                                           {"from", state.firmware.to_string()},
                                           {"to", setup.firmware->to_string()},
                                           {"shipped", state.shipped_firmware.to_string()}});
      firmware_before = state.firmware;
      state.firmware = *setup.firmware;
    }
  }
  auto capabilities = setup.model.capabilities(state.feature_set, state.firmware, state.shipped_firmware);
  if (!capabilities) return proto::unexpected(capabilities.error());

  auto limits = security_limits_for(setup.model, *capabilities);
  // What the model says the change does (Standard to Legacy, passwords reset, services
  // off...), before the security configuration is checked against the new firmware.
  std::vector<std::string> firmware_notes;
  if (firmware_before) {
    auto migrated = migrate_firmware(setup.model, *firmware_before, state.firmware, state, limits);
    if (!migrated) {
      return proto::unexpected(setup.state_dir.string() + ": changing firmware " + firmware_before->to_string() +
                               " to " + state.firmware.to_string() + ": " + migrated.error());
    }
    firmware_notes = std::move(*migrated);
  }
  std::vector<std::string> security_notes;
  if (auto prepared = prepare_security(state, limits, setup.password_hashing, setup.state_dir, security_notes);
      !prepared) {
    return proto::unexpected(prepared.error());
  }
  auto events = SecurityEventLog::open(setup.state_dir);
  if (!events) return proto::unexpected(events.error());

  simulation::Scenario base_scenario = setup.scenario;
  if (state.scenario && setup.scenario_from_command_line) {
    // The command line wins over a profile's scenario (flag > profile > default); the
    // configuration then says what runs, and the profile's choice shows as drift.
    log::info("meter.scenario_overridden", {{"configured", *state.scenario}, {"running", setup.scenario.name}});
    state.scenario.reset();
  } else if (state.scenario) {
    auto stored = load_builtin_scenario(*state.scenario);
    if (!stored) return proto::unexpected(setup.state_dir.string() + ": the configured scenario: " + stored.error());
    base_scenario = std::move(*stored);
  }

  for (auto [service, given, name] : {std::tuple{&state.communications.modbus_tcp, setup.modbus_port_from_command_line, "modbus_tcp"},
                                      std::tuple{&state.communications.native, setup.native_port_from_command_line, "native"},
                                      std::tuple{&state.communications.secure_native, setup.secure_port_from_command_line,
                                                 "secure_native"}}) {
    if (!given || !service->port) continue;
    log::info("meter.port_overridden", {{"service", name}, {"configured", std::to_string(*service->port)}});
    service->port.reset();
  }

  auto meter = std::unique_ptr<Meter>(
      new Meter(std::move(setup), std::move(state), std::move(*capabilities), std::move(base_scenario)));
  meter->lock_fd_ = lock->release();
  meter->security_limits_ = std::move(limits);
  meter->security_events_.emplace(std::move(*events));
  if (auto saved = meter->save(); !saved) return proto::unexpected(saved.error());
  if (firmware_before) {
    meter->record_security_event(sec::SecurityEventType::firmware_change, EventSource{},
                                 "firmware " + firmware_before->to_string() + " -> " +
                                     meter->state_.firmware.to_string());
  }
  for (const auto& note : firmware_notes) {
    log::info("meter.firmware_effect", {{"serial", meter->state_.serial_number}, {"effect", note}});
    meter->record_security_event(sec::SecurityEventType::security_configuration_change, EventSource{}, note);
  }
  for (const auto& note : security_notes) {
    meter->record_security_event(sec::SecurityEventType::security_configuration_change, EventSource{}, note);
  }
  // Before any port opens: a configuration nobody confirmed in time must not serve again.
  if (const auto& pending = meter->pending_confirm(); pending && pending->deadline <= MeterClock::wall_now()) {
    if (auto rolled_back = meter->roll_back_configuration("confirm deadline passed while meterd was stopped", EventSource{});
        !rolled_back) {
      return proto::unexpected(rolled_back.error());
    }
  }
  log::info(fresh ? "meter.created" : "meter.loaded",
            {{"serial", meter->state_.serial_number},
             {"model", meter->state_.model},
             {"feature_set", meter->state_.feature_set},
             {"firmware", meter->state_.firmware.to_string()},
             {"state_dir", meter->state_dir_.string()}});
  return meter;
}

Meter::Meter(MeterSetup setup, MeterState state, proto::model::Capabilities capabilities,
             simulation::Scenario base_scenario)
    : state_dir_(std::move(setup.state_dir)),
      model_(std::move(setup.model)),
      state_(std::move(state)),
      capabilities_(std::move(capabilities)),
      register_map_(std::make_unique<proto::model::RegisterMap>(proto::model::RegisterMap::for_capabilities(capabilities_))),
      image_(*register_map_),
      command_line_scenario_(std::move(setup.scenario)),
      base_scenario_(std::move(base_scenario)),
      seed_(setup.seed),
      clock_(base_scenario_.time_acceleration),
      engine_(with_metering_overrides(base_scenario_, state_.metering), setup.seed, clock_.now()),
      modbus_access_(setup.modbus_access.value_or(state_.modbus_access)),
      modbus_unit_id_(setup.modbus_unit_id.value_or(state_.modbus_unit_id)) {
  if (state_.clock_offset_s != 0.0) clock_.set(MeterClock::wall_now() + state_.clock_offset_s);
  engine_.set_demand_settings(demand_settings_of(state_));
  engine_.restore(state_.energy);
  tick();
}

void Meter::tick() {
  const double now = clock_.now();
  engine_.advance_to(now);
  measurements_ = engine_.measure(now);
  if (test_mode_) simulation::put_energy_points(frozen_energy_, measurements_);
  image_.refresh(measurements_, state_);
}

MeterState Meter::snapshot() {
  state_.energy = engine_.state();
  if (test_mode_) {
    // What test mode counted never reaches the billing registers on disk.
    const auto integrated_until = state_.energy.integrated_until;
    state_.energy = frozen_energy_;
    state_.energy.integrated_until = integrated_until;
  }
  state_.clock_offset_s = clock_.offset_from_host();
  return state_;
}

proto::Result<proto::Ok, std::string> Meter::set_time(double unix_time) {
  if (state_.setting(ConfigSetting::time_sync_enabled) == 0) {
    return proto::unexpected(std::string("time synchronisation is disabled on this meter (time_sync_enabled = 0)"));
  }
  const double before = clock_.now();
  clock_.set(unix_time);
  log::info("meter.time_set", {{"serial", state_.serial_number},
                               {"from", std::to_string(before)},
                               {"to", std::to_string(unix_time)}});
  tick();
  return save();
}

void Meter::reset_peak_demand() {
  engine_.reset_peak_demand(clock_.now());
  log::info("meter.peak_demand_reset", {{"serial", state_.serial_number}});
  tick();
}

void Meter::set_test_mode(bool on) {
  if (on == test_mode_) return;
  if (on) {
    frozen_energy_ = engine_.state();
  } else {
    // Leaving test mode: the billing registers continue from where they were frozen.
    auto resumed = frozen_energy_;
    resumed.integrated_until = engine_.state().integrated_until;
    resumed.peak_demand_kw = engine_.state().peak_demand_kw;
    resumed.peak_demand_unix_time = engine_.state().peak_demand_unix_time;
    engine_.restore(resumed);
  }
  test_mode_ = on;
  log::info(on ? "meter.test_mode_on" : "meter.test_mode_off", {{"serial", state_.serial_number}});
  tick();
}

simulation::EngineState Meter::test_energy() const {
  simulation::EngineState counted;
  if (!test_mode_) return counted;
  const auto now = engine_.state();
  counted.active_energy_delivered_kwh = now.active_energy_delivered_kwh - frozen_energy_.active_energy_delivered_kwh;
  counted.active_energy_received_kwh = now.active_energy_received_kwh - frozen_energy_.active_energy_received_kwh;
  counted.reactive_energy_delivered_kvarh =
      now.reactive_energy_delivered_kvarh - frozen_energy_.reactive_energy_delivered_kvarh;
  counted.reactive_energy_received_kvarh =
      now.reactive_energy_received_kvarh - frozen_energy_.reactive_energy_received_kvarh;
  counted.apparent_energy_delivered_kvah =
      now.apparent_energy_delivered_kvah - frozen_energy_.apparent_energy_delivered_kvah;
  counted.apparent_energy_received_kvah = now.apparent_energy_received_kvah - frozen_energy_.apparent_energy_received_kvah;
  return counted;
}

proto::Result<proto::Ok, std::string> Meter::save() { return state_writer().save_now(state_dir_, snapshot()); }

void Meter::save_in_background() { state_writer().save_later(state_dir_, snapshot()); }

proto::Result<proto::Ok, std::string> Meter::set_modbus_unit_id(std::uint8_t unit_id) {
  if (unit_id < 1 || unit_id > 247) return proto::unexpected(std::string("a Modbus unit id is 1 to 247"));
  MeterState updated = snapshot();
  if (unit_id != updated.modbus_unit_id) ++updated.config_version;
  updated.modbus_unit_id = unit_id;
  if (auto saved = state_writer().save_now(state_dir_, updated); !saved) return proto::unexpected(saved.error());
  state_ = std::move(updated);
  modbus_unit_id_ = unit_id;
  return proto::Ok{};
}

sec::MeterSecuritySettings Meter::security_settings() const {
  return {modbus_access_, state_.setting(ConfigSetting::time_sync_enabled) != 0};
}

proto::Result<proto::Ok, std::string> Meter::replace_security(sec::SecurityConfig next,
                                                             std::optional<sec::MeterSecuritySettings> settings,
                                                             bool configuration_change) {
  if (auto valid = sec::validate(next, security_limits_); !valid) return proto::unexpected(valid.error());
  MeterState updated = snapshot();
  const auto before = updated.configuration();
  updated.security = std::move(next);
  if (settings) {
    updated.modbus_access = settings->modbus_access;
    updated.set(ConfigSetting::time_sync_enabled, settings->time_sync ? 1 : 0);
  }
  if (configuration_change && updated.configuration() != before) ++updated.config_version;
  if (auto saved = state_writer().save_now(state_dir_, updated); !saved) return proto::unexpected(saved.error());
  state_ = std::move(updated);
  if (settings) modbus_access_ = settings->modbus_access;
  image_.refresh(measurements_, state_);
  return proto::Ok{};
}

void Meter::record_security_event(sec::SecurityEventType type, const EventSource& source, std::string detail) {
  const auto priority = state_.security.priorities.of(type);
  if (!sec::is_recorded(priority) || !security_events_) return;
  sec::SecurityEventRecord record;
  record.time = clock_.now();
  record.user = source.user;
  record.protocol = source.protocol;
  record.connection = source.connection;
  record.type = type;
  record.priority = priority;
  record.detail = std::move(detail);
  if (auto appended = security_events_->append(std::move(record)); !appended) {
    log::warning("security.event_log_failed", {{"serial", state_.serial_number}, {"reason", appended.error()}});
  }
}

proto::Result<proto::Ok, SettingsError> Meter::apply_settings(
    const std::vector<std::pair<ConfigSetting, std::int64_t>>& values) {
  MeterState updated = state_;
  for (const auto& [setting, value] : values) {
    const auto& setting_info = proto::model::info(setting);
    if (state_.security.options.revenue_lock && is_revenue_setting(setting) && value != state_.setting(setting)) {
      return proto::unexpected(SettingsError{SettingsError::revenue_locked,
                                             std::string(setting_info.name) +
                                                 " is revenue-locked on this meter; a Security Config user must "
                                                 "lift the revenue lock first"});
    }
    if (value < setting_info.min || value > setting_info.max) {
      return proto::unexpected(SettingsError{SettingsError::invalid_value,
                                             std::string(setting_info.name) + " must lie between " +
                                                 std::to_string(setting_info.min) + " and " +
                                                 std::to_string(setting_info.max)});
    }
    updated.set(setting, value);
  }
  if (auto problem = check_demand_settings(updated.setting(ConfigSetting::demand_interval_minutes),
                                           updated.setting(ConfigSetting::demand_subintervals))) {
    return proto::unexpected(SettingsError{SettingsError::invalid_value, *problem});
  }
  const bool demand_changed = demand_settings_of(updated).interval_minutes != demand_settings_of(state_).interval_minutes ||
                              demand_settings_of(updated).subintervals != demand_settings_of(state_).subintervals;
  updated.energy = engine_.state();
  if (updated.settings != state_.settings) ++updated.config_version;
  if (auto saved = state_writer().save_now(state_dir_, updated); !saved) {
    return proto::unexpected(SettingsError{SettingsError::storage_failed, saved.error()});
  }
  state_ = std::move(updated);
  if (demand_changed) engine_.set_demand_settings(demand_settings_of(state_));
  image_.refresh(measurements_, state_);
  for (const auto& [setting, value] : values) {
    log::info("meter.setting_changed", {{"serial", state_.serial_number},
                                        {"setting", std::string(proto::model::info(setting).name)},
                                        {"value", std::to_string(value)}});
  }
  return proto::Ok{};
}

MeterConfiguration Meter::configuration() const {
  auto configuration = state_.configuration();
  configuration.modbus_access = modbus_access_;
  configuration.modbus_unit_id = modbus_unit_id_;
  return configuration;
}

proto::Result<simulation::Scenario, std::string> Meter::scenario_for(const MeterConfiguration& target) const {
  if (target.scenario == state_.scenario) return base_scenario_;
  if (!target.scenario) return command_line_scenario_;
  return load_builtin_scenario(*target.scenario);
}

proto::Result<proto::Ok, std::string> Meter::check_configuration(const MeterConfiguration& target) const {
  if (auto valid = sec::validate(target.security, security_limits_); !valid) return proto::unexpected(valid.error());
  for (const auto& setting : proto::model::k_config_settings) {
    const auto value = target.settings[static_cast<std::size_t>(setting.setting)];
    if (value < setting.min || value > setting.max) {
      return proto::unexpected(std::string(setting.name) + " must lie between " + std::to_string(setting.min) +
                               " and " + std::to_string(setting.max));
    }
  }
  if (auto problem = check_demand_settings(target.settings[static_cast<std::size_t>(ConfigSetting::demand_interval_minutes)],
                                           target.settings[static_cast<std::size_t>(ConfigSetting::demand_subintervals)])) {
    return proto::unexpected(*problem);
  }
  if (target.modbus_unit_id < 1 || target.modbus_unit_id > 247) {
    return proto::unexpected(std::string("a Modbus unit id is 1 to 247"));
  }
  if (auto scenario = scenario_for(target); !scenario) return proto::unexpected(scenario.error());
  return proto::Ok{};
}

proto::Result<proto::Ok, std::string> Meter::apply_configuration(MeterConfiguration target,
                                                                std::optional<PendingConfirm> pending) {
  if (auto checked = check_configuration(target); !checked) return checked;
  auto base = scenario_for(target);
  if (!base) return proto::unexpected(base.error());
  const bool supply_changed = target.scenario != state_.scenario || target.metering != state_.metering;
  MeterState updated = snapshot();
  const bool demand_changed = demand_settings_of(updated).interval_minutes !=
                                  static_cast<int>(target.settings[static_cast<std::size_t>(ConfigSetting::demand_interval_minutes)]) ||
                              demand_settings_of(updated).subintervals !=
                                  static_cast<int>(target.settings[static_cast<std::size_t>(ConfigSetting::demand_subintervals)]);
  updated.set_configuration(std::move(target));
  updated.pending_confirm = std::move(pending);
  ++updated.config_version;
  if (auto saved = state_writer().save_now(state_dir_, updated); !saved) return proto::unexpected(saved.error());

  state_ = std::move(updated);
  modbus_access_ = state_.modbus_access;
  modbus_unit_id_ = state_.modbus_unit_id;
  if (supply_changed) {
    // A new supply is a new engine; the registers it integrated so far carry over (test
    // mode's counts included: the frozen billing copy is kept apart in frozen_energy_).
    const auto energy = engine_.state();
    const double now = clock_.now();
    base_scenario_ = std::move(*base);
    if (base_scenario_.time_acceleration != clock_.acceleration()) {
      MeterClock clock(base_scenario_.time_acceleration);
      clock.set(now);
      clock_ = clock;
    }
    engine_ = simulation::Engine(with_metering_overrides(base_scenario_, state_.metering), seed_, now);
    engine_.set_demand_settings(demand_settings_of(state_));
    engine_.restore(energy);
  } else if (demand_changed) {
    engine_.set_demand_settings(demand_settings_of(state_));
  }
  tick();
  return proto::Ok{};
}

proto::Result<proto::Ok, std::string> Meter::clear_pending_confirm() {
  if (!state_.pending_confirm) return proto::unexpected(std::string("no configuration is waiting for a confirm"));
  MeterState updated = snapshot();
  updated.pending_confirm.reset();
  if (auto saved = state_writer().save_now(state_dir_, updated); !saved) return proto::unexpected(saved.error());
  state_ = std::move(updated);
  return proto::Ok{};
}

proto::Result<proto::Ok, std::string> Meter::roll_back_configuration(const std::string& reason,
                                                                    const EventSource& source) {
  if (!state_.pending_confirm) return proto::unexpected(std::string("no configuration is waiting for a confirm"));
  const auto from_version = state_.config_version;
  const auto previous_version = state_.pending_confirm->previous_version;
  if (auto applied = apply_configuration(state_.pending_confirm->previous, std::nullopt); !applied) return applied;
  const auto detail = "configuration rolled back from version " + std::to_string(from_version) +
                      " to the configuration of version " + std::to_string(previous_version) + " (now version " +
                      std::to_string(state_.config_version) + "): " + reason;
  log::warning("config.rolled_back", {{"serial", state_.serial_number},
                                      {"from_version", std::to_string(from_version)},
                                      {"restored_version", std::to_string(previous_version)},
                                      {"version", std::to_string(state_.config_version)},
                                      {"reason", reason}});
  record_security_event(sec::SecurityEventType::configuration_change, source, detail);
  return proto::Ok{};
}

}  // namespace meterd
