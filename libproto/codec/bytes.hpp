#pragma once
// Big-endian helpers over byte spans; Modbus is big-endian on the wire
// (Modbus Application Protocol v1.1b3, 4.2: "big-Endian representation").

#include <cstddef>
#include <cstdint>
#include <span>

namespace proto::codec {

using ByteView = std::span<const std::byte>;
using ByteBuffer = std::span<std::byte>;

inline std::uint8_t get_u8(ByteView bytes, std::size_t at) { return std::to_integer<std::uint8_t>(bytes[at]); }

inline std::uint16_t get_u16(ByteView bytes, std::size_t at) {
  return static_cast<std::uint16_t>((get_u8(bytes, at) << 8) | get_u8(bytes, at + 1));
}

inline void put_u8(ByteBuffer out, std::size_t at, std::uint8_t value) { out[at] = std::byte{value}; }

inline void put_u16(ByteBuffer out, std::size_t at, std::uint16_t value) {
  out[at] = std::byte{static_cast<std::uint8_t>(value >> 8)};
  out[at + 1] = std::byte{static_cast<std::uint8_t>(value & 0xFF)};
}

inline ByteView as_bytes_view(const void* data, std::size_t size) {
  return {static_cast<const std::byte*>(data), size};
}

}  // namespace proto::codec
