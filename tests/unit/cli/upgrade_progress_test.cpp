#include "cli/upgrade_progress.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <sstream>

using namespace cli;

TEST_CASE("Sizes and transfer lines read as the manual shows them", "[cli][upgrade]") {
  CHECK(byte_size_text(512) == "512 B");
  CHECK(byte_size_text(1536) == "1.5 KiB");
  CHECK(byte_size_text(16ULL * 1024 * 1024) == "16.0 MiB");
  CHECK(byte_size_text(3ULL * 1024 * 1024 * 1024) == "3.0 GiB");
  const auto mib16 = 16ULL * 1024 * 1024;
  CHECK(transfer_line(mib16, std::chrono::duration<double>(0.41), 0) == "transfer 16.0 MiB in 0.41 s (39.0 MiB/s)");
  CHECK(transfer_line(mib16 / 2, std::chrono::duration<double>(0.5), mib16 / 2) ==
        "transfer 8.0 MiB in 0.50 s (16.0 MiB/s), resumed at 8.0 MiB");
  // A transfer faster than the clock still has a finite rate.
  CHECK(transfer_line(1024, std::chrono::duration<double>(0), 0).find("inf") == std::string::npos);
}

TEST_CASE("Stage bars fit the terminal and show progress", "[cli][upgrade]") {
  const auto half = stage_bar(UpgradeStage::transfer, 8ULL << 20, 16ULL << 20, 39.0 * 1024 * 1024, 200);
  CHECK(half == "transfer [##########----------] 50%  8.0 MiB of 16.0 MiB  39.0 MiB/s");
  CHECK(stage_bar(UpgradeStage::transfer, 0, 16ULL << 20, 0, 200).find("0%") != std::string::npos);
  CHECK(stage_bar(UpgradeStage::transfer, 16ULL << 20, 16ULL << 20, 0, 200).find("100%") != std::string::npos);
  CHECK(stage_bar(UpgradeStage::health, 3200, 210000, 0, 200) ==
        "health   [--------------------] waiting 3.2 s of 210 s for the new firmware to report healthy");
  CHECK(stage_bar(UpgradeStage::verify, 2100, 0, 0, 200) == "verify   ... 2.1 s");
  CHECK(stage_bar(UpgradeStage::transfer, 1, 2, 0, 20).size() == 20);
}

TEST_CASE("The fleet display gets short steps", "[cli][upgrade]") {
  CHECK(fleet_step(UpgradeStage::transfer, 42, 100) == "transfer 42%");
  CHECK(fleet_step(UpgradeStage::verify, 0, 0) == "verify");
  CHECK(fleet_step(UpgradeStage::health, 3200, 210000) == "health");
  std::vector<std::string> steps;
  const StatusCallback status = [&](std::string_view step) { steps.emplace_back(step); };
  auto observer = make_fleet_observer(status);
  observer->begin(UpgradeStage::transfer);
  observer->advance(UpgradeStage::transfer, 10, 1000);  // 1%
  observer->advance(UpgradeStage::transfer, 11, 1000);  // still 1%: not shown again
  observer->advance(UpgradeStage::transfer, 500, 1000);
  observer->end(UpgradeStage::transfer, "transfer ...");
  observer->begin(UpgradeStage::verify);
  CHECK(steps == std::vector<std::string>{"transfer", "transfer 1%", "transfer 50%", "verify"});
}

TEST_CASE("Plain progress is one line per finished stage", "[cli][upgrade]") {
  std::ostringstream out;
  auto observer = make_plain_observer(out);
  observer->begin(UpgradeStage::transfer);
  observer->advance(UpgradeStage::transfer, 5, 10);
  observer->end(UpgradeStage::transfer, "transfer 16.0 MiB in 0.41 s (39.0 MiB/s)");
  observer->begin(UpgradeStage::verify);
  observer->end(UpgradeStage::verify, "verify ok");
  CHECK(out.str() == "transfer 16.0 MiB in 0.41 s (39.0 MiB/s)\nverify ok\n");
}

TEST_CASE("The terminal observer redraws one line and leaves each stage's line behind", "[cli][upgrade]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  {
    auto observer = make_terminal_observer(fds[1]);
    observer->begin(UpgradeStage::transfer);
    observer->advance(UpgradeStage::transfer, 100, 100);
    observer->end(UpgradeStage::transfer, "transfer 100 B in 0.00 s (0.1 MiB/s)");
  }
  ::close(fds[1]);
  std::string written;
  char buffer[4096];
  for (ssize_t got; (got = ::read(fds[0], buffer, sizeof buffer)) > 0;) {
    written.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  CHECK(written.find("\r\x1b[Ktransfer [") != std::string::npos);
  CHECK(written.find("100%") != std::string::npos);
  CHECK(written.substr(written.size() - 41) == "\r\x1b[Ktransfer 100 B in 0.00 s (0.1 MiB/s)\n");
}
