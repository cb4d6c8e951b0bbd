#pragma once
// Modbus application data units: the MBAP-framed TCP ADU and the RTU serial ADU.
// Decoders return the PDU as a view into the input and the number of bytes consumed.

#include <cstdint>

#include "libproto/codec/bytes.hpp"
#include "libproto/codec/modbus_types.hpp"
#include "libproto/result.hpp"

namespace proto::codec::modbus {

struct MbapHeader {
  std::uint16_t transaction_id = 0;
  std::uint16_t protocol_id = k_modbus_protocol_id;
  std::uint16_t length = 0;  // unit id + PDU
  std::uint8_t unit_id = 0;
};

struct TcpFrame {
  MbapHeader header;
  ByteView pdu;
  std::size_t consumed = 0;  // header + PDU; the next frame starts here
};

// Decodes one TCP ADU from the front of a stream buffer. need_more when the buffer holds
// a valid prefix only; any other error means the stream is out of sync and must close.
Result<TcpFrame, CodecError> decode_tcp_frame(ByteView input);

// Writes MBAP + PDU; returns bytes written, or buffer_too_small/pdu_too_long with nothing written.
Result<std::size_t, CodecError> encode_tcp_frame(std::uint16_t transaction_id, std::uint8_t unit_id, ByteView pdu,
                                                 ByteBuffer out);

// Modbus over Serial Line v1.02, 6.2.2: CRC-16 (polynomial 0xA001 reflected, init 0xFFFF).
std::uint16_t crc16(ByteView bytes);

struct RtuFrame {
  std::uint8_t unit_id = 0;
  ByteView pdu;
};

// Decodes one complete RTU ADU (frame boundaries come from inter-frame silence on the line).
Result<RtuFrame, CodecError> decode_rtu_frame(ByteView frame);
Result<std::size_t, CodecError> encode_rtu_frame(std::uint8_t unit_id, ByteView pdu, ByteBuffer out);

}  // namespace proto::codec::modbus
