#pragma once
// Answers Modbus request PDUs for one meter: access control, the register image, the
// writable configuration registers and FC43 device identification. No I/O: the TCP and
// RTU servers hand it PDUs and send back what it writes.

#include <cstddef>

#include "firmware/meter.hpp"
#include "libproto/codec/bytes.hpp"
#include "libproto/codec/modbus_pdu.hpp"

namespace meterd {

// Modbus Application Protocol v1.1b3, 6.21, conformity level 0x82: basic and regular
// identification, stream and individual access.
inline constexpr std::uint8_t k_device_id_conformity = 0x82;

class ModbusService {
 public:
  explicit ModbusService(Meter& meter) : meter_(meter) {}

  // Writes the response PDU into `response` (which must hold k_max_pdu_size bytes) and
  // returns its size.
  std::size_t handle(proto::codec::ByteView request, proto::codec::ByteBuffer response);

  // The Modbus unit id the meter answers to now.
  std::uint8_t unit_id() const { return meter_.modbus_unit_id(); }

  // The device identification objects this meter serves, in object id order.
  std::vector<proto::codec::modbus::DeviceIdObject> device_id_objects() const;

 private:
  Meter& meter_;
};

}  // namespace meterd
