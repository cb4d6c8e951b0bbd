#include "cli/fleet_runner.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <ostream>
#include <thread>

#include "cli/exit_codes.hpp"
#include "libsec/private_file.hpp"

namespace cli {

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::no_changes: return "no_changes";
    case Outcome::changed: return "changed";
    case Outcome::applied: return "applied";
    case Outcome::error: return "error";
  }
  return "error";
}

std::string plain_line(const MeterResult& result) {
  switch (result.outcome) {
    case Outcome::no_changes: return result.name + " no changes";
    case Outcome::changed: return result.name + " changed " + std::to_string(result.changes.size());
    case Outcome::applied: return result.name + " applied " + std::to_string(result.changes.size());
    case Outcome::error: break;
  }
  return result.name + " error: " + result.error;
}

FleetSummary summarize(const std::vector<MeterResult>& results) {
  FleetSummary summary;
  summary.meters = results.size();
  for (const auto& result : results) {
    switch (result.outcome) {
      case Outcome::no_changes: ++summary.no_changes; break;
      case Outcome::changed: ++summary.changed; break;
      case Outcome::applied: ++summary.applied; break;
      case Outcome::error: ++summary.errors; break;
    }
    if (result.outcome != Outcome::error) summary.changes += result.changes.size();
  }
  return summary;
}

nlohmann::json change_to_json(const sec::ProfileChange& change) {
  return {{"path", change.path},
          {"before", change.before ? nlohmann::json(*change.before) : nlohmann::json()},
          {"after", change.after ? nlohmann::json(*change.after) : nlohmann::json()}};
}

nlohmann::json fleet_report(std::string_view operation, const std::vector<MeterResult>& results,
                            const std::optional<Shard>& shard) {
  nlohmann::json meters = nlohmann::json::array();
  for (const auto& result : results) {
    nlohmann::json changes = nlohmann::json::array();
    for (const auto& change : result.changes) changes.push_back(change_to_json(change));
    meters.push_back(
        {{"name", result.name},
         {"address", result.address},
         {"port", result.port},
         {"outcome", to_string(result.outcome)},
         {"changes", changes},
         {"config_version", result.config_version ? nlohmann::json(*result.config_version) : nlohmann::json()},
         {"error", result.outcome == Outcome::error ? nlohmann::json(result.error) : nlohmann::json()},
         {"duration_ms", result.duration.count()}});
  }
  const auto summary = summarize(results);
  return {{"operation", operation},
          {"shard", shard ? nlohmann::json(to_string(*shard)) : nlohmann::json()},
          {"meters", meters},
          {"summary",
           {{"meters", summary.meters},
            {"no_changes", summary.no_changes},
            {"changed", summary.changed},
            {"applied", summary.applied},
            {"errors", summary.errors},
            {"changes", summary.changes}}}};
}

namespace {

class PlainProgress final : public FleetProgress {
 public:
  PlainProgress(std::ostream& out, bool errors_only) : out_(out), errors_only_(errors_only) {}
  void started(std::size_t) override {}
  void step(std::size_t, std::string_view) override {}
  void finished(std::size_t, const MeterResult& result) override {
    if (errors_only_ && result.outcome != Outcome::error) return;
    out_ << plain_line(result) << std::endl;
  }

 private:
  std::ostream& out_;
  bool errors_only_;
};

class SilentProgress final : public FleetProgress {
 public:
  void started(std::size_t) override {}
  void step(std::size_t, std::string_view) override {}
  void finished(std::size_t, const MeterResult&) override {}
};

// ECMA-48 control sequences: SGR colours, CUU (cursor up), ED (erase below).
constexpr const char* k_reset = "\x1b[0m";
constexpr const char* k_green = "\x1b[32m";
constexpr const char* k_yellow = "\x1b[33m";
constexpr const char* k_red = "\x1b[31m";
constexpr const char* k_bold = "\x1b[1m";
// How often the elapsed times move while nothing else happens.
constexpr auto k_redraw_interval = std::chrono::milliseconds(250);
constexpr std::size_t k_bar_width = 24;

std::string seconds_text(std::chrono::steady_clock::duration elapsed) {
  const auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() / 100;
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
}

// Cut to `width` columns: a wrapped line would break the count of lines to move up over.
// Counts bytes, not characters, so a line of multibyte text is cut early, never late.
std::string fit(std::string line, std::size_t width) {
  if (line.size() <= width) return line;
  line.resize(width);
  // Do not leave half a UTF-8 sequence behind.
  while (!line.empty() && (static_cast<unsigned char>(line.back()) & 0xc0) == 0x80) line.pop_back();
  if (!line.empty() && (static_cast<unsigned char>(line.back()) & 0x80) != 0) line.pop_back();
  return line;
}

class LiveProgress final : public FleetProgress {
 public:
  LiveProgress(int fd, const std::vector<InventoryMeter>& meters, bool color)
      : fd_(fd), color_(color), total_(meters.size()), start_(std::chrono::steady_clock::now()) {
    for (const auto& meter : meters) labels_.push_back(meter.name);
    ticker_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!stopping_) {
        wake_.wait_for(lock, k_redraw_interval);
        if (!stopping_) redraw({});
      }
    });
  }

  ~LiveProgress() override { stop(); }

  void started(std::size_t index) override {
    std::lock_guard lock(mutex_);
    running_.push_back({index, "starting", std::chrono::steady_clock::now()});
    redraw({});
  }

  void step(std::size_t index, std::string_view step) override {
    std::lock_guard lock(mutex_);
    for (auto& running : running_) {
      if (running.index == index) running.step = std::string(step);
    }
    redraw({});
  }

  void finished(std::size_t index, const MeterResult& result) override {
    std::lock_guard lock(mutex_);
    running_.erase(std::remove_if(running_.begin(), running_.end(),
                                  [index](const Running& running) { return running.index == index; }),
                   running_.end());
    ++finished_;
    switch (result.outcome) {
      case Outcome::no_changes: break;
      case Outcome::changed:
      case Outcome::applied: ++changed_; break;
      case Outcome::error: ++errors_; break;
    }
    const char* colour = result.outcome == Outcome::error        ? k_red
                         : result.outcome == Outcome::no_changes ? k_green
                                                                 : k_yellow;
    std::string line = fit(plain_line(result), width());
    if (color_) line = colour + line + k_reset;
    redraw(line);
  }

  void done() override { stop(); }

 private:
  struct Running {
    std::size_t index;
    std::string step;
    std::chrono::steady_clock::time_point since;
  };

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      redraw({});
    }
    wake_.notify_all();
    if (ticker_.joinable()) ticker_.join();
  }

  std::size_t width() const {
    winsize size{};
    if (::ioctl(fd_, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) return size.ws_col - 1U;
    return 79;
  }

  std::size_t height() const {
    winsize size{};
    if (::ioctl(fd_, TIOCGWINSZ, &size) == 0 && size.ws_row > 3) return size.ws_row;
    return 24;
  }

  // Moves up over the block drawn last, erases it, writes `permanent` (a finished meter's
  // line, which stays), then the block again: one line per running meter and the bar.
  // Called with mutex_ held.
  void redraw(const std::string& permanent) {
    std::string out;
    if (drawn_ > 0) out += "\r\x1b[" + std::to_string(drawn_) + "A";
    out += "\r\x1b[J";
    if (!permanent.empty()) out += permanent + "\n";
    drawn_ = 0;
    if (!stopping_) {
      const auto columns = width();
      // Keep the block on the screen: a block taller than the terminal cannot be moved over.
      const std::size_t room = height() - 2;
      const auto now = std::chrono::steady_clock::now();
      std::size_t shown = 0;
      for (const auto& running : running_) {
        if (shown + 1 == room && running_.size() > room) {
          out += fit("  ... and " + std::to_string(running_.size() - shown) + " more", columns) + "\n";
          ++drawn_;
          break;
        }
        out += fit("  " + labels_[running.index] + "  " + running.step + "  " + seconds_text(now - running.since),
                   columns) +
               "\n";
        ++drawn_;
        ++shown;
      }
      out += bar(columns, now) + "\n";
      ++drawn_;
    }
    [[maybe_unused]] const bool written = sec::write_all(fd_, out);
  }

  std::string bar(std::size_t columns, std::chrono::steady_clock::time_point now) const {
    const std::size_t filled = total_ == 0 ? k_bar_width : finished_ * k_bar_width / total_;
    std::string text = "[" + std::string(filled, '#') + std::string(k_bar_width - filled, '-') + "] " +
                       std::to_string(finished_) + "/" + std::to_string(total_) + "  running " +
                       std::to_string(running_.size()) + "  changed " + std::to_string(changed_) + "  errors " +
                       std::to_string(errors_) + "  " + seconds_text(now - start_);
    text = fit(std::move(text), columns);
    if (color_) text = std::string(k_bold) + text + k_reset;
    return text;
  }

  int fd_;
  bool color_;
  std::size_t total_;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::string> labels_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread ticker_;
  bool stopping_ = false;
  std::vector<Running> running_;
  std::size_t finished_ = 0, changed_ = 0, errors_ = 0;
  std::size_t drawn_ = 0;
};

}  // namespace

std::unique_ptr<FleetProgress> make_plain_progress(std::ostream& out, bool errors_only) {
  return std::make_unique<PlainProgress>(out, errors_only);
}

std::unique_ptr<FleetProgress> make_live_progress(int fd, const std::vector<InventoryMeter>& meters, bool color) {
  return std::make_unique<LiveProgress>(fd, meters, color);
}

std::unique_ptr<FleetProgress> make_silent_progress() { return std::make_unique<SilentProgress>(); }

std::vector<MeterResult> run_fleet(const std::vector<InventoryMeter>& meters, unsigned parallel, const MeterTask& task,
                                   FleetProgress& progress) {
  std::vector<MeterResult> results(meters.size());
  std::atomic<std::size_t> next{0};
  std::mutex progress_mutex;
  const auto work = [&] {
    while (true) {
      const auto index = next.fetch_add(1);
      if (index >= meters.size()) return;
      const auto& meter = meters[index];
      {
        std::lock_guard lock(progress_mutex);
        progress.started(index);
      }
      const StatusCallback status = [&progress, &progress_mutex, index](std::string_view step) {
        std::lock_guard lock(progress_mutex);
        progress.step(index, step);
      };
      const auto start = std::chrono::steady_clock::now();
      MeterResult result;
      try {
        result = task(meter, status);
      } catch (const CommandError& error) {
        result = {};
        result.error = error.message;
        result.exit_code = error.code;
      } catch (const std::exception& error) {
        result = {};
        result.error = error.what();
        result.exit_code = exit_software;
      }
      if (!result.error.empty()) result.outcome = Outcome::error;
      result.name = meter.name;
      result.address = meter.address;
      result.port = meter.port;
      result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
      {
        std::lock_guard lock(progress_mutex);
        progress.finished(index, result);
      }
      results[index] = std::move(result);
    }
  };
  const auto threads = std::min<std::size_t>(std::clamp(parallel, 1U, k_max_parallel), meters.size());
  std::vector<std::thread> workers;
  workers.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) workers.emplace_back(work);
  for (auto& worker : workers) worker.join();
  progress.done();
  return results;
}

}  // namespace cli
