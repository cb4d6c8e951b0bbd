#include "cli/upgrade_progress.hpp"

#include <sys/ioctl.h>

#include <algorithm>
#include <cstdio>
#include <ostream>

#include "libsec/private_file.hpp"

namespace cli {

namespace {

constexpr std::size_t k_bar_width = 20;
constexpr double k_mebibyte = 1024.0 * 1024.0;
// A terminal redrawn more often than this only flickers.
constexpr auto k_redraw_interval = std::chrono::milliseconds(100);

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string bar(std::uint64_t done, std::uint64_t total) {
  const std::size_t filled =
      total == 0 ? k_bar_width : static_cast<std::size_t>(std::min(done, total) * k_bar_width / total);
  return "[" + std::string(filled, '#') + std::string(k_bar_width - filled, '-') + "]";
}

std::string percent(std::uint64_t done, std::uint64_t total) {
  return std::to_string(total == 0 ? 100 : std::min(done, total) * 100 / total) + "%";
}

std::string rate_text(double bytes_per_second) { return fixed(bytes_per_second / k_mebibyte, 1) + " MiB/s"; }

std::string fit(std::string line, std::size_t width) {
  if (line.size() > width) line.resize(width);
  return line;
}

class TerminalObserver final : public UpgradeObserver {
 public:
  explicit TerminalObserver(int fd) : fd_(fd) {}

  void begin(UpgradeStage stage) override {
    start_ = std::chrono::steady_clock::now();
    first_done_.reset();
    drawn_at_ = {};
    draw(stage, 0, 0);
  }

  void advance(UpgradeStage stage, std::uint64_t done, std::uint64_t total) override {
    const auto now = std::chrono::steady_clock::now();
    if (!first_done_) first_done_ = done;
    if (now - drawn_at_ < k_redraw_interval && done < total) return;
    draw(stage, done, total);
  }

  void end(UpgradeStage, std::string_view line) override {
    // ECMA-48 EL (erase line): the bar goes, the stage's line stays.
    write("\r\x1b[K" + std::string(line) + "\n");
  }

 private:
  void draw(UpgradeStage stage, std::uint64_t done, std::uint64_t total) {
    drawn_at_ = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = drawn_at_ - start_;
    double rate = 0;
    if (stage == UpgradeStage::transfer && first_done_ && elapsed.count() > 0) {
      rate = static_cast<double>(done - std::min(done, *first_done_)) / elapsed.count();
    }
    if (stage != UpgradeStage::transfer && stage != UpgradeStage::health) {
      done = static_cast<std::uint64_t>(elapsed.count() * 1000);
    }
    write("\r\x1b[K" + stage_bar(stage, done, total, rate, width()));
  }

  std::size_t width() const {
    winsize size{};
    if (::ioctl(fd_, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) return size.ws_col - 1U;
    return 79;
  }

  void write(const std::string& text) { [[maybe_unused]] const bool written = sec::write_all(fd_, text); }

  int fd_;
  std::chrono::steady_clock::time_point start_{};
  std::chrono::steady_clock::time_point drawn_at_{};
  std::optional<std::uint64_t> first_done_;
};

class PlainObserver final : public UpgradeObserver {
 public:
  explicit PlainObserver(std::ostream& out) : out_(out) {}
  void begin(UpgradeStage) override {}
  void advance(UpgradeStage, std::uint64_t, std::uint64_t) override {}
  void end(UpgradeStage, std::string_view line) override { out_ << line << std::endl; }

 private:
  std::ostream& out_;
};

class FleetObserver final : public UpgradeObserver {
 public:
  explicit FleetObserver(const StatusCallback& status) : status_(status) {}
  void begin(UpgradeStage stage) override {
    shown_.clear();
    show(fleet_step(stage, 0, 0));
  }
  void advance(UpgradeStage stage, std::uint64_t done, std::uint64_t total) override {
    show(fleet_step(stage, done, total));
  }
  void end(UpgradeStage, std::string_view) override {}

 private:
  // The display redraws on every step; a step that reads the same is not one.
  void show(const std::string& step) {
    if (step == shown_) return;
    shown_ = step;
    status_(step);
  }

  const StatusCallback& status_;
  std::string shown_;
};

class SilentObserver final : public UpgradeObserver {
 public:
  void begin(UpgradeStage) override {}
  void advance(UpgradeStage, std::uint64_t, std::uint64_t) override {}
  void end(UpgradeStage, std::string_view) override {}
};

}  // namespace

std::string_view to_string(UpgradeStage stage) {
  switch (stage) {
    case UpgradeStage::check: return "check";
    case UpgradeStage::backup: return "backup";
    case UpgradeStage::transfer: return "transfer";
    case UpgradeStage::verify: return "verify";
    case UpgradeStage::activate: return "activate";
    case UpgradeStage::health: return "health";
  }
  return "check";
}

std::string byte_size_text(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const auto value = static_cast<double>(bytes);
  if (bytes < 1024ULL * 1024) return fixed(value / 1024.0, 1) + " KiB";
  if (bytes < 1024ULL * 1024 * 1024) return fixed(value / k_mebibyte, 1) + " MiB";
  return fixed(value / (k_mebibyte * 1024.0), 1) + " GiB";
}

std::string transfer_line(std::uint64_t sent, std::chrono::duration<double> elapsed, std::uint64_t resumed_at) {
  // A transfer shorter than the clock's grain still gets a finite rate.
  const double seconds = std::max(elapsed.count(), 0.001);
  std::string line = "transfer " + byte_size_text(sent) + " in " + fixed(elapsed.count(), 2) + " s (" +
                     rate_text(static_cast<double>(sent) / seconds) + ")";
  if (resumed_at > 0) line += ", resumed at " + byte_size_text(resumed_at);
  return line;
}

std::string stage_bar(UpgradeStage stage, std::uint64_t done, std::uint64_t total, double bytes_per_second,
                      std::size_t width) {
  std::string line(to_string(stage));
  line.resize(std::max<std::size_t>(line.size(), 8), ' ');
  switch (stage) {
    case UpgradeStage::transfer: {
      line += " " + bar(done, total) + " " + percent(done, total) + "  " + byte_size_text(done) + " of " +
              byte_size_text(total);
      if (bytes_per_second > 0) line += "  " + rate_text(bytes_per_second);
      break;
    }
    case UpgradeStage::health:
      line += " " + bar(done, total) + " waiting " + fixed(static_cast<double>(done) / 1000.0, 1) + " s of " +
              fixed(static_cast<double>(total) / 1000.0, 0) + " s for the new firmware to report healthy";
      break;
    default: line += " ... " + fixed(static_cast<double>(done) / 1000.0, 1) + " s"; break;
  }
  return fit(std::move(line), width);
}

std::string fleet_step(UpgradeStage stage, std::uint64_t done, std::uint64_t total) {
  std::string step(to_string(stage));
  // The display shows how long each meter has been at it; the transfer alone has a share.
  if (stage == UpgradeStage::transfer && total > 0) return step + " " + percent(done, total);
  return step;
}

std::unique_ptr<UpgradeObserver> make_terminal_observer(int fd) { return std::make_unique<TerminalObserver>(fd); }
std::unique_ptr<UpgradeObserver> make_plain_observer(std::ostream& out) { return std::make_unique<PlainObserver>(out); }
std::unique_ptr<UpgradeObserver> make_fleet_observer(const StatusCallback& status) {
  return std::make_unique<FleetObserver>(status);
}
std::unique_ptr<UpgradeObserver> make_silent_observer() { return std::make_unique<SilentObserver>(); }

}  // namespace cli
