#include "cli/fleet_runner.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "cli/exit_codes.hpp"

using namespace cli;

namespace {

std::vector<InventoryMeter> meters(std::size_t count) {
  std::vector<InventoryMeter> list;
  for (std::size_t i = 0; i < count; ++i) {
    InventoryMeter meter;
    meter.name = "meter-" + std::to_string(i);
    meter.address = "10.0.0." + std::to_string(i);
    meter.port = static_cast<std::uint16_t>(7000 + i);
    list.push_back(meter);
  }
  return list;
}

// Records what the runner tells it, checking the calls never overlap.
class RecordingProgress final : public FleetProgress {
 public:
  void started(std::size_t) override {
    enter();
    ++started_count;
    leave();
  }
  void step(std::size_t, std::string_view) override {
    enter();
    ++steps;
    leave();
  }
  void finished(std::size_t, const MeterResult&) override {
    enter();
    ++finished_count;
    leave();
  }
  void done() override { ++done_count; }
  int started_count = 0, steps = 0, finished_count = 0, done_count = 0;
  std::atomic<bool> overlapped{false};

 private:
  void enter() {
    if (inside.exchange(true)) overlapped = true;
  }
  void leave() { inside = false; }
  std::atomic<bool> inside{false};
};

}  // namespace

TEST_CASE("The fleet runner keeps the inventory's order and runs at most N meters at once", "[cli][fleet]") {
  const auto list = meters(40);
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  RecordingProgress progress;
  const MeterTask task = [&](const InventoryMeter& meter, const StatusCallback& status) {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    status("planning");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --running;
    MeterResult result;
    result.outcome = meter.name == "meter-3" ? Outcome::changed : Outcome::no_changes;
    if (result.outcome == Outcome::changed) result.changes.push_back({"a", "1", "2"});
    result.config_version = 5;
    return result;
  };
  const auto results = run_fleet(list, 4, task, progress);
  REQUIRE(results.size() == list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    CHECK(results[i].name == list[i].name);
    CHECK(results[i].address == list[i].address);
    CHECK(results[i].port == list[i].port);
  }
  CHECK(results[3].outcome == Outcome::changed);
  CHECK(results[4].outcome == Outcome::no_changes);
  CHECK(most.load() <= 4);
  CHECK(most.load() >= 1);
  CHECK(progress.started_count == 40);
  CHECK(progress.steps == 40);
  CHECK(progress.finished_count == 40);
  CHECK(progress.done_count == 1);
  CHECK_FALSE(progress.overlapped);
}

TEST_CASE("A meter that fails fails alone, with its message", "[cli][fleet]") {
  RecordingProgress progress;
  const MeterTask task = [](const InventoryMeter& meter, const StatusCallback&) -> MeterResult {
    if (meter.name == "meter-1") throw CommandError{exit_unavailable, "cannot connect to 10.0.0.1:7001"};
    if (meter.name == "meter-2") throw std::runtime_error("surprise");
    MeterResult result;
    result.outcome = Outcome::applied;
    result.changes.push_back({"a", std::nullopt, "1"});
    return result;
  };
  const auto results = run_fleet(meters(3), 8, task, progress);
  CHECK(results[0].outcome == Outcome::applied);
  CHECK(results[1].outcome == Outcome::error);
  CHECK(results[1].error == "cannot connect to 10.0.0.1:7001");
  CHECK(results[1].exit_code == exit_unavailable);
  CHECK(results[2].outcome == Outcome::error);
  CHECK(results[2].error == "surprise");
  CHECK(run_fleet({}, 8, task, progress).empty());
}

TEST_CASE("Plain progress prints one line per meter as it finishes", "[cli][fleet]") {
  MeterResult changed;
  changed.name = "feeder-01";
  changed.outcome = Outcome::changed;
  changed.changes = {{"a", "1", "2"}, {"b", "1", "2"}, {"c", std::nullopt, "2"}};
  MeterResult same;
  same.name = "feeder-02";
  same.outcome = Outcome::no_changes;
  MeterResult failed;
  failed.name = "feeder-03";
  failed.outcome = Outcome::error;
  failed.error = "cannot connect";
  MeterResult applied = changed;
  applied.outcome = Outcome::applied;
  CHECK(plain_line(changed) == "feeder-01 changed 3");
  CHECK(plain_line(same) == "feeder-02 no changes");
  CHECK(plain_line(failed) == "feeder-03 error: cannot connect");
  CHECK(plain_line(applied) == "feeder-01 applied 3");

  std::ostringstream all;
  auto plain = make_plain_progress(all, false);
  plain->finished(0, changed);
  plain->finished(1, same);
  plain->finished(2, failed);
  CHECK(all.str() == "feeder-01 changed 3\nfeeder-02 no changes\nfeeder-03 error: cannot connect\n");

  std::ostringstream errors;
  auto quiet = make_plain_progress(errors, true);
  quiet->finished(0, changed);
  quiet->finished(2, failed);
  CHECK(errors.str() == "feeder-03 error: cannot connect\n");
}

TEST_CASE("The live display redraws its block on the terminal it is given", "[cli][fleet]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const auto list = meters(2);
  {
    auto live = make_live_progress(fds[1], list, false);
    live->started(0);
    live->step(0, "planning");
    MeterResult result;
    result.name = list[0].name;
    result.outcome = Outcome::no_changes;
    live->finished(0, result);
    live->done();
  }
  ::close(fds[1]);
  std::string written;
  char buffer[4096];
  for (ssize_t got; (got = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    written.append(buffer, static_cast<std::size_t>(got));
  ::close(fds[0]);
  CHECK(written.find("meter-0  planning") != std::string::npos);
  CHECK(written.find("meter-0 no changes\n") != std::string::npos);
  CHECK(written.find("1/2") != std::string::npos);
  // Moves up over what it drew before drawing again.
  CHECK(written.find("\x1b[2A") != std::string::npos);
  // Leaves nothing of the block behind: the last thing written erases it.
  CHECK(written.size() >= 4);
  CHECK(written.substr(written.size() - 4) == "\r\x1b[J");
}

TEST_CASE("Waves run one after the other, and a stop starts no further meter", "[cli][fleet]") {
  const auto list = meters(10);
  std::atomic<int> finished{0};
  std::vector<int> finished_when_started(10, -1);
  const MeterTask task = [&](const InventoryMeter& meter, const StatusCallback&) {
    const auto index = static_cast<std::size_t>(std::stoi(meter.name.substr(6)));
    finished_when_started[index] = finished.load();
    MeterResult result;
    result.outcome = index == 4 ? Outcome::error : Outcome::applied;
    if (index == 4) result.error = "refused";
    ++finished;
    return result;
  };
  RecordingProgress progress;
  FleetRunOptions options;
  options.parallel = 3;
  options.wave_ends = {2, 5, 10};
  std::vector<std::size_t> seen;
  options.after_each = [&](std::size_t index, const MeterResult& result) {
    seen.push_back(index);
    return result.outcome != Outcome::error;
  };
  const auto results = run_fleet_in_waves(list, options, task, progress);
  REQUIRE(results.size() == 10);
  // Wave 2 (meters 2..4) waited for wave 1 (0, 1).
  for (std::size_t i = 2; i < 5; ++i) CHECK(finished_when_started[i] >= 2);
  // Meter 4 failed in wave 2: wave 3 never started.
  for (std::size_t i = 5; i < 10; ++i) CHECK_FALSE(results[i].has_value());
  REQUIRE(results[4]);
  CHECK(results[4]->outcome == Outcome::error);
  CHECK(seen.size() == 5);
  CHECK(progress.done_count == 1);
}

TEST_CASE("A summary replaces the outcome's words; phases show in both displays", "[cli][fleet]") {
  MeterResult result;
  result.name = "meter-1";
  result.outcome = Outcome::applied;
  result.summary = "upgraded 4.0.0 -> 4.6.0";
  CHECK(plain_line(result) == "meter-1 upgraded 4.0.0 -> 4.6.0");
  std::ostringstream out;
  auto plain = make_plain_progress(out, false);
  plain->phase("wave 1/2: 1 meter");
  plain->finished(0, result);
  CHECK(out.str() == "wave 1/2: 1 meter\nmeter-1 upgraded 4.0.0 -> 4.6.0\n");

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const auto list = meters(2);
  {
    auto live = make_live_progress(fds[1], list, false, {"upgraded", "skipped", "failed"});
    live->phase("wave 2/3: 1 meter");
    live->started(1);
    live->step(1, "transfer 42%");
    MeterResult skipped;
    skipped.name = list[1].name;
    skipped.outcome = Outcome::no_changes;
    live->finished(1, skipped);
    live->done();
  }
  ::close(fds[1]);
  std::string written;
  char buffer[4096];
  for (ssize_t got; (got = ::read(fds[0], buffer, sizeof buffer)) > 0;)
    written.append(buffer, static_cast<std::size_t>(got));
  ::close(fds[0]);
  CHECK(written.find("meter-1  transfer 42%") != std::string::npos);
  CHECK(written.find("wave 2/3: 1 meter\n") != std::string::npos);
  CHECK(written.find("wave 2/3  [") != std::string::npos);
  CHECK(written.find("upgraded 0  skipped 1  failed 0") != std::string::npos);
}
