#pragma once
// One virtual meter: its model and capabilities, persisted state, simulation, clock and
// register image. Servers hold a reference and call it from the I/O thread.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "firmware/meter_clock.hpp"
#include "firmware/meter_state.hpp"
#include "firmware/register_image.hpp"
#include "firmware/security_event_log.hpp"
#include "firmware/simulation/engine.hpp"
#include "firmware/simulation/scenario.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/model/register_map.hpp"
#include "libproto/result.hpp"
#include "libsec/security_document.hpp"

namespace meterd {

// How to bring a meter up. Command-line values override the stored state, which
// overrides the model's defaults (flag > state > model).
struct MeterSetup {
  std::filesystem::path state_dir;
  proto::model::DeviceModel model;
  std::optional<std::string> feature_set;
  std::optional<proto::model::Version> firmware;
  simulation::Scenario scenario;
  std::uint64_t seed = 1;
  std::optional<sec::ModbusAccess> modbus_access;
  std::optional<std::uint8_t> modbus_unit_id;
  // Password hashing cost; a meter created without it uses the OWASP default.
  std::optional<sec::PasswordHashing> password_hashing;
  // Whether `scenario` was asked for on the command line: then it wins over a scenario a
  // profile stored; otherwise the stored one runs (flag > profile > default).
  bool scenario_from_command_line = false;
  // Ports given on the command line win over the ones a profile stored, which then are
  // forgotten, so the configuration says what runs (a later profile may move them again).
  bool modbus_port_from_command_line = false;
  bool native_port_from_command_line = false;
  bool secure_port_from_command_line = false;
  // How long to wait for another meterd to release the state directory: a firmware booted
  // again by its supervisor may find the previous one still exiting. Zero: refuse at once.
  std::chrono::milliseconds state_lock_wait{0};
};

// Who caused a security event and over what; "meter" for the meter itself.
struct EventSource {
  std::string user;
  std::string protocol = "meter";
  std::string connection = "local";
};

struct SettingsError {
  enum Kind { invalid_value, storage_failed, revenue_locked } kind;
  std::string message;
};

class Meter {
 public:
  // Loads or creates the state, resolves capabilities and starts the simulation.
  // Errors say what is wrong with the setup or the state directory.
  static proto::Result<std::unique_ptr<Meter>, std::string> open(MeterSetup setup);
  ~Meter();
  Meter(const Meter&) = delete;
  Meter& operator=(const Meter&) = delete;

  void tick();  // advances the simulation to now and refreshes the register image
  // Writes the state now; returns once it is durable.
  proto::Result<proto::Ok, std::string> save();
  // Queues the state for the state writer's thread (see state_writer.hpp).
  void save_in_background();

  const MeterState& state() const { return state_; }
  const proto::model::DeviceModel& model() const { return model_; }
  const proto::model::Capabilities& capabilities() const { return capabilities_; }
  const proto::model::RegisterMap& register_map() const { return *register_map_; }
  const RegisterImage& register_image() const { return image_; }
  const proto::model::Measurements& measurements() const { return measurements_; }
  const std::filesystem::path& state_dir() const { return state_dir_; }
  sec::ModbusAccess modbus_access() const { return modbus_access_; }
  std::uint8_t modbus_unit_id() const { return modbus_unit_id_; }

  double now() const { return clock_.now(); }  // the meter's clock, Unix seconds
  double uptime_seconds() const { return MeterClock::wall_now() - started_at_; }

  // Sets the meter clock; refused (nullopt-free error) when time sync is disabled.
  proto::Result<proto::Ok, std::string> set_time(double unix_time);
  void reset_peak_demand();

  // Test mode: the billing energy registers stay frozen and test registers count instead.
  bool test_mode() const { return test_mode_; }
  void set_test_mode(bool on);
  // Energy counted since test mode began (zero outside test mode), in the energy points' units.
  simulation::EngineState test_energy() const;

  // Counts configuration changes; see MeterState::config_version.
  std::uint64_t config_version() const { return state_.config_version; }
  // The configuration in force: the stored one, with the Modbus access and unit id a
  // command-line flag may have put in force instead.
  MeterConfiguration configuration() const;
  // The scenario before a profile's wiring and nominal values are laid over it.
  const simulation::Scenario& base_scenario() const { return base_scenario_; }
  const simulation::Scenario& scenario() const { return engine_.scenario(); }
  // The scenario `configuration` runs on, before its metering overrides.
  proto::Result<simulation::Scenario, std::string> scenario_for(const MeterConfiguration& configuration) const;
  // What apply_configuration would refuse, checked without changing anything.
  proto::Result<proto::Ok, std::string> check_configuration(const MeterConfiguration& target) const;
  // Makes `target` the configuration, with `pending` (or none) as the pending confirm:
  // saved in one write with the version bumped, then in force (simulation rebuilt on the
  // new supply with its energy registers kept, demand, Modbus). All or nothing. Which
  // ports serve the services is the caller's business (config_runtime.hpp).
  proto::Result<proto::Ok, std::string> apply_configuration(MeterConfiguration target,
                                                            std::optional<PendingConfirm> pending);
  const std::optional<PendingConfirm>& pending_confirm() const { return state_.pending_confirm; }
  // config.confirm: the configuration stays and the pending record goes (no version bump).
  proto::Result<proto::Ok, std::string> clear_pending_confirm();
  // Puts the pending confirm's previous configuration back (version bumped), logs it and
  // records a configuration change event saying `reason`. An error when nothing is pending.
  proto::Result<proto::Ok, std::string> roll_back_configuration(const std::string& reason, const EventSource& source);

  // Comm Config: the Modbus unit id the meter answers to; saved before this returns.
  proto::Result<proto::Ok, std::string> set_modbus_unit_id(std::uint8_t unit_id);

  const sec::SecurityConfig& security() const { return state_.security; }
  const sec::SecurityLimits& security_limits() const { return security_limits_; }
  sec::MeterSecuritySettings security_settings() const;
  // Replaces the security configuration (and the Modbus access and time sync options it
  // is shown with) all at once: validated, saved, then in force; or none of it.
  // `configuration_change` false: a password rehashed at login, the same password in a
  // new form, which leaves config_version alone.
  proto::Result<proto::Ok, std::string> replace_security(sec::SecurityConfig next,
                                                         std::optional<sec::MeterSecuritySettings> settings = std::nullopt,
                                                         bool configuration_change = true);
  // Writes an event to the cybersecurity event log when its priority says so.
  void record_security_event(sec::SecurityEventType type, const EventSource& source, std::string detail);
  const SecurityEventLog& security_events() const { return *security_events_; }

  // Applies configuration values together or not at all; the state is saved before
  // this returns. The error names the rule a value broke, or why saving failed.
  proto::Result<proto::Ok, SettingsError> apply_settings(
      const std::vector<std::pair<proto::model::ConfigSetting, std::int64_t>>& values);

 private:
  Meter(MeterSetup setup, MeterState state, proto::model::Capabilities capabilities,
        simulation::Scenario base_scenario);
  MeterState snapshot();  // the state with the engine's latest energy registers

  std::filesystem::path state_dir_;
  proto::model::DeviceModel model_;
  MeterState state_;
  proto::model::Capabilities capabilities_;
  std::unique_ptr<proto::model::RegisterMap> register_map_;  // stable address: the image points into it
  RegisterImage image_;
  simulation::Scenario command_line_scenario_;  // runs when no profile chose a scenario
  simulation::Scenario base_scenario_;
  std::uint64_t seed_;
  MeterClock clock_;
  simulation::Engine engine_;
  proto::model::Measurements measurements_;
  sec::ModbusAccess modbus_access_;
  sec::SecurityLimits security_limits_;
  std::optional<SecurityEventLog> security_events_;
  std::uint8_t modbus_unit_id_;
  int lock_fd_ = -1;  // flock on the state directory, held while the meter runs
  double started_at_ = MeterClock::wall_now();
  bool test_mode_ = false;
  simulation::EngineState frozen_energy_;  // the billing registers while in test mode
};

// Demand settings are valid together only when the window divides into whole seconds.
std::optional<std::string> check_demand_settings(std::int64_t interval_minutes, std::int64_t subintervals);

}  // namespace meterd
