#include "cli/config_commands.hpp"

#include <catch2/catch.hpp>

#include <map>

#include "cli/exit_codes.hpp"

using namespace cli;
using nlohmann::json;

namespace {

sec::ProfileChange change(std::string path, std::optional<std::string> before, std::optional<std::string> after) {
  return {std::move(path), std::move(before), std::move(after)};
}

MeterResult result_with(Outcome outcome, std::size_t changes = 0) {
  MeterResult result;
  result.name = "m";
  result.outcome = outcome;
  for (std::size_t i = 0; i < changes; ++i) result.changes.push_back(change("k" + std::to_string(i), "1", "2"));
  return result;
}

// Profiles in memory: the loader reads through this, so no disk is needed.
sec::ProfileFileReader reader_of(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const std::filesystem::path& path) -> proto::Result<std::string, std::string> {
    const auto found = files.find(path.lexically_normal().string());
    if (found == files.end()) return proto::unexpected("cannot read " + path.string() + ": no such file");
    return found->second;
  };
}

}  // namespace

TEST_CASE("Changes read as a diff, coloured only on request", "[cli][config]") {
  const std::vector<sec::ProfileChange> changes = {change("communications.modbus_tcp.port", "502", "1502"),
                                                   change("metering.wiring", std::nullopt, "delta"),
                                                   change("recorders[old].interval_s", "900", std::nullopt)};
  CHECK(render_changes(changes, false) ==
        "~ communications.modbus_tcp.port: 502 -> 1502\n"
        "+ metering.wiring: delta\n"
        "- recorders[old].interval_s: 900\n");
  const auto coloured = render_changes(changes, true);
  CHECK(coloured.find("\x1b[33m~ communications") != std::string::npos);
  CHECK(coloured.find("\x1b[32m+ metering") != std::string::npos);
  CHECK(coloured.find("\x1b[31m- recorders") != std::string::npos);
  CHECK(render_changes({}, true).empty());
}

TEST_CASE("Changes from the meter are read leniently and checked", "[cli][config]") {
  const auto changes = changes_from_json(json::parse(R"([
    {"path": "a", "before": "1", "after": "2"},
    {"path": "b", "after": "x"},
    {"path": "c", "before": "y", "after": null},
    {"path": "d", "before": 502, "after": ["read", "time-sync"]}])"));
  REQUIRE(changes);
  REQUIRE(changes->size() == 4);
  CHECK((*changes)[0] == change("a", "1", "2"));
  CHECK((*changes)[1] == change("b", std::nullopt, "x"));
  CHECK((*changes)[2] == change("c", "y", std::nullopt));
  CHECK((*changes)[3] == change("d", "502", "read time-sync"));
  CHECK(changes_from_json(json::array())->empty());

  CHECK_FALSE(changes_from_json(json::object()));
  CHECK_FALSE(changes_from_json(json::parse(R"([{"before": "1"}])")));
  CHECK_FALSE(changes_from_json(json::parse(R"([{"path": 3, "after": "1"}])")));
  CHECK_FALSE(changes_from_json(json::parse(R"([{"path": "a"}])")));
  CHECK_FALSE(changes_from_json(json::parse(R"(["a"])")));
}

TEST_CASE("Summary lines say what a plan, a drift check and an apply found", "[cli][config]") {
  CHECK(plan_summary(ConfigOperation::plan, 0) == "No changes.");
  CHECK(plan_summary(ConfigOperation::plan, 1) == "Plan: 1 change");
  CHECK(plan_summary(ConfigOperation::plan, 3) == "Plan: 3 changes");
  CHECK(plan_summary(ConfigOperation::drift, 0) == "No drift.");
  CHECK(plan_summary(ConfigOperation::drift, 2) == "Drift: 2 changes");
  CHECK(apply_summary(3, 9) == "Applied 3 changes (configuration version 9)");
  CHECK(apply_summary(1, 2) == "Applied 1 change (configuration version 2)");

  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1893456000));  // 2030-01-01
  const auto notice = confirm_notice(1893456000 + 300, now, "10.0.0.1:7443");
  CHECK(notice.find("2030-01-01T00:05:00Z") != std::string::npos);
  CHECK(notice.find("in 300 s") != std::string::npos);
  CHECK(notice.find("meterctl --meter 10.0.0.1:7443 config confirm") != std::string::npos);
  CHECK(notice.find("config rollback") != std::string::npos);
  CHECK(confirm_notice(1893456000 - 5, now, "").find("in 0 s") != std::string::npos);
}

TEST_CASE("Exit statuses: 2 for pending changes, 1 for any failure", "[cli][config]") {
  using enum Outcome;
  const auto plan = ConfigOperation::plan;
  const auto drift = ConfigOperation::drift;
  const auto apply = ConfigOperation::apply;
  CHECK(single_exit_code(plan, no_changes, false) == exit_ok);
  CHECK(single_exit_code(plan, changed, false) == exit_changes_pending);
  CHECK(single_exit_code(drift, changed, false) == exit_changes_pending);
  CHECK(single_exit_code(plan, error, false) == exit_config_failed);
  CHECK(single_exit_code(apply, applied, false) == exit_ok);
  CHECK(single_exit_code(apply, applied, true) == exit_changes_pending);
  CHECK(single_exit_code(apply, no_changes, true) == exit_ok);
  CHECK(single_exit_code(apply, error, true) == exit_config_failed);
  CHECK(exit_changes_pending == 2);
  CHECK(exit_config_failed == 1);

  CHECK(fleet_exit_code(plan, {}, false) == exit_ok);
  CHECK(fleet_exit_code(plan, {result_with(no_changes), result_with(no_changes)}, false) == exit_ok);
  CHECK(fleet_exit_code(plan, {result_with(no_changes), result_with(changed, 2)}, false) == exit_changes_pending);
  // A failure outweighs pending changes, wherever it is in the list.
  CHECK(fleet_exit_code(drift, {result_with(changed, 1), result_with(error)}, false) == exit_config_failed);
  CHECK(fleet_exit_code(drift, {result_with(error), result_with(changed, 1)}, false) == exit_config_failed);
  CHECK(fleet_exit_code(apply, {result_with(applied, 1), result_with(no_changes)}, false) == exit_ok);
  CHECK(fleet_exit_code(apply, {result_with(applied, 1), result_with(no_changes)}, true) == exit_changes_pending);
  CHECK(fleet_exit_code(apply, {result_with(applied, 1), result_with(error)}, true) == exit_config_failed);
}

TEST_CASE("The single-meter report has the documented members", "[cli][config]") {
  auto result = result_with(Outcome::changed);
  result.changes = {change("a", "1", "2"), change("b", std::nullopt, "3")};
  result.config_version = 7;
  CHECK(single_report("127.0.0.1:7443", result) == json{{"meter", "127.0.0.1:7443"},
                                                        {"config_version", 7},
                                                        {"changed", true},
                                                        {"changes",
                                                         {{{"path", "a"}, {"before", "1"}, {"after", "2"}},
                                                          {{"path", "b"}, {"before", nullptr}, {"after", "3"}}}}});
  auto applied = result_with(Outcome::applied, 1);
  applied.config_version = 8;
  const auto report = single_report("m:1", applied, 1893456300);
  CHECK(report.at("changed") == true);
  CHECK(report.at("confirm_deadline") == 1893456300);
  const auto unchanged = single_report("m:1", result_with(Outcome::no_changes));
  CHECK(unchanged.at("changed") == false);
  CHECK(unchanged.at("config_version").is_null());
  CHECK_FALSE(unchanged.contains("confirm_deadline"));
}

TEST_CASE("The fleet report lists every meter and sums them up", "[cli][config]") {
  auto one = result_with(Outcome::changed, 2);
  one.name = "feeder-01";
  one.address = "10.0.0.1";
  one.port = 7443;
  one.config_version = 4;
  one.duration = std::chrono::milliseconds(120);
  auto two = result_with(Outcome::error);
  two.name = "feeder-02";
  two.error = "cannot connect";
  auto three = result_with(Outcome::no_changes);
  const auto report = fleet_report("plan", {one, two, three}, Shard{2, 3});
  CHECK(report.at("operation") == "plan");
  CHECK(report.at("shard") == "2/3");
  REQUIRE(report.at("meters").size() == 3);
  const auto& first = report.at("meters")[0];
  CHECK(first.at("name") == "feeder-01");
  CHECK(first.at("address") == "10.0.0.1");
  CHECK(first.at("port") == 7443);
  CHECK(first.at("outcome") == "changed");
  CHECK(first.at("changes").size() == 2);
  CHECK(first.at("changes")[0] == json{{"path", "k0"}, {"before", "1"}, {"after", "2"}});
  CHECK(first.at("config_version") == 4);
  CHECK(first.at("error").is_null());
  CHECK(first.at("duration_ms") == 120);
  CHECK(report.at("meters")[1].at("outcome") == "error");
  CHECK(report.at("meters")[1].at("error") == "cannot connect");
  CHECK(report.at("meters")[1].at("config_version").is_null());
  CHECK(report.at("summary") ==
        json{{"meters", 3}, {"no_changes", 1}, {"changed", 1}, {"applied", 0}, {"errors", 1}, {"changes", 2}});
  CHECK(fleet_report("apply", {}, std::nullopt).at("shard").is_null());
}

TEST_CASE("An export starts with where it came from and how to add passwords", "[cli][config]") {
  const auto header = export_header("10.0.0.1:7443", "MW-1234",
                                    std::chrono::system_clock::time_point(std::chrono::seconds(1893456000)));
  CHECK(header.find("10.0.0.1:7443 (serial number MW-1234)") != std::string::npos);
  CHECK(header.find("2030-01-01T00:00:00Z") != std::string::npos);
  CHECK(header.find("password_file") != std::string::npos);
  // Every line is a comment, so the export stays a valid profile.
  std::size_t start = 0;
  while (start < header.size()) {
    CHECK(header[start] == '#');
    start = header.find('\n', start) + 1;
  }
}

TEST_CASE("validate reports schema and loader problems with their place, else what was checked", "[cli][config]") {
  const auto reader = reader_of({
      {"ok.yaml", "apiVersion: meterctl/v1\nkind: MeterProfile\ncommunications:\n  modbus_tcp: {port: 502}\n"},
      {"model.yaml", "apiVersion: meterctl/v1\nkind: MeterProfile\nmeter: {model: ION7400, min_firmware: 4.6.0}\n"},
      {"bad.yaml", "apiVersion: meterctl/v1\nkind: MeterProfile\ncommunications:\n  modbus_tcp: {port: 0}\n"},
      {"child.yaml", "apiVersion: meterctl/v1\nkind: MeterProfile\nextends: missing.yaml\n"},
      {"unknown.yaml", "apiVersion: meterctl/v1\nkind: MeterProfile\nmeter: {model: ION1234}\n"},
  });
  const auto ok = check_profile_file("ok.yaml", reader);
  CHECK(ok.problems.empty());
  CHECK(ok.loaded);
  CHECK(validity_line("ok.yaml", ok) == "ok.yaml: valid (no meter.model: model rules not checked)");

  const auto model = check_profile_file("model.yaml", reader);
  CHECK(model.problems.empty());
  CHECK(model.checked_against.rfind("ION7400 ", 0) == 0);
  CHECK(validity_line("model.yaml", model).find(" 4.6.0 or later") != std::string::npos);

  const auto bad = check_profile_file("bad.yaml", reader);
  REQUIRE_FALSE(bad.problems.empty());
  CHECK_FALSE(bad.loaded);
  for (const auto& problem : bad.problems) CHECK(problem.rfind("bad.yaml:4:", 0) == 0);

  const auto child = check_profile_file("child.yaml", reader);
  REQUIRE(child.problems.size() == 1);
  CHECK(child.problems[0].find("missing.yaml") != std::string::npos);

  const auto unknown = check_profile_file("unknown.yaml", reader);
  REQUIRE_FALSE(unknown.problems.empty());
  CHECK(unknown.problems[0].find("ION1234") != std::string::npos);
}
