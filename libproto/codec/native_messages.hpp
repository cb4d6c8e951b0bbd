#pragma once
// Typed bodies of the native protocol's messages (man/meter-native-protocol.7.scd,
// "MESSAGE CATALOGUE") and their mapping to and from the CBOR map of a frame. Fields a
// message does not define are ignored, so a newer peer of the same version may add some.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "libproto/codec/native_body.hpp"
#include "libproto/codec/native_frame.hpp"

namespace proto::codec::native {

// Spec "LIMITS": string fields are bounded so no message can ask for unbounded memory.
inline constexpr std::size_t k_max_name_length = 64;       // user, client, operation names
inline constexpr std::size_t k_max_password_length = 64;   // above any model's maximum (16)
inline constexpr std::size_t k_max_token_length = 128;
inline constexpr std::size_t k_max_message_length = 1024;  // human-readable error text
inline constexpr std::size_t k_max_chunk_size = 64 * 1024;
inline constexpr std::size_t k_max_versions = 16;

// Spec "ERROR CODES"; the values are the wire values.
enum class ErrorCode : std::uint16_t {
  malformed_frame = 1,
  unsupported_version = 2,
  unknown_message_type = 3,
  body_too_large = 4,
  malformed_body = 5,
  authentication_required = 6,
  authentication_failed = 7,
  permission_denied = 8,
  session_expired = 9,
  session_wrong_connection = 10,
  password_needs_session = 11,
  unknown_operation = 12,
  invalid_argument = 13,
  not_available = 14,
  busy = 15,
  internal_error = 16,
  time_sync_disabled = 17,
  locked_out = 18,
  unexpected_message = 19,
  // The configuration changed since the client last read it (config.apply's expected_version).
  conflict = 20,
  // A firmware package the meter will not install (upgrade.finish, upgrade.activate): its
  // hash, signature, model, expiry or version failed a check the message names.
  package_refused = 21,
};

std::string_view to_string(ErrorCode code);
bool is_known_error_code(std::uint16_t value);

struct Hello {
  std::string client;                  // "meterctl 0.1.0"
  std::vector<std::uint8_t> versions;  // protocol versions the client speaks
};

struct HelloOk {
  std::string server;        // "meterd 0.1.0"
  std::uint8_t version = 1;  // the version chosen for this connection
  std::string serial_number;
};

struct ErrorMessage {
  ErrorCode code = ErrorCode::internal_error;
  std::string message;
  std::vector<std::uint8_t> supported_versions;  // with unsupported_version
};

struct Login {
  std::string user;
  std::string password;
};

struct LoginOk {
  std::string token;
  std::uint32_t idle_timeout_s = 0;
  bool default_credential = false;  // the factory password is still in use
};

struct Logout {
  std::string token;
};

struct LogoutOk {};

struct SessionAuth {
  std::string token;
};
// Legacy per-request authentication: passwords of at most 6 characters only (seed 000).
struct PasswordAuth {
  std::string user;
  std::string password;
};
using Auth = std::variant<std::monostate, SessionAuth, PasswordAuth>;

struct OperationRequest {
  std::string operation;
  Auth auth;
  nlohmann::json arguments = nlohmann::json::object();
};

struct OperationResponse {
  nlohmann::json result = nlohmann::json::object();
};

struct StreamOpen {
  std::string operation;
  Auth auth;
  std::uint64_t offset = 0;  // resume point
  nlohmann::json arguments = nlohmann::json::object();
};

struct StreamChunk {
  std::uint64_t offset = 0;
  std::vector<std::uint8_t> data;
  bool last = false;
};

struct StreamAck {
  std::uint64_t offset = 0;   // everything before it has arrived
  std::uint32_t window = 0;   // bytes the receiver accepts beyond offset
};

struct StreamCancel {
  std::string reason;
};

using Decoded = std::variant<Hello, HelloOk, ErrorMessage, Login, LoginOk, Logout, LogoutOk, OperationRequest,
                             OperationResponse, StreamOpen, StreamChunk, StreamAck, StreamCancel>;

// Maps a body to the message its frame type names.
Result<Decoded, BodyFailure> decode_message(MessageType type, const nlohmann::json& body);
nlohmann::json to_body(const Decoded& message);
MessageType message_type(const Decoded& message);

}  // namespace proto::codec::native
