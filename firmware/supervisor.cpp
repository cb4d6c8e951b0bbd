#include "firmware/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>

#include <nlohmann/json.hpp>

#include "firmware/boot_decisions.hpp"
#include "firmware/boot_record.hpp"
#include "firmware/daemon.hpp"
#include "firmware/log.hpp"
#include "firmware/meter_state.hpp"
#include "libproto/model/utc_time.hpp"
#include "libsec/private_file.hpp"

extern char** environ;

namespace meterd {

namespace {

using Clock = std::chrono::steady_clock;

// meterd(8): a committed firmware that dies after it was healthy boots again after this
// pause, so a firmware that crashes at once does not spin the processor.
constexpr auto k_restart_pause = std::chrono::seconds(1);
// The ready file of one meter is well under this; anything larger is not ours.
constexpr std::size_t k_max_ready_file_bytes = 1024 * 1024;

std::int64_t unix_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string errno_text() { return std::strerror(errno); }

std::string slot_version_text(const SlotRecord& slot) {
  return slot.version ? slot.version->to_string() : std::string("factory");
}

proto::Result<std::string, std::string> own_executable() {
  char resolved[PATH_MAX];
  if (::realpath("/proc/self/exe", resolved) == nullptr) {
    return proto::unexpected("cannot resolve /proc/self/exe: " + errno_text());
  }
  return std::string(resolved);
}

// Creates the boot record on the first supervised start. The factory slot always runs the
// meterd that was started: a reinstalled meterd replaces the factory firmware.
proto::Result<proto::Ok, std::string> prepare_boot_record(const std::filesystem::path& state_dir) {
  auto executable = own_executable();
  if (!executable) return proto::unexpected(executable.error());
  auto lock = lock_boot_record(state_dir);
  if (!lock) return proto::unexpected(lock.error());
  auto loaded = load_boot_record(state_dir);
  if (!loaded) return proto::unexpected(loaded.error());
  if (!loaded->has_value()) {
    log::info("firmware.boot_record_created",
              {{"state_dir", state_dir.string()}, {"factory_executable", *executable}});
    return save_boot_record(state_dir, first_boot_record(*executable, proto::model::iso_utc(unix_now())));
  }
  auto record = std::move(**loaded);
  bool changed = false;
  for (auto& slot : record.slots) {
    if (slot && slot->factory && slot->executable != *executable) {
      slot->executable = *executable;
      changed = true;
    }
  }
  if (!changed) return proto::Ok{};
  return save_boot_record(state_dir, record);
}

// Puts the meter state of before the trial back; the fallback's first step. Repeating it
// (a supervisor killed before it saved the record) writes the same bytes again.
proto::Result<proto::Ok, std::string> restore_pre_trial_state(const std::filesystem::path& state_dir) {
  const auto copy = pre_trial_state_file(state_dir);
  auto text = sec::read_file_if_exists(copy, k_max_state_file_bytes);
  if (!text) return proto::unexpected(text.error());
  if (!text->has_value()) {
    log::warning("firmware.no_pre_trial_state",
                 {{"file", copy.string()}, {"detail", "the meter state stays as the trial firmware left it"}});
    return proto::Ok{};
  }
  return sec::write_private_file_atomically(state_dir / k_state_file_name, **text);
}

struct PreparedBoot {
  BootDecision decision;
  SlotRecord slot;
};

// Reads the record, decides, and carries the decision's file changes out, all under the
// boot lock: the firmware may have written a trial since the last boot.
proto::Result<PreparedBoot, std::string> prepare_boot(const std::filesystem::path& state_dir,
                                                      const TrialHistory& history) {
  auto lock = lock_boot_record(state_dir);
  if (!lock) return proto::unexpected(lock.error());
  auto loaded = load_boot_record(state_dir);
  if (!loaded) return proto::unexpected(loaded.error());
  if (!loaded->has_value()) return proto::unexpected(firmware_directory(state_dir).string() + "/boot.json is gone");
  const auto& record = **loaded;
  auto decision = decide_boot(record, history, unix_now());
  if (decision.fell_back_because) {
    if (auto restored = restore_pre_trial_state(state_dir); !restored) return proto::unexpected(restored.error());
  }
  if (decision.record_to_save) {
    if (auto saved = save_boot_record(state_dir, *decision.record_to_save); !saved) {
      return proto::unexpected(saved.error());
    }
  }
  if (decision.fell_back_because) {
    const auto& trial = *record.trial;
    log::warning("firmware.fell_back", {{"slot", std::string(to_string(trial.slot))},
                                        {"version", trial.to_version.to_string()},
                                        {"active", std::string(to_string(record.active))},
                                        {"reason", *decision.fell_back_because}});
  }
  const auto& slot = record.slot(decision.slot);
  return PreparedBoot{decision, *slot};
}

// Commits the trial of `slot` if the record still holds it.
void commit(const std::filesystem::path& state_dir, Slot slot) {
  auto lock = lock_boot_record(state_dir);
  if (!lock) {
    log::error("firmware.commit_failed", {{"error", lock.error()}});
    return;
  }
  auto loaded = load_boot_record(state_dir);
  if (!loaded || !loaded->has_value() || !(**loaded).trial || (**loaded).trial->slot != slot) {
    log::error("firmware.commit_failed",
               {{"error", loaded ? "the boot record no longer holds the trial of slot " + std::string(to_string(slot))
                                 : loaded.error()}});
    return;
  }
  const auto committed = commit_trial(**loaded, unix_now());
  if (auto saved = save_boot_record(state_dir, committed); !saved) {
    log::error("firmware.commit_failed", {{"error", saved.error()}});
    return;
  }
  log::info("firmware.committed", {{"slot", std::string(to_string(slot))},
                                   {"version", committed.last_outcome->version.to_string()},
                                   {"rollback_floor", committed.rollback_floor ? committed.rollback_floor->to_string()
                                                                               : std::string("none")}});
}

// A ready file left by a firmware that died without removing it.
void remove_stale_ready_file(const std::filesystem::path& ready_file, pid_t firmware) {
  if (ready_file.empty()) return;
  auto text = sec::read_file_if_exists(ready_file, k_max_ready_file_bytes);
  if (!text || !text->has_value()) return;
  const auto document = nlohmann::json::parse(**text, nullptr, false);
  if (document.is_object() && document.contains("firmware_pid") && document["firmware_pid"] == firmware) {
    std::error_code ignored;
    std::filesystem::remove(ready_file, ignored);
  }
}

// The signals the supervisor handles itself, read from a signalfd so one poll() waits for
// them, the health pipe and the deadline together.
class SignalChannel {
 public:
  SignalChannel() {
    sigemptyset(&handled_);
    sigaddset(&handled_, SIGTERM);
    sigaddset(&handled_, SIGINT);
    sigaddset(&handled_, SIGCHLD);
    if (::sigprocmask(SIG_BLOCK, &handled_, &original_) != 0) throw std::runtime_error("sigprocmask: " + errno_text());
    fd_ = ::signalfd(-1, &handled_, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd_ < 0) throw std::runtime_error("signalfd: " + errno_text());
  }
  SignalChannel(const SignalChannel&) = delete;
  SignalChannel& operator=(const SignalChannel&) = delete;
  ~SignalChannel() {
    ::close(fd_);
    ::sigprocmask(SIG_SETMASK, &original_, nullptr);
  }

  int fd() const { return fd_; }
  // The mask meterd started with, for the firmware.
  const sigset_t& original_mask() const { return original_; }

  // The next pending signal, or 0.
  int next() {
    signalfd_siginfo info{};
    const auto got = ::read(fd_, &info, sizeof info);
    return got == static_cast<ssize_t>(sizeof info) ? static_cast<int>(info.ssi_signo) : 0;
  }

 private:
  sigset_t handled_{};
  sigset_t original_{};
  int fd_ = -1;
};

// Everything the child needs, built before fork() so the child only calls
// async-signal-safe functions.
struct Launch {
  std::string executable;
  std::vector<std::string> arguments;  // argv[0] included
  std::vector<std::string> environment;
};

Launch launch_for(const SlotRecord& slot, Slot which, const std::vector<std::string>& arguments, int health_fd,
                  const std::optional<BootPorts>& ports) {
  Launch launch;
  launch.executable = slot.executable;
  launch.arguments.push_back(slot.executable);
  for (auto& argument : firmware_arguments(arguments, slot)) launch.arguments.push_back(std::move(argument));
  const std::string slot_prefix = std::string(k_boot_slot_variable) + "=";
  const std::string health_prefix = std::string(k_health_fd_variable) + "=";
  const std::string ports_prefix = std::string(k_boot_ports_variable) + "=";
  for (char** entry = environ; entry && *entry; ++entry) {
    const std::string_view variable(*entry);
    if (variable.starts_with(slot_prefix) || variable.starts_with(health_prefix) || variable.starts_with(ports_prefix)) {
      continue;
    }
    launch.environment.emplace_back(variable);
  }
  launch.environment.push_back(slot_prefix + std::string(to_string(which)));
  launch.environment.push_back(health_prefix + std::to_string(health_fd));
  if (ports) launch.environment.push_back(ports_prefix + format_boot_ports(*ports));
  return launch;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (auto& text : strings) result.push_back(text.data());
  result.push_back(nullptr);
  return result;
}

// Forks the firmware. Its health pipe's write end is the only descriptor it inherits
// from us; it dies with SIGKILL when the supervisor dies, as it would in a power cut.
proto::Result<pid_t, std::string> start_firmware(Launch launch, int health_write_fd, const sigset_t& original_mask) {
  auto argv = pointers(launch.arguments);
  auto envp = pointers(launch.environment);
  const std::string exec_failed = "meterd: cannot run " + launch.executable + ": ";
  const pid_t supervisor = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) return proto::unexpected("fork: " + errno_text());
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The supervisor died between fork() and prctl(): nothing would kill us later.
    if (::getppid() != supervisor) ::_exit(127);
    ::fcntl(health_write_fd, F_SETFD, 0);
    ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    ::execve(launch.executable.c_str(), argv.data(), envp.data());
    const char* reason = std::strerror(errno);
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    ignored = ::write(STDERR_FILENO, reason, std::strlen(reason));
    ignored = ::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
  }
  return child;
}

ChildEnd child_end(int status) {
  if (WIFSIGNALED(status)) return ChildEnd::killed(WTERMSIG(status));
  return ChildEnd::exited(WEXITSTATUS(status));
}

const char* signal_name(int signal_number) { return signal_number == SIGINT ? "SIGINT" : "SIGTERM"; }

// One supervisor per state directory: a second one would count the first one's trial
// boots as its own. Held until the process dies (the descriptor is never closed), and not
// inherited by the firmware.
proto::Result<proto::Ok, std::string> hold_supervisor_lock(const std::filesystem::path& state_dir) {
  auto created = sec::create_private_directory(firmware_directory(state_dir));
  if (!created) return proto::unexpected(created.error());
  const auto path = firmware_directory(state_dir) / "supervisor.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, sec::k_private_file_mode);
  if (fd < 0) return proto::unexpected("cannot open " + path.string() + ": " + errno_text());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char owner[32] = {};
    const auto got = ::pread(fd, owner, sizeof owner - 1, 0);
    ::close(fd);
    return proto::unexpected("state directory " + state_dir.string() + " is in use by another meterd" +
                             (got > 0 ? " (pid " + std::string(owner, static_cast<std::size_t>(got)) + ")" : "") +
                             "; stop it or use another --state-dir");
  }
  // The pid only makes the message above more helpful; the lock is what counts.
  const auto pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const auto written = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return proto::Ok{};
}

class Supervisor {
 public:
  explicit Supervisor(const SupervisorSettings& settings) : settings_(settings) {}

  int run() {
    for (;;) {
      auto prepared = prepare_boot(settings_.state_dir, history_);
      if (!prepared) {
        log::error("firmware.boot_failed", {{"error", prepared.error()}});
        return exit_config;
      }
      if (prepared->decision.fell_back_because) history_ = {};
      auto outcome = boot(*prepared);
      if (!outcome) {
        log::error("firmware.boot_failed", {{"error", outcome.error()}});
        return exit_software;
      }
      const auto after = decide_after_run(*outcome);
      if (after.trial_failure) history_.failures.push_back(*after.trial_failure);
      if (outcome->end == ChildEnd::exited(k_exit_reboot) && !outcome->trial) history_ = {};
      if (after.step == NextStep::exit) return after.exit_status;
      if (after.step == NextStep::boot_after_pause && !pause()) return exit_ok;
    }
  }

 private:
  // Runs one firmware until it ends.
  proto::Result<FirmwareRun, std::string> boot(const PreparedBoot& prepared) {
    const auto& decision = prepared.decision;
    int health[2];
    if (::pipe2(health, O_CLOEXEC) != 0) return proto::unexpected("pipe: " + errno_text());
    sec::FileDescriptor health_read(health[0]);
    sec::FileDescriptor health_write(health[1]);
    auto child = start_firmware(launch_for(prepared.slot, decision.slot, settings_.arguments, health_write.get(), learned_ports_),
                                health_write.get(), signals_.original_mask());
    if (!child) return proto::unexpected(child.error());
    // Only the firmware may hold the write end: its exit is then the pipe's end of file.
    health_write.close();
    const pid_t pid = *child;
    const auto slot_name = std::string(to_string(decision.slot));
    log::info("firmware.booting",
              {{"slot", slot_name},
               {"version", slot_version_text(prepared.slot)},
               {"trial", decision.trial ? "boot " + std::to_string(decision.attempt) + " of " +
                                              std::to_string(decision.max_attempts) + ", health within " +
                                              std::to_string(decision.health_deadline_s) + " s"
                                        : std::string("no")},
               {"executable", prepared.slot.executable},
               {"pid", std::to_string(pid)}});

    FirmwareRun run;
    run.trial = decision.trial;
    const auto deadline = Clock::now() + std::chrono::seconds(decision.health_deadline_s);
    bool deadline_missed = false;
    bool pipe_open = true;
    std::string received;
    for (;;) {
      pollfd watched[2] = {{signals_.fd(), POLLIN, 0}, {health_read.get(), POLLIN, 0}};
      int timeout_ms = -1;
      if (run.trial && !run.healthy && !deadline_missed) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        timeout_ms = static_cast<int>(std::max<long long>(0, left));
      }
      const int ready = ::poll(watched, pipe_open ? 2 : 1, timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        return proto::unexpected("poll: " + errno_text());
      }
      if (pipe_open && (watched[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buffer[64];
        const auto got = ::read(health_read.get(), buffer, sizeof buffer);
        if (got > 0) {
          // Bounded: a firmware writing nonsense cannot make us store it.
          if (received.size() < 64) received.append(buffer, static_cast<std::size_t>(got));
          if (!run.healthy && received.find(k_health_report) != std::string::npos) {
            run.healthy = true;
            if (!learned_ports_) learned_ports_ = reported_ports(received);
            log::info("firmware.healthy", {{"slot", slot_name}, {"pid", std::to_string(pid)}});
            if (run.trial) {
              commit(settings_.state_dir, decision.slot);
              run.trial = false;
            }
          }
        } else if (got == 0 || errno != EINTR) {
          pipe_open = false;
        }
      }
      if ((watched[0].revents & POLLIN) != 0) {
        for (int signal_number = signals_.next(); signal_number != 0; signal_number = signals_.next()) {
          if (signal_number == SIGTERM || signal_number == SIGINT) {
            if (!run.stopping) log::info("supervisor.stopping", {{"signal", signal_name(signal_number)}});
            run.stopping = true;
            ::kill(pid, signal_number);
          }
        }
        int status = 0;
        const pid_t ended = ::waitpid(pid, &status, WNOHANG);
        if (ended == pid) {
          run.end = child_end(status);
          break;
        }
      }
      if (ready == 0 && run.trial && !run.healthy && !deadline_missed) {
        deadline_missed = true;
        const auto reason = missed_deadline_reason(decision.health_deadline_s);
        log::warning("firmware.unhealthy", {{"slot", slot_name}, {"pid", std::to_string(pid)}, {"reason", reason}});
        history_.fall_back = reason;
        ::kill(pid, SIGKILL);
      }
    }
    remove_stale_ready_file(settings_.ready_file, pid);
    log::event(run.healthy || run.stopping ? log::Level::info : log::Level::warning, "firmware.exited",
               {{"slot", slot_name},
                {"pid", std::to_string(pid)},
                {"status", describe(run.end)},
                {"healthy", run.healthy ? "yes" : "no"}});
    return run;
  }

  // Waits before booting again; false when SIGTERM or SIGINT came meanwhile.
  bool pause() {
    const auto until = Clock::now() + k_restart_pause;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) return true;
      pollfd watched{signals_.fd(), POLLIN, 0};
      if (::poll(&watched, 1, static_cast<int>(left)) > 0) {
        for (int signal_number = signals_.next(); signal_number != 0; signal_number = signals_.next()) {
          if (signal_number == SIGTERM || signal_number == SIGINT) {
            log::info("supervisor.stopping", {{"signal", signal_name(signal_number)}});
            return false;
          }
        }
      }
    }
  }

  const SupervisorSettings& settings_;
  // The first healthy firmware's ports; later boots keep them (see METERD_BOOT_PORTS).
  std::optional<BootPorts> learned_ports_;
  SignalChannel signals_;
  TrialHistory history_;
};

}  // namespace

int run_supervisor(const SupervisorSettings& settings) {
  std::error_code error;
  std::filesystem::create_directories(settings.state_dir, error);
  if (error) {
    log::error("supervisor.failed",
               {{"error", "cannot create state directory " + settings.state_dir.string() + ": " + error.message()}});
    return exit_config;
  }
  if (auto held = hold_supervisor_lock(settings.state_dir); !held) {
    log::error("supervisor.failed", {{"error", held.error()}});
    return exit_config;
  }
  if (auto prepared = prepare_boot_record(settings.state_dir); !prepared) {
    log::error("supervisor.failed", {{"error", prepared.error()}});
    return exit_config;
  }
  Supervisor supervisor(settings);
  return supervisor.run();
}

}  // namespace meterd
