#include "libproto/codec/native_messages.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/libproto/codec/bytes_for_tests.hpp"

using namespace proto::codec;
using namespace proto::codec::native;

namespace {

Decoded round_trip(const Decoded& message) {
  const auto cbor = encode_body(to_body(message));
  const auto body = decode_body(ByteView(reinterpret_cast<const std::byte*>(cbor.data()), cbor.size()));
  REQUIRE(body);
  const auto decoded = decode_message(message_type(message), *body);
  INFO((decoded ? "" : decoded.error().describe()));
  REQUIRE(decoded);
  CHECK(to_body(*decoded) == to_body(message));
  return *decoded;
}

}  // namespace

TEST_CASE("Every message round trips through CBOR", "[native][body]") {
  round_trip(Hello{"meterctl 0.1.0", {1}});
  round_trip(HelloOk{"meterd 0.1.0", 1, "VM0000000001"});
  round_trip(ErrorMessage{ErrorCode::unsupported_version, "speak version 1", {1}});
  round_trip(Login{"User1", "0"});
  round_trip(LoginOk{std::string(64, 'a'), 300, true});
  round_trip(Logout{"abc"});
  round_trip(LogoutOk{});
  round_trip(OperationRequest{"read", SessionAuth{"tok"}, {{"points", {"voltage_an"}}}});
  round_trip(OperationRequest{"identity", PasswordAuth{"User1", "0"}, nlohmann::json::object()});
  round_trip(OperationRequest{"identity", std::monostate{}, nlohmann::json::object()});
  round_trip(OperationResponse{{{"serial_number", "VM1"}, {"uptime_s", 12.5}}});
  round_trip(StreamOpen{"logs.read", SessionAuth{"t"}, 4096, nlohmann::json::object()});
  round_trip(StreamChunk{4096, std::vector<std::uint8_t>(1000, 7), true});
  round_trip(StreamAck{8192, 65536});
  round_trip(StreamCancel{"operator pressed ctrl-c"});
}

TEST_CASE("Field errors name the field", "[native][body]") {
  const auto missing = decode_message(MessageType::login, {{"user", "User1"}});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().error == BodyError::missing_field);
  CHECK(missing.error().field == "password");

  const auto wrong = decode_message(MessageType::login, {{"user", 5}, {"password", "0"}});
  CHECK(wrong.error().error == BodyError::wrong_type);
  CHECK(wrong.error().field == "user");

  const auto long_password = decode_message(MessageType::login, {{"user", "u"}, {"password", std::string(65, 'x')}});
  CHECK(long_password.error().error == BodyError::out_of_range);

  const auto bad_auth = decode_message(MessageType::request, {{"operation", "read"}, {"auth", {{"token", 1}}}});
  CHECK(bad_auth.error().field == "auth.token");

  const auto negative = decode_message(MessageType::stream_ack, {{"offset", -1}, {"window", 1}});
  CHECK(negative.error().error == BodyError::wrong_type);

  // Fields a message does not define are ignored (a newer peer of the same version may add some).
  CHECK(decode_message(MessageType::logout, {{"token", "t"}, {"added_later", true}}));
}

TEST_CASE("CBOR outside the protocol's subset is refused before parsing", "[native][body]") {
  CHECK(check_cbor(bytes({0xA0})));                                    // {}
  CHECK(check_cbor(bytes({0xBF, 0xFF})).error() == BodyError::unsupported_cbor);   // indefinite map
  CHECK(check_cbor(bytes({0xC1, 0x00})).error() == BodyError::unsupported_cbor);   // tag 1
  CHECK(check_cbor(bytes({0xF7})).error() == BodyError::unsupported_cbor);         // undefined
  CHECK(check_cbor(bytes({0x62, 0xC3, 0x28})).error() == BodyError::invalid_utf8);  // bad UTF-8
  CHECK(check_cbor(bytes({0x62, 0xC0, 0x80})).error() == BodyError::invalid_utf8);  // overlong NUL
  CHECK(check_cbor(bytes({0xA1, 0x61})).error() == BodyError::malformed_cbor);      // truncated
  CHECK(check_cbor(bytes({0xA0, 0x00})).error() == BodyError::malformed_cbor);      // trailing bytes
  CHECK(check_cbor(bytes({0x9B, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})).error() ==
        BodyError::malformed_cbor);  // an array claiming 2^63 items
  CHECK(check_cbor(bytes({0x1C})).error() == BodyError::malformed_cbor);            // reserved info
  CHECK(check_cbor(bytes({0xF9, 0x3C, 0x00})));                                     // 1.0 (half)
  CHECK(check_cbor(bytes({0xF9, 0xFD, 0x31})).error() == BodyError::non_finite_float);  // NaN (half)
  CHECK(check_cbor(bytes({0xFA, 0x7F, 0x80, 0x00, 0x00})).error() == BodyError::non_finite_float);  // +inf
  CHECK(check_cbor(bytes({0xFB, 0xFF, 0xF8, 0, 0, 0, 0, 0, 0})).error() == BodyError::non_finite_float);  // NaN

  std::vector<std::byte> deep(17, std::byte{0x81});  // [[[[...]]]] 17 deep
  deep.push_back(std::byte{0x00});
  CHECK(check_cbor(deep).error() == BodyError::too_deep);
  deep.erase(deep.begin());
  CHECK(check_cbor(deep));

  const auto not_map = decode_body(bytes({0x80}));
  CHECK(not_map.error().error == BodyError::not_a_map);
  const auto integer_keys = decode_body(bytes({0xA1, 0x01, 0x02}));
  CHECK_FALSE(integer_keys);
}

TEST_CASE("A body is refused at every truncation", "[native][body]") {
  const auto cbor = encode_body(to_body(Decoded{OperationRequest{"read", SessionAuth{"token"}, {{"a", {1, 2, 3}}}}}));
  for (std::size_t length = 0; length < cbor.size(); ++length) {
    CHECK_FALSE(decode_body(ByteView(reinterpret_cast<const std::byte*>(cbor.data()), length)));
  }
}
