#include "firmware/servers/modbus_tcp_server.hpp"

#include <array>
#include <unordered_set>
#include <vector>

#include "firmware/log.hpp"
#include "libproto/codec/modbus_frame.hpp"

namespace meterd {

namespace asio = boost::asio;
using asio::ip::tcp;
namespace modbus = proto::codec::modbus;

// Modbus Messaging on TCP/IP v1.0b, 4.4.1: unit id 0xFF (or 0) addresses the server itself.
constexpr std::uint8_t k_unit_id_self = 0xFF;
constexpr std::uint8_t k_unit_id_broadcast = 0x00;
// Pause before accepting again after accept() failed (typically: out of descriptors).
constexpr auto k_accept_retry_delay = std::chrono::milliseconds(100);

struct SessionRegistry {
  std::unordered_set<std::shared_ptr<ModbusTcpServer::Session>> sessions;
  bool stopped = false;
};

class ModbusTcpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, ModbusService& service, const ModbusTcpLimits& limits,
          std::weak_ptr<SessionRegistry> registry)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        service_(service),
        limits_(limits),
        registry_(std::move(registry)) {}

  void start() {
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    arm_deadline();
    read_more();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    deadline_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (auto registry = registry_.lock()) registry->sessions.erase(shared_from_this());
  }

 private:
  void arm_deadline() {
    deadline_.expires_after(limits_.idle_timeout);
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (!error) {
        log::debug("modbus.idle_timeout");
        self->close();
      }
    });
  }

  void read_more() {
    if (closed_ || reading_) return;
    if (pending_.size() > limits_.max_pending_output) return;  // resumes once the client reads
    if (filled_ == input_.size()) {
      close();  // a full buffer holding no complete frame cannot happen with a valid peer
      return;
    }
    reading_ = true;
    socket_.async_read_some(asio::buffer(input_.data() + filled_, input_.size() - filled_),
                            [self = shared_from_this()](const boost::system::error_code& error, std::size_t bytes) {
                              self->reading_ = false;
                              if (error) {
                                self->close();
                                return;
                              }
                              self->filled_ += bytes;
                              self->arm_deadline();
                              self->process_input();
                            });
  }

  void process_input() {
    std::size_t offset = 0;
    while (!closed_) {
      auto frame = modbus::decode_tcp_frame(proto::codec::ByteView(input_.data() + offset, filled_ - offset));
      if (!frame) {
        if (frame.error() != modbus::CodecError::need_more) {
          log::debug("modbus.bad_frame", {{"reason", make_error_code(frame.error()).message()}});
          close();
          return;
        }
        break;
      }
      answer(*frame);
      offset += frame->consumed;
    }
    if (offset > 0) {
      std::copy(input_.begin() + static_cast<std::ptrdiff_t>(offset),
                input_.begin() + static_cast<std::ptrdiff_t>(filled_), input_.begin());
      filled_ -= offset;
    }
    flush();
    read_more();
  }

  void answer(const modbus::TcpFrame& frame) {
    std::array<std::byte, modbus::k_max_pdu_size> pdu{};
    std::size_t size = 0;
    const auto unit = frame.header.unit_id;
    // Asked each time: a configuration change moves the unit id under open connections.
    if (unit == service_.unit_id() || unit == k_unit_id_self || unit == k_unit_id_broadcast) {
      size = service_.handle(frame.pdu, pdu);
    } else {
      // This meter is no gateway: other unit ids name devices that cannot answer.
      size = *modbus::encode_exception_response(std::to_integer<std::uint8_t>(frame.pdu[0]),
                                                modbus::ExceptionCode::gateway_target_failed_to_respond, pdu);
    }
    const auto at = pending_.size();
    pending_.resize(at + modbus::k_mbap_size + size);
    const auto written = modbus::encode_tcp_frame(frame.header.transaction_id, unit,
                                                  proto::codec::ByteView(pdu.data(), size),
                                                  proto::codec::ByteBuffer(pending_.data() + at, pending_.size() - at));
    pending_.resize(at + (written ? *written : 0));
  }

  void flush() {
    if (writing_ || pending_.empty() || closed_) return;
    writing_ = true;
    in_flight_.swap(pending_);
    asio::async_write(socket_, asio::buffer(in_flight_),
                      [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                        self->writing_ = false;
                        self->in_flight_.clear();
                        if (error) {
                          self->close();
                          return;
                        }
                        self->flush();
                        self->read_more();
                      });
  }

  tcp::socket socket_;
  asio::steady_timer deadline_;
  ModbusService& service_;
  ModbusTcpLimits limits_;
  std::weak_ptr<SessionRegistry> registry_;
  // Room for several pipelined requests; a single ADU is at most 260 bytes.
  std::array<std::byte, 4 * modbus::k_max_tcp_adu_size> input_{};
  std::size_t filled_ = 0;
  std::vector<std::byte> pending_;
  std::vector<std::byte> in_flight_;
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
};

ModbusTcpServer::ModbusTcpServer(tcp::acceptor acceptor, ModbusService& service, ModbusTcpLimits limits)
    : acceptor_(std::move(acceptor)),
      retry_timer_(acceptor_.get_executor()),
      service_(service),
      limits_(limits),
      port_(acceptor_.local_endpoint().port()),
      sessions_(std::make_shared<SessionRegistry>()) {}

ModbusTcpServer::~ModbusTcpServer() { stop(); }

void ModbusTcpServer::start() { accept_next(); }

void ModbusTcpServer::stop() {
  if (sessions_->stopped) return;
  sessions_->stopped = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  auto sessions = sessions_->sessions;  // close() erases from the registry
  for (const auto& session : sessions) session->close();
}

void ModbusTcpServer::stop_listening() {
  if (sessions_->stopped) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

void ModbusTcpServer::accept_next() {
  if (!acceptor_.is_open()) return;  // stop_listening() came first
  acceptor_.async_accept([this, registry = sessions_](const boost::system::error_code& error, tcp::socket socket) {
    if (registry->stopped) return;
    if (error) {
      if (error == asio::error::operation_aborted) return;
      // Out of descriptors or a transient failure: keep serving the clients we have, and
      // try again after a pause instead of spinning on a failure that repeats at once.
      if (!accept_failing_) log::warning("modbus.accept_failed", {{"reason", error.message()}});
      accept_failing_ = true;
      retry_timer_.expires_after(k_accept_retry_delay);
      retry_timer_.async_wait([this, registry](const boost::system::error_code& timer_error) {
        if (!timer_error && !registry->stopped) accept_next();
      });
      return;
    } else if (registry->sessions.size() >= limits_.max_connections) {
      log::warning("modbus.connection_refused", {{"reason", "connection limit reached"},
                                                 {"limit", std::to_string(limits_.max_connections)}});
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      auto session = std::make_shared<Session>(std::move(socket), service_, limits_, registry);
      registry->sessions.insert(session);
      session->start();
    }
    accept_failing_ = false;
    accept_next();
  });
}

proto::Result<tcp::acceptor, std::string> listen_tcp(asio::io_context& io, const std::string& address,
                                                     std::uint16_t port) {
  boost::system::error_code error;
  const auto ip = asio::ip::make_address(address, error);
  if (error) return proto::unexpected("'" + address + "' is not an IP address");
  tcp::acceptor acceptor(io);
  const tcp::endpoint endpoint(ip, port);
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return proto::unexpected("cannot listen on " + address + ":" + std::to_string(port) + ": " + error.message() +
                             (port < 1024 && port != 0 ? " (ports below 1024 need privileges)" : ""));
  }
  return acceptor;
}

}  // namespace meterd
