#pragma once
// How `meterctl upgrade apply` shows its stages (meterctl-upgrade(1), PROGRESS): a bar
// per stage redrawn on a terminal, one plain line per finished stage elsewhere, or a
// short step text in the fleet display ("transfer 42%"). The text is made by pure
// functions the tests check; the observers only put it somewhere.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>

#include "cli/fleet_runner.hpp"

namespace cli {

enum class UpgradeStage { check, backup, transfer, verify, activate, health };
std::string_view to_string(UpgradeStage stage);  // "check", "backup", "transfer", ...

// "16.0 MiB", "512 B", "1.5 KiB": binary units, one decimal.
std::string byte_size_text(std::uint64_t bytes);
// "transfer 16.0 MiB in 0.41 s (39.0 MiB/s)"; when the upload resumed, the bytes the
// meter already had are named: "... (39.0 MiB/s), resumed at 8.0 MiB".
std::string transfer_line(std::uint64_t sent, std::chrono::duration<double> elapsed, std::uint64_t resumed_at);
// A stage's line for the terminal, `width` columns at most. transfer: `done` bytes of
// `total`, sent at `bytes_per_second` (0: not known yet):
//   "transfer [##########----------] 50%  8.0 MiB of 16.0 MiB  39.0 MiB/s";
// health: `done` milliseconds waited of `total`; other stages: `done` milliseconds.
std::string stage_bar(UpgradeStage stage, std::uint64_t done, std::uint64_t total, double bytes_per_second,
                      std::size_t width);
// The fleet display's step: "transfer 42%", "verify", "health".
std::string fleet_step(UpgradeStage stage, std::uint64_t done, std::uint64_t total);

// Told what one meter's upgrade is doing. Calls come from one thread.
class UpgradeObserver {
 public:
  virtual ~UpgradeObserver() = default;
  virtual void begin(UpgradeStage stage) = 0;
  // transfer: bytes the meter holds of `total`; health: milliseconds waited of the deadline.
  virtual void advance(UpgradeStage stage, std::uint64_t done, std::uint64_t total) = 0;
  // The stage is over; `line` says how ("verify ok", "activate slot b").
  virtual void end(UpgradeStage stage, std::string_view line) = 0;
};

// Redraws the current stage's bar on terminal `fd` and leaves each stage's line behind.
std::unique_ptr<UpgradeObserver> make_terminal_observer(int fd);
// One line per finished stage on `out` (CI logs).
std::unique_ptr<UpgradeObserver> make_plain_observer(std::ostream& out);
// The step text of the fleet display.
std::unique_ptr<UpgradeObserver> make_fleet_observer(const StatusCallback& status);
// Nothing (--quiet).
std::unique_ptr<UpgradeObserver> make_silent_observer();

}  // namespace cli
