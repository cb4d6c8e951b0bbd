#include "firmware/servers/modbus_rtu_server.hpp"

#include <modbus/modbus.h>

#include <array>
#include <cerrno>
#include <future>

#include "firmware/log.hpp"
#include "libproto/codec/modbus_types.hpp"

namespace meterd {

namespace modbus = proto::codec::modbus;

namespace {
// How often the receiving thread wakes to notice a stop request.
constexpr std::uint32_t k_stop_poll_microseconds = 200'000;
}  // namespace

proto::Result<std::unique_ptr<ModbusRtuServer>, std::string> ModbusRtuServer::open(boost::asio::io_context& io,
                                                                                  const SerialSettings& settings,
                                                                                  ModbusService& service,
                                                                                  std::uint8_t unit_id) {
  modbus_t* context = modbus_new_rtu(settings.device.c_str(), settings.baud, settings.parity, settings.data_bits,
                                     settings.stop_bits);
  if (!context) {
    return proto::unexpected("cannot use serial device " + settings.device + ": " + modbus_strerror(errno));
  }
  if (modbus_set_slave(context, unit_id) != 0 || modbus_connect(context) != 0) {
    const std::string reason = modbus_strerror(errno);
    modbus_free(context);
    return proto::unexpected("cannot open serial device " + settings.device + ": " + reason);
  }
  modbus_set_indication_timeout(context, 0, k_stop_poll_microseconds);
  return std::unique_ptr<ModbusRtuServer>(new ModbusRtuServer(io, context, service, unit_id, settings.device));
}

ModbusRtuServer::ModbusRtuServer(boost::asio::io_context& io, void* context, ModbusService& service,
                                 std::uint8_t unit_id, std::string device)
    : io_(io), context_(context), service_(service), unit_id_(unit_id), device_(std::move(device)) {}

ModbusRtuServer::~ModbusRtuServer() {
  stop();
  auto* context = static_cast<modbus_t*>(context_);
  modbus_close(context);
  modbus_free(context);
}

void ModbusRtuServer::start() { thread_ = std::thread([this] { run(); }); }

void ModbusRtuServer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void ModbusRtuServer::run() {
  auto* context = static_cast<modbus_t*>(context_);
  std::array<std::uint8_t, MODBUS_RTU_MAX_ADU_LENGTH> request{};
  log::info("modbus.rtu_listening", {{"device", device_}, {"unit_id", std::to_string(unit_id_)}});
  while (!stopping_) {
    const int length = modbus_receive(context, request.data());
    if (length <= 0) {
      // 0: a frame for another unit; -1 with ETIMEDOUT: silence; anything else: a bad frame.
      if (length < 0 && errno != ETIMEDOUT) modbus_flush(context);
      continue;
    }
    const std::uint8_t unit = request[0];
    // The frame is address + PDU + CRC; libmodbus has checked the CRC already.
    std::vector<std::byte> pdu(static_cast<std::size_t>(length) - 3);
    for (std::size_t i = 0; i < pdu.size(); ++i) pdu[i] = std::byte{request[1 + i]};
    // Shared with the handler: if meterd stops before the I/O thread runs it, this thread
    // gives up waiting and the handler must still find its promise alive.
    auto answered = std::make_shared<std::promise<std::vector<std::uint8_t>>>();
    auto answer = answered->get_future();
    boost::asio::post(io_, [this, answered, pdu = std::move(pdu), unit] {
      std::array<std::byte, modbus::k_max_pdu_size> response{};
      const auto size = service_.handle(pdu, response);
      std::vector<std::uint8_t> frame(1 + size);
      frame[0] = unit;
      for (std::size_t i = 0; i < size; ++i) frame[1 + i] = std::to_integer<std::uint8_t>(response[i]);
      answered->set_value(std::move(frame));
    });
    while (answer.wait_for(std::chrono::microseconds(k_stop_poll_microseconds)) != std::future_status::ready) {
      if (stopping_) return;
    }
    auto frame = answer.get();
    // Modbus over Serial Line v1.02, 2.1: broadcast requests are never answered.
    if (unit == MODBUS_BROADCAST_ADDRESS) continue;
    if (modbus_send_raw_request(context, frame.data(), static_cast<int>(frame.size())) < 0) {
      log::warning("modbus.rtu_send_failed", {{"device", device_}, {"reason", modbus_strerror(errno)}});
    }
  }
}

}  // namespace meterd
