#include "firmware/backup_operations.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "firmware/scenario_catalog.hpp"
#include "firmware/security_operations.hpp"
#include "libsec/clock.hpp"

using namespace meterd;
namespace native = proto::codec::native;
using native::ErrorCode;
using native::MessageType;
using nlohmann::json;

namespace {

// Listeners without sockets: the ports a configuration asks for are taken as given,
// unless the test makes them unavailable.
class FakeRuntime final : public ConfigRuntime {
 public:
  ListenerPorts listening() const override { return ports; }
  std::uint16_t fallback_port(Listener which) const override { return k_started_on[which].value_or(0); }
  bool kept_closed(Listener) const override { return false; }
  std::vector<std::uint16_t> ports_of_other_meters() const override { return {}; }
  proto::Result<proto::Ok, std::string> prepare(const ListenerPorts& wanted) override {
    if (ports_unavailable) return proto::unexpected(std::string("cannot listen on 127.0.0.1:7700: in use"));
    prepared = wanted;
    return proto::Ok{};
  }
  void commit() override {
    ports = prepared;
    ++commits;
  }
  void abandon() override {}
  void arm_confirm_timer(std::int64_t deadline) override { timer = deadline; }
  void cancel_confirm_timer() override { timer.reset(); }

  static inline const ListenerPorts k_started_on{5020, 7700, 7443};
  ListenerPorts ports = k_started_on;
  ListenerPorts prepared;
  bool ports_unavailable = false;
  int commits = 0;
  std::optional<std::int64_t> timer;
};

struct Fixture {
  std::filesystem::path directory;
  std::unique_ptr<Meter> meter;
  sec::ManualClock clock;
  sec::SessionStore sessions{clock, std::chrono::minutes(5)};
  FakeRuntime runtime;
  std::unique_ptr<NativeService> service;
  NativeConnection connection{sec::ConnectionId{1}, false, false};
  std::uint32_t next_id = 1;

  explicit Fixture(const std::string& model = "ION7400",
                   std::optional<proto::model::Version> firmware = std::nullopt) {
    std::random_device entropy;
    directory = std::filesystem::temp_directory_path() / ("meterd-backup-" + std::to_string(entropy()));
    MeterSetup setup{directory, *proto::model::find_device_model(model), std::nullopt, firmware,
                     *load_builtin_scenario("steady-state"), 1, std::nullopt, std::nullopt,
                     sec::PasswordHashing{sec::k_fleet_scrypt, true}};
    auto opened = Meter::open(std::move(setup));
    REQUIRE(opened);
    meter = std::move(*opened);
    service = std::make_unique<NativeService>(*meter, sessions, clock, true);
    service->set_config_runtime(&runtime);
    REQUIRE(send(native::Hello{"test", {1}}).type == MessageType::hello_ok);
  }
  ~Fixture() {
    service.reset();
    meter.reset();
    std::filesystem::remove_all(directory);
  }

  NativeReply send(const native::Decoded& message) {
    const auto body = native::encode_body(native::to_body(message));
    native::FrameHeader header{native::k_protocol_version, native::message_type(message), next_id++,
                               static_cast<std::uint32_t>(body.size())};
    auto outcome = service->handle(connection, header,
                                   proto::codec::ByteView(reinterpret_cast<const std::byte*>(body.data()), body.size()));
    while (auto* deferred = std::get_if<DeferredReply>(&outcome)) {
      deferred->work();
      auto finish = std::move(deferred->finish);
      outcome = finish(connection);
    }
    return std::get<NativeReply>(outcome);
  }

  NativeReply call(const std::string& operation, json arguments = json::object(),
                   native::Auth auth = native::PasswordAuth{"User1", "0"}) {
    return send(native::OperationRequest{operation, std::move(auth), std::move(arguments)});
  }

  std::string state_file() const {
    std::ifstream in(directory / k_state_file_name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

json result_of(const NativeReply& reply) {
  INFO(reply.body.dump());
  REQUIRE(reply.type == MessageType::response);
  return reply.body.at("result");
}

ErrorCode error_of(const NativeReply& reply) {
  INFO(reply.body.dump());
  REQUIRE(reply.type == MessageType::error);
  return static_cast<ErrorCode>(reply.body.at("code").get<int>());
}

std::string message_of(const NativeReply& reply) { return reply.body.at("message").get<std::string>(); }

std::string profile(const std::string& body) { return "apiVersion: meterctl/v1\nkind: MeterProfile\n" + body; }

// Changes the configuration the way an operator would: CT primary, time zone, session
// timeout, and User1's password (to `password`).
void change_configuration(Fixture& fixture, const std::string& password) {
  const auto document = profile(
      "metering:\n  ct: {primary: 400}\nclock: {time_zone: Europe/Paris}\nsecurity:\n  session_timeout_s: 600\n"
      "  users:\n    - {name: User1, permissions: [all], password_file: user1.pw}\n");
  const auto applied = result_of(fixture.call(
      "config.apply", {{"document", document}, {"force", true}, {"passwords", {{"User1", password}}}}));
  REQUIRE(applied.at("changed") == true);
}

bool logs_in(Fixture& fixture, const std::string& password) {
  return fixture.call("identity", json::object(), native::PasswordAuth{"User1", password}).type == MessageType::response;
}

}  // namespace

TEST_CASE("backup.get returns the identity, the stored configuration with hashes, and the events",
          "[firmware][backup]") {
  Fixture fixture;
  const auto backup = result_of(fixture.call("backup.get"));
  const auto& state = fixture.meter->state();
  CHECK(backup.at("identity") == json{{"serial_number", state.serial_number},
                                      {"model", "ION7400"},
                                      {"feature_set", state.feature_set},
                                      {"firmware", state.firmware.to_string()},
                                      {"shipped_firmware", state.shipped_firmware.to_string()}});
  CHECK(backup.at("configuration") == configuration_to_json(fixture.meter->configuration()));
  CHECK(backup.at("config_version") == 1);
  const auto& users = backup.at("configuration").at("security").at("users");
  REQUIRE(users.size() == 1);
  CHECK(users[0].at("password_hash").get<std::string>().starts_with("$scrypt$"));
  CHECK_FALSE(users[0].contains("password"));
  // The whole log, in the form security.events gives.
  json events = json::array();
  for (const auto& record : fixture.meter->security_events().records()) events.push_back(security_event_json(record));
  REQUIRE_FALSE(events.empty());
  CHECK(backup.at("events") == events);
  CHECK(backup.at("events").back().contains("utc"));
  CHECK(backup.at("events_omitted") == 0);
}

TEST_CASE("backup.get sends the newest events that fit in one reply", "[firmware][backup]") {
  Fixture fixture;
  const std::string detail(3500, 'x');
  for (int i = 0; i < 100; ++i) {
    fixture.meter->record_security_event(sec::SecurityEventType::configuration_change, EventSource{},
                                         std::to_string(i) + detail);
  }
  const auto reply = fixture.call("backup.get");
  const auto backup = result_of(reply);
  CHECK(native::encode_body(reply.body).size() <= native::k_max_body_size);
  CHECK(backup.at("events_omitted").get<std::size_t>() > 0);
  CHECK(backup.at("events").size() + backup.at("events_omitted").get<std::size_t>() ==
        fixture.meter->security_events().size());
  // Oldest first, ending with the newest.
  CHECK(backup.at("events").back().at("number") == fixture.meter->security_events().last_number());
  CHECK(backup.at("events").front().at("number") < backup.at("events").back().at("number"));
}

TEST_CASE("backup.restore brings back the configuration and the password hashes", "[firmware][backup]") {
  Fixture fixture;
  const auto backup = result_of(fixture.call("backup.get"));
  change_configuration(fixture, "4711");
  REQUIRE(logs_in(fixture, "4711"));
  REQUIRE_FALSE(logs_in(fixture, "0"));
  const auto version = fixture.meter->config_version();

  const auto restored = result_of(fixture.call("backup.restore", {{"backup", backup}, {"expected_version", version}},
                                               native::PasswordAuth{"User1", "4711"}));
  CHECK(restored.at("changed") == true);
  CHECK(restored.at("previous_version") == version);
  CHECK(restored.at("config_version") == version + 1);
  json paths = json::array();
  for (const auto& change : restored.at("changes")) paths.push_back(change.at("path"));
  CHECK(paths == json::array({"clock.time_zone", "metering.ct.primary", "security.session_timeout_s",
                              "security.users[User1].password"}));
  CHECK(restored.dump().find("$scrypt") == std::string::npos);

  CHECK(configuration_to_json(fixture.meter->configuration()) == backup.at("configuration"));
  CHECK(fixture.meter->security().find_user("User1")->password_hash ==
        backup.at("configuration").at("security").at("users")[0].at("password_hash"));
  CHECK(logs_in(fixture, "0"));
  CHECK_FALSE(logs_in(fixture, "4711"));
  // Saved: the state file holds the restored configuration.
  auto saved = parse_meter_state(fixture.state_file(), "meter-state.json");
  REQUIRE(saved);
  CHECK(saved->configuration() == fixture.meter->configuration());
  CHECK(saved->config_version == version + 1);
  // Recorded, as a security configuration change.
  const auto records = fixture.meter->security_events().records();
  const auto event = std::find_if(records.rbegin(), records.rend(), [](const sec::SecurityEventRecord& record) {
    return record.detail.starts_with("backup.restore");
  });
  REQUIRE(event != records.rend());
  CHECK(event->type == sec::SecurityEventType::security_configuration_change);
  CHECK(fixture.runtime.commits == 2);

  // The same backup again changes nothing.
  const auto again = result_of(fixture.call("backup.restore", {{"backup", backup}}));
  CHECK(again.at("changed") == false);
  CHECK(fixture.meter->config_version() == version + 1);
}

TEST_CASE("backup.restore settles a pending confirm in favour of the backup", "[firmware][backup]") {
  Fixture fixture;
  const auto backup = result_of(fixture.call("backup.get"));
  const auto applied = result_of(fixture.call(
      "config.apply", {{"document", profile("metering:\n  ct: {primary: 400}\n")}, {"force", true}, {"confirm_timeout_s", 60}}));
  REQUIRE(fixture.meter->pending_confirm());
  REQUIRE(fixture.runtime.timer);
  result_of(fixture.call("backup.restore", {{"backup", backup}}));
  CHECK_FALSE(fixture.meter->pending_confirm());
  CHECK_FALSE(fixture.runtime.timer);
  CHECK(fixture.meter->state().setting(proto::model::ConfigSetting::ct_primary) == 100);
  CHECK(applied.at("config_version") == 2);
}

TEST_CASE("backup.restore refuses a backup of another model, naming both", "[firmware][backup]") {
  Fixture ion9000("ION9000");
  const auto backup = result_of(ion9000.call("backup.get"));
  Fixture fixture;
  const auto before = fixture.state_file();
  const auto reply = fixture.call("backup.restore", {{"backup", backup}});
  CHECK(error_of(reply) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(reply), Catch::Contains("model ION9000 (serial number " + ion9000.meter->state().serial_number) &&
                                    Catch::Contains("this meter is model ION7400") &&
                                    Catch::Contains("same model only"));
  CHECK(fixture.state_file() == before);
  CHECK(fixture.meter->config_version() == 1);
}

TEST_CASE("backup.restore refuses settings a newer firmware has and this one lacks, saying what to do",
          "[firmware][backup]") {
  SECTION("a setting this firmware does not know") {
    Fixture fixture;
    auto backup = result_of(fixture.call("backup.get"));
    backup["identity"]["firmware"] = "9.0.0";
    backup["configuration"]["settings"]["bacnet_device_instance"] = 4711;
    backup["configuration"]["bacnet"] = {{"enabled", true}};
    const auto reply = fixture.call("backup.restore", {{"backup", backup}});
    CHECK(error_of(reply) == ErrorCode::invalid_argument);
    CHECK_THAT(message_of(reply), Catch::Contains("bacnet, settings.bacnet_device_instance") &&
                                      Catch::Contains("upgrade this meter to 9.0.0 or later"));
    // The same from a firmware no newer: not a backup this meter's firmware family wrote.
    backup["identity"]["firmware"] = fixture.meter->state().firmware.to_string();
    CHECK_THAT(message_of(fixture.call("backup.restore", {{"backup", backup}})),
               Catch::Contains("does not have") && !Catch::Contains("upgrade this meter"));
    CHECK(fixture.meter->config_version() == 1);
  }
  SECTION("a feature this firmware does not have (password complexity, 4.6.0)") {
    Fixture newer;
    result_of(newer.call("security.policy", {{"complexity", "nerc-cip-007-5"}}));
    const auto backup = result_of(newer.call("backup.get"));
    Fixture older("ION7400", proto::model::Version{4, 0, 0});
    const auto before = older.state_file();
    const auto reply = older.call("backup.restore", {{"backup", backup}});
    CHECK(error_of(reply) == ErrorCode::invalid_argument);
    INFO(message_of(reply));
    CHECK_THAT(message_of(reply), Catch::Contains("newer than this meter's 4.0.0") &&
                                      Catch::Contains("upgrade this meter to " + newer.meter->state().firmware.to_string()));
    CHECK(older.state_file() == before);
  }
}

TEST_CASE("backup.restore is all or nothing", "[firmware][backup]") {
  Fixture fixture;
  const auto backup = result_of(fixture.call("backup.get"));
  change_configuration(fixture, "4711");
  const native::Auth login = native::PasswordAuth{"User1", "4711"};
  const auto version = fixture.meter->config_version();
  const auto before = fixture.state_file();
  const auto configuration = fixture.meter->configuration();
  const auto unchanged = [&] {
    CHECK(fixture.state_file() == before);
    CHECK(fixture.meter->configuration() == configuration);
    CHECK(fixture.meter->config_version() == version);
  };

  SECTION("a port that cannot be opened") {
    fixture.runtime.ports_unavailable = true;
    const auto reply = fixture.call("backup.restore", {{"backup", backup}}, login);
    CHECK(error_of(reply) == ErrorCode::not_available);
    CHECK_THAT(message_of(reply), Catch::Contains("nothing changed"));
    unchanged();
  }
  SECTION("a value outside this model's limits") {
    auto edited = backup;
    edited["configuration"]["security"]["users"][0]["permissions"] = json::array({"read"});
    CHECK(error_of(fixture.call("backup.restore", {{"backup", edited}}, login)) == ErrorCode::invalid_argument);
    edited = backup;
    edited["configuration"]["time_zone"] = "Mars/Olympus_Mons";
    const auto reply = fixture.call("backup.restore", {{"backup", edited}}, login);
    CHECK(error_of(reply) == ErrorCode::invalid_argument);
    CHECK_THAT(message_of(reply), Catch::Contains("Mars/Olympus_Mons"));
    unchanged();
  }
  SECTION("a clear-text password, or no security at all") {
    auto edited = backup;
    auto& user = edited["configuration"]["security"]["users"][0];
    user.erase("password_hash");
    user["password"] = "0";
    CHECK_THAT(message_of(fixture.call("backup.restore", {{"backup", edited}}, login)), Catch::Contains("clear-text"));
    edited = backup;
    edited["configuration"].erase("security");
    CHECK(error_of(fixture.call("backup.restore", {{"backup", edited}}, login)) == ErrorCode::invalid_argument);
    unchanged();
  }
  SECTION("a configuration that changed meanwhile") {
    const auto reply = fixture.call("backup.restore", {{"backup", backup}, {"expected_version", version - 1}}, login);
    CHECK(error_of(reply) == ErrorCode::conflict);
    CHECK_THAT(message_of(reply), Catch::Contains("at version " + std::to_string(version)));
    unchanged();
  }
  SECTION("arguments that are not a backup") {
    CHECK(error_of(fixture.call("backup.restore", json::object(), login)) == ErrorCode::invalid_argument);
    CHECK(error_of(fixture.call("backup.restore", {{"backup", "text"}}, login)) == ErrorCode::invalid_argument);
    CHECK(error_of(fixture.call("backup.restore", {{"backup", json::object()}}, login)) == ErrorCode::invalid_argument);
    CHECK(error_of(fixture.call("backup.restore", {{"backup", backup}, {"expected_version", -1}}, login)) ==
          ErrorCode::invalid_argument);
    auto long_model = backup;
    long_model["identity"]["model"] = std::string(5000, 'M');
    CHECK(message_of(fixture.call("backup.restore", {{"backup", long_model}}, login)).size() <=
          native::k_max_message_length);
    auto odd_model = backup;
    odd_model["identity"]["model"] = std::string("ION\n9000\x01");
    CHECK_THAT(message_of(fixture.call("backup.restore", {{"backup", odd_model}}, login)),
               Catch::Contains("model ION?9000? (serial"));
    unchanged();
  }
}

TEST_CASE("backup.* needs a login with the security-config permission", "[firmware][backup]") {
  Fixture fixture;
  CHECK(error_of(fixture.call("backup.get", json::object(), std::monostate{})) == ErrorCode::authentication_required);
  CHECK(error_of(fixture.call("backup.restore", json::object(), std::monostate{})) ==
        ErrorCode::authentication_required);
  CHECK(error_of(fixture.call("backup.get", json::object(), native::PasswordAuth{"User1", "1"})) ==
        ErrorCode::authentication_failed);
}

TEST_CASE("unknown_members names what a configuration holds beyond what was understood", "[firmware][backup]") {
  const json understood = {{"a", 1}, {"b", {{"c", 2}}}, {"list", json::array({{{"x", 1}}, {{"x", 2}}})}};
  CHECK(unknown_members(understood, understood).empty());
  json given = understood;
  given["new"] = true;
  given["b"]["d"] = 3;
  given["list"][1]["y"] = 4;
  CHECK(unknown_members(given, understood) == std::vector<std::string>{"b.d", "list[1].y", "new"});
}
