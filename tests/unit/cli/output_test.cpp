#include "cli/output.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace cli;

TEST_CASE("CSV quotes only the fields that need it (RFC 4180)", "[cli][output]") {
  CHECK(csv_line({"a", "b c", "d,e", "say \"hi\"", "line\nbreak"}) ==
        "a,b c,\"d,e\",\"say \"\"hi\"\"\",\"line\nbreak\"");
}

TEST_CASE("Tables align columns and trim trailing blanks", "[cli][output]") {
  const auto table = format_table({"name", "value"}, {{"voltage_an", "230"}, {"f", ""}});
  CHECK(table == "NAME        VALUE\nvoltage_an  230\nf\n");
  CHECK(format_table({"a"}, {}, true) == "\x1b[1mA\x1b[0m\n");
}

TEST_CASE("JSON and YAML carry the format version, and CSV has a header row", "[cli][output]") {
  Report report;
  report.document = {{"values", {{{"name", "x"}, {"value", 1.5}}}}};
  report.columns = {"name", "value"};
  report.rows = {{"x", "1.5"}};
  std::ostringstream json;
  print_report(report, OutputFormat::json, json);
  const auto parsed = nlohmann::json::parse(json.str());
  CHECK(parsed.at("format_version") == k_json_format_version);
  CHECK(parsed.at("values").at(0).at("value") == 1.5);
  std::ostringstream yaml;
  print_report(report, OutputFormat::yaml, yaml);
  CHECK_THAT(yaml.str(), Catch::Contains("format_version: 1"));
  CHECK_THAT(yaml.str(), Catch::Contains("name: x"));
  std::ostringstream csv;
  print_report(report, OutputFormat::csv, csv);
  CHECK(csv.str() == "name,value\nx,1.5\n");
}
