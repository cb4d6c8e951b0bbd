#include "firmware/meter.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <random>

#include "firmware/scenario_catalog.hpp"

using namespace meterd;
using proto::model::ConfigSetting;

namespace {

std::filesystem::path fresh_directory() {
  std::random_device entropy;
  return std::filesystem::temp_directory_path() / ("meterd-meter-test-" + std::to_string(entropy()));
}

std::unique_ptr<Meter> open_meter(const std::filesystem::path& directory, std::string scenario = "steady-state",
                                  bool scenario_from_command_line = false) {
  MeterSetup setup{directory, *proto::model::find_device_model("ION7400"), std::nullopt, std::nullopt,
                   *load_builtin_scenario(scenario), 1, std::nullopt, std::nullopt,
                   sec::PasswordHashing{sec::k_fleet_scrypt, true}, scenario_from_command_line};
  auto opened = Meter::open(std::move(setup));
  REQUIRE(opened);
  return std::move(*opened);
}

struct Directory {
  std::filesystem::path path = fresh_directory();
  ~Directory() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("Every configuration change bumps config_version, and a change to the same value does not",
          "[firmware][meter][config]") {
  Directory directory;
  auto meter = open_meter(directory.path);
  CHECK(meter->config_version() == 1);

  REQUIRE(meter->apply_settings({{ConfigSetting::ct_primary, 400}}));
  CHECK(meter->config_version() == 2);
  REQUIRE(meter->apply_settings({{ConfigSetting::ct_primary, 400}}));
  CHECK(meter->config_version() == 2);

  auto security = meter->security();
  security.session_timeout = std::chrono::seconds(600);
  REQUIRE(meter->replace_security(security));
  CHECK(meter->config_version() == 3);
  REQUIRE(meter->replace_security(security, sec::MeterSecuritySettings{sec::ModbusAccess::read_write, true}));
  CHECK(meter->config_version() == 4);
  // A password rehashed at login is the same password.
  security.users.front().password_hash = *sec::hash_password("0", sec::k_fleet_scrypt);
  REQUIRE(meter->replace_security(security, std::nullopt, false));
  CHECK(meter->config_version() == 4);

  REQUIRE(meter->set_modbus_unit_id(9));
  CHECK(meter->config_version() == 5);
  REQUIRE(meter->set_modbus_unit_id(9));
  CHECK(meter->config_version() == 5);

  auto target = meter->configuration();
  target.time_zone = "Europe/Paris";
  REQUIRE(meter->apply_configuration(target, std::nullopt));
  CHECK(meter->config_version() == 6);

  meter.reset();
  CHECK(open_meter(directory.path)->config_version() == 6);
}

TEST_CASE("A configuration applies all at once: supply, demand and Modbus, energy kept", "[firmware][meter][config]") {
  Directory directory;
  auto meter = open_meter(directory.path);
  const auto energy_before = meter->measurements()[proto::model::Point::active_energy_delivered];
  auto target = meter->configuration();
  target.metering.wiring = sec::Wiring::delta;
  target.metering.nominal_voltage = 400.0;
  target.metering.nominal_frequency = 60.0;
  target.modbus_unit_id = 12;
  target.modbus_access = sec::ModbusAccess::read_write;
  target.scenario = "sag-swell";
  target.settings[static_cast<std::size_t>(ConfigSetting::demand_interval_minutes)] = 30;
  REQUIRE(meter->apply_configuration(target, std::nullopt));
  CHECK(meter->scenario().wiring == simulation::Wiring::delta);
  CHECK(meter->scenario().nominal.voltage_ll == Approx(400.0));
  CHECK(meter->scenario().nominal.frequency_hz == 60.0);
  CHECK(meter->base_scenario().name == "sag-swell");
  CHECK(meter->modbus_unit_id() == 12);
  CHECK(meter->modbus_access() == sec::ModbusAccess::read_write);
  CHECK(meter->measurements()[proto::model::Point::active_energy_delivered] >= energy_before);

  // A refused configuration changes nothing.
  auto bad = meter->configuration();
  bad.scenario = "no-such-scenario";
  const auto version = meter->config_version();
  CHECK_FALSE(meter->apply_configuration(bad, std::nullopt));
  CHECK(meter->config_version() == version);

  // The stored scenario runs after a restart; a --scenario given on the command line wins.
  meter.reset();
  CHECK(open_meter(directory.path)->base_scenario().name == "sag-swell");
  CHECK(open_meter(directory.path, "solar-export", true)->base_scenario().name == "solar-export");
}

TEST_CASE("A pending confirm rolls back on request, and at start once its deadline has passed",
          "[firmware][meter][config]") {
  Directory directory;
  auto meter = open_meter(directory.path);
  const auto previous = meter->configuration();
  auto target = previous;
  target.time_zone = "Europe/Paris";
  REQUIRE(meter->apply_configuration(target, PendingConfirm{1, 1, previous}));
  CHECK(meter->config_version() == 2);
  REQUIRE(meter->pending_confirm());

  REQUIRE(meter->roll_back_configuration("test", EventSource{}));
  CHECK(meter->config_version() == 3);
  CHECK(meter->configuration().time_zone == "UTC");
  CHECK_FALSE(meter->pending_confirm());
  CHECK_FALSE(meter->roll_back_configuration("again", EventSource{}));

  // Expired while stopped: gone back before the meter serves anything.
  REQUIRE(meter->apply_configuration(target, PendingConfirm{1, meter->config_version(), meter->configuration()}));
  meter.reset();
  meter = open_meter(directory.path);
  CHECK(meter->configuration().time_zone == "UTC");
  CHECK(meter->config_version() == 5);
  CHECK_FALSE(meter->pending_confirm());

  // Still running: kept, for the daemon to re-arm its timer.
  const auto far = static_cast<std::int64_t>(MeterClock::wall_now()) + 3600;
  REQUIRE(meter->apply_configuration(target, PendingConfirm{far, meter->config_version(), meter->configuration()}));
  meter.reset();
  meter = open_meter(directory.path);
  REQUIRE(meter->pending_confirm());
  CHECK(meter->pending_confirm()->deadline == far);
  CHECK(meter->configuration().time_zone == "Europe/Paris");
  REQUIRE(meter->clear_pending_confirm());
  CHECK_FALSE(meter->pending_confirm());
  CHECK(meter->config_version() == 6);
}

TEST_CASE("A port given on the command line replaces the one a profile stored", "[firmware][meter][config]") {
  Directory directory;
  {
    auto meter = open_meter(directory.path);
    auto target = meter->configuration();
    target.communications.native.port = 17700;
    target.communications.modbus_tcp.port = 1502;
    REQUIRE(meter->apply_configuration(target, std::nullopt));
  }
  MeterSetup setup{directory.path, *proto::model::find_device_model("ION7400"), std::nullopt, std::nullopt,
                   *load_builtin_scenario("steady-state"), 1, std::nullopt, std::nullopt,
                   sec::PasswordHashing{sec::k_fleet_scrypt, true}};
  setup.native_port_from_command_line = true;
  auto meter = Meter::open(std::move(setup));
  REQUIRE(meter);
  CHECK_FALSE((*meter)->state().communications.native.port);
  CHECK((*meter)->state().communications.modbus_tcp.port == 1502);
}
