#include "libproto/codec/modbus_frame.hpp"

#include <catch2/catch.hpp>

#include "tests/unit/libproto/codec/bytes_for_tests.hpp"

#include <array>
#include <vector>

using namespace proto::codec;
using namespace proto::codec::modbus;

TEST_CASE("TCP frame decodes header and PDU and reports bytes consumed", "[modbus][tcp]") {
  // Read holding registers, transaction 0x1234, unit 1, address 2999, 10 registers, then the start of a next frame.
  const auto input = bytes({0x12, 0x34, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x0B, 0xB7, 0x00, 0x0A, 0xAA});
  const auto frame = decode_tcp_frame(input);
  REQUIRE(frame);
  CHECK(frame->header.transaction_id == 0x1234);
  CHECK(frame->header.unit_id == 1);
  CHECK(frame->pdu.size() == 5);
  CHECK(frame->consumed == 12);
}

TEST_CASE("TCP frame: every truncated prefix needs more, never an error or a read past the input",
          "[modbus][tcp]") {
  const auto input = bytes({0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x01});
  for (std::size_t length = 0; length < input.size(); ++length) {
    const auto frame = decode_tcp_frame(ByteView(input.data(), length));
    REQUIRE_FALSE(frame);
    CHECK(frame.error() == CodecError::need_more);
  }
}

TEST_CASE("TCP frame rejects a foreign protocol id and impossible lengths as soon as they arrive", "[modbus][tcp]") {
  CHECK(decode_tcp_frame(bytes({0, 1, 0, 1})).error() == CodecError::bad_protocol_id);
  CHECK(decode_tcp_frame(bytes({0, 1, 0, 0, 0, 1})).error() == CodecError::bad_length);
  CHECK(decode_tcp_frame(bytes({0, 1, 0, 0, 0x01, 0x00})).error() == CodecError::bad_length);  // 256 > 254
  CHECK(decode_tcp_frame(bytes({0, 1, 0, 0, 0, 0xFE, 1})).error() == CodecError::need_more);   // 254 is the maximum
}

TEST_CASE("TCP frame round trip, and encoded size equals bytes written", "[modbus][tcp]") {
  const auto pdu = bytes({0x03, 0x00, 0x10, 0x00, 0x02});
  std::array<std::byte, k_max_tcp_adu_size> out{};
  const auto written = encode_tcp_frame(7, 0xFF, pdu, out);
  REQUIRE(written);
  CHECK(*written == k_mbap_size + pdu.size());
  const auto decoded = decode_tcp_frame(ByteView(out.data(), *written));
  REQUIRE(decoded);
  CHECK(decoded->header.transaction_id == 7);
  CHECK(decoded->header.unit_id == 0xFF);
  CHECK(std::equal(decoded->pdu.begin(), decoded->pdu.end(), pdu.begin(), pdu.end()));
  CHECK(decoded->consumed == *written);
}

TEST_CASE("TCP frame encoder writes nothing into a buffer too small", "[modbus][tcp]") {
  const auto pdu = bytes({0x03, 0x00, 0x10, 0x00, 0x02});
  for (std::size_t size = 0; size < k_mbap_size + pdu.size(); ++size) {
    std::vector<std::byte> out(size + 4, std::byte{0xEE});
    const auto written = encode_tcp_frame(1, 1, pdu, ByteBuffer(out.data(), size));
    REQUIRE_FALSE(written);
    CHECK(written.error() == CodecError::buffer_too_small);
    CHECK(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
  }
}

TEST_CASE("CRC-16 matches the Modbus over Serial Line example", "[modbus][rtu]") {
  // Modbus over Serial Line v1.02, 6.2.2 worked example style: 01 03 00 00 00 01 -> CRC 0x0A84 (84 0A on the wire).
  const auto request = bytes({0x01, 0x03, 0x00, 0x00, 0x00, 0x01});
  CHECK(crc16(request) == 0x0A84);
}

TEST_CASE("RTU frame round trip, bad CRC, truncation and small buffers", "[modbus][rtu]") {
  const auto pdu = bytes({0x03, 0x0B, 0xB7, 0x00, 0x02});
  std::array<std::byte, k_max_rtu_adu_size> out{};
  const auto written = encode_rtu_frame(0x11, pdu, out);
  REQUIRE(written);
  CHECK(*written == pdu.size() + 3);
  const auto decoded = decode_rtu_frame(ByteView(out.data(), *written));
  REQUIRE(decoded);
  CHECK(decoded->unit_id == 0x11);
  CHECK(std::equal(decoded->pdu.begin(), decoded->pdu.end(), pdu.begin(), pdu.end()));

  for (std::size_t length = 0; length < *written; ++length) {
    CHECK_FALSE(decode_rtu_frame(ByteView(out.data(), length)));
  }
  out[2] ^= std::byte{0x01};
  CHECK(decode_rtu_frame(ByteView(out.data(), *written)).error() == CodecError::bad_crc);

  for (std::size_t size = 0; size < pdu.size() + 3; ++size) {
    std::vector<std::byte> small(size + 2, std::byte{0xEE});
    CHECK_FALSE(encode_rtu_frame(1, pdu, ByteBuffer(small.data(), size)));
    CHECK(std::all_of(small.begin(), small.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
  }
}
