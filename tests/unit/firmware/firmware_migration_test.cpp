#include "firmware/firmware_migration.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <random>

#include "firmware/meter.hpp"
#include "firmware/meter_security.hpp"
#include "firmware/scenario_catalog.hpp"

using namespace meterd;
using proto::model::Feature;
using proto::model::Version;

namespace {

struct Directory {
  std::filesystem::path path;
  Directory() {
    std::random_device entropy;
    path = std::filesystem::temp_directory_path() / ("meterd-migration-test-" + std::to_string(entropy()));
  }
  ~Directory() { std::filesystem::remove_all(path); }
};

Version v(const char* text) { return *Version::parse(text); }

proto::model::DeviceModel model(const char* name) { return *proto::model::find_device_model(name); }

proto::Result<std::unique_ptr<Meter>, std::string> try_open(const Directory& directory, const char* model_name,
                                                            const char* firmware) {
  MeterSetup setup{directory.path, model(model_name), std::nullopt, v(firmware),
                   *load_builtin_scenario("steady-state"), 1, std::nullopt, std::nullopt,
                   sec::PasswordHashing{sec::k_fleet_scrypt, true}};
  return Meter::open(std::move(setup));
}

std::unique_ptr<Meter> open_meter(const Directory& directory, const char* model_name, const char* firmware) {
  auto opened = try_open(directory, model_name, firmware);
  INFO((opened ? "" : opened.error()));
  REQUIRE(opened);
  return std::move(*opened);
}

std::string hash_of(std::string_view password) { return *sec::hash_password(password, sec::k_fleet_scrypt); }

void change_security(Meter& meter, const std::function<proto::Result<sec::SecurityConfig, std::string>(sec::SecurityConfig)>& change) {
  auto next = change(meter.security());
  INFO((next ? "" : next.error()));
  REQUIRE(next);
  const auto replaced = meter.replace_security(std::move(*next));
  INFO((replaced ? "" : replaced.error()));
  REQUIRE(replaced);
}

void set_password(Meter& meter, std::string_view user, std::string_view password) {
  change_security(meter, [&](sec::SecurityConfig config) {
    return sec::set_password_hash(std::move(config), user, hash_of(password), password == "0", meter.security_limits());
  });
}

void make_advanced_with_operator(Meter& meter) {
  change_security(meter, [&](sec::SecurityConfig config) {
    return sec::switch_mode(std::move(config), sec::SecurityMode::advanced, meter.security_limits());
  });
  change_security(meter, [&](sec::SecurityConfig config) {
    return sec::add_user(std::move(config),
                         sec::UserAccount{"Operator", hash_of("Op3rator-pass"), sec::PermissionSet::of({sec::Permission::read}), false},
                         meter.security_limits());
  });
}

std::vector<std::string> event_details(const Meter& meter, sec::SecurityEventType type) {
  std::vector<std::string> details;
  for (const auto& record : meter.security_events().records()) {
    if (record.type == type) details.push_back(record.detail);
  }
  return details;
}

bool contains(const std::vector<std::string>& lines, const std::string& wanted) {
  return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

bool verifies(const Meter& meter, std::string_view user, std::string_view password) {
  const auto* account = meter.security().find_user(user);
  return account && sec::verify_password(password, account->password_hash);
}

}  // namespace

TEST_CASE("Standard security on 2.0.0 becomes Legacy security support on 3.0.0, User1 keeping its password",
          "[firmware][migration]") {
  Directory directory;
  {
    auto meter = open_meter(directory, "ION7400", "2.0.0");
    CHECK(meter->security().mode == sec::SecurityMode::standard);
    set_password(*meter, "User1", "4711");
  }
  auto meter = open_meter(directory, "ION7400", "3.0.0");
  CHECK(meter->security().mode == sec::SecurityMode::legacy);
  REQUIRE(meter->security().users.size() == 1);
  CHECK(meter->security().users.front().name == "User1");
  CHECK(verifies(*meter, "User1", "4711"));
  CHECK_FALSE(verifies(*meter, "User1", "0"));
  CHECK_FALSE(meter->security().users.front().default_credential);

  CHECK(event_details(*meter, sec::SecurityEventType::firmware_change) == std::vector<std::string>{"firmware 2.0.0 -> 3.0.0"});
  const auto notes = event_details(*meter, sec::SecurityEventType::security_configuration_change);
  CHECK(contains(notes, "firmware 3.0.0: security mode standard became legacy, User1 keeping its password"));
  CHECK(contains(notes, "firmware 3.0.0: passwords are to be stored hashed; every stored password is a scrypt hash already"));
  // And it stays so: the next start changes nothing more.
  meter.reset();
  meter = open_meter(directory, "ION7400", "3.0.0");
  CHECK(event_details(*meter, sec::SecurityEventType::firmware_change).size() == 1);
}

TEST_CASE("Advanced security stays Advanced across 3.0.0, with every user and password", "[firmware][migration]") {
  Directory directory;
  std::vector<sec::UserAccount> users_before;
  {
    auto meter = open_meter(directory, "PM8000", "2.0.0");
    make_advanced_with_operator(*meter);
    users_before = meter->security().users;
  }
  auto meter = open_meter(directory, "PM8000", "3.0.0");
  CHECK(meter->security().mode == sec::SecurityMode::advanced);
  CHECK(meter->security().users == users_before);
  CHECK(verifies(*meter, "Operator", "Op3rator-pass"));
  CHECK(contains(event_details(*meter, sec::SecurityEventType::security_configuration_change),
                 "firmware 3.0.0: security mode advanced kept, with its users (User1, Operator)"));
}

TEST_CASE("Once on 3.0.0 or 4.0.0 a meter refuses older firmware at start", "[firmware][migration]") {
  Directory directory;
  open_meter(directory, "ION7400", "3.0.0");
  auto refused = try_open(directory, "ION7400", "2.0.0");
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains("3.0.0 or later cannot be downgraded, so 2.0.0 is refused"));
  open_meter(directory, "ION7400", "4.0.0");
  refused = try_open(directory, "ION7400", "3.0.0");
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error(), Catch::Contains("4.0.0 or later cannot be downgraded, so 3.0.0 is refused"));
  CHECK(open_meter(directory, "ION7400", "4.0.0")->state().firmware == v("4.0.0"));
}

TEST_CASE("The 4.0.0 upgrade enables the plain native port", "[firmware][migration]") {
  Directory directory;
  {
    auto meter = open_meter(directory, "ION7400", "3.0.0");
    auto target = meter->configuration();
    target.communications.native.enabled = false;
    REQUIRE(meter->apply_configuration(target, std::nullopt));
  }
  {
    auto meter = open_meter(directory, "ION7400", "3.0.0");
    CHECK_FALSE(meter->state().communications.native.enabled);  // a restart alone changes nothing
  }
  auto meter = open_meter(directory, "ION7400", "4.0.0");
  CHECK(meter->state().communications.native.enabled);
  CHECK(contains(event_details(*meter, sec::SecurityEventType::security_configuration_change),
                 "firmware 4.0.0: plain native port enabled"));
}

TEST_CASE("2.0.0 straight to 4.6.0 applies every release's upgrade in order", "[firmware][migration]") {
  Directory directory;
  {
    auto meter = open_meter(directory, "ION7400", "2.0.0");
    set_password(*meter, "User1", "12345678");
    auto target = meter->configuration();
    target.communications.native.enabled = false;
    REQUIRE(meter->apply_configuration(target, std::nullopt));
  }
  auto meter = open_meter(directory, "ION7400", "4.6.0");
  CHECK(meter->security().mode == sec::SecurityMode::legacy);
  CHECK(verifies(*meter, "User1", "12345678"));
  CHECK(meter->state().communications.native.enabled);
  CHECK(meter->state().shipped_firmware == v("2.0.0"));
  const auto notes = event_details(*meter, sec::SecurityEventType::security_configuration_change);
  const auto mode_note = std::find(notes.begin(), notes.end(),
                                   "firmware 3.0.0: security mode standard became legacy, User1 keeping its password");
  const auto port_note = std::find(notes.begin(), notes.end(), "firmware 4.0.0: plain native port enabled");
  REQUIRE(mode_note != notes.end());
  REQUIRE(port_note != notes.end());
  CHECK(mode_note < port_note);
}

TEST_CASE("ION8650 upgrade to 4.40.1: security modules and mode kept, passwords hashed, web server disabled",
          "[firmware][migration]") {
  SECTION("standard security") {
    Directory directory;
    {
      auto meter = open_meter(directory, "ION8650", "4.30.0");
      CHECK(meter->security().mode == sec::SecurityMode::standard);
      CHECK(meter->security().options.web_server);
      set_password(*meter, "User1", "2468");
      change_security(*meter, [&](sec::SecurityConfig config) -> proto::Result<sec::SecurityConfig, std::string> {
        config.options.services.telnet = true;  // 4.30.0 has Telnet
        if (auto valid = sec::validate(config, meter->security_limits()); !valid) return proto::unexpected(valid.error());
        return config;
      });
    }
    auto meter = open_meter(directory, "ION8650", "4.40.1");
    CHECK(meter->security().mode == sec::SecurityMode::standard);
    CHECK(verifies(*meter, "User1", "2468"));
    CHECK_FALSE(meter->security().options.web_server);
    CHECK_FALSE(meter->security().options.services.telnet);
    const auto notes = event_details(*meter, sec::SecurityEventType::security_configuration_change);
    CHECK(contains(notes, "firmware 4.40.1: security mode standard kept, with its users (User1)"));
    CHECK(contains(notes, "firmware 4.40.1: web server disabled"));
    CHECK(contains(notes, "firmware 4.40.1 has no telnet: switched off"));
  }
  SECTION("advanced security") {
    Directory directory;
    std::vector<sec::UserAccount> users_before;
    {
      auto meter = open_meter(directory, "ION8650", "4.30.0");
      make_advanced_with_operator(*meter);
      users_before = meter->security().users;
    }
    auto meter = open_meter(directory, "ION8650", "4.40.1");
    CHECK(meter->security().mode == sec::SecurityMode::advanced);
    CHECK(meter->security().users == users_before);
    CHECK_FALSE(meter->security().options.web_server);
  }
}

TEST_CASE("ION8650 4.40.1 -> 4.30.0: mode kept, passwords 0, SSH and SFTP gone, Telnet and FTP off, web read only",
          "[firmware][migration]") {
  Directory directory;
  {
    auto meter = open_meter(directory, "ION8650", "4.40.1");
    // Seed 003's factory state: "SSH disabled and sftp enabled, webserver disabled".
    CHECK(meter->security().options.services.sftp);
    CHECK_FALSE(meter->security().options.web_server);
    make_advanced_with_operator(*meter);
    set_password(*meter, "User1", "Adm1n-pass");
    change_security(*meter, [&](sec::SecurityConfig config) -> proto::Result<sec::SecurityConfig, std::string> {
      config.options.services.ssh = true;
      config.options.web_server = false;
      config.options.web_server_programming = true;
      if (auto valid = sec::validate(config, meter->security_limits()); !valid) return proto::unexpected(valid.error());
      return config;
    });
  }
  auto meter = open_meter(directory, "ION8650", "4.30.0");
  const auto& security = meter->security();
  CHECK(security.mode == sec::SecurityMode::advanced);
  REQUIRE(security.users.size() == 2);
  for (const auto& user : security.users) {
    INFO(user.name);
    CHECK(sec::verify_password("0", user.password_hash));
    CHECK(user.default_credential);
  }
  CHECK_FALSE(security.options.services.ssh);
  CHECK_FALSE(security.options.services.sftp);
  CHECK_FALSE(security.options.services.telnet);
  CHECK_FALSE(security.options.services.ftp);
  CHECK(security.options.web_server);
  CHECK_FALSE(security.options.web_server_programming);
  CHECK_FALSE(meter->security_limits().services_offered.ssh);
  CHECK(meter->security_limits().services_offered.telnet);

  const auto notes = event_details(*meter, sec::SecurityEventType::security_configuration_change);
  for (const auto* note : {"leaving firmware 4.40.1: security mode advanced kept",
                           "leaving firmware 4.40.1: password of every user (User1, Operator) reset to 0",
                           "leaving firmware 4.40.1: ssh removed (it was on)", "leaving firmware 4.40.1: sftp removed (it was on)",
                           "leaving firmware 4.40.1: telnet disabled", "leaving firmware 4.40.1: ftp disabled",
                           "leaving firmware 4.40.1: web server read access enabled",
                           "leaving firmware 4.40.1: web server configuration disabled"}) {
    CHECK(contains(notes, note));
  }
  CHECK(event_details(*meter, sec::SecurityEventType::firmware_change) == std::vector<std::string>{"firmware 4.40.1 -> 4.30.0"});
}

TEST_CASE("The running firmware decides what the meter offers", "[firmware][migration]") {
  Directory directory;
  auto meter = open_meter(directory, "ION7400", "2.0.0");
  CHECK(meter->security_limits().modes == std::vector{sec::SecurityMode::standard, sec::SecurityMode::advanced});
  CHECK(meter->security_limits().max_password_length == 6);
  meter.reset();
  meter = open_meter(directory, "ION7400", "3.0.0");
  CHECK(meter->security_limits().modes == std::vector{sec::SecurityMode::legacy, sec::SecurityMode::advanced});
  CHECK(meter->security_limits().max_password_length == 6);
  CHECK_FALSE(meter->capabilities().has(Feature::secure_native));
  meter.reset();
  meter = open_meter(directory, "ION7400", "4.0.0");
  CHECK(meter->security_limits().max_password_length == 16);
  CHECK(meter->capabilities().has(Feature::secure_native));
  CHECK_FALSE(meter->security_limits().complexity_available);
  CHECK_FALSE(meter->capabilities().has(Feature::bacnet));
  CHECK(meter->capabilities().limit(proto::model::Limit::recorder_linked_sources) == 16);
  meter.reset();
  meter = open_meter(directory, "ION7400", "4.6.0");
  CHECK(meter->security_limits().complexity_available);
  CHECK(meter->capabilities().has(Feature::bacnet));
  CHECK(meter->capabilities().limit(proto::model::Limit::recorder_linked_sources) == 50);
  CHECK(meter->capabilities().has(Feature::modbus_unix_time));
  // Upgraded, not shipped with 4.6.0: no FC43 ProductCode (modbus_service_test checks the wire).
  CHECK_FALSE(meter->capabilities().has(Feature::modbus_product_code));

  Directory shipped;
  CHECK(open_meter(shipped, "ION7400", "4.6.0")->capabilities().has(Feature::modbus_product_code));
}

TEST_CASE("Firmware migration on a bare state: clear-text passwords hashed, no security invented",
          "[firmware][migration]") {
  const auto ion7400 = model("ION7400");
  sec::SecurityLimits legacy_limits;
  legacy_limits.modes = {sec::SecurityMode::legacy, sec::SecurityMode::advanced};

  SECTION("a clear-text store is hashed by the upgrade that brings hashing") {
    MeterState state;
    state.security.mode = sec::SecurityMode::standard;
    state.security.hashing = sec::PasswordHashing{sec::k_fleet_scrypt, true};
    state.security.users.push_back({"User1", "", sec::PermissionSet::all(), false});
    state.clear_passwords = {{"User1", "4711"}};
    const auto notes = migrate_firmware(ion7400, v("2.0.0"), v("3.0.0"), state, legacy_limits);
    REQUIRE(notes);
    CHECK(contains(*notes, "clear-text password of User1 hashed"));
    CHECK(state.clear_passwords.empty());
    CHECK(state.security.mode == sec::SecurityMode::legacy);
    CHECK(sec::verify_password("4711", state.security.users.front().password_hash));
  }
  SECTION("a state without security keeps none; the port effect still applies") {
    MeterState state;
    state.security_missing = true;
    state.communications.native.enabled = false;
    const auto notes = migrate_firmware(ion7400, v("2.0.0"), v("4.0.0"), state, legacy_limits);
    REQUIRE(notes);
    CHECK(*notes == std::vector<std::string>{"firmware 4.0.0: plain native port enabled"});
    CHECK(state.security.users.empty());
    CHECK(state.communications.native.enabled);
  }
  SECTION("same firmware: nothing happens") {
    MeterState state;
    state.security.options.services.sftp = false;
    const auto notes = migrate_firmware(ion7400, v("4.6.0"), v("4.6.0"), state, legacy_limits);
    REQUIRE(notes);
    CHECK(notes->empty());
  }
  SECTION("a reset password that cannot be hashed is an error naming the step") {
    MeterState state;
    state.security.hashing.params.log2_n = 60;  // out of bounds
    state.security.users.push_back({"User1", "x", sec::PermissionSet::all(), false});
    const auto failed = migrate_firmware(model("ION8650"), v("4.40.1"), v("4.30.0"), state, legacy_limits);
    REQUIRE_FALSE(failed);
    CHECK_THAT(failed.error(), Catch::StartsWith("leaving firmware 4.40.1: cannot hash the reset password"));
  }
}
