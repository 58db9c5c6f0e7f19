#include "cli/key_compare.h"

#include "pathwatch/key.h"
#include "pathwatch/text.h"

namespace pathwatch {

using nlohmann::json;

KeyView keyViewOf(const KeyLayer& layer) {
  KeyView v;
  v.source = layer.source;
  v.configured = layer.configured;
  v.read = layer.read;
  v.status = std::string(toString(layer.status));
  v.error = layer.error;
  v.problems = layer.problems;
  v.fingerprint = layer.fingerprint;
  return v;
}

KeyView keyViewFromJson(const json& j) {
  KeyView v;
  if (!j.is_object()) return v;
  // From a socket: shown to a terminal, so made fit to show.
  auto str = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? cleanText(it->get<std::string>()) : std::string();
  };
  auto flag = [&](const char* k) {
    auto it = j.find(k);
    return it != j.end() && it->is_boolean() && it->get<bool>();
  };
  v.source = str("source");
  v.configured = flag("configured");
  v.read = flag("read");
  v.status = str("status");
  v.error = str("error");
  v.fingerprint = str("fingerprint");
  if (auto it = j.find("problems"); it != j.end() && it->is_array())
    for (const auto& p : *it)
      if (p.is_string()) v.problems.push_back(cleanText(p.get<std::string>(), 64));
  return v;
}

json toJson(const KeyView& v) {
  json j = {{"source", v.source},
            {"configured", v.configured},
            {"read", v.read},
            {"status", v.status},
            {"problems", v.problems}};
  if (!v.error.empty()) j["error"] = v.error;
  if (!v.fingerprint.empty()) j["fingerprint"] = v.fingerprint;
  return j;
}

std::string_view toString(KeyFinding f) {
  switch (f) {
    case KeyFinding::SameKey: return "same_key";
    case KeyFinding::DaemonLacksKey: return "daemon_lacks_key";
    case KeyFinding::DifferentKey: return "different_key";
    case KeyFinding::OnlyDaemonHasKey: return "only_daemon_has_key";
    case KeyFinding::NeitherHasKey: return "neither_has_key";
  }
  return "neither_has_key";
}

KeyFinding compareKeys(const KeyView& local, const KeyView& daemon) {
  if (local.read && !daemon.read) return KeyFinding::DaemonLacksKey;
  if (!local.read && daemon.read) return KeyFinding::OnlyDaemonHasKey;
  if (!local.read) return KeyFinding::NeitherHasKey;
  // Different fingerprints prove different keys; equal ones are taken as one key.
  return local.fingerprint == daemon.fingerprint ? KeyFinding::SameKey : KeyFinding::DifferentKey;
}

namespace {

std::string envName(const KeyView& v) {
  return startsWith(v.source, "env:") ? v.source.substr(4) : std::string();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// "env:OPENAI_API_KEY (sk-proj…MxYA)", with what is wrong with a damaged key.
std::string describeKey(const KeyView& v) {
  std::string out = v.source;
  if (!v.fingerprint.empty()) out += " (" + v.fingerprint + ")";
  if (v.error == "key_malformed") out += ", damaged: " + join(v.problems);
  return out;
}

// Why a side has no key: "env:OPENAI_API_KEY: env_unset". `where` is whose
// environment the usual variable was looked up in.
std::string describeLack(const KeyView& v, const std::string& usual_variable,
                         const std::string& where) {
  if (v.source == "none")
    return usual_variable.empty() ? "no key source configured"
                                  : usual_variable + " is not set in " + where;
  return v.problems.empty() ? v.source : v.source + ": " + join(v.problems);
}

}  // namespace

ServiceKeyFix serviceKeyFix(const std::string& provider, const KeyView& local,
                            const KeyView& daemon) {
  ServiceKeyFix fix;
  fix.load_credential = "LoadCredential=" + provider + ":/etc/pathwatch/keys/" + provider;
  fix.key_file = "/run/credentials/pathwatchd.service/" + provider;
  fix.environment_file = std::string("EnvironmentFile=-") + kServiceKeysEnvFile;
  fix.environment_variable = envName(daemon);
  if (fix.environment_variable.empty()) fix.environment_variable = envName(local);
  return fix;
}

json toJson(const std::vector<KeyComparison>& comparisons) {
  json out = json::array();
  for (const auto& c : comparisons) {
    json j = {{"name", c.provider},
              {"finding", toString(c.finding)},
              {"local", toJson(c.local)},
              {"daemon", toJson(c.daemon)}};
    if (c.finding == KeyFinding::DaemonLacksKey) {
      const ServiceKeyFix fix = serviceKeyFix(c.provider, c.local, c.daemon);
      j["fix"] = {{"load_credential", fix.load_credential}, {"key_file", fix.key_file}};
      if (!fix.environment_variable.empty()) {
        j["fix"]["environment_file"] = fix.environment_file;
        j["fix"]["environment_variable"] = fix.environment_variable;
      }
    }
    out.push_back(std::move(j));
  }
  return out;
}

namespace {

void renderLacks(std::string& out, const KeyComparison& c, const KeyTextContext& ctx,
                 const std::string& usual_variable) {
  const bool check = ctx.perspective == KeyPerspective::Check;
  const bool from_shell = startsWith(c.local.source, "env:");
  out += "  ! " + c.provider + ": " +
         (check ? "this check read a key from " : "you have a key in ") + describeKey(c.local) +
         ", but pathwatchd has none (" + describeLack(c.daemon, usual_variable, "its environment") +
         ").\n";
  for (const auto& problem : c.daemon.problems) {
    if (problem == "env_unset" || problem == "env_empty") continue;  // said just below
    if (const auto advice = keyProblemAdvice(problem); !advice.empty())
      out += "    pathwatchd's side: " + std::string(advice) + "\n";
  }
  if (from_shell) out += "    A variable set in your shell is not in the service's environment.\n";
  const ServiceKeyFix fix = serviceKeyFix(c.provider, c.local, c.daemon);
  const std::string config = ctx.daemon_config.empty() || ctx.daemon_config == "<defaults>"
                                 ? "/etc/pathwatch/config.json"
                                 : ctx.daemon_config;
  const bool names_env = c.daemon.configured && startsWith(c.daemon.source, "env:");
  out += "    Hand the key to the service, either as a credential (systemctl edit pathwatchd):\n";
  out += "        [Service]\n";
  out += "        " + fix.load_credential + "\n";
  out += "      with the key in /etc/pathwatch/keys/" + c.provider + " (mode 0600), and in " +
         config + ", provider \"" + c.provider + "\":\n";
  out += "        \"key_file\": \"" + fix.key_file + "\"";
  out += names_env ? "   (in place of \"key_env\")\n" : "\n";
  if (!fix.environment_variable.empty()) {
    out += "    or as an environment file (systemctl edit pathwatchd):\n";
    out += "        [Service]\n";
    out += "        " + fix.environment_file + "\n";
    out += "      with the line " + fix.environment_variable + "=<the key> in " +
           kServiceKeysEnvFile + " (mode 0600)";
    // The service reads the variable only if its config names it (or it is the usual one).
    const bool named = envName(c.daemon) == fix.environment_variable ||
                       (c.daemon.source == "none" && usual_variable == fix.environment_variable);
    if (!named)
      out += ",\n      and in " + config + ", provider \"" + c.provider + "\": \"key_env\": \"" +
             fix.environment_variable + "\"";
    out += "\n";
  }
  out += "    then: systemctl restart pathwatchd\n";
}

}  // namespace

std::string renderKeyComparisons(const std::vector<KeyComparison>& comparisons,
                                 const KeyTextContext& ctx) {
  const bool check = ctx.perspective == KeyPerspective::Check;
  std::string body;
  for (const auto& c : comparisons) {
    std::string usual;
    if (const auto builtin = findBuiltin(c.provider)) usual = builtin->default_key_env;
    switch (c.finding) {
      case KeyFinding::DaemonLacksKey: renderLacks(body, c, ctx, usual); break;
      case KeyFinding::DifferentKey: {
        body += "  ! " + c.provider +
                ": pathwatchd uses a different key: " + describeKey(c.daemon) + "; " +
                (check ? "this check read " : "yours is ") + describeKey(c.local) + ".\n";
        body += "    Put the key you mean where pathwatchd reads it, then ";
        body +=
            startsWith(c.daemon.source, "file:")
                ? "pathwatch reload (it reads its keys again).\n"
                : "systemctl restart pathwatchd (a service's environment is set at its start).\n";
        break;
      }
      case KeyFinding::OnlyDaemonHasKey:
        // The person running check has no key where pathwatchd has one: worth
        // a line there (their check ran without it); at status it is the
        // normal case (the service's credentials are not the user's).
        if (check)
          body += "  - " + c.provider + ": this check read no key (" +
                  describeLack(c.local, usual, "this environment") +
                  "); pathwatchd has one: " + describeKey(c.daemon) + ".\n";
        break;
      case KeyFinding::SameKey:
      case KeyFinding::NeitherHasKey: break;
    }
  }
  if (body.empty()) return "";
  std::string head = check ? "Keys: this check and pathwatchd" : "Keys: you and pathwatchd";
  if (ctx.daemon_pid > 0) head += " (pid " + std::to_string(ctx.daemon_pid) + ")";
  return head + " differ:\n" + body;
}

}  // namespace pathwatch
