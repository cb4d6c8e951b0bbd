#include "cli/upgrade_link.hpp"

#include "cli/backup_commands.hpp"

namespace cli {

namespace {

bool connection_lost(const CommandError& error) {
  return error.code == exit_unavailable || error.code == exit_timeout;
}

class ClientLink final : public UpgradeLink {
 public:
  ClientLink(Session first, SessionOpener reopen, std::chrono::milliseconds timeout)
      : session_(std::move(first)), reopen_(std::move(reopen)), timeout_(timeout) {
    if (session_.client) name_ = session_.client->describe();
  }

  ~ClientLink() override {
    // A logout over a connection already lost would only wait for --timeout.
    if (session_.client && usable_) session_.client->logout();
  }

  proto::Result<nlohmann::json, CommandError> request(const std::string& operation, const nlohmann::json& arguments,
                                                      std::optional<std::chrono::milliseconds> timeout) override {
    if (!session_.client || !usable_) {
      return proto::unexpected(CommandError{exit_unavailable, name_ + ": the connection was lost"});
    }
    session_.client->set_timeout(timeout.value_or(timeout_));
    auto answer = session_.client->request(operation, arguments);
    session_.client->set_timeout(timeout_);
    if (!answer && connection_lost(answer.error())) usable_ = false;
    return answer;
  }

  proto::Result<proto::Ok, CommandError> reconnect() override {
    session_.client.reset();
    usable_ = false;
    auto fresh = reopen_();
    if (!fresh) return proto::unexpected(fresh.error());
    session_ = std::move(*fresh);
    usable_ = session_.client != nullptr;
    return proto::Ok{};
  }

  std::filesystem::path backup(const std::filesystem::path& directory) override {
    if (!session_.client || !usable_) throw CommandError{exit_unavailable, name_ + ": the connection was lost"};
    return take_backup(session_, directory);
  }

  std::string describe() const override { return name_; }

 private:
  Session session_;
  SessionOpener reopen_;
  std::chrono::milliseconds timeout_;
  std::string name_;
  bool usable_ = true;
};

}  // namespace

std::unique_ptr<UpgradeLink> make_client_link(Session first, SessionOpener reopen, std::chrono::milliseconds timeout) {
  return std::make_unique<ClientLink>(std::move(first), std::move(reopen), timeout);
}

}  // namespace cli
