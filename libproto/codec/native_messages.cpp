#include "libproto/codec/native_messages.hpp"

namespace proto::codec::native {

namespace {

using nlohmann::json;

// Reads fields of one body; the first failure is kept and reported with its field name.
class Fields {
 public:
  explicit Fields(const json& body) : body_(body) {}

  std::string text(const char* name, std::size_t max_length, bool required = true) {
    const auto* value = find(name, required);
    if (!value) return {};
    if (!value->is_string()) return fail(BodyError::wrong_type, name), std::string();
    const auto& text = value->get_ref<const std::string&>();
    if (text.size() > max_length) return fail(BodyError::out_of_range, name), std::string();
    return text;
  }

  std::uint64_t number(const char* name, std::uint64_t max, bool required = true) {
    const auto* value = find(name, required);
    if (!value) return 0;
    if (!value->is_number_unsigned()) return fail(BodyError::wrong_type, name), 0;
    const auto number = value->get<std::uint64_t>();
    if (number > max) return fail(BodyError::out_of_range, name), 0;
    return number;
  }

  bool flag(const char* name) {
    const auto* value = find(name, false);
    if (!value) return false;
    if (!value->is_boolean()) return fail(BodyError::wrong_type, name), false;
    return value->get<bool>();
  }

  json object(const char* name) {
    const auto* value = find(name, false);
    if (!value) return json::object();
    if (!value->is_object()) return fail(BodyError::wrong_type, name), json::object();
    return *value;
  }

  std::vector<std::uint8_t> versions(const char* name, bool required) {
    std::vector<std::uint8_t> out;
    const auto* value = find(name, required);
    if (!value) return out;
    if (!value->is_array()) return fail(BodyError::wrong_type, name), out;
    if (value->size() > k_max_versions) return fail(BodyError::out_of_range, name), out;
    for (const auto& item : *value) {
      if (!item.is_number_unsigned() || item.get<std::uint64_t>() > 255) return fail(BodyError::out_of_range, name), out;
      out.push_back(static_cast<std::uint8_t>(item.get<std::uint64_t>()));
    }
    return out;
  }

  std::vector<std::uint8_t> bytes(const char* name, std::size_t max_length) {
    std::vector<std::uint8_t> out;
    const auto* value = find(name, true);
    if (!value) return out;
    if (!value->is_binary()) return fail(BodyError::wrong_type, name), out;
    if (value->get_binary().size() > max_length) return fail(BodyError::out_of_range, name), out;
    out.assign(value->get_binary().begin(), value->get_binary().end());
    return out;
  }

  Auth auth() {
    const auto* value = find("auth", false);
    if (!value) return std::monostate{};
    if (!value->is_object()) return fail(BodyError::wrong_type, "auth"), std::monostate{};
    Fields inner(*value);
    Auth result = std::monostate{};
    if (value->contains("token")) {
      result = SessionAuth{inner.text("token", k_max_token_length)};
    } else {
      result = PasswordAuth{inner.text("user", k_max_name_length), inner.text("password", k_max_password_length)};
    }
    if (inner.failure_ && !failure_) failure_ = BodyFailure{inner.failure_->error, "auth." + inner.failure_->field};
    return result;
  }

  const std::optional<BodyFailure>& failure() const { return failure_; }

 private:
  const json* find(const char* name, bool required) {
    const auto it = body_.find(name);
    if (it == body_.end()) {
      if (required) fail(BodyError::missing_field, name);
      return nullptr;
    }
    return &*it;
  }

  void fail(BodyError error, const char* name) {
    if (!failure_) failure_ = BodyFailure{error, name};
  }

  const json& body_;
  std::optional<BodyFailure> failure_;
};

json auth_body(const Auth& auth) {
  if (const auto* session = std::get_if<SessionAuth>(&auth)) return {{"token", session->token}};
  if (const auto* password = std::get_if<PasswordAuth>(&auth)) {
    return {{"user", password->user}, {"password", password->password}};
  }
  return nullptr;
}

void put_auth(json& body, const Auth& auth) {
  if (!std::holds_alternative<std::monostate>(auth)) body["auth"] = auth_body(auth);
}

template <typename Message>
Result<Decoded, BodyFailure> finish(Fields& fields, Message message) {
  if (fields.failure()) return unexpected(*fields.failure());
  return Decoded{std::move(message)};
}

}  // namespace

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::malformed_frame: return "malformed_frame";
    case ErrorCode::unsupported_version: return "unsupported_version";
    case ErrorCode::unknown_message_type: return "unknown_message_type";
    case ErrorCode::body_too_large: return "body_too_large";
    case ErrorCode::malformed_body: return "malformed_body";
    case ErrorCode::authentication_required: return "authentication_required";
    case ErrorCode::authentication_failed: return "authentication_failed";
    case ErrorCode::permission_denied: return "permission_denied";
    case ErrorCode::session_expired: return "session_expired";
    case ErrorCode::session_wrong_connection: return "session_wrong_connection";
    case ErrorCode::password_needs_session: return "password_needs_session";
    case ErrorCode::unknown_operation: return "unknown_operation";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::not_available: return "not_available";
    case ErrorCode::busy: return "busy";
    case ErrorCode::internal_error: return "internal_error";
    case ErrorCode::time_sync_disabled: return "time_sync_disabled";
    case ErrorCode::locked_out: return "locked_out";
    case ErrorCode::unexpected_message: return "unexpected_message";
    case ErrorCode::conflict: return "conflict";
    case ErrorCode::package_refused: return "package_refused";
  }
  return "unknown_error";
}

bool is_known_error_code(std::uint16_t value) {
  return value >= static_cast<std::uint16_t>(ErrorCode::malformed_frame) &&
         value <= static_cast<std::uint16_t>(ErrorCode::package_refused);
}

Result<Decoded, BodyFailure> decode_message(MessageType type, const json& body) {
  if (!body.is_object()) return unexpected(BodyFailure{BodyError::not_a_map, ""});
  Fields fields(body);
  switch (type) {
    case MessageType::hello:
      return finish(fields, Hello{fields.text("client", k_max_name_length), fields.versions("versions", true)});
    case MessageType::hello_ok: {
      HelloOk message;
      message.server = fields.text("server", k_max_name_length);
      message.version = static_cast<std::uint8_t>(fields.number("version", 255));
      message.serial_number = fields.text("serial_number", k_max_name_length);
      return finish(fields, std::move(message));
    }
    case MessageType::error: {
      ErrorMessage message;
      const auto code = fields.number("code", 0xFFFF);
      // An unknown code from a newer peer is still an error; keep it as internal_error.
      message.code = is_known_error_code(static_cast<std::uint16_t>(code)) ? static_cast<ErrorCode>(code)
                                                                           : ErrorCode::internal_error;
      message.message = fields.text("message", k_max_message_length);
      message.supported_versions = fields.versions("supported_versions", false);
      return finish(fields, std::move(message));
    }
    case MessageType::login:
      return finish(fields, Login{fields.text("user", k_max_name_length), fields.text("password", k_max_password_length)});
    case MessageType::login_ok: {
      LoginOk message;
      message.token = fields.text("token", k_max_token_length);
      message.idle_timeout_s = static_cast<std::uint32_t>(fields.number("idle_timeout_s", 0xFFFFFFFF));
      message.default_credential = fields.flag("default_credential");
      return finish(fields, std::move(message));
    }
    case MessageType::logout: return finish(fields, Logout{fields.text("token", k_max_token_length)});
    case MessageType::logout_ok: return finish(fields, LogoutOk{});
    case MessageType::request: {
      OperationRequest message;
      message.operation = fields.text("operation", k_max_name_length);
      message.auth = fields.auth();
      message.arguments = fields.object("arguments");
      return finish(fields, std::move(message));
    }
    case MessageType::response: {
      const auto it = body.find("result");
      if (it == body.end()) return unexpected(BodyFailure{BodyError::missing_field, "result"});
      return Decoded{OperationResponse{*it}};
    }
    case MessageType::stream_open: {
      StreamOpen message;
      message.operation = fields.text("operation", k_max_name_length);
      message.auth = fields.auth();
      message.offset = fields.number("offset", UINT64_MAX, false);
      message.arguments = fields.object("arguments");
      return finish(fields, std::move(message));
    }
    case MessageType::stream_chunk: {
      StreamChunk message;
      message.offset = fields.number("offset", UINT64_MAX);
      message.data = fields.bytes("data", k_max_chunk_size);
      message.last = fields.flag("last");
      return finish(fields, std::move(message));
    }
    case MessageType::stream_ack: {
      StreamAck message;
      message.offset = fields.number("offset", UINT64_MAX);
      message.window = static_cast<std::uint32_t>(fields.number("window", 0xFFFFFFFF));
      return finish(fields, std::move(message));
    }
    case MessageType::stream_cancel:
      return finish(fields, StreamCancel{fields.text("reason", k_max_message_length, false)});
  }
  return unexpected(BodyFailure{BodyError::not_a_map, ""});
}

json to_body(const Decoded& message) {
  struct Visitor {
    json operator()(const Hello& m) const { return {{"client", m.client}, {"versions", m.versions}}; }
    json operator()(const HelloOk& m) const {
      return {{"server", m.server}, {"version", m.version}, {"serial_number", m.serial_number}};
    }
    json operator()(const ErrorMessage& m) const {
      json body = {{"code", static_cast<std::uint16_t>(m.code)}, {"message", m.message}};
      if (!m.supported_versions.empty()) body["supported_versions"] = m.supported_versions;
      return body;
    }
    json operator()(const Login& m) const { return {{"user", m.user}, {"password", m.password}}; }
    json operator()(const LoginOk& m) const {
      return {{"token", m.token}, {"idle_timeout_s", m.idle_timeout_s}, {"default_credential", m.default_credential}};
    }
    json operator()(const Logout& m) const { return {{"token", m.token}}; }
    json operator()(const LogoutOk&) const { return json::object(); }
    json operator()(const OperationRequest& m) const {
      json body = {{"operation", m.operation}, {"arguments", m.arguments}};
      put_auth(body, m.auth);
      return body;
    }
    json operator()(const OperationResponse& m) const { return {{"result", m.result}}; }
    json operator()(const StreamOpen& m) const {
      json body = {{"operation", m.operation}, {"offset", m.offset}, {"arguments", m.arguments}};
      put_auth(body, m.auth);
      return body;
    }
    json operator()(const StreamChunk& m) const {
      return {{"offset", m.offset}, {"data", json::binary(m.data)}, {"last", m.last}};
    }
    json operator()(const StreamAck& m) const { return {{"offset", m.offset}, {"window", m.window}}; }
    json operator()(const StreamCancel& m) const { return {{"reason", m.reason}}; }
  };
  return std::visit(Visitor{}, message);
}

MessageType message_type(const Decoded& message) {
  static constexpr MessageType types[] = {
      MessageType::hello,   MessageType::hello_ok,    MessageType::error,        MessageType::login,
      MessageType::login_ok, MessageType::logout,     MessageType::logout_ok,    MessageType::request,
      MessageType::response, MessageType::stream_open, MessageType::stream_chunk, MessageType::stream_ack,
      MessageType::stream_cancel};
  return types[message.index()];
}

}  // namespace proto::codec::native
