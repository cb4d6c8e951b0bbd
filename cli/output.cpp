#include "cli/output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace cli {

std::optional<OutputFormat> parse_output_format(std::string_view text) {
  if (text == "table") return OutputFormat::table;
  if (text == "json") return OutputFormat::json;
  if (text == "yaml") return OutputFormat::yaml;
  if (text == "csv") return OutputFormat::csv;
  return std::nullopt;
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    const auto& field = fields[i];
    // RFC 4180, 2.6-2.7: quote fields holding separators, quotes or line breaks.
    if (field.find_first_of(",\"\r\n") == std::string::npos) {
      line += field;
      continue;
    }
    line += '"';
    for (const char c : field) {
      if (c == '"') line += '"';
      line += c;
    }
    line += '"';
  }
  return line;
}

namespace {

void emit_yaml(YAML::Emitter& out, const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key << key << YAML::Value;
        emit_yaml(out, item);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : value) emit_yaml(out, item);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: out << value.get<std::string>(); break;
    case nlohmann::json::value_t::boolean: out << value.get<bool>(); break;
    case nlohmann::json::value_t::number_integer: out << value.get<std::int64_t>(); break;
    case nlohmann::json::value_t::number_unsigned: out << value.get<std::uint64_t>(); break;
    case nlohmann::json::value_t::number_float: out << value.dump(); break;
    default: out << YAML::Null; break;
  }
}

}  // namespace

std::string json_to_yaml(const nlohmann::json& document) {
  YAML::Emitter out;
  emit_yaml(out, document);
  return std::string(out.c_str()) + "\n";
}

std::string format_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows,
                         bool color) {
  std::vector<std::size_t> widths(columns.size(), 0);
  for (std::size_t i = 0; i < columns.size(); ++i) widths[i] = columns[i].size();
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::ostringstream out;
  auto write_row = [&](const std::vector<std::string>& row, bool bold) {
    std::string line;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < widths.size()) line += std::string(widths[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    // ECMA-48 SGR 1 (bold) and 0 (reset).
    out << (bold ? "\x1b[1m" + line + "\x1b[0m" : line) << '\n';
  };
  std::vector<std::string> header;
  for (const auto& column : columns) {
    std::string upper = column;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    header.push_back(upper);
  }
  write_row(header, color);
  for (const auto& row : rows) write_row(row, false);
  return out.str();
}

void print_report(const Report& report, OutputFormat format, std::ostream& out, bool color) {
  switch (format) {
    case OutputFormat::json: {
      nlohmann::json document = {{"format_version", k_json_format_version}};
      document.update(report.document);
      out << document.dump(2) << '\n';
      break;
    }
    case OutputFormat::yaml: {
      nlohmann::json document = {{"format_version", k_json_format_version}};
      document.update(report.document);
      out << json_to_yaml(document);
      break;
    }
    case OutputFormat::csv:
      out << csv_line(report.columns) << '\n';
      for (const auto& row : report.rows) out << csv_line(row) << '\n';
      break;
    case OutputFormat::table: out << format_table(report.columns, report.rows, color); break;
  }
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

bool color_enabled(bool no_color_flag) {
  // https://no-color.org: any non-empty NO_COLOR disables colour.
  const char* no_color = std::getenv("NO_COLOR");
  return !no_color_flag && !(no_color && *no_color) && stdout_is_terminal();
}

}  // namespace cli
