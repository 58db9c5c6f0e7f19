// pathwatch echo-server --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]
//                       [--max-clients N] [--max-per-address N] [--read-timeout DURATION]
#include "echo/echo_command.h"

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "echo/echo_server.h"
#include "pathwatch/uv_handle.h"
#include "pathwatch/duration.h"

namespace pathwatch {

const char kEchoServerHelp[] =
    "usage: pathwatch echo-server --listen ADDR:PORT [--tls-cert FILE --tls-key FILE]\n"
    "                             [--max-clients N] [--max-per-address N]\n"
    "                             [--read-timeout DURATION]\n"
    "\n"
    "Answers any HTTP request with JSON: the request line, every header exactly as\n"
    "received (name case and order kept) and the client address it saw. Run it on a\n"
    "host you trust and list its URL under \"echo\" in the config: pathwatch then sees\n"
    "what each route's path adds, strips or rewrites.\n"
    "\n"
    "  --listen ADDR:PORT     IP address and port, e.g. 0.0.0.0:8080, [::]:8443,\n"
    "                         127.0.0.1:0 (any free port); the first line on stdout\n"
    "                         says where: \"listening on 127.0.0.1:43123\"\n"
    "  --tls-cert FILE        PEM certificate chain: serve HTTPS (with --tls-key)\n"
    "  --tls-key FILE         PEM private key\n"
    "  --max-clients N        connections at once, beyond that accept and close (256)\n"
    "  --max-per-address N    connections at once from one client address (16)\n"
    "  --read-timeout D       time a client has to send its request (10s)\n"
    "\n"
    "  -h, --help             this text\n"
    "\n"
    "Logs one line per request to stderr, header names only. SIGINT/SIGTERM stop it.\n"
    "Exit status: 0 stopped by a signal, 1 could not start, 2 usage error.\n"
    "\n"
    "Example:\n"
    "  pathwatch echo-server --listen 0.0.0.0:8443 --tls-cert fullchain.pem --tls-key privkey.pem\n";

namespace {

int usageError(const std::string& message) {
  std::fprintf(stderr, "pathwatch echo-server: %s (see pathwatch echo-server --help)\n",
               message.c_str());
  return 2;
}

struct SignalContext {
  EchoServer* server = nullptr;
  UvSignal sigint, sigterm;
};

void onSignal(uv_signal_t* handle, int signum) noexcept {
  auto* ctx = static_cast<SignalContext*>(handle->data);
  if (!ctx) return;
  std::fprintf(stderr, "echo-server: stopping on %s\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
  ctx->server->stop();
  ctx->sigint.reset();  // handle is one of these: nothing of it is used below
  ctx->sigterm.reset();
}

// "16" -> 16 within [1, max]; nullopt otherwise.
std::optional<std::size_t> parseCount(const std::string& value, std::size_t max) {
  std::size_t n = 0;
  bool ok = !value.empty() && value.size() <= 6;
  for (char c : value) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) n = n * 10 + static_cast<std::size_t>(c - '0');
  }
  if (!ok || n < 1 || n > max) return std::nullopt;
  return n;
}

}  // namespace

int runEchoServerCommand(int argc, char** argv) {
  EchoServerOptions options;
  bool have_listen = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    if (arg == "-h" || arg == "--help") {
      std::fputs(kEchoServerHelp, stdout);
      return 0;
    }
    const bool takes_value = arg == "--listen" || arg == "--tls-cert" || arg == "--tls-key" ||
                             arg == "--max-clients" || arg == "--max-per-address" ||
                             arg == "--read-timeout";
    if (!takes_value) return usageError("unknown option " + arg);
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return usageError(arg + " needs a value");
    }
    if (arg == "--listen") {
      const auto parsed = parseListenAddress(value);
      if (!parsed) return usageError("--listen wants IP:PORT or [IPv6]:PORT, got \"" + value + "\"");
      options.host = parsed->first;
      options.port = parsed->second;
      have_listen = true;
    } else if (arg == "--tls-cert") {
      options.tls_cert_file = value;
    } else if (arg == "--tls-key") {
      options.tls_key_file = value;
    } else if (arg == "--max-clients") {
      const auto n = parseCount(value, 100000);
      if (!n) return usageError("--max-clients wants a number from 1 to 100000, got \"" + value + "\"");
      options.max_clients = *n;
    } else if (arg == "--max-per-address") {
      const auto n = parseCount(value, 100000);
      if (!n)
        return usageError("--max-per-address wants a number from 1 to 100000, got \"" + value + "\"");
      options.max_per_address = *n;
    } else {
      const auto d = parseDuration(value);
      if (!d || d->count() <= 0 || d->count() > 3'600'000) {
        return usageError("--read-timeout wants a duration such as 10s or 500ms (at most 1h), got \"" +
                          value + "\"");
      }
      options.read_timeout_ms = static_cast<uint64_t>(d->count());
    }
  }
  if (!have_listen) return usageError("--listen is required");
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return usageError("--tls-cert and --tls-key go together");
  }

  // A client that resets mid-answer must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) {
    std::fprintf(stderr, "pathwatch echo-server: cannot create the event loop\n");
    return 1;
  }
  int rc = 0;
  {
    EchoServer server(&loop, options);
    std::string error;
    if (!server.start(&error)) {
      std::fprintf(stderr, "pathwatch echo-server: %s\n", error.c_str());
      rc = 1;
    } else {
      std::printf("listening on %s\n", server.boundAddress().c_str());
      std::fflush(stdout);
      std::fprintf(stderr, "echo-server: listening on %s (%s, at most %zu clients, %zu per address)\n",
                   server.boundAddress().c_str(), server.tls() ? "https" : "http",
                   options.max_clients, options.max_per_address);
      SignalContext ctx;
      ctx.server = &server;
      for (auto [h, signum] : {std::pair{&ctx.sigint, SIGINT}, std::pair{&ctx.sigterm, SIGTERM}}) {
        h->init([&](uv_signal_t* x) { return uv_signal_init(&loop, x); }, &ctx);
        uv_signal_start(h->get(), &onSignal, signum);
      }
      uv_run(&loop, UV_RUN_DEFAULT);
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // let every handle finish closing
  if (uv_loop_close(&loop) != 0) rc = rc ? rc : 1;
  return rc;
}

}  // namespace pathwatch
