// Native management protocol benchmark: latency and throughput of meterd's native ports,
// plain and TLS, driven through cli::NativeClient (the code meterctl itself runs).
//
// Measures, for each transport:
//   connect  TCP connect (+ TLS handshake and certificate check) + hello, new connection each time
//   login    login of User1 on that fresh connection
//   rtt      round trip of "read" {"points": ["voltage_an"]} on one logged-in session
//   load     requests/s, p50 and p99 of that "read" with N concurrent sessions, one thread
//            and one connection per session, each logged in on its own connection
// It prints one JSON line per measurement as it finishes, then a table, plus meterd's
// VmRSS before and after. Run through scripts/bench-native; see tests/bench/README.md.
//
// Usage: native_bench --ready-file FILE [options]
//   --ready-file FILE     meterd's ready file: {"pid", "native", "secure", "meters": [{"state_dir"}]}
//   --host HOST           address of meterd (default 127.0.0.1)
//   --ca-file FILE        CA file for TLS (default <state_dir>/tls/device-cert.pem from the ready file)
//   --iterations N        connect/login iterations per transport (default 200)
//   --requests N          round trips on one session per transport (default 2000)
//   --sessions "1 10 100" concurrent session counts (default "1 10 100")
//   --seconds S           measured seconds per load run (default 3)
//   --warmup S            unmeasured seconds before each load run (default 0.5)
//   --transports LIST     plain, tls or plain,tls (default plain,tls)
//   --user U --password P account to log in with (default User1 / 0)
//   --timeout-ms MS       per-operation timeout (default 10000)
//
// Exit status: 0 clean run, 1 errors during the run, 2 usage error.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/native_client.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::filesystem::path ready_file;
  std::string host = "127.0.0.1";
  std::optional<std::filesystem::path> ca_file;
  int iterations = 200;
  int requests = 2000;
  std::vector<int> sessions = {1, 10, 100};
  double seconds = 3.0;
  double warmup = 0.5;
  bool plain = true;
  bool tls = true;
  std::string user = "User1";
  std::string password = "0";
  std::chrono::milliseconds timeout{10000};
};

struct Target {
  int pid = 0;
  std::uint16_t native_port = 0;
  std::uint16_t secure_port = 0;
  std::filesystem::path state_dir;
};

// One row of the table and one JSON line.
struct Measurement {
  std::string name;       // connect, login, rtt, load
  std::string transport;  // plain, tls
  int sessions = 1;
  std::size_t samples = 0;
  double p50_us = NAN;
  double p99_us = NAN;
  double mean_us = NAN;
  double max_us = NAN;
  double requests_per_s = NAN;  // load only
  int logged_in = -1;           // load only: sessions that could log in
  int errors = 0;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "native_bench: " << message << " (see the comment at the top of tests/bench/native_bench.cpp)\n";
  std::exit(2);
}

template <typename T>
T parse_number(const std::string& text, const char* what) {
  T value{};
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) usage_error(std::string(what) + " must be a number, got '" + text + "'");
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) usage_error(arg + " needs a value");
      return args[++i];
    };
    if (arg == "--ready-file") options.ready_file = value();
    else if (arg == "--host") options.host = value();
    else if (arg == "--ca-file") options.ca_file = value();
    else if (arg == "--iterations") options.iterations = parse_number<int>(value(), "--iterations");
    else if (arg == "--requests") options.requests = parse_number<int>(value(), "--requests");
    else if (arg == "--seconds") options.seconds = parse_number<double>(value(), "--seconds");
    else if (arg == "--warmup") options.warmup = parse_number<double>(value(), "--warmup");
    else if (arg == "--user") options.user = value();
    else if (arg == "--password") options.password = value();
    else if (arg == "--timeout-ms") options.timeout = std::chrono::milliseconds(parse_number<int>(value(), "--timeout-ms"));
    else if (arg == "--sessions") {
      options.sessions.clear();
      std::istringstream words(value());
      for (std::string word; words >> word;) options.sessions.push_back(parse_number<int>(word, "--sessions"));
    } else if (arg == "--transports") {
      const auto& list = value();
      options.plain = list.find("plain") != std::string::npos;
      options.tls = list.find("tls") != std::string::npos;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << "native_bench --ready-file FILE [--host H] [--ca-file F] [--iterations N] [--requests N]\n"
                   "             [--sessions \"1 10 100\"] [--seconds S] [--warmup S] [--transports plain,tls]\n"
                   "             [--user U] [--password P] [--timeout-ms MS]\n";
      std::exit(0);
    } else {
      usage_error("unknown argument '" + arg + "'");
    }
  }
  if (options.ready_file.empty()) usage_error("--ready-file is required");
  if (options.iterations < 1 || options.requests < 1) usage_error("--iterations and --requests must be positive");
  if (!(options.seconds > 0) || options.warmup < 0) usage_error("--seconds must be positive, --warmup not negative");
  if (!options.plain && !options.tls) usage_error("--transports must name plain, tls or both");
  for (const int n : options.sessions) {
    if (n < 1) usage_error("--sessions must hold positive integers");
  }
  return options;
}

Target read_ready_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) usage_error("cannot read " + file.string());
  const auto document = json::parse(in, nullptr, false);
  if (document.is_discarded() || !document.is_object()) usage_error(file.string() + " is not a JSON object");
  Target target;
  target.pid = document.value("pid", 0);
  target.native_port = document.value("native", std::uint16_t{0});
  target.secure_port = document.value("secure", std::uint16_t{0});
  if (const auto meters = document.find("meters"); meters != document.end() && meters->is_array() && !meters->empty()) {
    target.state_dir = meters->front().value("state_dir", std::string());
  }
  return target;
}

// A line of /proc/PID/status such as "VmRSS:", in kB; -1 if unreadable.
long proc_status_kb(int pid, const std::string& key) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + key.size(), nullptr, 10);
  }
  return -1;
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

void summarise(Measurement& m, std::vector<double> latencies) {
  std::sort(latencies.begin(), latencies.end());
  m.samples = latencies.size();
  if (latencies.empty()) return;
  m.p50_us = percentile(latencies, 50);
  m.p99_us = percentile(latencies, 99);
  double sum = 0;
  for (const double v : latencies) sum += v;
  m.mean_us = sum / static_cast<double>(latencies.size());
  m.max_us = latencies.back();
}

nlohmann::ordered_json number_or_null(double v, int decimals = 1) {
  if (!std::isfinite(v)) return nullptr;
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

void print_json(const Measurement& m) {
  nlohmann::ordered_json line = {{"measurement", m.name},       {"transport", m.transport},
               {"sessions", m.sessions},      {"samples", m.samples},
               {"p50_us", number_or_null(m.p50_us)}, {"p99_us", number_or_null(m.p99_us)},
               {"mean_us", number_or_null(m.mean_us)}, {"max_us", number_or_null(m.max_us)},
               {"requests_per_s", number_or_null(m.requests_per_s)}, {"errors", m.errors}};
  if (m.logged_in >= 0) line["logged_in"] = m.logged_in;
  std::cout << line.dump() << std::endl;
}

// The meter refused a login because its session store is full (ErrorCode::busy).
bool is_busy(const cli::CommandError& error) { return error.message.find("(busy)") != std::string::npos; }

class Bench {
 public:
  Bench(Options options, Target target) : options_(std::move(options)), target_(std::move(target)) {}

  cli::NativeEndpoint endpoint(bool secure) const {
    cli::NativeEndpoint e;
    e.host = options_.host;
    e.port = secure ? target_.secure_port : target_.native_port;
    e.secure = secure;
    if (secure) e.ca_file = ca_file();
    return e;
  }

  std::filesystem::path ca_file() const {
    if (options_.ca_file) return *options_.ca_file;
    return target_.state_dir / "tls" / "device-cert.pem";
  }

  void report_error(const std::string& where, const cli::CommandError& error) {
    const std::lock_guard lock(error_mutex_);
    if (++printed_errors_ <= 10) std::cerr << "native_bench: " << where << ": " << error.message << '\n';
    if (printed_errors_ == 10) std::cerr << "native_bench: further errors are counted, not printed\n";
  }

  // A logged-in session, or nullptr.
  std::unique_ptr<cli::NativeClient> session(bool secure, int& errors) {
    auto client = cli::NativeClient::connect(endpoint(secure), options_.timeout);
    if (!client) {
      report_error("connect", client.error());
      ++errors;
      return nullptr;
    }
    if (auto login = (*client)->login(options_.user, options_.password); !login) {
      report_error("login", login.error());
      ++errors;
      return nullptr;
    }
    return std::move(*client);
  }

  // (1) connect + hello, then login, on a new connection each time.
  void connect_and_login(bool secure, const std::string& transport) {
    Measurement connect{"connect", transport};
    Measurement login{"login", transport};
    std::vector<double> connect_us, login_us;
    constexpr int warmup_iterations = 5;
    for (int i = 0; i < warmup_iterations + options_.iterations; ++i) {
      const bool measured = i >= warmup_iterations;
      const auto t0 = Clock::now();
      auto client = cli::NativeClient::connect(endpoint(secure), options_.timeout);
      const auto t1 = Clock::now();
      if (!client) {
        report_error("connect", client.error());
        ++connect.errors;
        continue;
      }
      auto logged_in = (*client)->login(options_.user, options_.password);
      const auto t2 = Clock::now();
      if (!logged_in) {
        report_error("login", logged_in.error());
        ++login.errors;
        continue;
      }
      if (measured) {
        connect_us.push_back(micros(t1 - t0));
        login_us.push_back(micros(t2 - t1));
      }
      // Free the session at once rather than when meterd notices the close.
      (*client)->logout();
    }
    summarise(connect, std::move(connect_us));
    summarise(login, std::move(login_us));
    finish(connect);
    finish(login);
  }

  // (2) round trip of one read on one logged-in session.
  void round_trip(bool secure, const std::string& transport) {
    Measurement m{"rtt", transport};
    std::vector<double> rtt_us;
    rtt_us.reserve(static_cast<std::size_t>(options_.requests));
    auto client = session(secure, m.errors);
    constexpr int warmup_requests = 50;
    for (int i = 0; client && i < warmup_requests + options_.requests; ++i) {
      const auto t0 = Clock::now();
      auto answer = client->request("read", read_arguments_);
      const auto t1 = Clock::now();
      if (!answer) {
        report_error("read", answer.error());
        ++m.errors;
        client = session(secure, m.errors);  // the connection may be gone: start over
        continue;
      }
      if (i >= warmup_requests) rtt_us.push_back(micros(t1 - t0));
    }
    if (client) client->logout();
    summarise(m, std::move(rtt_us));
    finish(m);
  }

  // (3) N sessions, one thread each, closed loop of reads for options_.seconds.
  void load(bool secure, const std::string& transport, int sessions) {
    Measurement m{"load", transport, sessions};
    struct Worker {
      std::vector<double> latencies;
      std::uint64_t good = 0;
      int errors = 0;
      bool logged_in = false;
    };
    std::vector<Worker> workers(static_cast<std::size_t>(sessions));
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    // Set by the main thread before `go`; read by the workers after it.
    Clock::time_point measure_from, measure_until;

    auto body = [&](Worker& w) {
      std::unique_ptr<cli::NativeClient> client;
      auto connected = cli::NativeClient::connect(endpoint(secure), options_.timeout);
      if (connected) {
        client = std::move(*connected);
        if (auto login = client->login(options_.user, options_.password)) {
          w.logged_in = true;
        } else if (!is_busy(login.error())) {
          report_error("login", login.error());
          ++w.errors;
          client.reset();
        }
        // busy: meterd's session store is full; this session reads anonymously.
      } else {
        report_error("connect", connected.error());
        ++w.errors;
      }
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      if (!client) return;
      w.latencies.reserve(4096);
      while (true) {
        const auto t0 = Clock::now();
        if (t0 >= measure_until) break;
        auto answer = client->request("read", read_arguments_);
        const auto t1 = Clock::now();
        if (!answer) {
          report_error("read", answer.error());
          ++w.errors;
          break;
        }
        if (t0 >= measure_from && t1 <= measure_until) {
          w.latencies.push_back(micros(t1 - t0));
          ++w.good;
        }
      }
      client->logout();
    };

    std::vector<std::thread> threads;
    threads.reserve(workers.size());
    for (auto& w : workers) threads.emplace_back(body, std::ref(w));
    while (ready.load() < sessions) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    measure_from = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.warmup));
    measure_until = measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.seconds));
    go.store(true);
    for (auto& t : threads) t.join();

    std::vector<double> all;
    std::uint64_t good = 0;
    m.logged_in = 0;
    for (auto& w : workers) {
      all.insert(all.end(), w.latencies.begin(), w.latencies.end());
      good += w.good;
      m.errors += w.errors;
      m.logged_in += w.logged_in ? 1 : 0;
    }
    summarise(m, std::move(all));
    m.requests_per_s = static_cast<double>(good) / options_.seconds;
    finish(m);
  }

  void finish(const Measurement& m) {
    print_json(m);
    results_.push_back(m);
  }

  int run() {
    std::cout << "meterd pid " << target_.pid << ", native port " << target_.native_port << ", secure port "
              << target_.secure_port << ", CA file " << ca_file().string() << '\n';
    const long rss_before = proc_status_kb(target_.pid, "VmRSS:");
    for (const bool secure : {false, true}) {
      if (secure ? !options_.tls : !options_.plain) continue;
      const std::string transport = secure ? "tls" : "plain";
      if ((secure ? target_.secure_port : target_.native_port) == 0) {
        std::cerr << "native_bench: the ready file gives no " << (secure ? "secure" : "native") << " port\n";
        return 1;
      }
      connect_and_login(secure, transport);
      round_trip(secure, transport);
      for (const int n : options_.sessions) load(secure, transport, n);
    }
    const long rss_after = proc_status_kb(target_.pid, "VmRSS:");
    const long hwm_after = proc_status_kb(target_.pid, "VmHWM:");
    std::cout << nlohmann::ordered_json{{"measurement", "meterd_memory"}, {"pid", target_.pid}, {"vmrss_kb_before", rss_before},
                      {"vmrss_kb_after", rss_after}, {"vmhwm_kb_after", hwm_after}}
                     .dump()
              << "\n\n";
    print_table();
    std::cout << "meterd VmRSS: " << rss_before << " kB before, " << rss_after << " kB after (peak VmHWM " << hwm_after
              << " kB)\n";
    int errors = 0;
    for (const auto& m : results_) errors += m.errors;
    for (const auto& m : results_) {
      if (m.name == "load" && m.logged_in < m.sessions) {
        std::cout << "note: " << m.transport << " load with " << m.sessions << " sessions: only " << m.logged_in
                  << " could log in (meterd's session store is full); the rest read anonymously\n";
      }
    }
    if (errors > 0) {
      std::cerr << "native_bench: " << errors << " errors; the figures are not reliable\n";
      return 1;
    }
    return 0;
  }

  void print_table() const {
    auto cell = [](double v, int decimals) {
      if (!std::isfinite(v)) return std::string("-");
      char buffer[32];
      std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
      return std::string(buffer);
    };
    std::printf("%-9s %-6s %8s %8s %10s %10s %10s %11s %9s %6s\n", "transport", "what", "sessions", "samples",
                "p50 us", "p99 us", "max us", "req/s", "logged in", "errors");
    for (const auto& m : results_) {
      const std::string logged = m.logged_in >= 0 ? std::to_string(m.logged_in) + "/" + std::to_string(m.sessions) : "-";
      std::printf("%-9s %-6s %8d %8zu %10s %10s %10s %11s %9s %6d\n", m.transport.c_str(), m.name.c_str(), m.sessions,
                  m.samples, cell(m.p50_us, 1).c_str(), cell(m.p99_us, 1).c_str(), cell(m.max_us, 1).c_str(),
                  cell(m.requests_per_s, 1).c_str(), logged.c_str(), m.errors);
    }
  }

 private:
  Options options_;
  Target target_;
  const json read_arguments_ = {{"points", json::array({"voltage_an"})}};
  std::vector<Measurement> results_;
  std::mutex error_mutex_;
  int printed_errors_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  auto options = parse_options(argc, argv);
  auto target = read_ready_file(options.ready_file);
  Bench bench(std::move(options), std::move(target));
  return bench.run();
}
