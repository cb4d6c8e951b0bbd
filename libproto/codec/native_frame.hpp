#pragma once
// Frames of the native management protocol (man/meter-native-protocol.7.scd, "FRAMES"):
// a fixed 12-byte big-endian header followed by a CBOR body.
//
//   0      2        3       4            8            12
//   +------+--------+-------+------------+------------+---------
//   | "MC" | version| type  | request id | body length| body ...
//   +------+--------+-------+------------+------------+---------

#include <array>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "libproto/codec/bytes.hpp"
#include "libproto/result.hpp"

namespace proto::codec::native {

// Spec "FRAMES": the magic tells a native peer from anything else on the port at once.
inline constexpr std::array<std::uint8_t, 2> k_magic = {0x4D, 0x43};  // "MC"
// Spec "VERSIONING": the only version this build speaks.
inline constexpr std::uint8_t k_protocol_version = 1;
inline constexpr std::size_t k_header_size = 12;
// Spec "LIMITS": a body is at most 256 KiB; stream chunks carry at most 64 KiB of data.
inline constexpr std::size_t k_max_body_size = 256 * 1024;
inline constexpr std::size_t k_max_frame_size = k_header_size + k_max_body_size;

// Spec "MESSAGE CATALOGUE"; enum values are the wire values.
enum class MessageType : std::uint8_t {
  hello = 0x01,
  hello_ok = 0x02,
  error = 0x03,
  login = 0x10,
  login_ok = 0x11,
  logout = 0x12,
  logout_ok = 0x13,
  request = 0x20,
  response = 0x21,
  stream_open = 0x30,
  stream_chunk = 0x31,
  stream_ack = 0x32,
  stream_cancel = 0x33,
};

bool is_known_message_type(std::uint8_t value);
std::string_view to_string(MessageType type);

struct FrameHeader {
  std::uint8_t version = k_protocol_version;
  MessageType type = MessageType::hello;
  std::uint32_t request_id = 0;
  std::uint32_t body_length = 0;
};

struct Frame {
  FrameHeader header;
  ByteView body;
  std::size_t consumed = 0;
};

enum class FrameError {
  need_more = 1,          // a valid prefix; read more
  bad_magic,              // not the native protocol (an HTTP request, a TLS hello on the plain port, noise)
  unsupported_version,    // header.version is not k_protocol_version; answer with an error, then close
  unknown_message_type,   // a type this version does not define
  body_too_large,         // body_length above k_max_body_size
  buffer_too_small,       // an encoder's output cannot hold the frame
};

const std::error_category& frame_category();
std::error_code make_error_code(FrameError error);

// Decodes the header as soon as its bytes are in, so a bad magic, version or length is
// reported without waiting for (or reading) a body.
Result<FrameHeader, FrameError> decode_header(ByteView input);
// Decodes one whole frame from the front of a stream buffer.
Result<Frame, FrameError> decode_frame(ByteView input);
// Writes header + body; nothing is written when `out` is too small.
Result<std::size_t, FrameError> encode_frame(MessageType type, std::uint32_t request_id, ByteView body,
                                             ByteBuffer out);

}  // namespace proto::codec::native

template <>
struct std::is_error_code_enum<proto::codec::native::FrameError> : std::true_type {};
