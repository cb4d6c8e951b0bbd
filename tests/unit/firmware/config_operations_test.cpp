#include "firmware/config_operations.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "firmware/meter_clock.hpp"
#include "firmware/scenario_catalog.hpp"
#include "firmware/servers/modbus_tcp_server.hpp"
#include "libsec/clock.hpp"
#include "libsec/meter_profile.hpp"

using namespace meterd;
namespace native = proto::codec::native;
using native::ErrorCode;
using native::MessageType;
using nlohmann::json;

namespace {

// Listeners as the daemon keeps them, minus the servers: real sockets on loopback, so a
// port in use is really in use.
class TestRuntime final : public ConfigRuntime {
 public:
  TestRuntime() {
    for (const auto which : {Listener::native, Listener::secure_native, Listener::modbus_tcp}) {
      auto acceptor = listen_tcp(io, "127.0.0.1", 0);
      REQUIRE(acceptor);
      slot(active_, which).emplace(std::move(*acceptor));
    }
    defaults_ = listening();
  }

  ListenerPorts listening() const override {
    ListenerPorts ports;
    for (const auto which : k_listeners) {
      if (const auto& acceptor = slot(active_, which)) ports[which] = acceptor->local_endpoint().port();
    }
    return ports;
  }
  // As if the ports it started on were meterd's defaults.
  std::uint16_t fallback_port(Listener which) const override { return defaults_[which].value_or(0); }
  bool kept_closed(Listener) const override { return false; }
  std::vector<std::uint16_t> ports_of_other_meters() const override { return other_meters; }

  proto::Result<proto::Ok, std::string> prepare(const ListenerPorts& wanted) override {
    abandon();
    const auto now = listening();
    for (const auto which : k_listeners) {
      if (!wanted[which] || (now[which] && (*wanted[which] == 0 || *wanted[which] == *now[which]))) continue;
      auto acceptor = listen_tcp(io, "127.0.0.1", *wanted[which]);
      if (!acceptor) {
        abandon();
        return proto::unexpected(acceptor.error());
      }
      slot(prepared_, which).emplace(std::move(*acceptor));
    }
    wanted_ = wanted;
    return proto::Ok{};
  }
  void commit() override {
    for (const auto which : k_listeners) {
      if (slot(prepared_, which)) {
        slot(active_, which) = std::move(slot(prepared_, which));
      } else if (!wanted_[which]) {
        slot(active_, which).reset();
      }
    }
    abandon();
    ++commits;
  }
  void abandon() override {
    for (auto& acceptor : prepared_) acceptor.reset();
  }
  void arm_confirm_timer(std::int64_t deadline) override { timer = deadline; }
  void cancel_confirm_timer() override { timer.reset(); }

  boost::asio::io_context io;
  std::vector<std::uint16_t> other_meters;
  std::optional<std::int64_t> timer;
  int commits = 0;

 private:
  using Slots = std::array<std::optional<boost::asio::ip::tcp::acceptor>, 3>;
  static std::optional<boost::asio::ip::tcp::acceptor>& slot(Slots& slots, Listener which) {
    return slots[static_cast<std::size_t>(which)];
  }
  static const std::optional<boost::asio::ip::tcp::acceptor>& slot(const Slots& slots, Listener which) {
    return slots[static_cast<std::size_t>(which)];
  }
  Slots active_;
  Slots prepared_;
  ListenerPorts wanted_;
  ListenerPorts defaults_;
};

struct Fixture {
  std::filesystem::path directory;
  std::unique_ptr<Meter> meter;
  sec::ManualClock clock;
  sec::SessionStore sessions{clock, std::chrono::minutes(5)};
  TestRuntime runtime;
  std::unique_ptr<NativeService> service;
  NativeConnection connection{sec::ConnectionId{1}, false, false};
  std::uint32_t next_id = 1;

  Fixture() {
    std::random_device entropy;
    directory = std::filesystem::temp_directory_path() / ("meterd-config-" + std::to_string(entropy()));
    MeterSetup setup{directory, *proto::model::find_device_model("ION7400"), std::nullopt, std::nullopt,
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

  NativeReply call(const std::string& operation, json arguments = json::object(), native::Auth auth = native::PasswordAuth{"User1", "0"}) {
    return send(native::OperationRequest{operation, std::move(auth), std::move(arguments)});
  }

  std::string state_file() const {
    std::ifstream in(directory / k_state_file_name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
};

std::string profile(const std::string& body) { return "apiVersion: meterctl/v1\nkind: MeterProfile\n" + body; }

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

std::uint16_t free_port() {
  boost::asio::io_context io;
  auto acceptor = listen_tcp(io, "127.0.0.1", 0);
  REQUIRE(acceptor);
  return acceptor->local_endpoint().port();
}

}  // namespace

TEST_CASE("config.get returns the whole configuration as a profile, without secrets", "[firmware][config]") {
  Fixture fixture;
  const auto result = result_of(fixture.call("config.get"));
  CHECK(result.at("config_version") == 1);
  CHECK(result.at("pending_confirm").is_null());
  const auto text = result.at("profile").get<std::string>();
  CHECK(text.find("$scrypt") == std::string::npos);
  auto parsed = sec::parse_meter_profile(text, "config.get");
  REQUIRE(parsed);
  CHECK(parsed->identity.model == "ION7400");
  CHECK(parsed->identity.min_firmware == fixture.meter->state().firmware.to_string());
  CHECK(parsed->communications.native.port == fixture.runtime.listening().native);
  CHECK(parsed->communications.secure_native.port == fixture.runtime.listening().secure_native);
  CHECK(parsed->scenario == "steady-state");
  CHECK(parsed->clock.time_zone == "UTC");
  REQUIRE(parsed->security.users.size() == 1);
  CHECK_FALSE(parsed->security.users.front().password_hash);
  // Its own profile, sent back, changes nothing.
  const auto plan = result_of(fixture.call("config.plan", {{"document", text}, {"source", "exported.yaml"}}));
  INFO(plan.dump());
  CHECK(plan.at("changed") == false);
}

TEST_CASE("config.plan shows the changes, apply makes them once, and a stale version is a conflict",
          "[firmware][config]") {
  Fixture fixture;
  const auto document = profile("meter: {model: ion7400}\nmetering:\n  ct: {primary: 400}\nclock: {time_zone: Europe/Paris}\n");
  const auto plan = result_of(fixture.call("config.plan", {{"document", document}, {"source", "site.yaml"}}));
  CHECK(plan.at("config_version") == 1);
  CHECK(plan.at("changed") == true);
  CHECK(plan.at("changes") == json::array({{{"path", "clock.time_zone"}, {"before", "UTC"}, {"after", "Europe/Paris"}},
                                           {{"path", "metering.ct.primary"}, {"before", "100"}, {"after", "400"}}}));
  CHECK(fixture.meter->config_version() == 1);

  CHECK(error_of(fixture.call("config.apply", {{"document", document}})) == ErrorCode::invalid_argument);
  const auto applied = result_of(fixture.call("config.apply", {{"document", document}, {"expected_version", 1}}));
  CHECK(applied.at("changed") == true);
  CHECK(applied.at("config_version") == 2);
  CHECK(applied.at("changes").size() == 2);
  CHECK(fixture.meter->state().setting(proto::model::ConfigSetting::ct_primary) == 400);
  CHECK(fixture.meter->state().time_zone == "Europe/Paris");

  const auto again = result_of(fixture.call("config.apply", {{"document", document}, {"expected_version", 2}}));
  CHECK(again.at("changed") == false);
  CHECK(again.at("config_version") == 2);
  CHECK(fixture.meter->config_version() == 2);

  const auto other = profile("metering:\n  ct: {primary: 800}\n");
  const auto stale = fixture.call("config.apply", {{"document", other}, {"expected_version", 1}});
  CHECK(error_of(stale) == ErrorCode::conflict);
  CHECK(message_of(stale) ==
        "the configuration is at version 2; this apply expected 1: it changed since the plan. Plan again, or use --force");
  const auto forced = result_of(fixture.call("config.apply", {{"document", other}, {"force", true}}));
  CHECK(forced.at("config_version") == 3);
  CHECK(fixture.meter->state().setting(proto::model::ConfigSetting::ct_primary) == 800);
}

TEST_CASE("config.plan lists every problem of a profile, each with its place", "[firmware][config]") {
  Fixture fixture;
  const auto secure = *fixture.runtime.listening().secure_native;
  fixture.runtime.other_meters = {1502};
  const auto reply = fixture.call(
      "config.plan",
      {{"document", profile("meter: {model: ION9000}\n"
                            "communications:\n"
                            "  native: {port: " + std::to_string(secure) + "}\n"
                            "  modbus_tcp: {port: 1502}\n"
                            "clock: {time_zone: Mars/Olympus_Mons}\n"
                            "recorders:\n"
                            "  - {name: r1, sources: [voltage_an], interval_s: 60}\n"
                            "simulation: {scenario: asteroid-impact}\n")},
       {"source", "site.yaml"}});
  CHECK(error_of(reply) == ErrorCode::invalid_argument);
  const auto message = message_of(reply);
  CHECK_THAT(message, Catch::Contains("ION9000; this meter is ION7400"));
  CHECK_THAT(message, Catch::Contains("site.yaml:"));
  CHECK_THAT(message, Catch::Contains("Mars/Olympus_Mons"));
  CHECK_THAT(message, Catch::Contains("asteroid-impact"));
  CHECK_THAT(message, Catch::Contains("site.yaml:5:12: port " + std::to_string(secure) + " is taken by communications.secure_native.port"));
  CHECK_THAT(message, Catch::Contains("port 1502 belongs to another meter"));

  const auto unknown_point = fixture.call(
      "config.plan", {{"document", profile("recorders:\n  - {name: r1, sources: [flux_capacitance]}\n")}});
  CHECK(error_of(unknown_point) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(unknown_point), Catch::Contains("flux_capacitance"));

  const auto unmanageable = fixture.call(
      "config.plan", {{"document", profile("communications:\n  native: {enabled: false}\n  secure_native: {enabled: false}\n")}});
  CHECK(error_of(unmanageable) == ErrorCode::invalid_argument);
  CHECK_THAT(message_of(unmanageable), Catch::Contains("could no longer be managed"));
  CHECK(fixture.meter->config_version() == 1);
}

TEST_CASE("Passwords sent with a profile are compared on the meter, never shown", "[firmware][config]") {
  Fixture fixture;
  const auto document =
      profile("security:\n  users:\n    - {name: User1, permissions: [all], password_file: user1.pw}\n");
  CHECK(error_of(fixture.call("config.plan", {{"document", document}})) == ErrorCode::invalid_argument);
  const auto same = result_of(fixture.call("config.plan", {{"document", document}, {"passwords", {{"User1", "0"}}}}));
  CHECK(same.at("changed") == false);
  const auto changed = result_of(fixture.call("config.plan", {{"document", document}, {"passwords", {{"User1", "4711"}}}}));
  CHECK(changed.at("changes") ==
        json::array({{{"path", "security.users[User1].password"}, {"before", "(set)"}, {"after", "(changed)"}}}));
  CHECK(changed.dump().find("$scrypt") == std::string::npos);
}

TEST_CASE("config.* needs the security-config permission", "[firmware][config]") {
  Fixture fixture;
  CHECK(error_of(fixture.call("config.get", json::object(), std::monostate{})) == ErrorCode::authentication_required);
  CHECK(error_of(fixture.call("config.get", json::object(), native::PasswordAuth{"User1", "1"})) ==
        ErrorCode::authentication_failed);
}

TEST_CASE("An apply opens new ports first and closes old ones after; a port in use changes nothing",
          "[firmware][config]") {
  Fixture fixture;
  const auto wanted = free_port();
  const auto document = profile("communications:\n  native: {port: " + std::to_string(wanted) + "}\n  modbus_tcp: {enabled: false}\n");
  const auto applied = result_of(fixture.call("config.apply", {{"document", document}, {"expected_version", 1}}));
  CHECK(applied.at("config_version") == 2);
  CHECK(fixture.runtime.listening().native == wanted);
  CHECK_FALSE(fixture.runtime.listening().modbus_tcp);
  CHECK(fixture.meter->state().communications.native.port == wanted);
  CHECK_FALSE(fixture.meter->state().communications.modbus_tcp.enabled);

  // Someone else holds the port the next profile asks for.
  boost::asio::io_context io;
  auto taken = listen_tcp(io, "127.0.0.1", 0);
  REQUIRE(taken);
  const auto busy = taken->local_endpoint().port();
  const auto before = fixture.state_file();
  const auto listening_before = fixture.runtime.listening();
  const auto reply = fixture.call(
      "config.apply",
      {{"document", profile("communications:\n  native: {port: " + std::to_string(busy) + "}\nmetering:\n  ct: {primary: 400}\n")},
       {"expected_version", 2}});
  CHECK(error_of(reply) == ErrorCode::not_available);
  CHECK_THAT(message_of(reply), Catch::Contains("nothing changed"));
  CHECK(fixture.state_file() == before);
  CHECK(fixture.meter->config_version() == 2);
  CHECK(fixture.meter->state().setting(proto::model::ConfigSetting::ct_primary) == 100);
  CHECK(fixture.runtime.listening() == listening_before);
}

TEST_CASE("With confirm_timeout_s an apply waits for config.confirm, or goes back", "[firmware][config]") {
  Fixture fixture;
  const auto document = profile("metering:\n  ct: {primary: 400}\n");
  CHECK(error_of(fixture.call("config.apply", {{"document", document}, {"expected_version", 1}, {"confirm_timeout_s", 5}})) ==
        ErrorCode::invalid_argument);
  const auto applied =
      result_of(fixture.call("config.apply", {{"document", document}, {"expected_version", 1}, {"confirm_timeout_s", 60}}));
  REQUIRE(applied.contains("confirm_deadline"));
  CHECK(fixture.runtime.timer == applied.at("confirm_deadline").get<std::int64_t>());
  const auto got = result_of(fixture.call("config.get"));
  CHECK(got.at("pending_confirm").at("previous_version") == 1);

  const auto confirmed = result_of(fixture.call("config.confirm"));
  CHECK(confirmed.at("confirmed") == true);
  CHECK(confirmed.at("config_version") == 2);
  CHECK_FALSE(fixture.runtime.timer);
  CHECK(error_of(fixture.call("config.confirm")) == ErrorCode::invalid_argument);
  CHECK(error_of(fixture.call("config.rollback")) == ErrorCode::invalid_argument);

  const auto second = profile("metering:\n  ct: {primary: 800}\n");
  REQUIRE(result_of(fixture.call("config.apply", {{"document", second}, {"expected_version", 2}, {"confirm_timeout_s", 60}}))
              .at("config_version") == 3);
  const auto rolled_back = result_of(fixture.call("config.rollback"));
  CHECK(rolled_back.at("rolled_back") == true);
  CHECK(rolled_back.at("config_version") == 4);
  CHECK(fixture.meter->state().setting(proto::model::ConfigSetting::ct_primary) == 400);
  CHECK_FALSE(fixture.meter->pending_confirm());
}

TEST_CASE("The confirm timer restores the previous configuration and its ports", "[firmware][config]") {
  Fixture fixture;
  const auto old_native = *fixture.runtime.listening().native;
  const auto moved = free_port();
  const auto applied = result_of(fixture.call(
      "config.apply", {{"document", profile("communications:\n  native: {port: " + std::to_string(moved) + "}\n")},
                       {"expected_version", 1},
                       {"confirm_timeout_s", 3600}}));
  CHECK(fixture.runtime.listening().native == moved);

  // Not yet due: the timer is only armed again.
  expire_pending_confirm(*fixture.service);
  CHECK(fixture.meter->pending_confirm());

  // Due: the deadline is moved into the past as the passing of time would.
  auto pending = *fixture.meter->pending_confirm();
  pending.deadline = static_cast<std::int64_t>(MeterClock::wall_now()) - 1;
  const auto configuration = fixture.meter->configuration();
  REQUIRE(fixture.meter->apply_configuration(configuration, pending));
  const auto version = fixture.meter->config_version();
  expire_pending_confirm(*fixture.service);
  CHECK_FALSE(fixture.meter->pending_confirm());
  CHECK(fixture.meter->config_version() == version + 1);
  CHECK_FALSE(fixture.meter->state().communications.native.port);
  CHECK(fixture.runtime.listening().native == old_native);
  CHECK(applied.at("config_version") == 2);
}
