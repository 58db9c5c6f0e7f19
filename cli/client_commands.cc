// pathwatch status | history | watch | run | reload | metrics: talk to pathwatchd over
// its control socket (blocking IO is fine in a one-shot client).
//
// Exit codes: 0 done (status/run: every provider ok), 1 the daemon reports a
// problem or refused the request, 2 usage error, 3 pathwatchd is not running.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/daemon_keys.h"
#include "cli/help.h"
#include "control_client.h"
#include "pathwatch/process_hardening.h"

namespace pathwatch {

namespace {

using nlohmann::json;

constexpr int kNotRunning = 3;
constexpr const char* kDefaultSocket = "/run/pathwatch/pathwatch.sock";

struct ClientArgs {
  std::string socket;
  bool json_out = false;
  // history
  std::optional<std::string> provider, route, since;
  bool transitions = false, alerts = false;
  std::optional<int> limit;
};

// A usage error: one line naming the problem and where help is.
int usageError(const char* cmd, const std::string& problem) {
  std::cerr << "pathwatch " << cmd << ": " << problem << " (see pathwatch " << cmd << " --help)\n";
  return 2;
}

// Parses the shared options (and history's); nullopt to go on, else the exit
// code: 0 after printing `help` for -h/--help, 2 after a usage error.
std::optional<int> parseArgs(int argc, char** argv, ClientArgs& a, const char* help) {
  const char* cmd = argv[0];
  a.socket = clientSocketPath(kDefaultSocket);
  bool history = std::string(cmd) == "history";
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const auto eq = s.find('=');
    const bool long_opt = s.rfind("--", 0) == 0;
    const std::string name = long_opt ? s.substr(0, eq) : s;
    std::optional<std::string> inline_value;
    if (long_opt && eq != std::string::npos) inline_value = s.substr(eq + 1);
    auto value = [&]() -> std::optional<std::string> {
      if (inline_value) return inline_value;
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    auto flag = [&](bool& out) -> bool {
      if (inline_value) return false;
      out = true;
      return true;
    };
    if (name == "-h" || name == "--help") {
      std::cout << help;
      return 0;
    } else if (name == "--json") {
      if (!flag(a.json_out)) return usageError(cmd, name + " takes no value");
    } else if (name == "--socket") {
      auto v = value();
      if (!v || v->empty()) return usageError(cmd, "--socket needs a path");
      a.socket = *v;
    } else if (history && (name == "-p" || name == "--provider")) {
      if (!(a.provider = value())) return usageError(cmd, name + " needs a value");
    } else if (history && (name == "-r" || name == "--route")) {
      if (!(a.route = value())) return usageError(cmd, name + " needs a value");
    } else if (history && name == "--since") {
      if (!(a.since = value())) return usageError(cmd, name + " needs a value");
    } else if (history && name == "--transitions") {
      if (!flag(a.transitions)) return usageError(cmd, name + " takes no value");
    } else if (history && name == "--alerts") {
      if (!flag(a.alerts)) return usageError(cmd, name + " takes no value");
    } else if (history && name == "--limit") {
      auto v = value();
      char* end = nullptr;
      long n = v ? std::strtol(v->c_str(), &end, 10) : 0;
      if (!v || !end || *end || n < 1 || n > 10000)
        return usageError(cmd, "--limit needs a number from 1 to 10000");
      a.limit = static_cast<int>(n);
    } else if (!s.empty() && s[0] == '-') {
      return usageError(cmd, "unknown option " + name);
    } else {
      return usageError(cmd, "unexpected argument \"" + s + "\"");
    }
  }
  return std::nullopt;
}

int notRunning(const ClientArgs& a, const std::string& why) {
  std::cerr << "pathwatchd is not running (no socket at " << a.socket << ")";
  if (!why.empty()) std::cerr << ": " << why;
  std::cerr << "\n";
  return kNotRunning;
}

// Connects, sends, reads one answer; nullopt with the exit code in `rc` when
// it fails (3: not running) or the daemon refused (its error is printed).
std::optional<json> request(const ClientArgs& a, const json& req, int& rc, ControlClient& c,
                            ControlClient::Millis timeout = ControlClient::kForever) {
  json j;
  try {
    j = c.call(a.socket, req, timeout);
  } catch (const ControlError& e) {
    if (e.kind() == ControlErrorKind::NotRunning) {
      rc = notRunning(a, e.what());
      return std::nullopt;
    }
    std::cerr << "pathwatch: " << (e.kind() == ControlErrorKind::BadAnswer
                                       ? "pathwatchd sent something that is not JSON"
                                   : e.kind() == ControlErrorKind::Timeout
                                       ? "no answer from pathwatchd"
                                       : "pathwatchd closed the connection")
              << " (" << e.what() << ")\n";
    rc = 1;
    return std::nullopt;
  }
  if (!j.value("ok", false)) {
    if (a.json_out)
      std::cout << j.dump() << "\n";
    else
      std::cerr << "pathwatchd: " << j.value("error", std::string("request failed")) << "\n";
    rc = 1;
    return std::nullopt;
  }
  return j;
}

std::string str(const json& j, const char* k, const char* def = "-") {
  auto it = j.find(k);
  if (it == j.end() || !it->is_string()) return def;
  return it->get<std::string>();
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

bool allOk(const json& providers) {
  for (const auto& p : providers) {
    const auto& d = p.contains("diagnosis") ? p["diagnosis"] : json();
    if (d.is_object() && str(d, "verdict") != "ok") return false;
  }
  return true;
}

void printStatus(const json& j) {
  const auto& d = j.value("daemon", json::object());
  std::cout << "pathwatchd pid " << d.value("pid", 0) << ", up since " << str(d, "started_at")
            << ", config " << str(d, "config") << ", every " << str(d, "interval") << "\n";
  if (d.contains("reload_error") && d["reload_error"].is_string())
    std::cout << "  ! " << d["reload_error"].get<std::string>() << "\n";
  for (const auto& p : j.value("providers", json::array())) {
    std::cout << "\n";
    const auto& diag = p.contains("diagnosis") ? p["diagnosis"] : json();
    if (!diag.is_object()) {
      std::cout << pad(str(p, "name"), 12) << "not checked yet\n";
      continue;
    }
    std::cout << pad(str(p, "name"), 12) << pad(str(diag, "verdict"), 18) << "(" << str(diag, "cause")
              << ")  since " << str(p, "since");
    if (p.contains("last_change") && p["last_change"].is_string())
      std::cout << ", last change " << p["last_change"].get<std::string>();
    else
      std::cout << ", no change seen";
    std::cout << "\n";
    if (!str(diag, "summary", "").empty()) std::cout << "  " << str(diag, "summary") << "\n";
    for (const auto& r : p.value("routes", json::array())) {
      std::cout << "  " << pad(str(r, "route"), 14) << pad(str(r, "verdict"), 18) << str(r, "at");
      if (r.contains("ms") && r["ms"].is_number())
        std::cout << "  " << static_cast<long>(r["ms"].get<double>()) << " ms";
      if (r.contains("egress") && r["egress"].is_object())
        std::cout << "  egress " << str(r["egress"], "ip", "?") << " "
                  << str(r["egress"], "country", "");
      std::cout << "\n";
      if (str(r, "verdict") != "ok")
        for (const auto& e : r.value("evidence", json::array()))
          if (e.is_string()) std::cout << "      - " << e.get<std::string>() << "\n";
    }
  }
}

void printReport(const json& rep) {
  for (const auto& p : rep.value("providers", json::array())) {
    const auto& d = p.value("diagnosis", json::object());
    std::cout << pad(str(p, "name"), 12) << pad(str(d, "verdict"), 18) << "(" << str(d, "cause")
              << ")\n";
    if (!str(d, "summary", "").empty()) std::cout << "  " << str(d, "summary") << "\n";
    for (const auto& r : p.value("routes", json::array())) {
      std::cout << "  " << pad(str(r, "route"), 14) << str(r, "verdict") << "\n";
      if (str(r, "verdict") != "ok")
        for (const auto& e : r.value("evidence", json::array()))
          if (e.is_string()) std::cout << "      - " << e.get<std::string>() << "\n";
    }
  }
}

void printEvent(const json& e) {
  std::string ev = str(e, "event");
  if (ev == "result") {
    std::cout << str(e, "at") << "  " << pad(str(e, "provider"), 12) << pad(str(e, "route"), 14)
              << str(e, "verdict") << "\n";
  } else {
    std::cout << str(e, "at") << "  ALERT " << ev << "  " << str(e, "summary", "") << "\n";
  }
  std::cout.flush();
}

}  // namespace

int runStatusCommand(int argc, char** argv) {
  ClientArgs a;
  if (auto rc = parseArgs(argc, argv, a, kStatusHelp)) return *rc;
  ControlClient c;
  int rc = 0;
  auto j = request(a, {{"cmd", "status"}}, rc, c, std::chrono::seconds(30));
  if (!j) return rc;
  // The keys this user has, read from the sources the daemon uses, against
  // the daemon's: the variable set in a shell but not in the service.
  hardenProcess();  // before any key is read
  const std::vector<KeyComparison> keys = compareLocalKeys(*j);
  if (a.json_out) {
    (*j)["local_keys"] = {{"providers", toJson(keys)}};
    std::cout << j->dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    printStatus(*j);
    const std::string text = renderKeyComparisons(keys, keyTextContext(KeyPerspective::Status, *j));
    if (!text.empty()) std::cout << "\n" << text;
  }
  return allOk(j->value("providers", json::array())) ? 0 : 1;
}

int runHistoryCommand(int argc, char** argv) {
  ClientArgs a;
  if (auto rc = parseArgs(argc, argv, a, kHistoryHelp)) return *rc;
  json req = {{"cmd", "history"}, {"transitions", a.transitions}, {"alerts", a.alerts}};
  if (a.provider) req["provider"] = *a.provider;
  if (a.route) req["route"] = *a.route;
  if (a.since) req["since"] = *a.since;
  if (a.limit) req["limit"] = *a.limit;
  ControlClient c;
  int rc = 0;
  auto j = request(a, req, rc, c, std::chrono::seconds(60));
  if (!j) return rc;
  if (a.json_out) {
    std::cout << j->dump(2) << "\n";
    return 0;
  }
  std::cout << "since " << str(*j, "since") << "\n";
  for (const auto& t : j->value("transitions", json::array()))
    std::cout << str(t, "at") << "  " << pad(str(t, "provider"), 12) << pad(str(t, "route"), 14)
              << str(t, "before") << " -> " << str(t, "after") << "  " << str(t, "summary", "")
              << "\n";
  for (const auto& al : j->value("alerts", json::array()))
    std::cout << str(al, "at") << "  ALERT " << str(al, "event") << "  " << str(al, "summary", "")
              << "\n";
  for (const auto& r : j->value("results", json::array())) {
    std::cout << str(r, "at") << "  " << pad(str(r, "provider"), 12) << pad(str(r, "route"), 14)
              << pad(str(r, "verdict"), 18);
    if (r.contains("ms") && r["ms"].contains("total"))
      std::cout << static_cast<long>(r["ms"]["total"].get<double>()) << " ms";
    std::cout << "\n";
  }
  if (j->value("truncated", false))
    std::cerr << "(more rows than one answer holds: the oldest were left out; narrow it with "
                 "--since, -p, -r or --limit)\n";
  return 0;
}

int runRunCommand(int argc, char** argv) {
  ClientArgs a;
  if (auto rc = parseArgs(argc, argv, a, kRunHelp)) return *rc;
  ControlClient c;
  int rc = 0;
  auto j = request(a, {{"cmd", "run"}}, rc, c);
  if (!j) return rc;
  const json rep = j->value("report", json::object());
  if (j->value("coalesced", false) && !a.json_out)
    std::cerr << "(the report of a run that ended " << j->value("age_ms", 0) / 1000.0
              << " s ago or was already under way: runs are at most one per timeout)\n";
  if (a.json_out)
    std::cout << rep.dump(2) << "\n";
  else
    printReport(rep);
  return allOk(rep.value("providers", json::array())) ? 0 : 1;
}

int runReloadCommand(int argc, char** argv) {
  ClientArgs a;
  if (auto rc = parseArgs(argc, argv, a, kReloadHelp)) return *rc;
  ControlClient c;
  int rc = 0;
  auto j = request(a, {{"cmd", "reload"}}, rc, c, std::chrono::seconds(30));
  if (!j) return rc;
  if (a.json_out)
    std::cout << j->dump() << "\n";
  else
    std::cout << "pathwatchd reloaded " << str(*j, "config") << "\n";
  return 0;
}

int runMetricsCommand(int argc, char** argv) {
  ClientArgs a;
  if (auto rc = parseArgs(argc, argv, a, kMetricsHelp)) return *rc;
  ControlClient c;
  int rc = 0;
  auto j = request(a, {{"cmd", "metrics"}}, rc, c, std::chrono::seconds(30));
  if (!j) return rc;
  auto text = j->find("metrics");
  if (text == j->end() || !text->is_string()) {
    std::cerr << "pathwatch: pathwatchd's answer has no metrics text\n";
    return 1;
  }
  if (a.json_out)
    std::cout << j->dump() << "\n";
  else
    std::cout << text->get_ref<const std::string&>();  // ends with its own newline
  return 0;
}

int runWatchCommand(int argc, char** argv) {
  ClientArgs a;
  if (auto rc = parseArgs(argc, argv, a, kWatchHelp)) return *rc;
  ControlClient c;
  int rc = 0;
  auto j = request(a, {{"cmd", "watch"}}, rc, c, std::chrono::seconds(30));
  if (!j) return rc;
  if (!a.json_out) std::cerr << "watching pathwatchd at " << a.socket << " (Ctrl-C to stop)\n";
  while (auto line = c.readLine(ControlClient::kForever)) {
    if (a.json_out) {
      std::cout << *line << "\n" << std::flush;
      continue;
    }
    json e = json::parse(*line, nullptr, false);
    if (e.is_object()) printEvent(e);
  }
  std::cerr << "pathwatchd closed the watch\n";
  return 0;
}

}  // namespace pathwatch
