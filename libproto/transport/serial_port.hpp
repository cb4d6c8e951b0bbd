#pragma once
// A serial line (or a pty) for Modbus RTU, used by both meterd and meterctl. Frames are
// delimited by line silence (Modbus over Serial Line v1.02, 2.5.1.1); this class moves
// bytes and finds the silences, the codec checks what they hold.

#include <termios.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "libproto/result.hpp"

namespace proto::transport {

// The rates termios offers in the range Modbus serial lines use.
inline constexpr std::array<int, 9> k_supported_baud_rates = {1200,  2400,  4800,   9600,  19200,
                                                              38400, 57600, 115200, 230400};

struct SerialSettings {
  std::string device;
  int baud = 19200;
  char parity = 'E';  // Modbus over Serial Line v1.02, 2.5.1: even parity is the default
  int stop_bits = 1;
};

enum class SerialError { timeout, io };

struct SerialFailure {
  SerialError kind;
  std::string message;
};

class SerialPort {
 public:
  // Opens and configures the line (8 data bits, raw). A pty cannot carry parity; the
  // setting is then accepted as it is, since nothing travels over a wire.
  static Result<std::unique_ptr<SerialPort>, SerialFailure> open(const SerialSettings& settings);
  ~SerialPort();  // restores the line's previous settings

  SerialPort(const SerialPort&) = delete;
  SerialPort& operator=(const SerialPort&) = delete;

  Result<Ok, SerialFailure> write_frame(std::span<const std::byte> frame);
  // Waits up to `first_byte_timeout` for a frame to start, then reads until the line is
  // silent for inter_frame_gap(). timeout when nothing arrived.
  Result<std::vector<std::byte>, SerialFailure> read_frame(std::chrono::milliseconds first_byte_timeout);
  void discard_input();

  // 3.5 character times (1.75 ms above 19200 baud), but never below a floor that ptys and
  // USB adapters, which deliver in bursts, need.
  std::chrono::milliseconds inter_frame_gap() const;
  const SerialSettings& settings() const { return settings_; }
  // For asynchronous use (dup it); the port keeps ownership and restores the line.
  int native_handle() const { return fd_; }

 private:
  SerialPort(int fd, SerialSettings settings, termios original);

  int fd_;
  SerialSettings settings_;
  termios original_;
};

}  // namespace proto::transport
