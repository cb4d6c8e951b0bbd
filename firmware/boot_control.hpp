#pragma once
// What the firmware knows of how it was booted, and how it asks for the next boot. The
// daemon implements it; the upgrade operations use it (upgrade.status names the running
// slot, upgrade.activate reboots into the trial slot). Without a boot supervisor there is
// no running slot and nothing to reboot into.

#include <optional>

#include "firmware/boot_record.hpp"

namespace meterd {

class BootControl {
 public:
  virtual ~BootControl() = default;

  // Started by the boot supervisor (METERD_BOOT_SLOT is set), which can boot another slot.
  virtual bool supervised() const = 0;
  // The slot this firmware was booted from; nullopt when not supervised.
  virtual std::optional<Slot> running_slot() const = 0;
  // Once the reply being handled has been sent: stop the servers, save the meter state
  // as on SIGTERM and exit with k_exit_reboot, so the supervisor boots again (and finds
  // the trial the caller just recorded). Returns at once; call it from the I/O thread.
  virtual void reboot_after_reply() = 0;
};

}  // namespace meterd
