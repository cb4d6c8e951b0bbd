#pragma once
// The firmware's side of the boot supervisor: what its environment says about how it was
// booted (supervisor.hpp lists the variables), its health report, and the BootControl the
// native service uses to reboot into a new slot.

#include <sys/types.h>

#include <functional>
#include <optional>

#include "firmware/boot_control.hpp"
#include "firmware/boot_decisions.hpp"

namespace meterd {

class FirmwareBootControl final : public BootControl {
 public:
  // Not supervised: no slot, no health report, no reboot.
  FirmwareBootControl() = default;
  // Reads METERD_BOOT_SLOT and METERD_HEALTH_FD. A slot other than "a" or "b" is a
  // startup error (nullopt with `problem` set): meterd was started by something that is
  // not its supervisor, and guessing could commit the wrong firmware.
  static std::optional<FirmwareBootControl> from_environment(std::string& problem);

  bool supervised() const override { return slot_.has_value(); }
  std::optional<Slot> running_slot() const override { return slot_; }
  void reboot_after_reply() override {
    if (reboot_) reboot_();
  }

  // What reboot_after_reply() does; the daemon sets it once its servers exist.
  void on_reboot(std::function<void()> handler) { reboot_ = std::move(handler); }
  // The process to signal to stop this meter: the supervisor when supervised, else this one.
  pid_t service_pid() const;
  // Tells the supervisor that every listener is open and the ready file written, and on
  // which ports (Modbus TCP, native, secure native); once.
  void report_healthy(const BootPorts& ports);

 private:
  std::optional<Slot> slot_;
  int health_fd_ = -1;
  pid_t supervisor_pid_ = 0;
  std::function<void()> reboot_;
};

}  // namespace meterd
