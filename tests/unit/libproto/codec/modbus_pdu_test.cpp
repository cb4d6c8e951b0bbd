#include "libproto/codec/modbus_pdu.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/libproto/codec/bytes_for_tests.hpp"

#include <array>
#include <vector>

using namespace proto::codec;
using namespace proto::codec::modbus;

namespace {

std::vector<std::byte> encode(const Request& request) {
  std::array<std::byte, k_max_pdu_size> out{};
  const auto size = encode_request(request, out);
  REQUIRE(size);
  return {out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*size)};
}

}  // namespace

TEST_CASE("Requests round trip through encode and decode", "[modbus][pdu]") {
  const std::vector<Request> requests = {
      ReadRegistersRequest{FunctionCode::read_holding_registers, 2999, 10},
      ReadRegistersRequest{FunctionCode::read_input_registers, 0, 125},
      WriteSingleRegisterRequest{8099, 30},
      WriteMultipleRegistersRequest{8101, {0x0001, 0xC350}},
      ReadDeviceIdRequest{DeviceIdReadCode::regular, 0},
      ReadDeviceIdRequest{DeviceIdReadCode::individual, 1},
  };
  for (const auto& request : requests) {
    const auto encoded = encode(request);
    const auto decoded = decode_request(encoded);
    REQUIRE(decoded);
    CHECK(encode(*decoded) == encoded);
  }
}

TEST_CASE("Request decoding follows the specification's exception rules", "[modbus][pdu]") {
  SECTION("unknown function -> illegal function") {
    const auto result = decode_request(bytes({0x05, 0x00, 0x00, 0xFF, 0x00}));
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ExceptionCode::illegal_function);
    CHECK(result.error().function == 0x05);
  }
  SECTION("read quantity 0 or 126 -> illegal data value") {
    CHECK(decode_request(bytes({0x03, 0x00, 0x00, 0x00, 0x00})).error().code == ExceptionCode::illegal_data_value);
    CHECK(decode_request(bytes({0x03, 0x00, 0x00, 0x00, 0x7E})).error().code == ExceptionCode::illegal_data_value);
    CHECK(decode_request(bytes({0x04, 0x00, 0x00, 0x00, 0x7D})));
  }
  SECTION("write multiple with a byte count that contradicts the quantity -> illegal data value") {
    CHECK(decode_request(bytes({0x10, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x01, 0x00, 0x02})).error().code ==
          ExceptionCode::illegal_data_value);
  }
  SECTION("MEI type other than 0x0E -> illegal function; bad read code -> illegal data value") {
    CHECK(decode_request(bytes({0x2B, 0x0D, 0x01, 0x00})).error().code == ExceptionCode::illegal_function);
    CHECK(decode_request(bytes({0x2B, 0x0E, 0x05, 0x00})).error().code == ExceptionCode::illegal_data_value);
  }
}

TEST_CASE("Request decoding rejects every truncated prefix", "[modbus][pdu]") {
  const std::vector<Request> requests = {
      ReadRegistersRequest{FunctionCode::read_holding_registers, 1, 2},
      WriteSingleRegisterRequest{1, 2},
      WriteMultipleRegistersRequest{1, {1, 2, 3}},
      ReadDeviceIdRequest{DeviceIdReadCode::basic, 0},
  };
  for (const auto& request : requests) {
    const auto encoded = encode(request);
    for (std::size_t length = 0; length < encoded.size(); ++length) {
      CHECK_FALSE(decode_request(ByteView(encoded.data(), length)));
    }
  }
}

TEST_CASE("Encoders write nothing into a buffer too small", "[modbus][pdu]") {
  const std::vector<Request> requests = {
      ReadRegistersRequest{FunctionCode::read_holding_registers, 1, 2},
      WriteMultipleRegistersRequest{1, {1, 2, 3}},
      ReadDeviceIdRequest{DeviceIdReadCode::basic, 0},
  };
  for (const auto& request : requests) {
    const auto needed = encode(request).size();
    for (std::size_t size = 0; size < needed; ++size) {
      std::vector<std::byte> out(size + 2, std::byte{0xEE});
      const auto written = encode_request(request, ByteBuffer(out.data(), size));
      REQUIRE_FALSE(written);
      CHECK(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
    }
  }
  const std::array<std::uint16_t, 3> registers = {1, 2, 3};
  for (std::size_t size = 0; size < 8; ++size) {
    std::vector<std::byte> out(size + 2, std::byte{0xEE});
    CHECK_FALSE(encode_read_registers_response(FunctionCode::read_holding_registers, registers,
                                               ByteBuffer(out.data(), size)));
    CHECK(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
  }
}

TEST_CASE("Read response round trip and the checks a client relies on", "[modbus][pdu]") {
  const ReadRegistersRequest request{FunctionCode::read_holding_registers, 2999, 3};
  const std::array<std::uint16_t, 3> registers = {0x4220, 0x0000, 0xFFFF};
  std::array<std::byte, k_max_pdu_size> out{};
  const auto size = encode_read_registers_response(request.function, registers, out);
  REQUIRE(size);
  CHECK(*size == 2 + 2 * registers.size());
  const auto decoded = decode_read_registers_response(ByteView(out.data(), *size), request);
  REQUIRE(decoded);
  const auto& words = std::get<std::vector<std::uint16_t>>(*decoded);
  CHECK(std::equal(words.begin(), words.end(), registers.begin(), registers.end()));

  // Wrong count for the request, a different function, truncation.
  CHECK_FALSE(decode_read_registers_response(ByteView(out.data(), *size), {request.function, 2999, 2}));
  CHECK(decode_read_registers_response(ByteView(out.data(), *size),
                                       {FunctionCode::read_input_registers, 2999, 3})
            .error() == CodecError::unexpected_function);
  for (std::size_t length = 0; length < *size; ++length) {
    CHECK_FALSE(decode_read_registers_response(ByteView(out.data(), length), request));
  }
}

TEST_CASE("Exception responses decode to their code", "[modbus][pdu]") {
  std::array<std::byte, 2> out{};
  REQUIRE(encode_exception_response(0x03, ExceptionCode::illegal_data_address, out));
  const auto decoded = decode_read_registers_response(out, {FunctionCode::read_holding_registers, 0, 1});
  REQUIRE(decoded);
  const auto& exception = std::get<ExceptionResponse>(*decoded);
  CHECK(exception.code == ExceptionCode::illegal_data_address);
  CHECK(std::to_integer<int>(out[0]) == 0x83);
}

TEST_CASE("Device identification response round trip, truncation, more-follows", "[modbus][pdu][fc43]") {
  DeviceIdResponse response;
  response.read_code = DeviceIdReadCode::basic;
  response.conformity_level = 0x82;
  response.more_follows = true;
  response.next_object_id = 2;
  response.objects = {{0, "Schneider Electric"}, {1, "METSEION7400"}};
  std::array<std::byte, k_max_pdu_size> out{};
  const auto size = encode_device_id_response(response, out);
  REQUIRE(size);
  const auto decoded = decode_device_id_response(ByteView(out.data(), *size));
  REQUIRE(decoded);
  const auto& answer = std::get<DeviceIdResponse>(*decoded);
  CHECK(answer.more_follows);
  CHECK(answer.next_object_id == 2);
  REQUIRE(answer.objects.size() == 2);
  CHECK(answer.objects[1].value == "METSEION7400");
  for (std::size_t length = 0; length < *size; ++length) {
    CHECK_FALSE(decode_device_id_response(ByteView(out.data(), length)));
  }
  for (std::size_t length = 0; length < *size; ++length) {
    std::vector<std::byte> small(length + 2, std::byte{0xEE});
    CHECK_FALSE(encode_device_id_response(response, ByteBuffer(small.data(), length)));
    CHECK(std::all_of(small.begin(), small.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
  }
}

TEST_CASE("Device identification objects that cannot fit one PDU are refused", "[modbus][pdu][fc43]") {
  DeviceIdResponse response;
  response.objects = {{0, std::string(150, 'a')}, {1, std::string(150, 'b')}};
  std::array<std::byte, 512> out{};
  CHECK(encode_device_id_response(response, out).error() == CodecError::pdu_too_long);
}

TEST_CASE("Responses longer than a PDU are refused even when their fields agree", "[modbus][pdu][fc43]") {
  // Found by fuzz_modbus_response: a device identification response of 300 bytes.
  std::vector<std::byte> pdu = bytes({0x2B, 0x0E, 0x01, 0x82, 0x00, 0x00, 0x02});
  for (int object = 0; object < 2; ++object) {
    pdu.push_back(std::byte{static_cast<unsigned char>(object)});
    pdu.push_back(std::byte{145});
    pdu.insert(pdu.end(), 145, std::byte{'x'});
  }
  CHECK(decode_device_id_response(pdu).error() == CodecError::pdu_too_long);
}
