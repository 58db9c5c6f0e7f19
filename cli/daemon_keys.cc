#include "cli/daemon_keys.h"

#include <cstdlib>

#include "control_client.h"
#include "pathwatch/key.h"
#include "pathwatch/text.h"

namespace pathwatch {

using nlohmann::json;

std::string clientSocketPath(const std::string& fallback) {
  const char* env = std::getenv("PATHWATCH_SOCKET");
  return env && *env ? std::string(env) : fallback;
}

std::optional<json> askDaemonStatus(const std::string& socket, std::chrono::milliseconds timeout) {
  try {
    ControlClient client;
    if (!client.connect(socket, timeout)) return std::nullopt;
    auto answer = client.ask({{"cmd", "status"}}, timeout);
    if (!answer || !answer->is_object() || !answer->value("ok", false)) return std::nullopt;
    return answer;
  } catch (const std::exception&) {
    return std::nullopt;  // the daemon's view is a bonus: the check goes on without it
  }
}

namespace {

// The answer comes from whatever listens on the socket: read it without
// trusting its types.
std::string strField(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? cleanText(it->get<std::string>()) : std::string();
}

const json& objField(const json& j, const char* key) {
  static const json kEmpty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

long pidOf(const json& status) {
  const json& daemon = objField(status, "daemon");
  auto it = daemon.find("pid");
  return it != daemon.end() && it->is_number_integer() ? it->get<long>() : 0;
}

const json* daemonProvider(const json& status, const std::string& name) {
  auto it = status.find("providers");
  if (it == status.end() || !it->is_array()) return nullptr;
  for (const auto& p : *it)
    if (p.is_object() && strField(p, "name") == name) return &p;
  return nullptr;
}

// The daemon's key view for a provider; nullopt when it did not say (not read yet).
std::optional<KeyView> daemonKey(const json& provider) {
  auto it = provider.find("key");
  if (it == provider.end() || !it->is_object()) return std::nullopt;
  KeyView v = keyViewFromJson(*it);
  if (v.source.empty()) return std::nullopt;
  return v;
}

// The provider as the daemon runs it, for reading its key here: the
// definition from its kind, the key source exactly as the daemon used it.
std::optional<ProviderConfig> providerForLocalRead(const json& p, const KeyView& daemon) {
  const std::string name = strField(p, "name");
  const std::string kind = strField(p, "kind");
  if (name.empty()) return std::nullopt;
  ProviderConfig pc;
  if (auto builtin = findBuiltin(name); builtin && (kind.empty() || kind == kindOf(*builtin))) {
    pc.spec = *builtin;
  } else if (auto of_kind = findBuiltin(kind)) {
    pc.spec = *of_kind;  // a custom entry speaks a built-in's kind
    pc.spec.name = name;
    pc.spec.default_key_env.clear();
  } else {
    return std::nullopt;
  }
  if (auto b = p.find("builtin"); b != p.end() && b->is_boolean()) pc.spec.builtin = b->get<bool>();
  if (daemon.configured && startsWith(daemon.source, "env:")) pc.key_env = daemon.source.substr(4);
  if (daemon.configured && startsWith(daemon.source, "file:"))
    pc.key_file = daemon.source.substr(5);
  return pc;
}

}  // namespace

std::vector<KeyComparison> compareReportKeys(const CheckReport& report, const json& status) {
  std::vector<KeyComparison> out;
  for (const auto& p : report.providers) {
    if (p.routes.empty()) continue;
    const json* dp = daemonProvider(status, p.name);
    if (!dp) continue;
    auto daemon = daemonKey(*dp);
    if (!daemon) continue;
    KeyComparison c;
    c.provider = p.name;
    c.local = keyViewOf(p.routes.front().key);  // every route's key layer is the one reading
    c.daemon = *daemon;
    c.finding = compareKeys(c.local, c.daemon);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<KeyComparison> compareLocalKeys(const json& status) {
  std::vector<KeyComparison> out;
  auto it = status.find("providers");
  if (it == status.end() || !it->is_array()) return out;
  for (const auto& p : *it) {
    if (!p.is_object()) continue;
    auto daemon = daemonKey(p);
    if (!daemon) continue;
    auto pc = providerForLocalRead(p, *daemon);
    if (!pc) continue;
    KeyComparison c;
    c.provider = pc->spec.name;
    c.local = keyViewOf(readKey(*pc).layer);  // the key itself is wiped right here
    c.daemon = *daemon;
    c.finding = compareKeys(c.local, c.daemon);
    out.push_back(std::move(c));
  }
  return out;
}

json daemonKeysJson(const std::string& socket, const json& status,
                    const std::vector<KeyComparison>& comparisons) {
  return {{"socket", socket},
          {"pid", pidOf(status)},
          {"config", strField(objField(status, "daemon"), "config")},
          {"providers", toJson(comparisons)}};
}

KeyTextContext keyTextContext(KeyPerspective perspective, const json& status) {
  KeyTextContext ctx;
  ctx.perspective = perspective;
  ctx.daemon_config = strField(objField(status, "daemon"), "config");
  ctx.daemon_pid = pidOf(status);
  return ctx;
}

}  // namespace pathwatch
