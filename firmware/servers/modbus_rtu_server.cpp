#include "firmware/servers/modbus_rtu_server.hpp"

#include <array>
#include <future>

#include "firmware/log.hpp"
#include "libproto/codec/modbus_frame.hpp"

namespace meterd {

namespace modbus = proto::codec::modbus;

namespace {
// How often the receiving thread wakes to notice a stop request.
constexpr auto k_stop_poll = std::chrono::milliseconds(200);
// Modbus over Serial Line v1.02, 2.2: address 0 is broadcast; it is never answered.
constexpr std::uint8_t k_broadcast_address = 0;
}  // namespace

proto::Result<std::unique_ptr<ModbusRtuServer>, std::string> ModbusRtuServer::open(
    boost::asio::io_context& io, const proto::transport::SerialSettings& settings, ModbusService& service,
    std::uint8_t unit_id) {
  auto port = proto::transport::SerialPort::open(settings);
  if (!port) return proto::unexpected(port.error().message);
  return std::unique_ptr<ModbusRtuServer>(new ModbusRtuServer(io, std::move(*port), service, unit_id));
}

ModbusRtuServer::ModbusRtuServer(boost::asio::io_context& io, std::unique_ptr<proto::transport::SerialPort> port,
                                 ModbusService& service, std::uint8_t unit_id)
    : io_(io), port_(std::move(port)), service_(service), unit_id_(unit_id) {}

ModbusRtuServer::~ModbusRtuServer() { stop(); }

void ModbusRtuServer::start() { thread_ = std::thread([this] { run(); }); }

void ModbusRtuServer::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::optional<std::vector<std::byte>> ModbusRtuServer::answer(std::vector<std::byte> pdu) {
  // Shared with the handler: if meterd stops before the I/O thread runs it, this thread
  // gives up waiting and the handler must still find its promise alive.
  auto answered = std::make_shared<std::promise<std::vector<std::byte>>>();
  auto result = answered->get_future();
  boost::asio::post(io_, [this, answered, pdu = std::move(pdu)] {
    std::array<std::byte, modbus::k_max_pdu_size> response{};
    const auto size = service_.handle(pdu, response);
    answered->set_value(std::vector<std::byte>(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(size)));
  });
  while (result.wait_for(k_stop_poll) != std::future_status::ready) {
    if (stopping_) return std::nullopt;
  }
  return result.get();
}

void ModbusRtuServer::run() {
  const auto& device = port_->settings().device;
  log::info("modbus.rtu_listening", {{"device", device},
                                     {"baud", std::to_string(port_->settings().baud)},
                                     {"parity", std::string(1, port_->settings().parity)},
                                     {"unit_id", std::to_string(unit_id_)}});
  bool reported_io_error = false;
  while (!stopping_) {
    auto frame = port_->read_frame(k_stop_poll);
    if (!frame) {
      if (frame.error().kind == proto::transport::SerialError::io) {
        if (!reported_io_error) log::warning("modbus.rtu_read_failed", {{"device", device}, {"reason", frame.error().message}});
        reported_io_error = true;
        std::this_thread::sleep_for(k_stop_poll);
      }
      continue;
    }
    reported_io_error = false;
    auto request = modbus::decode_rtu_frame(*frame);
    if (!request) {
      // A damaged frame gets no answer (Modbus over Serial Line v1.02, 2.4.1); the master retries.
      log::debug("modbus.rtu_bad_frame", {{"device", device}, {"reason", make_error_code(request.error()).message()}});
      continue;
    }
    if (request->unit_id != unit_id_ && request->unit_id != k_broadcast_address) continue;
    const bool broadcast = request->unit_id == k_broadcast_address;
    auto response = answer(std::vector<std::byte>(request->pdu.begin(), request->pdu.end()));
    if (!response || broadcast) continue;
    std::array<std::byte, modbus::k_max_rtu_adu_size> out{};
    const auto size = modbus::encode_rtu_frame(unit_id_, *response, out);
    if (!size) continue;
    if (auto sent = port_->write_frame(std::span(out.data(), *size)); !sent) {
      log::warning("modbus.rtu_send_failed", {{"device", device}, {"reason", sent.error().message}});
    }
  }
}

}  // namespace meterd
