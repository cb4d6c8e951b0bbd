#include "libproto/codec/modbus_types.hpp"

#include <string>

namespace proto::codec::modbus {

std::string_view to_string(ExceptionCode code) {
  switch (code) {
    case ExceptionCode::illegal_function: return "illegal function";
    case ExceptionCode::illegal_data_address: return "illegal data address";
    case ExceptionCode::illegal_data_value: return "illegal data value";
    case ExceptionCode::server_device_failure: return "server device failure";
    case ExceptionCode::acknowledge: return "acknowledge";
    case ExceptionCode::server_device_busy: return "server device busy";
    case ExceptionCode::memory_parity_error: return "memory parity error";
    case ExceptionCode::gateway_path_unavailable: return "gateway path unavailable";
    case ExceptionCode::gateway_target_failed_to_respond: return "gateway target device failed to respond";
  }
  return "unknown exception";
}

namespace {

class CodecCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "modbus-codec"; }
  std::string message(int value) const override {
    switch (static_cast<CodecError>(value)) {
      case CodecError::need_more: return "incomplete frame";
      case CodecError::bad_protocol_id: return "MBAP protocol identifier is not 0 (not Modbus)";
      case CodecError::bad_length: return "MBAP length field out of range";
      case CodecError::empty_pdu: return "PDU has no function code";
      case CodecError::pdu_too_long: return "PDU longer than 253 bytes";
      case CodecError::bad_crc: return "RTU CRC mismatch";
      case CodecError::frame_too_short: return "RTU frame too short";
      case CodecError::malformed_response: return "malformed response";
      case CodecError::unexpected_function: return "response to a different function code";
      case CodecError::buffer_too_small: return "output buffer too small";
    }
    return "unknown codec error";
  }
};

}  // namespace

const std::error_category& codec_category() {
  static const CodecCategory category;
  return category;
}

std::error_code make_error_code(CodecError error) { return {static_cast<int>(error), codec_category()}; }

}  // namespace proto::codec::modbus
