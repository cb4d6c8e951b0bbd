// Decodes a byte stream as consecutive Modbus/TCP frames; every decoded frame must
// re-encode to the same bytes.
#include <array>
#include <cstdlib>
#include <cstring>

#include "libproto/codec/modbus_frame.hpp"

using namespace proto::codec;
using namespace proto::codec::modbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView input(reinterpret_cast<const std::byte*>(data), size);
  while (!input.empty()) {
    const auto frame = decode_tcp_frame(input);
    if (!frame) break;
    if (frame->consumed == 0 || frame->consumed > input.size()) std::abort();
    std::array<std::byte, k_max_tcp_adu_size> out{};
    const auto written = encode_tcp_frame(frame->header.transaction_id, frame->header.unit_id, frame->pdu, out);
    if (!written || *written != frame->consumed || std::memcmp(out.data(), input.data(), *written) != 0) std::abort();
    input = input.subspan(frame->consumed);
  }
  return 0;
}
