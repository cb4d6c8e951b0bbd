#include "firmware/servers/native_server.hpp"

#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <vector>

#include "firmware/log.hpp"
#include "libproto/codec/native_body.hpp"
#include "libproto/codec/native_frame.hpp"

namespace meterd {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace native = proto::codec::native;
using asio::ip::tcp;

namespace {

constexpr auto k_accept_retry_delay = std::chrono::milliseconds(100);
// Buffers start small and grow to a whole frame only for clients that send large ones.
constexpr std::size_t k_initial_buffer = 4096;

std::atomic<std::uint64_t> g_next_connection_id{1};

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void close() = 0;
  virtual bool greeted() const = 0;
};

}  // namespace

struct NativeServer::Registry {
  // Per source address, in accept order, so the oldest is found first.
  std::map<asio::ip::address, std::list<std::shared_ptr<ConnectionBase>>> by_address;
  std::size_t total = 0;
  bool stopped = false;

  void add(const asio::ip::address& address, std::shared_ptr<ConnectionBase> connection) {
    by_address[address].push_back(std::move(connection));
    ++total;
  }
  void remove(const asio::ip::address& address, const ConnectionBase* connection) {
    auto it = by_address.find(address);
    if (it == by_address.end()) return;
    const auto before = it->second.size();
    it->second.remove_if([&](const auto& candidate) { return candidate.get() == connection; });
    total -= before - it->second.size();
    if (it->second.empty()) by_address.erase(it);
  }
  // Makes room for one more connection from `address`; false when every slot belongs to
  // a greeted (working) connection.
  bool make_room(const asio::ip::address& address, const NativeServerLimits& limits) {
    auto& list = by_address[address];
    const bool address_full = list.size() >= limits.max_connections_per_address;
    const bool server_full = total >= limits.max_connections;
    if (!address_full && !server_full) return true;
    for (auto& candidate : list) {
      if (!candidate->greeted()) {
        auto victim = candidate;  // close() removes it from the list
        victim->close();
        return true;
      }
    }
    if (list.empty()) by_address.erase(address);
    return false;
  }
};

namespace {

template <typename Stream>
class Connection : public ConnectionBase, public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(Stream stream, asio::ip::address peer, NativeService& service, PasswordWorker& worker,
             const NativeServerLimits& limits,
             std::weak_ptr<NativeServer::Registry> registry, bool secure)
      : stream_(std::move(stream)),
        deadline_(stream_.get_executor()),
        peer_(std::move(peer)),
        service_(service),
        worker_(worker),
        limits_(limits),
        registry_(std::move(registry)) {
    state_.id = sec::ConnectionId{g_next_connection_id++};
    state_.secure = secure;
    input_.resize(k_initial_buffer);
  }

  void start() {
    arm_deadline(limits_.greeting_timeout);
    if constexpr (std::is_same_v<Stream, ssl::stream<tcp::socket>>) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](const boost::system::error_code& error) {
                                if (error) {
                                  log::debug("native.tls_handshake_failed", {{"reason", error.message()}});
                                  self->close();
                                  return;
                                }
                                self->read_more();
                              });
    } else {
      read_more();
    }
  }

  bool greeted() const override { return state_.greeted; }

  void close() override {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    deadline_.cancel();
    if constexpr (std::is_same_v<Stream, asio::posix::stream_descriptor>) {
      stream_.close(ignored);
    } else {
      lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
      lowest_layer().close(ignored);
    }
    service_.connection_closed(state_);
    if (auto registry = registry_.lock()) registry->remove(peer_, this);
    if (on_closed_) on_closed_();
  }

  void set_connection_type(sec::ConnectionType type) { state_.type = type; }
  void on_closed(std::function<void()> callback) { on_closed_ = std::move(callback); }

 private:
  auto& lowest_layer() {
    if constexpr (std::is_same_v<Stream, ssl::stream<tcp::socket>>) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  void arm_deadline(std::chrono::seconds timeout) {
    deadline_.expires_after(timeout);
    deadline_.async_wait([self = this->shared_from_this()](const boost::system::error_code& error) {
      // A timer re-armed after it fired reports success too; check the expiry itself.
      if (!error && self->deadline_.expiry() <= std::chrono::steady_clock::now()) {
        log::debug("native.deadline", {{"greeted", self->state_.greeted ? "yes" : "no"}});
        self->close();
      }
    });
  }

  // Queues a reply, or hands deferred work to the password worker; false while an
  // answer is outstanding, so requests on one connection are answered in order.
  bool deliver(NativeOutcome outcome, std::uint32_t request_id) {
    if (auto* reply = std::get_if<NativeReply>(&outcome)) {
      queue(*reply);
      return true;
    }
    auto deferred = std::get<DeferredReply>(std::move(outcome));
    waiting_ = true;
    auto executor = stream_.get_executor();
    auto self = this->shared_from_this();
    auto work = std::move(deferred.work);
    auto finish = std::move(deferred.finish);
    const bool accepted = worker_.submit([self, executor, work = std::move(work), finish, request_id]() mutable {
      work();
      asio::post(executor, [self, finish = std::move(finish), request_id]() mutable {
        self->waiting_ = false;
        // The outcome counts (a failed login, a change) even if the client has gone.
        auto next = finish(self->state_);
        if (self->closed_) return;
        if (self->deliver(std::move(next), request_id)) {
          self->flush();
          self->process_input();
        }
      });
    });
    if (!accepted) {
      waiting_ = false;
      queue(NativeService::busy(request_id));
      return true;
    }
    return false;
  }

  void read_more() {
    if (closed_ || reading_ || closing_after_write_ || waiting_) return;
    if (pending_.size() > limits_.max_pending_output) return;  // resumes once the client reads
    if (filled_ == input_.size()) input_.resize(std::min(input_.size() * 2, native::k_max_frame_size));
    reading_ = true;
    stream_.async_read_some(asio::buffer(input_.data() + filled_, input_.size() - filled_),
                            [self = this->shared_from_this()](const boost::system::error_code& error,
                                                              std::size_t bytes) {
                              self->reading_ = false;
                              if (error) {
                                self->close();
                                return;
                              }
                              self->filled_ += bytes;
                              self->process_input();
                            });
  }

  void process_input() {
    std::size_t offset = 0;
    while (!closed_ && !closing_after_write_ && !waiting_) {
      const auto view = proto::codec::ByteView(input_.data() + offset, filled_ - offset);
      auto frame = native::decode_frame(view);
      if (!frame) {
        if (frame.error() == native::FrameError::need_more) {
          // Grow only as far as the announced frame needs.
          if (auto header = native::decode_header(view); header) {
            const auto needed = native::k_header_size + header->body_length;
            if (needed > input_.size() - offset) input_.resize(std::max(input_.size(), needed + offset));
          }
          break;
        }
        log::debug("native.bad_frame", {{"reason", make_error_code(frame.error()).message()}});
        queue(NativeService::frame_error(frame.error()));
        break;
      }
      const auto request_id = frame->header.request_id;
      auto outcome = service_.handle(state_, frame->header, frame->body);
      offset += frame->consumed;
      if (state_.greeted) arm_deadline(limits_.idle_timeout);
      if (!deliver(std::move(outcome), request_id)) break;  // later frames wait for this answer
    }
    if (offset > 0) {
      std::copy(input_.begin() + static_cast<std::ptrdiff_t>(offset),
                input_.begin() + static_cast<std::ptrdiff_t>(filled_), input_.begin());
      filled_ -= offset;
    }
    flush();
    read_more();
  }

  void queue(const NativeReply& reply) {
    const auto body = native::encode_body(reply.body);
    const auto at = pending_.size();
    pending_.resize(at + native::k_header_size + body.size());
    const auto written = native::encode_frame(
        reply.type, reply.request_id, proto::codec::ByteView(reinterpret_cast<const std::byte*>(body.data()), body.size()),
        proto::codec::ByteBuffer(pending_.data() + at, pending_.size() - at));
    pending_.resize(at + (written ? *written : 0));
    if (reply.close_after) closing_after_write_ = true;
  }

  void flush() {
    if (writing_ || closed_) return;
    if (pending_.empty()) {
      if (closing_after_write_) close();
      return;
    }
    writing_ = true;
    in_flight_.swap(pending_);
    asio::async_write(stream_, asio::buffer(in_flight_),
                      [self = this->shared_from_this()](const boost::system::error_code& error, std::size_t) {
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

  Stream stream_;
  asio::steady_timer deadline_;
  asio::ip::address peer_;
  NativeService& service_;
  PasswordWorker& worker_;
  NativeServerLimits limits_;
  std::weak_ptr<NativeServer::Registry> registry_;
  NativeConnection state_;
  std::vector<std::byte> input_;
  std::size_t filled_ = 0;
  std::vector<std::byte> pending_;
  std::vector<std::byte> in_flight_;
  bool reading_ = false;
  bool writing_ = false;
  bool waiting_ = false;  // deferred work of a request is on the password worker
  std::function<void()> on_closed_;
  bool closed_ = false;
  bool closing_after_write_ = false;
};

}  // namespace

NativeServer::NativeServer(tcp::acceptor acceptor, NativeService& service, PasswordWorker& worker,
                           std::shared_ptr<ssl::context> tls, NativeServerLimits limits)
    : acceptor_(std::move(acceptor)),
      retry_timer_(acceptor_.get_executor()),
      service_(service),
      worker_(worker),
      tls_(std::move(tls)),
      limits_(limits),
      port_(acceptor_.local_endpoint().port()),
      registry_(std::make_shared<Registry>()) {}

NativeServer::~NativeServer() { stop(); }

void NativeServer::start() { accept_next(); }

void NativeServer::stop() {
  if (registry_->stopped) return;
  registry_->stopped = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  std::vector<std::shared_ptr<ConnectionBase>> all;
  for (auto& [address, list] : registry_->by_address) all.insert(all.end(), list.begin(), list.end());
  for (auto& connection : all) connection->close();
}

void NativeServer::stop_listening() {
  if (registry_->stopped) return;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

void NativeServer::accept_next() {
  if (!acceptor_.is_open()) return;  // stop_listening() came first
  acceptor_.async_accept([this, registry = registry_](const boost::system::error_code& error, tcp::socket socket) {
    if (registry->stopped) return;
    if (error) {
      if (error == asio::error::operation_aborted) return;
      log::warning("native.accept_failed", {{"reason", error.message()}});
      retry_timer_.expires_after(k_accept_retry_delay);
      retry_timer_.async_wait([this, registry](const boost::system::error_code& timer_error) {
        if (!timer_error && !registry->stopped) accept_next();
      });
      return;
    }
    boost::system::error_code endpoint_error;
    const auto peer = socket.remote_endpoint(endpoint_error).address();
    if (endpoint_error || !registry->make_room(peer, limits_)) {
      log::warning("native.connection_refused", {{"peer", peer.to_string()}, {"reason", "connection limit reached"}});
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      socket.set_option(tcp::no_delay(true), endpoint_error);
      if (tls_) {
        auto connection = std::make_shared<Connection<ssl::stream<tcp::socket>>>(
            ssl::stream<tcp::socket>(std::move(socket), *tls_), peer, service_, worker_, limits_, registry, true);
        registry->add(peer, connection);
        connection->start();
      } else {
        auto connection =
            std::make_shared<Connection<tcp::socket>>(std::move(socket), peer, service_, worker_, limits_, registry, false);
        registry->add(peer, connection);
        connection->start();
      }
    }
    accept_next();
  });
}

}  // namespace meterd

namespace meterd {

proto::Result<std::unique_ptr<NativeSerialServer>, std::string> NativeSerialServer::open(
    asio::io_context& io, const proto::transport::SerialSettings& settings, NativeService& service,
    PasswordWorker& worker, NativeServerLimits limits) {
  auto port = proto::transport::SerialPort::open(settings);
  if (!port) return proto::unexpected(port.error().message);
  // Asynchronous reads need a read that waits for a byte: with VMIN 0 an idle line
  // reads as end of file.
  termios line{};
  if (::tcgetattr((*port)->native_handle(), &line) != 0) return proto::unexpected(std::string(std::strerror(errno)));
  line.c_cc[VMIN] = 1;
  line.c_cc[VTIME] = 0;
  if (::tcsetattr((*port)->native_handle(), TCSANOW, &line) != 0) {
    return proto::unexpected(std::string(std::strerror(errno)));
  }
  return std::unique_ptr<NativeSerialServer>(new NativeSerialServer(io, std::move(*port), service, worker, limits));
}

NativeSerialServer::NativeSerialServer(asio::io_context& io, std::unique_ptr<proto::transport::SerialPort> port,
                                       NativeService& service, PasswordWorker& worker, NativeServerLimits limits)
    : io_(io), port_(std::move(port)), service_(service), worker_(worker), limits_(limits) {}

NativeSerialServer::~NativeSerialServer() { stop(); }

void NativeSerialServer::start() {
  log::info("native.serial_listening", {{"device", port_->settings().device}});
  open_line();
}

void NativeSerialServer::stop() {
  if (*stopped_) return;
  *stopped_ = true;
  if (close_current_) close_current_();
}

// A serial line has one peer at a time; each "connection" lasts until the line idles
// past the deadlines, then the line starts afresh (a new hello, no session).
void NativeSerialServer::open_line() {
  if (*stopped_) return;
  const int descriptor = ::dup(port_->native_handle());
  if (descriptor < 0) {
    log::error("native.serial_failed", {{"device", port_->settings().device}, {"error", std::strerror(errno)}});
    return;
  }
  auto connection = std::make_shared<Connection<asio::posix::stream_descriptor>>(
      asio::posix::stream_descriptor(io_, descriptor), asio::ip::address(), service_, worker_, limits_,
      std::weak_ptr<NativeServer::Registry>(), false);
  connection->set_connection_type(sec::ConnectionType::serial);
  connection->on_closed([this, stopped = stopped_] {
    if (*stopped) return;
    // A short pause, so a line that fails at once does not spin.
    auto pause = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(100));
    pause->async_wait([this, stopped, pause](const boost::system::error_code&) {
      if (!*stopped) open_line();
    });
  });
  close_current_ = [weak = std::weak_ptr(connection)] {
    if (auto current = weak.lock()) current->close();
  };
  connection->start();
}

}  // namespace meterd
