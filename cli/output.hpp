#pragma once
// Output in the four formats every command offers. JSON is the stable contract for
// scripts and carries a format_version; YAML is the same document; table and csv show
// the rows.

#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace cli {

// Bumped when a JSON document changes incompatibly.
inline constexpr int k_json_format_version = 1;

enum class OutputFormat { table, json, yaml, csv };
std::optional<OutputFormat> parse_output_format(std::string_view text);

struct Report {
  nlohmann::json document = nlohmann::json::object();  // format_version is added when printed
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

// `color` sets the table's header in bold (only meaningful on a terminal).
void print_report(const Report& report, OutputFormat format, std::ostream& out, bool color = false);

std::string csv_line(const std::vector<std::string>& fields);
std::string json_to_yaml(const nlohmann::json& document);
std::string format_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows,
                         bool color = false);

// Whether to use colour and terminal redraws: only on a terminal, never with NO_COLOR set.
bool stdout_is_terminal();
bool color_enabled(bool no_color_flag);

}  // namespace cli
