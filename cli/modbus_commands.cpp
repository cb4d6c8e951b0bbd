#include "cli/modbus_commands.hpp"

#include <charconv>
#include <cmath>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/meter_config.hpp"
#include "cli/modbus_transport.hpp"
#include "libproto/codec/modbus_pdu.hpp"
#include "libproto/codec/register_values.hpp"
#include "libproto/model/device_model.hpp"
#include "libproto/model/register_map.hpp"
#include "libproto/model/utc_time.hpp"
#include "libproto/transport/serial_port.hpp"

namespace cli {

namespace modbus = proto::codec::modbus;
using proto::codec::ValueType;
using proto::codec::WordOrder;
using proto::model::RegisterEntry;
using proto::model::RegisterMap;

namespace {

// Modbus/TCP's registered port (IANA); meterd's own default is 5020 so it runs unprivileged.
constexpr std::uint16_t k_modbus_tcp_port = 502;
constexpr int k_default_unit_id = 1;
// Bounds a stream of device identification requests against a server that never ends it.
constexpr int k_max_device_id_rounds = 32;

struct ModbusOptions {
  std::string rtu;
  int baud = 19200;
  std::string parity = "E";
  int stop_bits = 1;
  int unit_id = -1;

  std::string target;
  int count = 1;
  std::string type;
  std::string word_order = "big";
  bool input = false;
  bool zero_based = false;
  std::vector<std::string> values;
  bool force_multiple = false;

  std::string category = "regular";
  int object = -1;

  std::vector<std::string> points;
  double interval = 1.0;
  int samples = 0;

  std::string model = "ION7400";
  std::string feature_set;
  std::string firmware;
  bool all = false;
};

struct Connection {
  std::unique_ptr<ModbusTransport> transport;
  std::uint8_t unit_id = k_default_unit_id;
};

[[noreturn]] void fail(ExitCode code, std::string message) { throw CommandError{code, std::move(message)}; }

template <typename T>
T unwrap(proto::Result<T, CommandError> result) {
  if (!result) throw result.error();
  return std::move(*result);
}

std::string hex(proto::codec::ByteView bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string text;
  for (const auto byte : bytes) {
    const auto value = std::to_integer<unsigned>(byte);
    if (!text.empty()) text += ' ';
    text += digits[value >> 4];
    text += digits[value & 0xF];
  }
  return text;
}

Connection connect(const Context& context, const ModbusOptions& options) {
  Connection connection;
  std::optional<int> configured_unit;
  if (!options.rtu.empty()) {
    SerialLine line{options.rtu, options.baud, options.parity.front(), options.stop_bits};
    connection.transport = unwrap(open_rtu(line, context.timeout()));
  } else {
    const auto endpoint = unwrap(resolve_meter(context.global.meter, "modbus", k_modbus_tcp_port));
    configured_unit = endpoint.unit_id;
    connection.transport = unwrap(connect_tcp(endpoint.host, endpoint.port, context.timeout()));
  }
  connection.unit_id = static_cast<std::uint8_t>(options.unit_id >= 0 ? options.unit_id
                                                                      : configured_unit.value_or(k_default_unit_id));
  return connection;
}

std::vector<std::byte> exchange(const Context& context, Connection& connection, const modbus::Request& request) {
  std::array<std::byte, modbus::k_max_pdu_size> pdu{};
  const auto size = modbus::encode_request(request, pdu);
  if (!size) fail(exit_software, "request does not fit a Modbus PDU");
  const auto request_bytes = proto::codec::ByteView(pdu.data(), *size);
  if (context.global.verbose) std::cerr << "> unit " << int(connection.unit_id) << ": " << hex(request_bytes) << '\n';
  auto response = unwrap(connection.transport->exchange(connection.unit_id, request_bytes));
  if (context.global.verbose) std::cerr << "< " << hex(response) << '\n';
  return response;
}

std::string describe_register(std::uint16_t address) {
  return "register " + std::to_string(address + 1) + " (address " + std::to_string(address) + ")";
}

[[noreturn]] void refused(const Connection& connection, const modbus::ExceptionResponse& exception, std::string what) {
  std::string hint;
  switch (exception.code) {
    case modbus::ExceptionCode::illegal_function:
      hint = "; the meter does not allow this function (check its Modbus access setting)";
      break;
    case modbus::ExceptionCode::illegal_data_address: hint = "; see `meterctl modbus map` for what exists"; break;
    case modbus::ExceptionCode::illegal_data_value: hint = "; the value or count is out of range"; break;
    case modbus::ExceptionCode::gateway_target_failed_to_respond: hint = "; check --unit-id"; break;
    default: break;
  }
  fail(exit_refused, connection.transport->describe() + " refused " + what + ": " +
                         std::string(modbus::to_string(exception.code)) + " (exception " +
                         std::to_string(static_cast<int>(exception.code)) + ")" + hint);
}

// The value of a decoded answer; a malformed answer or an exception ends the command.
template <typename T>
T answer_or_fail(const Connection& connection, modbus::ResponseResult<T> decoded, const std::string& what) {
  if (!decoded) {
    fail(exit_protocol, "malformed answer from " + connection.transport->describe() + " to " + what + ": " +
                            make_error_code(decoded.error()).message());
  }
  if (const auto* exception = std::get_if<modbus::ExceptionResponse>(&*decoded)) refused(connection, *exception, what);
  return std::get<T>(std::move(*decoded));
}

std::vector<std::uint16_t> read_registers(const Context& context, Connection& connection, bool input,
                                          std::uint16_t address, std::size_t quantity) {
  std::vector<std::uint16_t> registers;
  while (registers.size() < quantity) {
    const auto chunk = static_cast<std::uint16_t>(
        std::min<std::size_t>(quantity - registers.size(), modbus::k_max_read_registers));
    const auto at = static_cast<std::uint16_t>(address + registers.size());
    const modbus::ReadRegistersRequest request{
        input ? modbus::FunctionCode::read_input_registers : modbus::FunctionCode::read_holding_registers, at, chunk};
    const auto response = exchange(context, connection, request);
    const auto words = answer_or_fail(connection, modbus::decode_read_registers_response(response, request),
                                      "reading " + std::to_string(chunk) + " registers at " + describe_register(at));
    registers.insert(registers.end(), words.begin(), words.end());
  }
  return registers;
}

nlohmann::json to_json(const proto::codec::Value& value) {
  if (const auto* number = std::get_if<double>(&value)) {
    return std::isfinite(*number) ? nlohmann::json(*number) : nlohmann::json(nullptr);
  }
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* unsigned_value = std::get_if<std::uint64_t>(&value)) return *unsigned_value;
  return std::get<std::int64_t>(value);
}

std::optional<long> parse_number(const std::string& text) {
  long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One value to read or write: from the map, or a raw address with the --type given.
struct Slot {
  std::string name;
  std::uint16_t address = 0;
  ValueType type = ValueType::u16;
  std::uint16_t registers = 1;
  std::string unit;
};

std::vector<Slot> resolve_slots(const ModbusOptions& options, std::size_t wanted, bool for_write) {
  if (options.count < 1 || options.count > 65536) fail(exit_usage, "--count must lie between 1 and 65536");
  const auto word_order = proto::codec::parse_word_order(options.word_order);
  if (!word_order) fail(exit_usage, "--word-order must be big or little");
  std::optional<ValueType> type;
  if (!options.type.empty()) {
    type = proto::codec::parse_value_type(options.type);
    if (!type) fail(exit_usage, "--type '" + options.type + "' is not one of u16, i16, u32, i32, u64, i64, float32, float64, string");
  }
  std::vector<Slot> slots;
  if (const auto number = parse_number(options.target)) {
    const long lowest = options.zero_based ? 0 : 1;
    if (*number < lowest || *number > lowest + 65535) {
      fail(exit_usage, "address " + options.target + " is out of range: registers are numbered " +
                           std::to_string(lowest) + ".." + std::to_string(lowest + 65535) +
                           (options.zero_based ? " with --zero-based" : " (one-based, as in the meter's map)"));
    }
    auto address = static_cast<std::uint32_t>(*number - lowest);
    const auto value_type = type.value_or(ValueType::u16);
    std::uint16_t registers = static_cast<std::uint16_t>(proto::codec::register_count(value_type));
    if (value_type == ValueType::string) {
      // A string is one value spanning --count registers.
      registers = static_cast<std::uint16_t>(options.count);
      wanted = 1;
    }
    for (std::size_t i = 0; i < wanted; ++i) {
      if (address + registers > 65536) fail(exit_usage, "the values run past the last register (65536)");
      slots.push_back({"", static_cast<std::uint16_t>(address), value_type, registers, ""});
      address += registers;
    }
    return slots;
  }
  const auto map = RegisterMap::complete();
  const auto* entry = map.find(options.target);
  if (!entry) {
    fail(exit_usage, "'" + options.target + "' is neither a register number nor a point of the map; "
                     "`meterctl modbus map` lists the names");
  }
  if (type && *type != entry->type) {
    fail(exit_usage, options.target + " is a " + std::string(proto::codec::to_string(entry->type)) +
                         "; leave out --type for named points");
  }
  auto it = map.entries().begin() + (entry - map.entries().data());
  for (std::size_t i = 0; i < wanted; ++i, ++it) {
    if (it == map.entries().end() || (i > 0 && it->address() != slots.back().address + slots.back().registers)) {
      fail(exit_usage, "only " + std::to_string(i) + " consecutive points start at " + options.target);
    }
    if (for_write && it->access != proto::model::RegisterAccess::read_write) {
      fail(exit_usage, it->name + " is read-only; the writable points are those with access read-write in "
                                  "`meterctl modbus map`");
    }
    slots.push_back({it->name, it->address(), it->type, it->count, it->unit});
  }
  return slots;
}

int run_read(Context& context, const ModbusOptions& options) {
  const auto slots = resolve_slots(options, static_cast<std::size_t>(options.count), false);
  const auto word_order = *proto::codec::parse_word_order(options.word_order);
  auto connection = connect(context, options);
  const auto first = slots.front().address;
  const auto end = static_cast<std::size_t>(slots.back().address) + slots.back().registers;
  const auto registers = read_registers(context, connection, options.input, first, end - first);

  Report report;
  report.columns = {"name", "register", "address", "type", "value", "unit"};
  nlohmann::json values = nlohmann::json::array();
  for (const auto& slot : slots) {
    const auto words = std::span(registers).subspan(slot.address - first, slot.registers);
    const auto value = proto::codec::decode_value(words, slot.type, word_order);
    report.rows.push_back({slot.name, std::to_string(slot.address + 1), std::to_string(slot.address),
                           std::string(proto::codec::to_string(slot.type)), proto::codec::format_value(value),
                           slot.unit});
    values.push_back({{"name", slot.name},
                      {"register", slot.address + 1},
                      {"address", slot.address},
                      {"type", proto::codec::to_string(slot.type)},
                      {"value", to_json(value)},
                      {"unit", slot.unit},
                      {"raw", std::vector<std::uint16_t>(words.begin(), words.end())}});
  }
  report.document = {{"meter", connection.transport->describe()},
                     {"unit_id", connection.unit_id},
                     {"function", options.input ? "input" : "holding"},
                     {"values", values}};
  print_report(report, context.format(), std::cout, context.color());
  return exit_ok;
}

int run_write(Context& context, const ModbusOptions& options) {
  if (options.values.empty()) fail(exit_usage, "give at least one VALUE to write");
  auto slot_options = options;
  auto slots = resolve_slots(slot_options, options.values.size(), true);
  const auto word_order = *proto::codec::parse_word_order(options.word_order);
  std::vector<std::uint16_t> words;
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto encoded = proto::codec::encode_value(options.values[i], slots[i].type, word_order,
                                              slots[i].type == ValueType::string ? slots[i].registers : 0);
    if (!encoded) {
      fail(exit_data, "value '" + options.values[i] + "' for " +
                          (slots[i].name.empty() ? describe_register(slots[i].address) : slots[i].name) + " is " +
                          std::string(proto::codec::to_string(encoded.error())) + " " +
                          std::string(proto::codec::to_string(slots[i].type)));
    }
    words.insert(words.end(), encoded->begin(), encoded->end());
  }
  if (words.size() > modbus::k_max_write_registers) {
    fail(exit_usage, "a single write carries at most 123 registers; this one needs " + std::to_string(words.size()));
  }
  const auto address = slots.front().address;
  auto connection = connect(context, options);
  modbus::Request request = words.size() == 1 && !options.force_multiple
                                ? modbus::Request{modbus::WriteSingleRegisterRequest{address, words.front()}}
                                : modbus::Request{modbus::WriteMultipleRegistersRequest{address, words}};
  const auto response = exchange(context, connection, request);
  answer_or_fail(connection, modbus::decode_write_response(response, request),
                 "writing " + std::to_string(words.size()) + " registers at " + describe_register(address));
  Report report;
  report.columns = {"register", "address", "registers", "function"};
  const std::string function = std::holds_alternative<modbus::WriteSingleRegisterRequest>(request) ? "6" : "16";
  report.rows.push_back({std::to_string(address + 1), std::to_string(address), std::to_string(words.size()), function});
  report.document = {{"meter", connection.transport->describe()},
                     {"unit_id", connection.unit_id},
                     {"register", address + 1},
                     {"address", address},
                     {"registers", words.size()},
                     {"function_code", std::stoi(function)}};
  if (!context.global.quiet || context.format() != OutputFormat::table) print_report(report, context.format(), std::cout, context.color());
  return exit_ok;
}

std::string device_id_object_name(std::uint8_t id) {
  switch (id) {
    case 0x00: return "VendorName";
    case 0x01: return "ProductCode";
    case 0x02: return "MajorMinorRevision";
    case 0x03: return "VendorUrl";
    case 0x04: return "ProductName";
    case 0x05: return "ModelName";
    case 0x06: return "UserApplicationName";
    default: return "object 0x" + hex(std::vector<std::byte>{std::byte{id}});
  }
}

int run_id(Context& context, const ModbusOptions& options) {
  modbus::DeviceIdReadCode code = modbus::DeviceIdReadCode::regular;
  if (options.object >= 0) code = modbus::DeviceIdReadCode::individual;
  else if (options.category == "basic") code = modbus::DeviceIdReadCode::basic;
  else if (options.category == "extended") code = modbus::DeviceIdReadCode::extended;
  auto connection = connect(context, options);
  std::vector<modbus::DeviceIdObject> objects;
  std::uint8_t next = static_cast<std::uint8_t>(std::max(options.object, 0));
  std::uint8_t conformity = 0;
  for (int round = 0; round < k_max_device_id_rounds; ++round) {
    const modbus::ReadDeviceIdRequest request{code, next};
    const auto response = exchange(context, connection, request);
    const auto answer = answer_or_fail(connection, modbus::decode_device_id_response(response),
                                       "device identification (function 43/14)");
    conformity = answer.conformity_level;
    objects.insert(objects.end(), answer.objects.begin(), answer.objects.end());
    if (!answer.more_follows || code == modbus::DeviceIdReadCode::individual) break;
    next = answer.next_object_id;
  }
  Report report;
  report.columns = {"id", "object", "value"};
  nlohmann::json list = nlohmann::json::array();
  nlohmann::json by_name = nlohmann::json::object();
  for (const auto& object : objects) {
    const auto name = device_id_object_name(object.id);
    report.rows.push_back({std::to_string(object.id), name, object.value});
    list.push_back({{"id", object.id}, {"name", name}, {"value", object.value}});
    by_name[name] = object.value;
  }
  report.document = {{"meter", connection.transport->describe()},
                     {"unit_id", connection.unit_id},
                     {"conformity_level", conformity},
                     {"objects", list},
                     {"identification", by_name}};
  print_report(report, context.format(), std::cout, context.color());
  return exit_ok;
}

double host_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int run_time(Context& context, const ModbusOptions& options) {
  const auto map = RegisterMap::complete();
  const auto* entry = map.find("unix_time");
  auto connection = connect(context, options);
  const double before = host_now();
  const auto registers = read_registers(context, connection, false, entry->address(), entry->count);
  const double after = host_now();
  const auto meter_time = static_cast<double>(
      std::get<std::uint64_t>(proto::codec::decode_value(registers, ValueType::u32, WordOrder::big)));
  // The register holds whole seconds: the meter's clock lies in [value, value + 1).
  const double host_midpoint = (before + after) / 2.0;
  const double offset = std::round((meter_time + 0.5 - host_midpoint) * 10.0) / 10.0;
  Report report;
  report.columns = {"meter_unix_time", "meter_utc", "host_utc", "offset_s"};
  char offset_text[32];
  std::snprintf(offset_text, sizeof offset_text, "%+.1f", offset);
  report.rows.push_back({std::to_string(static_cast<std::uint64_t>(meter_time)), proto::model::iso_utc(meter_time),
                         proto::model::iso_utc(host_midpoint), offset_text});
  report.document = {{"meter", connection.transport->describe()},
                     {"unit_id", connection.unit_id},
                     {"unix_time", static_cast<std::uint64_t>(meter_time)},
                     {"utc", proto::model::iso_utc(meter_time)},
                     {"host_unix_time", host_midpoint},
                     {"offset_seconds", offset},
                     {"resolution_seconds", 1},
                     {"round_trip_ms", std::round((after - before) * 1e4) / 10.0}};
  print_report(report, context.format(), std::cout, context.color());
  return exit_ok;
}

const std::vector<std::string> k_default_watch_points = {"voltage_ln_avg", "current_avg", "active_power_total",
                                                         "power_factor_total", "frequency",
                                                         "active_energy_delivered"};

int run_watch(Context& context, const ModbusOptions& options) {
  if (!std::isfinite(options.interval)) fail(exit_usage, "--interval must be a number of seconds");
  const auto map = RegisterMap::complete();
  std::vector<const RegisterEntry*> entries;
  for (const auto& name : options.points.empty() ? k_default_watch_points : options.points) {
    const auto* entry = map.find(name);
    if (!entry) fail(exit_usage, "'" + name + "' is not a point of the map; `meterctl modbus map` lists the names");
    entries.push_back(entry);
  }
  auto connection = connect(context, options);
  const auto format = context.format();
  const bool redraw = format == OutputFormat::table && stdout_is_terminal();
  std::vector<std::string> columns = {"time"};
  for (const auto* entry : entries) columns.push_back(entry->name);
  if (format == OutputFormat::csv) std::cout << csv_line(columns) << std::endl;
  for (int sample = 0; options.samples == 0 || sample < options.samples; ++sample) {
    const auto started = std::chrono::steady_clock::now();
    const double now = host_now();
    std::vector<std::string> row = {proto::model::iso_utc(now)};
    nlohmann::json values = nlohmann::json::object();
    for (const auto* entry : entries) {
      const auto registers = read_registers(context, connection, false, entry->address(), entry->count);
      const auto value = proto::codec::decode_value(registers, entry->type, WordOrder::big);
      row.push_back(proto::codec::format_value(value));
      values[entry->name] = to_json(value);
    }
    switch (format) {
      case OutputFormat::json:
        std::cout << nlohmann::json{{"format_version", k_json_format_version}, {"time", proto::model::iso_utc(now)}, {"values", values}}.dump()
                  << std::endl;
        break;
      case OutputFormat::yaml:
        std::cout << "---\n" << json_to_yaml({{"format_version", k_json_format_version}, {"time", proto::model::iso_utc(now)}, {"values", values}}) << std::flush;
        break;
      case OutputFormat::csv: std::cout << csv_line(row) << std::endl; break;
      case OutputFormat::table:
        if (redraw) {
          std::vector<std::vector<std::string>> rows;
          for (std::size_t i = 0; i < entries.size(); ++i) rows.push_back({entries[i]->name, row[i + 1], entries[i]->unit});
          // Clear the screen and home the cursor (ECMA-48 ED and CUP), then draw the table.
          std::cout << "\x1b[H\x1b[2J" << connection.transport->describe() << "  " << row[0] << "  (Ctrl-C to stop)\n\n"
                    << format_table({"point", "value", "unit"}, rows, context.color()) << std::flush;
        } else {
          std::string line = row[0];
          for (std::size_t i = 0; i < entries.size(); ++i) line += " " + entries[i]->name + "=" + row[i + 1];
          std::cout << line << std::endl;
        }
        break;
    }
    if (options.samples != 0 && sample + 1 >= options.samples) break;
    std::this_thread::sleep_until(started + std::chrono::milliseconds(static_cast<int>(options.interval * 1000)));
  }
  return exit_ok;
}

int run_map(Context& context, const ModbusOptions& options) {
  RegisterMap map = RegisterMap::complete();
  nlohmann::json meter = nullptr;
  if (!options.all) {
    auto model = proto::model::find_device_model(options.model);
    if (!model) fail(exit_usage, model.error().to_string());
    auto version = model->latest_firmware().version;
    if (!options.firmware.empty()) {
      const auto parsed = proto::model::Version::parse(options.firmware);
      if (!parsed) fail(exit_usage, "--firmware '" + options.firmware + "' is not X.Y.Z");
      version = *parsed;
    }
    const auto feature_set = options.feature_set.empty() ? model->default_feature_set : options.feature_set;
    auto capabilities = model->capabilities(feature_set, version);
    if (!capabilities) fail(exit_usage, capabilities.error());
    map = RegisterMap::for_capabilities(*capabilities);
    meter = {{"model", capabilities->model},
             {"feature_set", capabilities->feature_set},
             {"firmware", capabilities->firmware.to_string()}};
  }
  Report report;
  report.columns = {"name", "register", "address", "function", "type", "unit", "access", "description"};
  nlohmann::json registers = nlohmann::json::array();
  for (const auto& entry : map.entries()) {
    const std::string access = entry.access == proto::model::RegisterAccess::read_write ? "read-write" : "read-only";
    report.rows.push_back({entry.name, std::to_string(entry.register_number), std::to_string(entry.address()),
                           std::string(entry.function()), std::string(proto::codec::to_string(entry.type)), entry.unit,
                           access, entry.description});
    registers.push_back({{"name", entry.name},
                         {"register", entry.register_number},
                         {"address", entry.address()},
                         {"count", entry.count},
                         {"function", entry.function()},
                         {"type", proto::codec::to_string(entry.type)},
                         {"unit", entry.unit},
                         {"access", access},
                         {"block", entry.block},
                         {"description", entry.description}});
  }
  nlohmann::json blocks = nlohmann::json::array();
  for (const auto& block : map.blocks()) {
    blocks.push_back({{"name", block.name}, {"first_register", block.first_register}, {"origin", block.origin}});
  }
  report.document = {{"meter", meter}, {"word_order", "big"}, {"registers", registers}, {"blocks", blocks}};
  print_report(report, context.format(), std::cout, context.color());
  return exit_ok;
}

void add_connection_options(CLI::App& command, ModbusOptions& options) {
  command.add_option("--unit-id", options.unit_id, "Modbus unit id (default: the named meter's, else 1)")
      ->check(CLI::Range(0, 255));
  command.add_option("--rtu", options.rtu, "Talk Modbus RTU on this serial device instead of TCP");
  command.add_option("--baud", options.baud, "RTU baud rate")
      ->check(CLI::IsMember(std::vector<int>(proto::transport::k_supported_baud_rates.begin(),
                                              proto::transport::k_supported_baud_rates.end())))
      ->capture_default_str();
  command.add_option("--parity", options.parity, "RTU parity: N, E or O")
      ->check(CLI::IsMember({"N", "E", "O"}))
      ->capture_default_str();
  command.add_option("--stop-bits", options.stop_bits, "RTU stop bits")->check(CLI::IsMember({1, 2}))->capture_default_str();
}

void add_value_options(CLI::App& command, ModbusOptions& options) {
  command.add_option("--type", options.type, "Value type: u16, i16, u32, i32, u64, i64, float32, float64, string")
      ->check(CLI::IsMember({"u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64", "string"}));
  command.add_option("--word-order", options.word_order, "Word order of multi-register values: big or little")
      ->check(CLI::IsMember({"big", "little"}))
      ->capture_default_str();
  command.add_flag("--zero-based", options.zero_based, "ADDRESS is the zero-based PDU address, not the register number");
}

}  // namespace

void add_modbus_commands(CLI::App& app, Context& context) {
  auto options = std::make_shared<ModbusOptions>();
  auto* modbus_command = app.add_subcommand("modbus", "Read and write a meter over Modbus TCP or RTU");
  modbus_command->require_subcommand(1);
  modbus_command->fallthrough();

  auto run = [&context](int (*handler)(Context&, const ModbusOptions&), std::shared_ptr<ModbusOptions> shared) {
    return [&context, handler, shared] { context.exit_code = handler(context, *shared); };
  };

  auto* read = modbus_command->add_subcommand("read", "Read values by point name or register number");
  read->add_option("target", options->target, "POINT name from the map, or a register number (one-based)")
      ->required();
  read->add_option("--count", options->count, "Number of values (for a POINT: it and the points after it)")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  read->add_flag("--input", options->input, "Use function 4 (input registers) instead of 3 (holding)");
  add_value_options(*read, *options);
  add_connection_options(*read, *options);
  read->callback(run(run_read, options));

  auto* write = modbus_command->add_subcommand("write", "Write configuration registers (function 6 or 16)");
  write->add_option("target", options->target, "POINT name from the map, or a register number (one-based)")
      ->required();
  write->add_option("values", options->values, "Values to write, one per point or --type value")->required();
  write->add_flag("--multiple", options->force_multiple, "Use function 16 even for a single register");
  add_value_options(*write, *options);
  add_connection_options(*write, *options);
  write->callback(run(run_write, options));

  auto* id = modbus_command->add_subcommand("id", "Read the device identification (function 43 / MEI 14)");
  id->add_option("--category", options->category, "basic, regular or extended")
      ->check(CLI::IsMember({"basic", "regular", "extended"}))
      ->capture_default_str();
  id->add_option("--object", options->object, "Read one object by id (individual access)")->check(CLI::Range(0, 255));
  add_connection_options(*id, *options);
  id->callback(run(run_id, options));

  auto* time = modbus_command->add_subcommand("time", "Read the meter's Unix time and its offset from this host");
  add_connection_options(*time, *options);
  time->callback(run(run_time, options));

  auto* watch = modbus_command->add_subcommand("watch", "Poll points repeatedly: a live table on a terminal, one line per sample otherwise");
  watch->add_option("points", options->points, "Points to watch (default: voltage, current, power, PF, frequency, energy)");
  watch->add_option("--interval", options->interval, "Seconds between samples")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  watch->add_option("--samples", options->samples, "Stop after N samples (0: until interrupted)")->capture_default_str();
  add_connection_options(*watch, *options);
  watch->callback(run(run_watch, options));

  auto* map = modbus_command->add_subcommand("map", "Print the Modbus register map (no meter needed)");
  map->add_option("--model", options->model, "Device model whose map to print")->capture_default_str();
  map->add_option("--feature-set", options->feature_set, "Feature set (default: the model's default)");
  map->add_option("--firmware", options->firmware, "Firmware version (default: the model's latest)");
  map->add_flag("--all", options->all, "Every register meterd can serve, whatever the model and firmware");
  map->callback(run(run_map, options));
}

}  // namespace cli
