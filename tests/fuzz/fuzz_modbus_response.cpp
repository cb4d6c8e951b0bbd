// Decodes response PDUs as a client does. The first byte picks the request the response
// answers; device identification responses must round trip.
#include <array>
#include <cstdlib>
#include <cstring>

#include "libproto/codec/modbus_pdu.hpp"

using namespace proto::codec;
using namespace proto::codec::modbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t selector = data[0];
  const ByteView pdu(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  const std::uint16_t quantity = static_cast<std::uint16_t>(1 + data[1] % k_max_read_registers);
  switch (selector % 4) {
    case 0: {
      const ReadRegistersRequest request{FunctionCode::read_holding_registers, 0, quantity};
      const auto response = decode_read_registers_response(pdu, request);
      if (response) {
        if (const auto* words = std::get_if<std::vector<std::uint16_t>>(&*response)) {
          if (words->size() != quantity) std::abort();
        }
      }
      break;
    }
    case 1: {
      const auto response = decode_write_response(pdu, Request{WriteSingleRegisterRequest{1, 2}});
      (void)response;
      break;
    }
    case 2: {
      const auto response = decode_write_response(pdu, Request{WriteMultipleRegistersRequest{1, {1, 2}}});
      (void)response;
      break;
    }
    default: {
      const auto response = decode_device_id_response(pdu);
      if (!response) break;
      const auto* identification = std::get_if<DeviceIdResponse>(&*response);
      if (!identification) break;
      std::array<std::byte, k_max_pdu_size> out{};
      const auto written = encode_device_id_response(*identification, out);
      if (!written || *written != pdu.size() || std::memcmp(out.data(), pdu.data(), pdu.size()) != 0) std::abort();
      break;
    }
  }
  return 0;
}
