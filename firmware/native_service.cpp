#include "firmware/native_service.hpp"

#include <cmath>
#include <ctime>

#include "firmware/log.hpp"
#include "libproto/model/utc_time.hpp"
#include "libsec/legacy_auth.hpp"

namespace meterd {

namespace native = proto::codec::native;
using native::ErrorCode;
using native::MessageType;
using nlohmann::json;

namespace {

NativeReply error_reply(std::uint32_t request_id, ErrorCode code, std::string message, bool close_after = false) {
  native::ErrorMessage error{code, std::move(message), {}};
  if (code == ErrorCode::unsupported_version) error.supported_versions = {native::k_protocol_version};
  return {MessageType::error, request_id, native::to_body(native::Decoded{error}), close_after};
}

NativeReply reply(MessageType type, std::uint32_t request_id, const native::Decoded& message) {
  return {type, request_id, native::to_body(message), false};
}

// Who is asking, once authentication has been checked.
struct Caller {
  std::string user;  // empty: anonymous
  bool default_credential = false;
};

ErrorCode session_error_code(sec::SessionError error) {
  return error == sec::SessionError::wrong_connection ? ErrorCode::session_wrong_connection : ErrorCode::session_expired;
}

// Operations an anonymous caller may use: Legacy security support keeps the old Standard
// mode's anonymous read (vendor's July 2020 what's new; ION8650 4.40.1 FAQ), which covers
// reading the meter's values and its clock.
bool anonymous_allowed(const std::string& operation) {
  return operation == "identity" || operation == "read" || operation == "time.get";
}

}  // namespace

NativeService::NativeService(Meter& meter, sec::CredentialVerifier& credentials, sec::SessionStore& sessions)
    : meter_(meter), credentials_(credentials), sessions_(sessions) {}

NativeReply NativeService::frame_error(native::FrameError error) {
  switch (error) {
    case native::FrameError::unsupported_version:
      return error_reply(0, ErrorCode::unsupported_version,
                         "this meter speaks native protocol version 1 only", true);
    case native::FrameError::unknown_message_type:
      return error_reply(0, ErrorCode::unknown_message_type, "unknown message type", true);
    case native::FrameError::body_too_large:
      return error_reply(0, ErrorCode::body_too_large, "frame body larger than 262144 bytes", true);
    default:
      return error_reply(0, ErrorCode::malformed_frame,
                         "not a native protocol frame; is this the right port?", true);
  }
}

void NativeService::connection_closed(const NativeConnection& connection) { sessions_.close_connection(connection.id); }

NativeReply NativeService::handle(NativeConnection& connection, const native::FrameHeader& header,
                                  proto::codec::ByteView body_bytes) {
  const auto id = header.request_id;
  auto body = native::decode_body(body_bytes);
  if (!body) return error_reply(id, ErrorCode::malformed_body, body.error().describe(), true);
  auto message = native::decode_message(header.type, *body);
  if (!message) return error_reply(id, ErrorCode::malformed_body, message.error().describe());

  if (!connection.greeted) {
    const auto* hello = std::get_if<native::Hello>(&*message);
    if (!hello) return error_reply(id, ErrorCode::unexpected_message, "send hello first", true);
    bool speaks_ours = false;
    for (const auto version : hello->versions) speaks_ours = speaks_ours || version == native::k_protocol_version;
    if (!speaks_ours) {
      return error_reply(id, ErrorCode::unsupported_version, "this meter speaks native protocol version 1 only",
                         true);
    }
    connection.greeted = true;
    return reply(MessageType::hello_ok, id,
                 native::HelloOk{std::string("meterd ") + METERCTL_VERSION, native::k_protocol_version,
                                 meter_.state().serial_number});
  }

  if (const auto* login = std::get_if<native::Login>(&*message)) {
    // verify() costs the same whether or not the user exists.
    const auto verified = credentials_.verify(login->user, login->password);
    if (!verified) {
      log::info("native.login_failed", {{"serial", meter_.state().serial_number}, {"user", login->user}});
      return error_reply(id, ErrorCode::authentication_failed, "wrong user name or password");
    }
    auto token = sessions_.open(login->user, connection.id);
    if (!token) return error_reply(id, ErrorCode::busy, std::string(sec::to_string(token.error())));
    log::info("native.login", {{"serial", meter_.state().serial_number}, {"user", login->user}});
    return reply(MessageType::login_ok, id,
                 native::LoginOk{std::string(token->text()), static_cast<std::uint32_t>(sessions_.idle_timeout().count()),
                                 verified.default_credential});
  }
  if (const auto* logout = std::get_if<native::Logout>(&*message)) {
    if (auto closed = sessions_.close(logout->token, connection.id); !closed) {
      return error_reply(id, session_error_code(closed.error()), std::string(sec::to_string(closed.error())));
    }
    return reply(MessageType::logout_ok, id, native::LogoutOk{});
  }
  if (const auto* request = std::get_if<native::OperationRequest>(&*message)) return operation(connection, id, *request);
  if (std::holds_alternative<native::StreamOpen>(*message)) {
    return error_reply(id, ErrorCode::unknown_operation, "this meter offers no streams yet");
  }
  return error_reply(id, ErrorCode::unexpected_message,
                     "a client does not send " + std::string(native::to_string(header.type)));
}

NativeReply NativeService::operation(NativeConnection& connection, std::uint32_t id,
                                     const native::OperationRequest& request) {
  Caller caller;
  if (const auto* session = std::get_if<native::SessionAuth>(&request.auth)) {
    auto info = sessions_.authenticate(session->token, connection.id);
    if (!info) {
      return error_reply(id, session_error_code(info.error()), std::string(sec::to_string(info.error())) + "; log in again");
    }
    caller.user = info->user;
  } else if (const auto* password = std::get_if<native::PasswordAuth>(&request.auth)) {
    // Vendor's 4.0.0 notes: "Longer passwords cannot be used over non-ION session connections."
    if (!sec::legacy_password_allowed(password->password)) {
      return error_reply(id, ErrorCode::password_needs_session, sec::legacy_password_refusal_message());
    }
    const auto verified = credentials_.verify(password->user, password->password);
    if (!verified) return error_reply(id, ErrorCode::authentication_failed, "wrong user name or password");
    caller.user = password->user;
    caller.default_credential = verified.default_credential;
  } else if (!anonymous_allowed(request.operation)) {
    return error_reply(id, ErrorCode::authentication_required,
                       "operation '" + request.operation + "' needs a login or a user and password");
  }

  // Until the permission model arrives, the factory account holds every permission.
  const auto& op = request.operation;
  json result;
  if (op == "identity") {
    result = identity();
  } else if (op == "read") {
    std::string problem;
    result = read(request.arguments, problem);
    if (!problem.empty()) return error_reply(id, ErrorCode::invalid_argument, problem);
  } else if (op == "time.get") {
    const double now = meter_.now();
    result = {{"unix_time", now}, {"utc", proto::model::iso_utc(now)},
              {"time_sync_enabled", meter_.state().setting(proto::model::ConfigSetting::time_sync_enabled) != 0}};
  } else if (op == "time.set") {
    const auto it = request.arguments.find("unix_time");
    if (it == request.arguments.end() || !it->is_number() || !std::isfinite(it->get<double>()) ||
        it->get<double>() < 0 || it->get<double>() > 4'294'967'295.0) {
      return error_reply(id, ErrorCode::invalid_argument, "time.set needs unix_time: seconds since 1970 (0..2^32-1)");
    }
    if (auto set = meter_.set_time(it->get<double>()); !set) {
      return error_reply(id, ErrorCode::time_sync_disabled, set.error());
    }
    result = {{"unix_time", meter_.now()}, {"utc", proto::model::iso_utc(meter_.now())}};
  } else if (op == "demand.reset") {
    meter_.reset_peak_demand();
    result = {{"peak_demand_kw", meter_.measurements()[proto::model::Point::active_power_peak_demand]}};
  } else if (op == "test_mode.set") {
    const auto it = request.arguments.find("enabled");
    if (it == request.arguments.end() || !it->is_boolean()) {
      return error_reply(id, ErrorCode::invalid_argument, "test_mode.set needs enabled: true or false");
    }
    meter_.set_test_mode(it->get<bool>());
    result = {{"test_mode", meter_.test_mode()}};
  } else {
    return error_reply(id, ErrorCode::unknown_operation,
                       "no operation '" + op + "'; known: identity, read, time.get, time.set, demand.reset, "
                       "test_mode.set");
  }
  if (caller.default_credential) result["default_credential"] = true;
  return reply(MessageType::response, id, native::OperationResponse{result});
}

json NativeService::identity() const {
  const auto& state = meter_.state();
  const auto& capabilities = meter_.capabilities();
  json features = json::array();
  for (const auto feature : capabilities.features) features.push_back(std::string(proto::model::to_string(feature)));
  return {{"model", state.model},
          {"feature_set", state.feature_set},
          {"serial_number", state.serial_number},
          {"firmware", state.firmware.to_string()},
          {"firmware_vendor", state.firmware.vendor_form()},
          {"shipped_firmware", state.shipped_firmware.to_string()},
          {"features", features},
          {"uptime_s", std::round(meter_.uptime_seconds() * 10.0) / 10.0},
          {"meter_time", meter_.now()},
          {"meter_time_utc", proto::model::iso_utc(meter_.now())},
          {"test_mode", meter_.test_mode()}};
}

json NativeService::read(const json& arguments, std::string& problem) const {
  const auto& measurements = meter_.measurements();
  json values = json::object();
  auto add = [&](const proto::model::PointInfo& point) {
    const double value = measurements[point.point];
    values[std::string(point.name)] = {{"value", std::isfinite(value) ? json(value) : json(nullptr)},
                                       {"unit", point.unit}};
  };
  const auto it = arguments.find("points");
  if (it == arguments.end() || (it->is_array() && it->empty())) {
    for (const auto& point : proto::model::k_points) add(point);
  } else if (!it->is_array()) {
    problem = "points must be a list of point names";
    return nullptr;
  } else {
    for (const auto& name : *it) {
      const auto point = name.is_string() ? proto::model::find_point(name.get<std::string>()) : std::nullopt;
      if (!point) {
        problem = "unknown point " + name.dump() + "; `meterctl modbus map` lists the names";
        return nullptr;
      }
      add(proto::model::info(*point));
    }
  }
  json result = {{"meter_time", measurements.unix_time}, {"values", values}, {"test_mode", meter_.test_mode()}};
  if (meter_.test_mode()) result["test_energy"] = simulation::to_json(meter_.test_energy());
  return result;
}

}  // namespace meterd
