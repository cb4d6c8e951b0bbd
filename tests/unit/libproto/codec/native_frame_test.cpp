#include "libproto/codec/native_frame.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <vector>

#include "tests/unit/libproto/codec/bytes_for_tests.hpp"

using namespace proto::codec;
using namespace proto::codec::native;

TEST_CASE("Native frames round trip, and the encoded size equals bytes written", "[native][frame]") {
  const auto body = bytes({0xA1, 0x61, 0x61, 0x01});  // {"a": 1}
  std::array<std::byte, 64> out{};
  const auto written = encode_frame(MessageType::request, 0xDEADBEEF, body, out);
  REQUIRE(written);
  CHECK(*written == k_header_size + body.size());
  const auto frame = decode_frame(ByteView(out.data(), *written));
  REQUIRE(frame);
  CHECK(frame->header.type == MessageType::request);
  CHECK(frame->header.request_id == 0xDEADBEEF);
  CHECK(frame->consumed == *written);
  CHECK(std::equal(frame->body.begin(), frame->body.end(), body.begin(), body.end()));
}

TEST_CASE("Native frame: every truncated prefix needs more", "[native][frame]") {
  const auto body = bytes({0xA0});
  std::array<std::byte, 64> out{};
  const auto written = encode_frame(MessageType::hello, 7, body, out);
  REQUIRE(written);
  for (std::size_t length = 0; length < *written; ++length) {
    CHECK(decode_frame(ByteView(out.data(), length)).error() == FrameError::need_more);
  }
}

TEST_CASE("Native frame: garbage, another version, unknown types and huge bodies are refused early",
          "[native][frame]") {
  CHECK(decode_header(bytes({'G'})).error() == FrameError::bad_magic);                     // "GET / HTTP/1.1"
  CHECK(decode_header(bytes({0x16, 0x03, 0x01})).error() == FrameError::bad_magic);        // a TLS ClientHello
  CHECK(decode_header(bytes({0x4D, 0x43, 0x02})).error() == FrameError::unsupported_version);
  CHECK(decode_header(bytes({0x4D, 0x43, 0x01, 0x7F})).error() == FrameError::unknown_message_type);
  CHECK(decode_header(bytes({0x4D, 0x43, 0x01, 0x20, 0, 0, 0, 1, 0x00, 0x04, 0x00, 0x01})).error() ==
        FrameError::body_too_large);
  CHECK(decode_header(bytes({0x4D, 0x43, 0x01, 0x20, 0, 0, 0, 1, 0x00, 0x04, 0x00, 0x00})));  // exactly 256 KiB
}

TEST_CASE("Native frame encoder writes nothing into a buffer too small", "[native][frame]") {
  const auto body = bytes({0xA1, 0x61, 0x61, 0x01});
  for (std::size_t size = 0; size < k_header_size + body.size(); ++size) {
    std::vector<std::byte> out(size + 2, std::byte{0xEE});
    CHECK(encode_frame(MessageType::request, 1, body, ByteBuffer(out.data(), size)).error() ==
          FrameError::buffer_too_small);
    CHECK(std::all_of(out.begin(), out.end(), [](std::byte b) { return b == std::byte{0xEE}; }));
  }
}
