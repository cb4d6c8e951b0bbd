// meterd seen by libmodbus, the C library most Modbus masters are built on, as a client:
// reads (functions 3 and 4), writes (6 and 16), exception codes, another unit id, and
// device identification (43 / MEI 14) through modbus_send_raw_request.
//
// Usage: libmodbus_client_test PORT ACCESS
//   PORT    Modbus TCP port of a meterd on 127.0.0.1 (unit id 1, ION7400, firmware 4.6.0)
//   ACCESS  the meter's Modbus access: none, read-only or read-write
// Prints one "ok"/"not ok" line per check; exits 0 when all pass, 1 when one fails, 64 on
// bad usage. libmodbus_client_test.sh starts the meters and runs this.

#include <modbus/modbus.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr int k_unit_id = 1;
constexpr int k_other_unit_id = 7;
// Only a hung server hits this; meterd answers in milliseconds even under sanitizers.
constexpr std::uint32_t k_response_timeout_s = 10;
constexpr int k_max_clock_offset_s = 2;

// Zero-based PDU addresses of the ION7400 map (register N is address N - 1).
constexpr int k_voltage_an = 3027;   // float32
constexpr int k_unix_time = 7999;    // u32
constexpr int k_pt_primary = 8101;   // u32, 1..1000000
constexpr int k_pt_secondary = 8103; // u16, 1..690
constexpr int k_unmapped = 4999;

// Modbus Messaging on TCP/IP v1.0b, 3.1.3: the MBAP header is 7 bytes; its length field
// (bytes 4-5) counts the unit id and the PDU.
constexpr std::size_t k_mbap_size = 7;
constexpr std::size_t k_mbap_length_offset = 4;

enum class Access { none, read_only, read_write };

int failures = 0;

void check(bool passed, const std::string& what, const std::string& detail = {}) {
  if (passed) {
    std::printf("ok - %s\n", what.c_str());
  } else {
    ++failures;
    std::printf("not ok - %s%s%s\n", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  }
  std::fflush(stdout);
}

std::string error_text() { return std::string(modbus_strerror(errno)) + " (errno " + std::to_string(errno) + ")"; }

// Expects a call that returned `result` to have failed with the Modbus exception `expected`.
void check_exception(int result, int expected, const std::string& what) {
  const int error = errno;
  check(result == -1 && error == expected, what,
        result == -1 ? "got " + std::string(modbus_strerror(error)) + ", expected " + modbus_strerror(expected)
                     : "the request succeeded");
}

std::optional<std::vector<std::uint16_t>> read_registers(modbus_t* context, int address, int count,
                                                         bool input = false) {
  std::vector<std::uint16_t> words(static_cast<std::size_t>(count));
  const int got = input ? modbus_read_input_registers(context, address, count, words.data())
                        : modbus_read_registers(context, address, count, words.data());
  if (got != count) return std::nullopt;
  return words;
}

std::uint32_t to_u32(const std::vector<std::uint16_t>& words) {
  return (static_cast<std::uint32_t>(words[0]) << 16) | words[1];
}

// Reads exactly `size` bytes from the socket, each wait bounded by the response timeout.
bool receive_exactly(int socket, std::uint8_t* out, std::size_t size) {
  std::size_t filled = 0;
  while (filled < size) {
    pollfd descriptor{socket, POLLIN, 0};
    if (::poll(&descriptor, 1, static_cast<int>(k_response_timeout_s * 1000)) <= 0) return false;
    const auto got = ::recv(socket, out + filled, size - filled, 0);
    if (got <= 0) return false;
    filled += static_cast<std::size_t>(got);
  }
  return true;
}

// Function 43 / MEI 14 (Modbus Application Protocol v1.1b3, 6.21) with the given read code
// from object 0. libmodbus has no call for it, and modbus_receive_confirmation only knows
// the length of the functions it implements: for others it stops after the byte that
// follows the function code. So the raw request goes out through libmodbus, the first
// bytes come back through it, and the rest of the ADU, whose size the MBAP header gives,
// is read from libmodbus's socket.
std::optional<std::map<int, std::string>> read_device_identification(modbus_t* context, std::uint8_t read_code) {
  const std::array<std::uint8_t, 5> request = {k_unit_id, 0x2B, 0x0E, read_code, 0x00};
  if (modbus_send_raw_request(context, request.data(), static_cast<int>(request.size())) == -1) {
    check(false, "send function 43", error_text());
    return std::nullopt;
  }
  std::array<std::uint8_t, MODBUS_TCP_MAX_ADU_LENGTH> response{};
  const int got = modbus_receive_confirmation(context, response.data());
  if (got < static_cast<int>(k_mbap_size) + 2) {
    check(false, "receive the answer to function 43", error_text());
    return std::nullopt;
  }
  const std::size_t adu_size =
      k_mbap_size - 1 + ((response[k_mbap_length_offset] << 8) | response[k_mbap_length_offset + 1]);
  if (adu_size > response.size() || adu_size < static_cast<std::size_t>(got)) {
    check(false, "MBAP length of the answer to function 43", "ADU of " + std::to_string(adu_size) + " bytes");
    return std::nullopt;
  }
  if (!receive_exactly(modbus_get_socket(context), response.data() + got, adu_size - static_cast<std::size_t>(got))) {
    check(false, "receive the rest of the answer to function 43");
    return std::nullopt;
  }
  // PDU: 0x2B 0x0E read_code conformity more_follows next_object_id count {id length value}...
  const std::uint8_t* pdu = response.data() + k_mbap_size;
  const std::size_t pdu_size = adu_size - k_mbap_size;
  if (pdu_size < 7 || pdu[0] != 0x2B || pdu[1] != 0x0E || pdu[2] != read_code) {
    check(false, "function 43 answer header", "function " + std::to_string(pdu[0]));
    return std::nullopt;
  }
  std::map<int, std::string> objects;
  std::size_t at = 7;
  for (int i = 0; i < pdu[6]; ++i) {
    if (at + 2 > pdu_size || at + 2 + pdu[at + 1] > pdu_size) {
      check(false, "function 43 objects fit the PDU");
      return std::nullopt;
    }
    objects[pdu[at]] = std::string(reinterpret_cast<const char*>(pdu + at + 2), pdu[at + 1]);
    at += 2 + pdu[at + 1];
  }
  check(at == pdu_size, "function 43 answer has no trailing bytes");
  return objects;
}

void check_reads(modbus_t* context, Access access) {
  if (access == Access::none) {
    std::array<std::uint16_t, 2> words{};
    check_exception(modbus_read_registers(context, k_voltage_an, 2, words.data()), EMBXILFUN,
                    "function 3 refused with exception 1 under none");
    check_exception(modbus_read_input_registers(context, k_voltage_an, 2, words.data()), EMBXILFUN,
                    "function 4 refused with exception 1 under none");
    return;
  }
  const auto voltage = read_registers(context, k_voltage_an, 2);
  check(voltage.has_value(), "function 3 reads voltage_an", voltage ? "" : error_text());
  if (voltage) {
    // ABCD: big-endian bytes, high word first, as the map says.
    const float value = modbus_get_float_abcd(voltage->data());
    check(value > 200.0F && value < 260.0F, "voltage_an is a big-endian float32 near 230 V", std::to_string(value));
  }
  const auto input_voltage = read_registers(context, k_voltage_an, 2, true);
  check(input_voltage.has_value(), "function 4 reads voltage_an", input_voltage ? "" : error_text());
  if (voltage && input_voltage) {
    const float by_3 = modbus_get_float_abcd(voltage->data());
    const float by_4 = modbus_get_float_abcd(input_voltage->data());
    check(std::fabs(by_3 - by_4) < 0.05F * by_3, "functions 3 and 4 read the same voltage",
          std::to_string(by_3) + " vs " + std::to_string(by_4));
  }
  const auto unix_time = read_registers(context, k_unix_time, 2);
  check(unix_time.has_value(), "function 3 reads unix_time", unix_time ? "" : error_text());
  if (unix_time) {
    const auto offset = static_cast<long long>(to_u32(*unix_time)) - static_cast<long long>(std::time(nullptr));
    check(std::llabs(offset) <= k_max_clock_offset_s, "unix_time within 2 s of this host",
          "offset " + std::to_string(offset) + " s");
  }
  const auto pt_primary = read_registers(context, k_pt_primary, 2);
  check(pt_primary && to_u32(*pt_primary) == 230, "pt_primary of a new meter is 230",
        pt_primary ? std::to_string(to_u32(*pt_primary)) : error_text());

  std::array<std::uint16_t, 1> word{};
  check_exception(modbus_read_registers(context, k_unmapped, 1, word.data()), EMBXILADD,
                  "register 5000 refused with exception 2");

  modbus_set_slave(context, k_other_unit_id);
  std::array<std::uint16_t, 2> words{};
  check_exception(modbus_read_registers(context, k_voltage_an, 2, words.data()), EMBXGTAR,
                  "unit id 7 over TCP refused with exception 11");
  modbus_set_slave(context, k_unit_id);
  check(read_registers(context, k_voltage_an, 2).has_value(), "unit id 1 answers again on the same connection");
}

void check_writes(modbus_t* context, Access access) {
  if (access != Access::read_write) {
    check_exception(modbus_write_register(context, k_pt_secondary, 120), EMBXILFUN,
                    "function 6 refused with exception 1 without read-write access");
    const std::array<std::uint16_t, 2> value = {0, 400};
    check_exception(modbus_write_registers(context, k_pt_primary, 2, value.data()), EMBXILFUN,
                    "function 16 refused with exception 1 without read-write access");
    return;
  }
  check(modbus_write_register(context, k_pt_secondary, 120) == 1, "function 6 writes pt_secondary", error_text());
  const auto pt_secondary = read_registers(context, k_pt_secondary, 1);
  check(pt_secondary && (*pt_secondary)[0] == 120, "pt_secondary reads back 120");

  const std::array<std::uint16_t, 2> value = {0x0001, 0x86A0};  // 100000
  check(modbus_write_registers(context, k_pt_primary, 2, value.data()) == 2, "function 16 writes pt_primary",
        error_text());
  const auto pt_primary = read_registers(context, k_pt_primary, 2);
  check(pt_primary && to_u32(*pt_primary) == 100000, "pt_primary reads back 100000",
        pt_primary ? std::to_string(to_u32(*pt_primary)) : error_text());

  check_exception(modbus_write_register(context, k_pt_secondary, 5000), EMBXILVAL,
                  "pt_secondary 5000 (range 1..690) refused with exception 3");
  check_exception(modbus_write_register(context, k_voltage_an, 1), EMBXILADD,
                  "write to the measurement voltage_an refused with exception 2");
}

void check_identification(modbus_t* context) {
  const auto basic = read_device_identification(context, 0x01);
  check(basic.has_value(), "function 43 basic answers");
  if (basic) {
    const std::map<int, std::string> expected = {{0, "Schneider Electric"}, {1, "METSEION7400"}, {2, "4.6.0"}};
    check(*basic == expected, "basic identification is VendorName, ProductCode, MajorMinorRevision");
  }
  const auto regular = read_device_identification(context, 0x02);
  check(regular.has_value(), "function 43 regular answers");
  if (regular) {
    check(regular->count(0) && regular->count(1) && regular->count(2) && regular->count(4),
          "regular identification includes the basic objects and ProductName");
  }
  // The connection is still in step after the raw exchanges.
  check(read_registers(context, k_pt_primary, 2).has_value() || errno == EMBXILFUN,
        "a normal request after function 43 gets its own answer");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PORT none|read-only|read-write\n", argv[0]);
    return 64;
  }
  const int port = std::atoi(argv[1]);
  const std::string_view access_name = argv[2];
  Access access;
  if (access_name == "none") access = Access::none;
  else if (access_name == "read-only") access = Access::read_only;
  else if (access_name == "read-write") access = Access::read_write;
  else {
    std::fprintf(stderr, "%s: ACCESS must be none, read-only or read-write\n", argv[0]);
    return 64;
  }
  if (port <= 0 || port > 65535) {
    std::fprintf(stderr, "%s: PORT must be 1..65535\n", argv[0]);
    return 64;
  }

  modbus_t* context = modbus_new_tcp("127.0.0.1", port);
  if (context == nullptr) {
    std::fprintf(stderr, "modbus_new_tcp: %s\n", modbus_strerror(errno));
    return 1;
  }
  modbus_set_slave(context, k_unit_id);
  modbus_set_response_timeout(context, k_response_timeout_s, 0);
  if (modbus_connect(context) == -1) {
    std::fprintf(stderr, "cannot connect to 127.0.0.1:%d: %s\n", port, modbus_strerror(errno));
    modbus_free(context);
    return 1;
  }
  check_reads(context, access);
  check_writes(context, access);
  check_identification(context);
  modbus_close(context);
  modbus_free(context);

  std::printf("%d failed\n", failures);
  return failures == 0 ? 0 : 1;
}
