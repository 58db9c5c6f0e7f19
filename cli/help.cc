#include "cli/help.h"

namespace pathwatch {

// The daemon commands share --socket; its default is said once per text.
#define PATHWATCH_SOCKET_OPTION                                                   \
  "      --socket PATH      pathwatchd's control socket (default $PATHWATCH_SOCKET\n" \
  "                         when set, else /run/pathwatch/pathwatch.sock)\n"

const char kCheckHelp[] =
    "usage: pathwatch check [-c FILE] [-p PROVIDER]... [-r ROUTE]... [--json] [--timeout DURATION]\n"
    "\n"
    "Probes every selected provider layer by layer over every selected route, now,\n"
    "and says what is wrong: the key, the account, usage, region, a middlebox, the\n"
    "network or the provider. When pathwatchd runs, it also says which keys this\n"
    "check read that pathwatchd lacks or holds differently, and how to hand them over.\n"
    "\n"
    "  -c, --config FILE      config file (default /etc/pathwatch/config.json; when it\n"
    "                         does not exist, the embedded defaults: the four built-in\n"
    "                         providers over the route \"default\")\n"
    "  -p, --provider NAME    check only this provider (repeatable, or a,b,c)\n"
    "  -r, --route NAME       check only this route (repeatable, or a,b,c)\n"
    "      --json             print the JSON document instead of the table\n"
    "      --timeout DURATION per-probe timeout, e.g. 5s (overrides the config)\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 every selected provider is ok on every selected route,\n"
    "1 any is not, 2 usage or config error.\n"
    "\n"
    "Example:\n"
    "  OPENAI_API_KEY=$(cat ~/.openai) pathwatch check -p openai\n";

const char kStatusHelp[] =
    "usage: pathwatch status [--socket PATH] [--json]\n"
    "\n"
    "pathwatchd's current diagnosis per provider, the latest verdict per route and\n"
    "the evidence of routes that are not ok; then the keys you have (this user's\n"
    "environment and files) that pathwatchd lacks or holds differently.\n"
    "\n" PATHWATCH_SOCKET_OPTION
    "      --json             print the daemon's answer, with \"local_keys\" added\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 every provider is ok, 1 one is not or the request failed,\n"
    "2 usage error, 3 pathwatchd is not running.\n"
    "\n"
    "Example:\n"
    "  pathwatch status --socket /tmp/pw.sock\n";

const char kHistoryHelp[] =
    "usage: pathwatch history [--socket PATH] [--json] [-p PROVIDER] [-r ROUTE]\n"
    "                         [--since WHEN] [--transitions] [--alerts] [--limit N]\n"
    "\n"
    "Past results from pathwatchd's history, newest first; with --transitions the\n"
    "verdict changes, with --alerts the alerts raised.\n"
    "\n" PATHWATCH_SOCKET_OPTION
    "      --json             print the daemon's answer as JSON\n"
    "  -p, --provider NAME    only this provider\n"
    "  -r, --route NAME       only this route\n"
    "      --since WHEN       a duration back from now (24h, 30m) or an ISO 8601 time\n"
    "                         (default 24h)\n"
    "      --transitions      include verdict transitions\n"
    "      --alerts           include alerts\n"
    "      --limit N          at most N entries per list, 1 to 10000 (default 100)\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 done, 1 the request failed, 2 usage error, 3 pathwatchd is not\n"
    "running.\n"
    "\n"
    "Example:\n"
    "  pathwatch history -p anthropic --since 48h --transitions --alerts\n";

const char kWatchHelp[] =
    "usage: pathwatch watch [--socket PATH] [--json]\n"
    "\n"
    "Follows pathwatchd: one line per result and per alert as they happen, until\n"
    "interrupted.\n"
    "\n" PATHWATCH_SOCKET_OPTION
    "      --json             print the socket's lines as they come\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 the daemon closed the watch, 1 the request failed, 2 usage\n"
    "error, 3 pathwatchd is not running.\n"
    "\n"
    "Example:\n"
    "  pathwatch watch --json | jq -c 'select(.event != \"result\")'\n";

const char kRunHelp[] =
    "usage: pathwatch run [--socket PATH] [--json]\n"
    "\n"
    "Asks pathwatchd to probe every pair now and prints the report (pairs held by\n"
    "a provider's rate limit report their latest result). Only root, the daemon's\n"
    "user or members of the socket's group may ask.\n"
    "\n" PATHWATCH_SOCKET_OPTION
    "      --json             print the report as the JSON document of check --json\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 every provider is ok, 1 one is not or the request failed,\n"
    "2 usage error, 3 pathwatchd is not running.\n"
    "\n"
    "Example:\n"
    "  pathwatch run --json > report.json\n";

const char kReloadHelp[] =
    "usage: pathwatch reload [--socket PATH] [--json]\n"
    "\n"
    "Makes pathwatchd re-read its config and keys, like SIGHUP. A config with an\n"
    "error is refused and the previous one kept; the error is printed. Only root,\n"
    "the daemon's user or members of the socket's group may ask.\n"
    "\n" PATHWATCH_SOCKET_OPTION
    "      --json             print the daemon's answer as JSON\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 reloaded, 1 refused or failed, 2 usage error, 3 pathwatchd is\n"
    "not running.\n"
    "\n"
    "Example:\n"
    "  pathwatch config check -c new.json && cp new.json /etc/pathwatch/config.json &&\n"
    "  pathwatch reload\n";

const char kMetricsHelp[] =
    "usage: pathwatch metrics [--socket PATH] [--json]\n"
    "\n"
    "Prints pathwatchd's metrics in the Prometheus text exposition format, the\n"
    "same text GET /metrics serves when metrics.listen is set (whether or not it\n"
    "is). With --json, the socket's answer line: {\"ok\": true, \"metrics\": \"...\"}.\n"
    "\n" PATHWATCH_SOCKET_OPTION
    "      --json             the socket's answer line instead of the text\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 done, 1 the request failed, 2 usage error, 3 pathwatchd is not\n"
    "running.\n"
    "\n"
    "Example:\n"
    "  pathwatch metrics | grep '^pathwatch_verdict'\n";

const char kConfigCheckHelp[] =
    "usage: pathwatch config check [-c FILE]\n"
    "\n"
    "Validates the config file and prints the effective config, every default\n"
    "filled in, as JSON that is itself a valid config file. Keys never appear:\n"
    "a provider's key is shown only as its source (key_env, key_file) and webhook\n"
    "URLs only as scheme://host/... On stderr it then says, per provider, whether\n"
    "its key source yields a key for you now: ok, missing, malformed (with the\n"
    "key's fingerprint) or none. An error names the file, the key path and the\n"
    "problem, never the value, and exits 2.\n"
    "\n"
    "  -c, --config FILE      config file (default /etc/pathwatch/config.json; when it\n"
    "                         does not exist, the embedded defaults)\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 the file is valid, 2 it is not, cannot be read, or usage error.\n"
    "\n"
    "Example:\n"
    "  pathwatch config check -c new.json > effective.json\n";

const char kConfigExampleHelp[] =
    "usage: pathwatch config example\n"
    "\n"
    "Prints a complete example config to start from (the one shipped as\n"
    "examples/config.json; examples/README.md explains each entry).\n"
    "\n"
    "  -h, --help             this text\n"
    "\n"
    "Exit status: 0 printed, 2 usage error.\n"
    "\n"
    "Example:\n"
    "  pathwatch config example > config.json && pathwatch config check -c config.json\n";

#undef PATHWATCH_SOCKET_OPTION

}  // namespace pathwatch
