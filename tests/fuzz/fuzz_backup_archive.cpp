// Decodes a backup archive (cli/backup_archive.hpp). Where it decodes, encoding the
// backup again must give an archive that decodes to the same members under the same
// digest: the digest covers values, not how the file spells them. A refusal always
// names a known reason with a message.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cli/backup_archive.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto decoded = cli::decode_backup_archive(text);
  if (!decoded) {
    if (cli::to_string(decoded.error().error) == "unknown" || decoded.error().message.empty()) std::abort();
    return 0;
  }
  const auto encoded = cli::encode_backup_archive(decoded->backup, decoded->created, decoded->meterctl_version);
  const auto again = cli::decode_backup_archive(encoded);
  if (!again || again->digest != decoded->digest || again->created != decoded->created ||
      again->meterctl_version != decoded->meterctl_version || again->meter.dump() != decoded->meter.dump() ||
      again->backup.dump() != decoded->backup.dump()) {
    std::abort();
  }
  return 0;
}
