// Reads a meter's upgrade.status answer (meter-native-protocol(7)) as meterctl does: the
// input is the answer as JSON text (the native body decoder turns CBOR into the same
// values). Anything must end in a status or an error naming a member, and a status must
// always make the rows of `meterctl upgrade status`.
#include <cstdlib>
#include <string_view>

#include "cli/upgrade_status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto answer = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (answer.is_discarded()) return 0;
  const auto status = cli::parse_upgrade_status(answer);
  if (!status) {
    if (!status.error().starts_with("upgrade.status: ")) std::abort();
    return 0;
  }
  if (status->upload && status->upload->offset > status->upload->length) std::abort();
  if (cli::status_rows(*status).empty()) std::abort();
  return 0;
}
