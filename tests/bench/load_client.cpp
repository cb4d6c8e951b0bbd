// Modbus/TCP load generator for the meterctl benchmark (tests/bench).
//
// Opens N TCP connections to one server and keeps exactly one FC3 "read
// holding registers" request outstanding on each: send, wait for the reply,
// check it, send the next. One thread drives every connection through epoll,
// so the client stays cheap next to the server under test. After a warm-up the
// client measures for a fixed time and reports requests/s and latency
// percentiles. Frames are built and checked here, not with libmodbus, so the
// client is the same whichever server it loads.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

constexpr std::uint8_t kReadHoldingRegisters = 0x03;
constexpr std::size_t kMbapLength = 7;
constexpr std::size_t kRequestLength = kMbapLength + 5;
constexpr int kExitOk = 0;
constexpr int kExitErrors = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConnect = 3;

constexpr std::string_view kUsage =
    "usage: load_client [options] [HOST:]PORT\n"
    "       load_client [options] --port PORT\n"
    "\n"
    "Keeps one Modbus/TCP FC3 request outstanding on each of N connections for a\n"
    "fixed time and reports requests/s and latency percentiles.\n"
    "\n"
    "  --host ADDR       IPv4 address of the server (default 127.0.0.1)\n"
    "  --port PORT       TCP port of the server\n"
    "  --clients N       concurrent connections (default 1)\n"
    "  --seconds S       measured duration, fractional allowed (default 5)\n"
    "  --warmup S        unmeasured warm-up before it (default 1)\n"
    "  --address A       zero-based start address (default 2999 = register 3000)\n"
    "  --count Q         registers per request, 1..125 (default 10)\n"
    "  --unit U          unit identifier (default 1)\n"
    "  --timeout-ms MS   a reply later than this is an error (default 1000)\n"
    "  --label NAME      name of the target, echoed in the output\n"
    "  --json            print one JSON object instead of the key=value line\n"
    "\n"
    "Exit status: 0 run complete without errors, 1 run complete with errors,\n"
    "2 usage error, 3 could not connect.\n";

struct Options {
    std::string host = "127.0.0.1";
    int port = -1;
    int clients = 1;
    double seconds = 5.0;
    double warmup = 1.0;
    int address = 2999;
    int count = 10;
    int unit = 1;
    int timeout_ms = 1000;
    std::string label;
    bool json = false;
};

[[noreturn]] void usage_error(const std::string& message)
{
    std::fprintf(stderr, "load_client: %s\n%.*s", message.c_str(), static_cast<int>(kUsage.size()),
                 kUsage.data());
    std::exit(kExitUsage);
}

template <class T>
bool parse_number(std::string_view text, T& out)
{
    const char* first = text.data();
    const char* last = first + text.size();
    auto [end, ec] = std::from_chars(first, last, out);
    return ec == std::errc{} && end == last;
}

int parse_int(std::string_view name, std::string_view text, int min, int max)
{
    int value = 0;
    if (!parse_number(text, value) || value < min || value > max) {
        usage_error(std::string(name) + " wants an integer in " + std::to_string(min) + ".." +
                    std::to_string(max) + ", got '" + std::string(text) + "'");
    }
    return value;
}

double parse_seconds(std::string_view name, std::string_view text, double min)
{
    double value = 0;
    if (!parse_number(text, value) || !(value >= min) || value > 86400.0) {
        usage_error(std::string(name) + " wants a number of seconds, got '" + std::string(text) + "'");
    }
    return value;
}

bool valid_label(std::string_view label)
{
    return std::all_of(label.begin(), label.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-' || c == '.';
    });
}

Options parse_args(int argc, char** argv)
{
    Options opts;
    std::vector<std::string_view> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view arg = args[i];
        if (arg == "-h" || arg == "--help") {
            std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
            std::exit(kExitOk);
        }
        if (arg == "--json") {
            opts.json = true;
            continue;
        }
        if (arg.starts_with("--")) {
            std::string_view name = arg;
            std::string_view value;
            if (auto eq = arg.find('='); eq != std::string_view::npos) {
                name = arg.substr(0, eq);
                value = arg.substr(eq + 1);
            } else if (i + 1 < args.size()) {
                value = args[++i];
            } else {
                usage_error(std::string(arg) + " needs a value");
            }
            if (name == "--host") {
                opts.host = std::string(value);
            } else if (name == "--port") {
                opts.port = parse_int(name, value, 1, 65535);
            } else if (name == "--clients") {
                opts.clients = parse_int(name, value, 1, 10000);
            } else if (name == "--seconds") {
                opts.seconds = parse_seconds(name, value, 0.01);
            } else if (name == "--warmup") {
                opts.warmup = parse_seconds(name, value, 0.0);
            } else if (name == "--address") {
                opts.address = parse_int(name, value, 0, 65535);
            } else if (name == "--count") {
                opts.count = parse_int(name, value, 1, 125);
            } else if (name == "--unit") {
                opts.unit = parse_int(name, value, 0, 255);
            } else if (name == "--timeout-ms") {
                opts.timeout_ms = parse_int(name, value, 1, 3600 * 1000);
            } else if (name == "--label") {
                if (!valid_label(value)) {
                    usage_error("--label may hold only letters, digits, '_', '-' and '.'");
                }
                opts.label = std::string(value);
            } else {
                usage_error("unknown option " + std::string(name));
            }
            continue;
        }
        // Positional [HOST:]PORT.
        std::string_view port_text = arg;
        if (auto colon = arg.rfind(':'); colon != std::string_view::npos) {
            opts.host = std::string(arg.substr(0, colon));
            port_text = arg.substr(colon + 1);
        }
        opts.port = parse_int("PORT", port_text, 1, 65535);
    }
    if (opts.port < 0) {
        usage_error("no port given");
    }
    if (opts.address + opts.count > 65536) {
        usage_error("--address + --count runs past register 65535");
    }
    return opts;
}

double cpu_seconds()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::uint16_t be16(const std::uint8_t* p)
{
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

void put_be16(std::uint8_t* p, unsigned value)
{
    p[0] = static_cast<std::uint8_t>((value >> 8) & 0xFF);
    p[1] = static_cast<std::uint8_t>(value & 0xFF);
}

struct Connection {
    int fd = -1;
    std::uint16_t transaction = 0;
    bool waiting = false;       // a request is outstanding
    bool want_write = false;    // EPOLLOUT registered for the unsent rest of tx
    Clock::time_point sent{};
    std::array<std::uint8_t, kRequestLength> tx{};
    std::size_t tx_done = 0;
    std::array<std::uint8_t, 512> rx{};
    std::size_t rx_len = 0;
};

struct Errors {
    std::uint64_t exceptions = 0;     // well-formed Modbus exception replies
    std::uint64_t bad_responses = 0;  // wrong transaction/function/length/unit
    std::uint64_t timeouts = 0;       // no complete reply within --timeout-ms
    std::uint64_t disconnects = 0;    // connection closed or failed mid-run
    [[nodiscard]] std::uint64_t total() const
    {
        return exceptions + bad_responses + timeouts + disconnects;
    }
};

class LoadClient {
public:
    explicit LoadClient(Options opts) : opts_(std::move(opts)) {}

    int run()
    {
        server_.sin_family = AF_INET;
        server_.sin_port = htons(static_cast<std::uint16_t>(opts_.port));
        if (inet_pton(AF_INET, opts_.host.c_str(), &server_.sin_addr) != 1) {
            usage_error("--host wants a numeric IPv4 address, got '" + opts_.host + "'");
        }
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ < 0) {
            std::perror("load_client: epoll_create1");
            return kExitConnect;
        }

        connections_.resize(static_cast<std::size_t>(opts_.clients));
        for (std::size_t i = 0; i < connections_.size(); ++i) {
            std::string why;
            if (!open(i, why)) {
                std::fprintf(stderr, "load_client: connection %zu of %d to %s:%d failed: %s\n",
                             i + 1, opts_.clients, opts_.host.c_str(), opts_.port, why.c_str());
                return kExitConnect;
            }
        }

        const auto measure_ns = duration_cast<nanoseconds>(duration<double>(opts_.seconds));
        samples_.reserve(std::min<std::size_t>(
            static_cast<std::size_t>(opts_.seconds * 200000.0) + 1024, std::size_t{1} << 26));

        const auto start = Clock::now();
        measure_start_ = start + duration_cast<nanoseconds>(duration<double>(opts_.warmup));
        measure_end_ = measure_start_ + measure_ns;
        for (std::size_t i = 0; i < connections_.size(); ++i) {
            send_request(i);
        }
        loop();

        const double cpu = (cpu_at_end_ - cpu_at_start_) /
                           std::max(1e-9, duration<double>(wall_at_end_ - wall_at_start_).count());
        for (auto& c : connections_) {
            if (c.fd >= 0) {
                ::close(c.fd);
            }
        }
        ::close(epoll_);
        report(cpu);
        return errors_.total() == 0 ? kExitOk : kExitErrors;
    }

private:
    bool open(std::size_t index, std::string& why)
    {
        Connection& c = connections_[index];
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            why = std::strerror(errno);
            return false;
        }
        // Blocking connect with a bound on how long it may take; then non-blocking.
        timeval limit{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&server_), sizeof(server_)) != 0) {
            why = std::strerror(errno);
            ::close(fd);
            return false;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = index;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            why = std::strerror(errno);
            ::close(fd);
            return false;
        }
        c = Connection{};
        c.fd = fd;
        return true;
    }

    void note_error(std::size_t index, const std::string& what)
    {
        if (first_error_.empty()) {
            first_error_ = "connection " + std::to_string(index + 1) + ": " + what;
        }
    }

    // Drops a connection whose byte stream can no longer be trusted (or that the
    // server closed) and opens a fresh one in its place.
    void reconnect(std::size_t index)
    {
        Connection& c = connections_[index];
        if (c.fd >= 0) {
            ::close(c.fd);
            c.fd = -1;
        }
        c.waiting = false;
        if (Clock::now() >= measure_end_) {
            return;
        }
        std::string why;
        if (!open(index, why)) {
            ++lost_;
            note_error(index, "reconnect failed: " + why);
            return;
        }
        send_request(index);
    }

    void set_want_write(Connection& c, std::size_t index, bool want)
    {
        if (c.want_write == want) {
            return;
        }
        epoll_event ev{};
        ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
        ev.data.u64 = index;
        ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
        c.want_write = want;
    }

    void send_request(std::size_t index)
    {
        Connection& c = connections_[index];
        ++c.transaction;
        auto& f = c.tx;
        put_be16(&f[0], c.transaction);                          // transaction identifier
        put_be16(&f[2], 0);                                      // protocol identifier
        put_be16(&f[4], 6);                                      // length: unit + PDU
        f[6] = static_cast<std::uint8_t>(opts_.unit);            // unit identifier
        f[7] = kReadHoldingRegisters;                            // function code
        put_be16(&f[8], static_cast<unsigned>(opts_.address));   // starting address
        put_be16(&f[10], static_cast<unsigned>(opts_.count));    // quantity
        c.tx_done = 0;
        c.rx_len = 0;
        c.waiting = true;
        c.sent = Clock::now();
        flush(index);
    }

    void flush(std::size_t index)
    {
        Connection& c = connections_[index];
        while (c.tx_done < c.tx.size()) {
            ssize_t n = ::send(c.fd, c.tx.data() + c.tx_done, c.tx.size() - c.tx_done, MSG_NOSIGNAL);
            if (n > 0) {
                c.tx_done += static_cast<std::size_t>(n);
            } else if (n < 0 && errno == EINTR) {
                continue;
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                set_want_write(c, index, true);
                return;
            } else {
                ++errors_.disconnects;
                note_error(index, std::string("send: ") + std::strerror(errno));
                reconnect(index);
                return;
            }
        }
        set_want_write(c, index, false);
    }

    void on_readable(std::size_t index)
    {
        Connection& c = connections_[index];
        ssize_t n;
        do {
            n = ::recv(c.fd, c.rx.data() + c.rx_len, c.rx.size() - c.rx_len, 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            ++errors_.disconnects;
            note_error(index, n == 0 ? std::string("server closed the connection")
                                     : std::string("recv: ") + std::strerror(errno));
            reconnect(index);
            return;
        }
        c.rx_len += static_cast<std::size_t>(n);
        if (!c.waiting) {
            ++errors_.bad_responses;
            note_error(index, "bytes received with no request outstanding");
            reconnect(index);
            return;
        }
        if (c.rx_len < kMbapLength) {
            return;
        }
        const std::size_t length = be16(&c.rx[4]);  // unit identifier + PDU
        if (length < 3 || length > 254) {
            ++errors_.bad_responses;
            note_error(index, "MBAP length " + std::to_string(length) + " out of range");
            reconnect(index);
            return;
        }
        const std::size_t total = 6 + length;
        if (c.rx_len < total) {
            return;
        }
        const auto now = Clock::now();
        if (c.rx_len > total || be16(&c.rx[0]) != c.transaction || be16(&c.rx[2]) != 0) {
            // Framing is lost: more than one reply, or a reply to some other request.
            ++errors_.bad_responses;
            note_error(index, "reply out of step (transaction " + std::to_string(be16(&c.rx[0])) +
                                  ", expected " + std::to_string(c.transaction) + ")");
            reconnect(index);
            return;
        }
        c.waiting = false;
        const std::size_t data_bytes = 2 * static_cast<std::size_t>(opts_.count);
        const std::uint8_t function = c.rx[7];
        if (function == (kReadHoldingRegisters | 0x80)) {
            ++errors_.exceptions;
            note_error(index, "exception code " + std::to_string(c.rx[8]));
        } else if (function != kReadHoldingRegisters) {
            ++errors_.bad_responses;
            note_error(index, "function code " + std::to_string(function) + " in reply");
        } else if (c.rx[6] != opts_.unit) {
            ++errors_.bad_responses;
            note_error(index, "unit identifier " + std::to_string(c.rx[6]) + " in reply");
        } else if (c.rx[8] != data_bytes || length != 3 + data_bytes) {
            ++errors_.bad_responses;
            note_error(index, "byte count " + std::to_string(c.rx[8]) + ", expected " +
                                  std::to_string(data_bytes));
        } else {
            ++replies_total_;
            if (now >= measure_start_ && now < measure_end_) {
                samples_.push_back(
                    static_cast<std::uint64_t>(duration_cast<nanoseconds>(now - c.sent).count()));
            }
        }
        if (now < measure_end_) {
            send_request(index);
        }
    }

    void check_timeouts(Clock::time_point now)
    {
        const auto limit = std::chrono::milliseconds(opts_.timeout_ms);
        for (std::size_t i = 0; i < connections_.size(); ++i) {
            Connection& c = connections_[i];
            if (c.fd >= 0 && c.waiting && now - c.sent > limit) {
                ++errors_.timeouts;
                note_error(i, "no reply within " + std::to_string(opts_.timeout_ms) + " ms");
                reconnect(i);
            }
        }
    }

    void loop()
    {
        constexpr int kMaxEvents = 256;
        std::array<epoll_event, kMaxEvents> events{};
        constexpr auto kTimeoutScan = std::chrono::milliseconds(50);
        auto next_scan = Clock::now() + kTimeoutScan;
        bool measuring = false;
        for (;;) {
            auto now = Clock::now();
            if (!measuring && now >= measure_start_) {
                measuring = true;
                wall_at_start_ = now;
                cpu_at_start_ = cpu_seconds();
            }
            if (now >= measure_end_) {
                wall_at_end_ = now;
                cpu_at_end_ = cpu_seconds();
                if (!measuring) {
                    wall_at_start_ = wall_at_end_;
                    cpu_at_start_ = cpu_at_end_;
                }
                return;
            }
            if (now >= next_scan) {
                check_timeouts(now);
                next_scan = now + kTimeoutScan;
            }
            auto wake = std::min(next_scan, measure_end_);
            if (!measuring) {
                wake = std::min(wake, measure_start_);
            }
            // Round up so the loop does not spin just short of a deadline.
            const auto wait_ns = duration_cast<nanoseconds>(wake - now).count();
            const int wait_ms = static_cast<int>((wait_ns + 999'999) / 1'000'000);
            const int n = ::epoll_wait(epoll_, events.data(), kMaxEvents, wait_ms);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                std::perror("load_client: epoll_wait");
                ++errors_.disconnects;
                wall_at_end_ = Clock::now();
                cpu_at_end_ = cpu_seconds();
                return;
            }
            for (int e = 0; e < n; ++e) {
                const auto index = static_cast<std::size_t>(events[static_cast<std::size_t>(e)].data.u64);
                const auto flags = events[static_cast<std::size_t>(e)].events;
                Connection& c = connections_[index];
                if (c.fd < 0) {
                    continue;
                }
                if ((flags & EPOLLOUT) != 0 && c.want_write) {
                    flush(index);
                    if (c.fd < 0) {
                        continue;
                    }
                }
                if ((flags & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) {
                    on_readable(index);
                }
            }
        }
    }

    void report(double cpu_fraction)
    {
        std::sort(samples_.begin(), samples_.end());
        const auto percentile_us = [this](double p) {
            // Nearest-rank percentile.
            auto rank = static_cast<std::size_t>(p * static_cast<double>(samples_.size()) + 0.999999);
            rank = std::clamp<std::size_t>(rank, 1, samples_.size());
            return static_cast<double>(samples_[rank - 1]) / 1000.0;
        };
        const std::uint64_t requests = samples_.size();
        const double rps = static_cast<double>(requests) / opts_.seconds;
        double mean_us = 0;
        for (auto s : samples_) {
            mean_us += static_cast<double>(s);
        }
        const bool have = !samples_.empty();
        if (have) {
            mean_us /= static_cast<double>(requests) * 1000.0;
        }
        const double p50 = have ? percentile_us(0.50) : 0;
        const double p99 = have ? percentile_us(0.99) : 0;
        const double max = have ? static_cast<double>(samples_.back()) / 1000.0 : 0;
        const auto errors = static_cast<unsigned long long>(errors_.total());
        // Latency figures, or `none` when not a single reply was measured.
        const auto fmt = [have](double v, const char* none) {
            char buf[64];
            std::snprintf(buf, sizeof(buf), "%.1f", v);
            return have ? std::string(buf) : std::string(none);
        };

        if (opts_.json) {
            std::string label = opts_.label.empty() ? "null" : "\"" + opts_.label + "\"";
            std::printf(
                "{\"target\": %s, \"clients\": %d, \"seconds\": %g, \"warmup\": %g, "
                "\"address\": %d, \"count\": %d, \"requests\": %llu, \"requests_total\": %llu, "
                "\"requests_per_s\": %.1f, "
                "\"p50_us\": %s, \"p99_us\": %s, \"mean_us\": %s, \"max_us\": %s, "
                "\"errors\": %llu, \"exceptions\": %llu, \"bad_responses\": %llu, "
                "\"timeouts\": %llu, \"disconnects\": %llu, \"connections_lost\": %llu, "
                "\"client_cpu_pct\": %.0f}\n",
                label.c_str(), opts_.clients, opts_.seconds, opts_.warmup, opts_.address,
                opts_.count, static_cast<unsigned long long>(requests),
                static_cast<unsigned long long>(replies_total_), rps, fmt(p50, "null").c_str(),
                fmt(p99, "null").c_str(), fmt(mean_us, "null").c_str(), fmt(max, "null").c_str(), errors,
                static_cast<unsigned long long>(errors_.exceptions),
                static_cast<unsigned long long>(errors_.bad_responses),
                static_cast<unsigned long long>(errors_.timeouts),
                static_cast<unsigned long long>(errors_.disconnects),
                static_cast<unsigned long long>(lost_), cpu_fraction * 100.0);
        } else {
            std::printf("%s%sclients=%d requests_per_s=%.1f p50_us=%s p99_us=%s errors=%llu "
                        "requests=%llu seconds=%g max_us=%s client_cpu_pct=%.0f\n",
                        opts_.label.c_str(), opts_.label.empty() ? "" : " ", opts_.clients, rps,
                        fmt(p50, "-").c_str(), fmt(p99, "-").c_str(), errors,
                        static_cast<unsigned long long>(requests), opts_.seconds, fmt(max, "-").c_str(),
                        cpu_fraction * 100.0);
        }
        std::fflush(stdout);
        if (!first_error_.empty()) {
            std::fprintf(stderr, "load_client: %llu errors (%llu exceptions, %llu bad replies, "
                                 "%llu timeouts, %llu disconnects); first: %s\n",
                         errors, static_cast<unsigned long long>(errors_.exceptions),
                         static_cast<unsigned long long>(errors_.bad_responses),
                         static_cast<unsigned long long>(errors_.timeouts),
                         static_cast<unsigned long long>(errors_.disconnects), first_error_.c_str());
        }
        if (lost_ > 0) {
            std::fprintf(stderr, "load_client: %llu of %d connections could not be reopened\n",
                         static_cast<unsigned long long>(lost_), opts_.clients);
        }
    }

    Options opts_;
    sockaddr_in server_{};
    int epoll_ = -1;
    std::vector<Connection> connections_;
    std::vector<std::uint64_t> samples_;  // latency of each measured reply, ns
    Errors errors_;
    std::uint64_t lost_ = 0;
    std::uint64_t replies_total_ = 0;  // good replies including warm-up, for CPU/request
    std::string first_error_;
    Clock::time_point measure_start_{};
    Clock::time_point measure_end_{};
    Clock::time_point wall_at_start_{};
    Clock::time_point wall_at_end_{};
    double cpu_at_start_ = 0;
    double cpu_at_end_ = 0;
};

}  // namespace

int main(int argc, char** argv)
{
    LoadClient client(parse_args(argc, argv));
    return client.run();
}
