#include "libproto/codec/modbus_frame.hpp"

#include <algorithm>

namespace proto::codec::modbus {

Result<TcpFrame, CodecError> decode_tcp_frame(ByteView input) {
  if (input.size() < k_mbap_size) {
    // Reject a wrong protocol id or length as soon as those bytes are in.
    if (input.size() >= 4 && get_u16(input, 2) != k_modbus_protocol_id) return unexpected(CodecError::bad_protocol_id);
    if (input.size() >= 6) {
      const auto length = get_u16(input, 4);
      if (length < 2 || length > k_max_pdu_size + 1) return unexpected(CodecError::bad_length);
    }
    return unexpected(CodecError::need_more);
  }
  MbapHeader header;
  header.transaction_id = get_u16(input, 0);
  header.protocol_id = get_u16(input, 2);
  header.length = get_u16(input, 4);
  header.unit_id = get_u8(input, 6);
  if (header.protocol_id != k_modbus_protocol_id) return unexpected(CodecError::bad_protocol_id);
  // The length counts the unit id and a PDU of at least the function code.
  if (header.length < 2 || header.length > k_max_pdu_size + 1) return unexpected(CodecError::bad_length);
  const std::size_t total = k_mbap_size - 1 + header.length;
  if (input.size() < total) return unexpected(CodecError::need_more);
  return TcpFrame{header, input.subspan(k_mbap_size, header.length - 1u), total};
}

Result<std::size_t, CodecError> encode_tcp_frame(std::uint16_t transaction_id, std::uint8_t unit_id, ByteView pdu,
                                                 ByteBuffer out) {
  if (pdu.empty()) return unexpected(CodecError::empty_pdu);
  if (pdu.size() > k_max_pdu_size) return unexpected(CodecError::pdu_too_long);
  const std::size_t total = k_mbap_size + pdu.size();
  if (out.size() < total) return unexpected(CodecError::buffer_too_small);
  put_u16(out, 0, transaction_id);
  put_u16(out, 2, k_modbus_protocol_id);
  put_u16(out, 4, static_cast<std::uint16_t>(pdu.size() + 1));
  put_u8(out, 6, unit_id);
  std::copy(pdu.begin(), pdu.end(), out.begin() + k_mbap_size);
  return total;
}

std::uint16_t crc16(ByteView bytes) {
  std::uint16_t crc = 0xFFFF;
  for (const auto byte : bytes) {
    crc ^= std::to_integer<std::uint8_t>(byte);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1u) ? static_cast<std::uint16_t>((crc >> 1) ^ 0xA001u) : static_cast<std::uint16_t>(crc >> 1);
    }
  }
  return crc;
}

Result<RtuFrame, CodecError> decode_rtu_frame(ByteView frame) {
  if (frame.size() < 4) return unexpected(CodecError::frame_too_short);
  if (frame.size() > k_max_rtu_adu_size) return unexpected(CodecError::pdu_too_long);
  const auto body = frame.first(frame.size() - 2);
  // Modbus over Serial Line v1.02, 6.2.2: the CRC is sent low byte first.
  const std::uint16_t received = static_cast<std::uint16_t>(get_u8(frame, frame.size() - 2) |
                                                            (get_u8(frame, frame.size() - 1) << 8));
  if (crc16(body) != received) return unexpected(CodecError::bad_crc);
  return RtuFrame{get_u8(frame, 0), body.subspan(1)};
}

Result<std::size_t, CodecError> encode_rtu_frame(std::uint8_t unit_id, ByteView pdu, ByteBuffer out) {
  if (pdu.empty()) return unexpected(CodecError::empty_pdu);
  if (pdu.size() > k_max_pdu_size) return unexpected(CodecError::pdu_too_long);
  const std::size_t total = 1 + pdu.size() + 2;
  if (out.size() < total) return unexpected(CodecError::buffer_too_small);
  put_u8(out, 0, unit_id);
  std::copy(pdu.begin(), pdu.end(), out.begin() + 1);
  const auto crc = crc16(ByteView(out.data(), 1 + pdu.size()));
  put_u8(out, 1 + pdu.size(), static_cast<std::uint8_t>(crc & 0xFF));
  put_u8(out, 2 + pdu.size(), static_cast<std::uint8_t>(crc >> 8));
  return total;
}

}  // namespace proto::codec::modbus
