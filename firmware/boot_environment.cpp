#include "firmware/boot_environment.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <string>
#include <string_view>

#include "firmware/log.hpp"
#include "firmware/supervisor.hpp"
#include "libsec/private_file.hpp"

namespace meterd {

std::optional<FirmwareBootControl> FirmwareBootControl::from_environment(std::string& problem) {
  FirmwareBootControl control;
  const char* slot = std::getenv(k_boot_slot_variable);
  if (slot == nullptr) return control;
  control.slot_ = parse_slot(slot);
  if (!control.slot_) {
    problem = std::string(k_boot_slot_variable) + "='" + slot + "' names no slot (a or b)";
    return std::nullopt;
  }
  // Captured now: the supervisor started us, so it is our parent until it dies (and we with it).
  control.supervisor_pid_ = ::getppid();
  if (const char* fd = std::getenv(k_health_fd_variable)) {
    const std::string_view text(fd);
    int number = -1;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size() || number < 0 || ::fcntl(number, F_GETFD) < 0) {
      problem = std::string(k_health_fd_variable) + "='" + fd + "' is not an open descriptor";
      return std::nullopt;
    }
    control.health_fd_ = number;
    // Nothing this firmware starts needs it.
    ::fcntl(number, F_SETFD, FD_CLOEXEC);
  }
  return control;
}

pid_t FirmwareBootControl::service_pid() const { return supervised() ? supervisor_pid_ : ::getpid(); }

void FirmwareBootControl::report_healthy(const BootPorts& ports) {
  if (health_fd_ < 0) return;
  if (!sec::write_all(health_fd_, health_report(ports))) {
    // The supervisor will treat us as unhealthy; say why on our side too.
    log::warning("firmware.health_report_failed", {{"fd", std::to_string(health_fd_)}});
  }
  ::close(health_fd_);
  health_fd_ = -1;
}

}  // namespace meterd
