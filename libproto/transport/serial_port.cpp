#include "libproto/transport/serial_port.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace proto::transport {

namespace {

// Below this, bursts from ptys and USB serial adapters look like frame ends.
constexpr auto k_minimum_gap = std::chrono::milliseconds(20);
// Modbus over Serial Line v1.02, 2.5.1.1: an ADU is at most 256 bytes; read a little more
// so an over-long frame is seen as one and refused by the codec.
constexpr std::size_t k_max_frame_read = 512;
// A 256-byte frame takes 2.2 s at 1200 baud; anything slower means the line is stuck.
constexpr auto k_write_deadline = std::chrono::milliseconds(5000);

speed_t baud_constant(int baud) {
  switch (baud) {
    case 1200: return B1200;
    case 2400: return B2400;
    case 4800: return B4800;
    case 9600: return B9600;
    case 19200: return B19200;
    case 38400: return B38400;
    case 57600: return B57600;
    case 115200: return B115200;
    case 230400: return B230400;
    default: return B0;
  }
}

SerialFailure io_failure(const std::string& what, const std::string& device) {
  return {SerialError::io, what + " " + device + ": " + std::strerror(errno)};
}

}  // namespace

Result<std::unique_ptr<SerialPort>, SerialFailure> SerialPort::open(const SerialSettings& settings) {
  const auto speed = baud_constant(settings.baud);
  if (speed == B0) {
    return unexpected(SerialFailure{SerialError::io, "unsupported baud rate " + std::to_string(settings.baud) +
                                                         "; use 1200..230400 in the standard steps"});
  }
  if (settings.parity != 'N' && settings.parity != 'E' && settings.parity != 'O') {
    return unexpected(SerialFailure{SerialError::io, "parity must be N, E or O"});
  }
  // Non-blocking, so a line that stops taking bytes (flow control, a pty nobody reads)
  // cannot hold a writer forever: writes wait with a deadline instead.
  const int fd = ::open(settings.device.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return unexpected(io_failure("cannot open", settings.device));
  termios original{};
  if (::tcgetattr(fd, &original) != 0) {
    auto failure = io_failure("not a serial line:", settings.device);
    ::close(fd);
    return unexpected(failure);
  }
  termios wanted = original;
  ::cfmakeraw(&wanted);
  ::cfsetispeed(&wanted, speed);
  ::cfsetospeed(&wanted, speed);
  wanted.c_cflag |= CLOCAL | CREAD;
  // Modbus RTU uses no flow control; a line left with it on would stall on CTS or XOFF.
  wanted.c_cflag &= ~(PARENB | PARODD | CSTOPB | CRTSCTS);
  wanted.c_iflag &= ~static_cast<tcflag_t>(IXON | IXOFF | IXANY);
  if (settings.parity == 'E') wanted.c_cflag |= PARENB;
  if (settings.parity == 'O') wanted.c_cflag |= PARENB | PARODD;
  if (settings.stop_bits == 2) wanted.c_cflag |= CSTOPB;
  wanted.c_cc[VMIN] = 0;
  wanted.c_cc[VTIME] = 0;
  if (::tcsetattr(fd, TCSANOW, &wanted) != 0) {
    // Linux ptys drop the parity bits and then report EINVAL when nothing else changed.
    // Accept the line when it took everything but parity.
    termios applied{};
    const auto parity_bits = static_cast<tcflag_t>(PARENB | PARODD);
    const bool only_parity_refused = errno == EINVAL && ::tcgetattr(fd, &applied) == 0 &&
                                     (applied.c_cflag & ~parity_bits) == (wanted.c_cflag & ~parity_bits);
    if (!only_parity_refused) {
      auto failure = io_failure("cannot configure", settings.device);
      ::close(fd);
      return unexpected(failure);
    }
  }
  return std::unique_ptr<SerialPort>(new SerialPort(fd, settings, original));
}

SerialPort::SerialPort(int fd, SerialSettings settings, termios original)
    : fd_(fd), settings_(std::move(settings)), original_(original) {}

SerialPort::~SerialPort() {
  ::tcsetattr(fd_, TCSANOW, &original_);
  ::close(fd_);
}

std::chrono::milliseconds SerialPort::inter_frame_gap() const {
  // An RTU character is 11 bits (start, 8 data, parity or second stop, stop).
  const double character_ms = 11.0 * 1000.0 / settings_.baud;
  const auto gap = std::chrono::milliseconds(static_cast<int>(settings_.baud > 19200 ? 2.0 : 3.5 * character_ms + 1.0));
  return std::max(gap, k_minimum_gap);
}

void SerialPort::discard_input() { ::tcflush(fd_, TCIFLUSH); }

Result<Ok, SerialFailure> SerialPort::write_frame(std::span<const std::byte> frame) {
  const auto deadline = std::chrono::steady_clock::now() + k_write_deadline;
  std::size_t sent = 0;
  while (sent < frame.size()) {
    const auto written = ::write(fd_, frame.data() + sent, frame.size() - sent);
    if (written >= 0) {
      sent += static_cast<std::size_t>(written);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return unexpected(io_failure("writing to", settings_.device));
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd descriptor{fd_, POLLOUT, 0};
    if (remaining.count() <= 0 || ::poll(&descriptor, 1, static_cast<int>(remaining.count())) == 0) {
      return unexpected(SerialFailure{SerialError::timeout, settings_.device + " took no data for " +
                                                                std::to_string(k_write_deadline.count()) +
                                                                " ms; is the line connected?"});
    }
  }
  return Ok{};
}

Result<std::vector<std::byte>, SerialFailure> SerialPort::read_frame(std::chrono::milliseconds first_byte_timeout) {
  std::vector<std::byte> frame;
  const auto deadline = std::chrono::steady_clock::now() + first_byte_timeout;
  const auto gap = inter_frame_gap();
  std::byte buffer[256];
  while (frame.size() < k_max_frame_read) {
    int wait_ms = static_cast<int>(gap.count());
    if (frame.empty()) {
      const auto remaining =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<std::int64_t>(remaining.count(), 0));
    }
    pollfd descriptor{fd_, POLLIN, 0};
    const int ready = ::poll(&descriptor, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return unexpected(io_failure("waiting on", settings_.device));
    }
    if (ready == 0) break;  // silence: the frame (if any) is complete
    const auto got = ::read(fd_, buffer, std::min(sizeof buffer, k_max_frame_read - frame.size()));
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return unexpected(io_failure("reading from", settings_.device));
    }
    if (got == 0) {
      // A pty whose other side is closed reads as end of file: nothing will come.
      if (frame.empty()) {
        ::poll(nullptr, 0, std::min(wait_ms, static_cast<int>(gap.count())));
        if (std::chrono::steady_clock::now() >= deadline) break;
        continue;
      }
      break;
    }
    frame.insert(frame.end(), buffer, buffer + got);
  }
  if (frame.empty()) {
    return unexpected(SerialFailure{SerialError::timeout, "no frame on " + settings_.device + " within " +
                                                              std::to_string(first_byte_timeout.count()) + " ms"});
  }
  return frame;
}

}  // namespace proto::transport
