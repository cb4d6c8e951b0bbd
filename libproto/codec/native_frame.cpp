#include "libproto/codec/native_frame.hpp"

#include <algorithm>
#include <string>

namespace proto::codec::native {

namespace {

std::uint32_t get_u32(ByteView bytes, std::size_t at) {
  return (std::uint32_t{get_u16(bytes, at)} << 16) | get_u16(bytes, at + 2);
}

void put_u32(ByteBuffer out, std::size_t at, std::uint32_t value) {
  put_u16(out, at, static_cast<std::uint16_t>(value >> 16));
  put_u16(out, at + 2, static_cast<std::uint16_t>(value & 0xFFFF));
}

class FrameCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "native-frame"; }
  std::string message(int value) const override {
    switch (static_cast<FrameError>(value)) {
      case FrameError::need_more: return "incomplete frame";
      case FrameError::bad_magic: return "not a native protocol frame (wrong magic)";
      case FrameError::unsupported_version: return "unsupported protocol version";
      case FrameError::unknown_message_type: return "unknown message type";
      case FrameError::body_too_large: return "frame body larger than 256 KiB";
      case FrameError::buffer_too_small: return "output buffer too small";
    }
    return "unknown frame error";
  }
};

}  // namespace

bool is_known_message_type(std::uint8_t value) {
  switch (static_cast<MessageType>(value)) {
    case MessageType::hello:
    case MessageType::hello_ok:
    case MessageType::error:
    case MessageType::login:
    case MessageType::login_ok:
    case MessageType::logout:
    case MessageType::logout_ok:
    case MessageType::request:
    case MessageType::response:
    case MessageType::stream_open:
    case MessageType::stream_chunk:
    case MessageType::stream_ack:
    case MessageType::stream_cancel: return true;
  }
  return false;
}

std::string_view to_string(MessageType type) {
  switch (type) {
    case MessageType::hello: return "hello";
    case MessageType::hello_ok: return "hello_ok";
    case MessageType::error: return "error";
    case MessageType::login: return "login";
    case MessageType::login_ok: return "login_ok";
    case MessageType::logout: return "logout";
    case MessageType::logout_ok: return "logout_ok";
    case MessageType::request: return "request";
    case MessageType::response: return "response";
    case MessageType::stream_open: return "stream_open";
    case MessageType::stream_chunk: return "stream_chunk";
    case MessageType::stream_ack: return "stream_ack";
    case MessageType::stream_cancel: return "stream_cancel";
  }
  return "unknown";
}

const std::error_category& frame_category() {
  static const FrameCategory category;
  return category;
}

std::error_code make_error_code(FrameError error) { return {static_cast<int>(error), frame_category()}; }

Result<FrameHeader, FrameError> decode_header(ByteView input) {
  // Check each field as soon as it has arrived: garbage is refused after its first bytes.
  for (std::size_t i = 0; i < k_magic.size() && i < input.size(); ++i) {
    if (get_u8(input, i) != k_magic[i]) return unexpected(FrameError::bad_magic);
  }
  if (input.size() > 2 && get_u8(input, 2) != k_protocol_version) return unexpected(FrameError::unsupported_version);
  if (input.size() > 3 && !is_known_message_type(get_u8(input, 3))) {
    return unexpected(FrameError::unknown_message_type);
  }
  if (input.size() < k_header_size) return unexpected(FrameError::need_more);
  FrameHeader header;
  header.version = get_u8(input, 2);
  header.type = static_cast<MessageType>(get_u8(input, 3));
  header.request_id = get_u32(input, 4);
  header.body_length = get_u32(input, 8);
  if (header.body_length > k_max_body_size) return unexpected(FrameError::body_too_large);
  return header;
}

Result<Frame, FrameError> decode_frame(ByteView input) {
  auto header = decode_header(input);
  if (!header) return unexpected(header.error());
  const std::size_t total = k_header_size + header->body_length;
  if (input.size() < total) return unexpected(FrameError::need_more);
  return Frame{*header, input.subspan(k_header_size, header->body_length), total};
}

Result<std::size_t, FrameError> encode_frame(MessageType type, std::uint32_t request_id, ByteView body,
                                             ByteBuffer out) {
  if (body.size() > k_max_body_size) return unexpected(FrameError::body_too_large);
  const std::size_t total = k_header_size + body.size();
  if (out.size() < total) return unexpected(FrameError::buffer_too_small);
  put_u8(out, 0, k_magic[0]);
  put_u8(out, 1, k_magic[1]);
  put_u8(out, 2, k_protocol_version);
  put_u8(out, 3, static_cast<std::uint8_t>(type));
  put_u32(out, 4, request_id);
  put_u32(out, 8, static_cast<std::uint32_t>(body.size()));
  std::copy(body.begin(), body.end(), out.begin() + k_header_size);
  return total;
}

}  // namespace proto::codec::native
