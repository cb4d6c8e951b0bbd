#pragma once
// Runs one task per meter of an inventory on a pool of threads, collects one result per
// meter, and shows progress: a live display redrawn on a terminal, one plain line per
// meter as it finishes elsewhere (CI logs). What a task does (plan, apply, drift) is the
// caller's; the runner knows nothing about the network, so tests hand it fake tasks.

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/inventory.hpp"
#include "libsec/meter_profile.hpp"

namespace cli {

// Threads at once: more would only queue on the meters' password workers and on the
// machine's sockets.
inline constexpr unsigned k_default_parallel = 8;
inline constexpr unsigned k_max_parallel = 256;

enum class Outcome {
  no_changes,  // the meter is as the profile says
  changed,     // plan and drift: the meter differs from the profile
  applied,     // apply: the meter changed
  error,
};
std::string_view to_string(Outcome outcome);  // "no_changes", "changed", "applied", "error"

struct MeterResult {
  std::string name;
  std::string address;
  std::uint16_t port = 0;
  Outcome outcome = Outcome::error;
  std::vector<sec::ProfileChange> changes;
  std::optional<std::int64_t> config_version;  // the meter's, after the operation
  std::string error;                           // when outcome is error
  int exit_code = 0;                           // the error's own status, for a single meter
  std::chrono::milliseconds duration{0};
  // What the plain line and the live display say after the meter's name, when the task
  // has its own words for its result ("upgraded 4.0.0 -> 4.6.0"); empty: the outcome's.
  std::string summary;
};

// Reports what a task is doing ("connecting", "planning"), for the live display.
using StatusCallback = std::function<void(std::string_view step)>;
// Runs on a worker thread; throws CommandError (or anything else) to fail this meter only.
using MeterTask = std::function<MeterResult(const InventoryMeter& meter, const StatusCallback& status)>;

// Told of each meter's start, steps and end; called from the worker threads, one call at
// a time (the runner holds a lock around each call).
class FleetProgress {
 public:
  virtual ~FleetProgress() = default;
  virtual void started(std::size_t index) = 0;
  virtual void step(std::size_t index, std::string_view step) = 0;
  virtual void finished(std::size_t index, const MeterResult& result) = 0;
  // A stage of the whole run begins ("wave 2/3, 4 meters"): the live display shows it in
  // its summary line, the plain one prints it.
  virtual void phase(std::string_view) {}
  // After the last meter: the display leaves the terminal clean.
  virtual void done() {}
};

// The words the live display's summary line counts outcomes with: applied and changed
// meters, unchanged ones (not counted when empty), errors.
struct FleetCountLabels {
  std::string changed = "changed";
  std::string unchanged;
  std::string errors = "errors";
};

// One line per meter as it finishes. With errors_only (--quiet), only the failures.
std::unique_ptr<FleetProgress> make_plain_progress(std::ostream& out, bool errors_only);
// Redraws, on terminal `fd`, one line per running meter and a summary bar.
std::unique_ptr<FleetProgress> make_live_progress(int fd, const std::vector<InventoryMeter>& meters, bool color,
                                                  FleetCountLabels labels = {});
// Nothing at all.
std::unique_ptr<FleetProgress> make_silent_progress();

// Runs `task` for every meter, at most `parallel` at once, and returns the results in the
// order of `meters` with name, address, port and duration filled in. A task that throws
// gives an error result with the exception's message.
std::vector<MeterResult> run_fleet(const std::vector<InventoryMeter>& meters, unsigned parallel, const MeterTask& task,
                                   FleetProgress& progress);

// What run_fleet_in_waves may do beyond run_fleet.
struct FleetRunOptions {
  unsigned parallel = k_default_parallel;
  // Where each wave ends, cumulative and ascending, the last one meters.size(): wave k
  // runs meters [wave_ends[k-1], wave_ends[k]) and starts once wave k-1 has finished.
  // Empty: one wave of every meter.
  std::vector<std::size_t> wave_ends;
  // Called after each meter, one call at a time, before the progress hears of it.
  // Returning false starts no further meter: those running finish, the rest never start.
  std::function<bool(std::size_t index, const MeterResult& result)> after_each;
};

// run_fleet in waves, with a way to stop. A meter that never started has no result.
std::vector<std::optional<MeterResult>> run_fleet_in_waves(const std::vector<InventoryMeter>& meters,
                                                           const FleetRunOptions& options, const MeterTask& task,
                                                           FleetProgress& progress);

// "feeder-01 changed 3", "feeder-02 no changes", "feeder-01 applied 3", "feeder-03 error: ...";
// "feeder-01 SUMMARY" when the result has a summary.
std::string plain_line(const MeterResult& result);

struct FleetSummary {
  std::size_t meters = 0, no_changes = 0, changed = 0, applied = 0, errors = 0, changes = 0;
};
FleetSummary summarize(const std::vector<MeterResult>& results);

// One change as JSON: {path, before, after}, null for a side that does not exist.
nlohmann::json change_to_json(const sec::ProfileChange& change);
// The fleet report (--output json, --report FILE), without format_version (print_report
// adds it): {operation, shard, meters: [{name, address, port, outcome, changes,
// config_version, error, duration_ms}], summary: {meters, no_changes, changed, applied,
// errors, changes}}.
nlohmann::json fleet_report(std::string_view operation, const std::vector<MeterResult>& results,
                            const std::optional<Shard>& shard);

}  // namespace cli
