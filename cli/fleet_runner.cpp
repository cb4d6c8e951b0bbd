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
  if (!result.summary.empty()) return result.name + " " + result.summary;
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
  void phase(std::string_view text) override {
    if (!errors_only_) out_ << text << std::endl;
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
constexpr std::size_t k_min_bar_width = 8;

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
  LiveProgress(int fd, const std::vector<InventoryMeter>& meters, bool color, FleetCountLabels labels)
      : fd_(fd),
        color_(color),
        count_labels_(std::move(labels)),
        total_(meters.size()),
        start_(std::chrono::steady_clock::now()) {
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
      case Outcome::no_changes: ++unchanged_; break;
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

  void phase(std::string_view text) override {
    std::lock_guard lock(mutex_);
    phase_ = std::string(text);
    // The whole phase line stays above the block; the summary names it short.
    redraw(fit(phase_, width()));
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
    const std::string phase = phase_.substr(0, phase_.find(':'));  // "wave 2/3"
    const std::string counts =
        std::to_string(finished_) + "/" + std::to_string(total_) + "  running " + std::to_string(running_.size()) +
        "  " + count_labels_.changed + " " + std::to_string(changed_) +
        (count_labels_.unchanged.empty() ? std::string()
                                         : "  " + count_labels_.unchanged + " " + std::to_string(unchanged_)) +
        "  " + count_labels_.errors + " " + std::to_string(errors_) + "  " + seconds_text(now - start_);
    // The bar gives up room before the counts do: a line wider than the terminal is cut.
    const std::size_t rest = (phase.empty() ? 0 : phase.size() + 2) + counts.size() + 3;
    const std::size_t width =
        std::clamp<std::size_t>(columns > rest ? columns - rest : 0, k_min_bar_width, k_bar_width);
    const std::size_t filled = total_ == 0 ? width : finished_ * width / total_;
    std::string text = (phase.empty() ? "" : phase + "  ") + "[" + std::string(filled, '#') +
                       std::string(width - filled, '-') + "] " + counts;
    text = fit(std::move(text), columns);
    if (color_) text = std::string(k_bold) + text + k_reset;
    return text;
  }

  int fd_;
  bool color_;
  FleetCountLabels count_labels_;
  std::string phase_;
  std::size_t total_;
  std::chrono::steady_clock::time_point start_;
  std::vector<std::string> labels_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread ticker_;
  bool stopping_ = false;
  std::vector<Running> running_;
  std::size_t finished_ = 0, changed_ = 0, unchanged_ = 0, errors_ = 0;
  std::size_t drawn_ = 0;
};

}  // namespace

std::unique_ptr<FleetProgress> make_plain_progress(std::ostream& out, bool errors_only) {
  return std::make_unique<PlainProgress>(out, errors_only);
}

std::unique_ptr<FleetProgress> make_live_progress(int fd, const std::vector<InventoryMeter>& meters, bool color,
                                                  FleetCountLabels labels) {
  return std::make_unique<LiveProgress>(fd, meters, color, std::move(labels));
}

std::unique_ptr<FleetProgress> make_silent_progress() { return std::make_unique<SilentProgress>(); }

std::vector<std::optional<MeterResult>> run_fleet_in_waves(const std::vector<InventoryMeter>& meters,
                                                           const FleetRunOptions& options, const MeterTask& task,
                                                           FleetProgress& progress) {
  std::vector<std::optional<MeterResult>> results(meters.size());
  std::vector<std::size_t> wave_ends = options.wave_ends;
  if (wave_ends.empty() || wave_ends.back() != meters.size()) wave_ends.push_back(meters.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stopped{false};
  std::mutex progress_mutex;
  const auto run_one = [&](std::size_t index) {
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
      if (options.after_each && !options.after_each(index, result)) stopped = true;
      progress.finished(index, result);
    }
    results[index] = std::move(result);
  };
  std::size_t wave_start = 0;
  for (std::size_t wave = 0; wave < wave_ends.size() && !stopped; ++wave) {
    const auto wave_end = std::min(wave_ends[wave], meters.size());
    if (wave_end <= wave_start) continue;
    if (wave_ends.size() > 1) {
      std::lock_guard lock(progress_mutex);
      const auto count = wave_end - wave_start;
      progress.phase("wave " + std::to_string(wave + 1) + "/" + std::to_string(wave_ends.size()) + ": " +
                     std::to_string(count) + (count == 1 ? " meter" : " meters"));
    }
    next = wave_start;
    const auto work = [&] {
      while (!stopped) {
        const auto index = next.fetch_add(1);
        if (index >= wave_end) return;
        run_one(index);
      }
    };
    const auto threads = std::min<std::size_t>(std::clamp(options.parallel, 1U, k_max_parallel), wave_end - wave_start);
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i) workers.emplace_back(work);
    for (auto& worker : workers) worker.join();
    wave_start = wave_end;
  }
  progress.done();
  return results;
}

std::vector<MeterResult> run_fleet(const std::vector<InventoryMeter>& meters, unsigned parallel, const MeterTask& task,
                                   FleetProgress& progress) {
  FleetRunOptions options;
  options.parallel = parallel;
  auto ran = run_fleet_in_waves(meters, options, task, progress);
  std::vector<MeterResult> results;
  results.reserve(ran.size());
  // Without after_each nothing stops the run, so every meter has its result.
  for (auto& result : ran) results.push_back(std::move(result).value_or(MeterResult{}));
  return results;
}

}  // namespace cli
