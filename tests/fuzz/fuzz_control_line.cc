// libFuzzer target for the control socket's line handling (daemon/control_socket.cc:
// framing, the line cap, blank lines, JSON and "cmd" validation, one request at
// a time) and the `history` request's arguments (daemon/history_command.cc).
//
// Each input is sent by a real client over a Unix socket to a ControlServer on a
// libuv loop, cut into writes of a size the first byte picks (so lines cross
// read boundaries); the handler answers like the daemon does for `history`
// (parseHistoryRequest, historyAnswerJson) and `status`, and refuses the rest.
//
// Properties checked for every input (abort on violation):
// - every answer is one line holding a JSON object with a boolean "ok", and a
//   refusal carries a non-empty "error" string that is not an internal error
//   (no exception but std::invalid_argument leaves the request parser);
// - the number of answers is exactly the number of requests the framing rules
//   of docs/socket.md make of the bytes: one per complete line that is not
//   blank, one per line longer than the cap (complete or not), however the
//   bytes were cut;
// - an answer never holds a 12-character piece of a made-up key planted in
//   the input in place of "KEY", except for the `unknown cmd` answer that
//   names what the client itself sent as its cmd.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/control_socket.h"
#include "daemon/history_command.h"
#include "daemon/log.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using nlohmann::json;
using pathwatch::ControlServer;

constexpr std::size_t kMaxLine = 256;  // small, so the cap's paths are reached often
constexpr std::size_t kMaxInput = 8 * 1024;  // fits the socket buffer with the answers read
constexpr int64_t kNowMs = 1'780'000'000'000;
constexpr const char* kKey = "sk-proj-Q7vN2mX8kL4pR9tY3wB6cF1hJ5dG0sAzE8uI2oP4aS6dF7gH9jK1lZ3xC5vB7nMT3BlbkFJ";

struct Harness {
  uv_loop_t loop{};
  std::string dir;
  std::unique_ptr<ControlServer> server;

  Harness() {
    pathwatch::setLogLevel(pathwatch::LogLevel::Err);
    FUZZ_CHECK(uv_loop_init(&loop) == 0);
    char tmpl[] = "/tmp/fuzz-control-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    pathwatch::ControlOptions opt;
    opt.path = dir + "/sock";
    opt.max_line = kMaxLine;
    server = std::make_unique<ControlServer>(&loop, opt, [this](ControlServer::ClientId id, const json& req) {
      answer(id, req);
    });
    server->listen();
  }

  void answer(ControlServer::ClientId id, const json& req) {
    const std::string cmd = req["cmd"].get<std::string>();
    if (cmd == "history") {
      try {
        const auto q = pathwatch::parseHistoryRequest(req, kNowMs);
        server->reply(id, pathwatch::historyAnswerJson(q, pathwatch::HistoryAnswer{}));
      } catch (const std::invalid_argument& e) {
        server->reply(id, json{{"ok", false}, {"error", e.what()}});
      }
    } else if (cmd == "status") {
      server->reply(id, json{{"ok", true}});
    } else {
      server->reply(id, json{{"ok", false}, {"error", "unknown cmd \"" + cmd.substr(0, 64) + "\""}});
    }
  }
};

Harness& harness() {
  static Harness* h = new Harness();
  return *h;
}

// What the framing rules make of `bytes`: how many answers are due.
std::size_t expectedAnswers(std::string_view bytes) {
  std::size_t n = 0;
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) return n + (bytes.size() > kMaxLine ? 1 : 0);
    std::string_view line = bytes.substr(0, nl);
    bytes.remove_prefix(nl + 1);
    if (line.size() > kMaxLine) {
      ++n;
      continue;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) ++n;
  }
  return n;
}

bool hasPlantedPiece(std::string_view text, std::string_view input) {
  const std::string_view key = kKey;
  for (std::size_t i = 0; i + 12 <= key.size(); ++i) {
    const std::string_view piece = key.substr(i, 12);
    if (text.find(piece) != std::string_view::npos && input.find(piece) == std::string_view::npos)
      return true;
  }
  return false;
}

// Sends `bytes` in writes of `step` bytes, half-closes, and reads the answers
// until the server hangs up. Bounded: the loop turns at most a fixed number of times.
std::string exchange(Harness& h, std::string_view bytes, std::size_t step) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  FUZZ_CHECK(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = h.dir + "/sock";
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  FUZZ_CHECK(::fcntl(fd, F_SETFL, O_NONBLOCK) == 0);

  std::string out;
  char buf[4096];
  auto readSome = [&]() {
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) return true;  // the server hung up
      FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
      return false;
    }
  };
  uv_run(&h.loop, UV_RUN_NOWAIT);  // accept
  while (!bytes.empty()) {
    const std::size_t n = std::min(step, bytes.size());
    const ssize_t w = ::write(fd, bytes.data(), n);
    FUZZ_CHECK(w > 0);
    bytes.remove_prefix(static_cast<std::size_t>(w));
    uv_run(&h.loop, UV_RUN_NOWAIT);
    readSome();
  }
  ::shutdown(fd, SHUT_WR);
  bool closed = false;
  for (int i = 0; i < 1000 && !closed; ++i) {
    uv_run(&h.loop, UV_RUN_NOWAIT);
    closed = readSome();
  }
  FUZZ_CHECK(closed);  // end of input ends the connection
  ::close(fd);
  uv_run(&h.loop, UV_RUN_NOWAIT);  // the server's close callbacks
  FUZZ_CHECK(h.server->clientCount() == 0);
  return out;
}

void checkAnswers(std::string_view out, std::string_view bytes, std::string_view input_before_key) {
  std::size_t answers = 0;
  while (!out.empty()) {
    const auto nl = out.find('\n');
    FUZZ_CHECK(nl != std::string_view::npos);  // every answer ends its line
    const std::string_view line = out.substr(0, nl);
    out.remove_prefix(nl + 1);
    ++answers;
    const json a = json::parse(line, nullptr, false);
    FUZZ_CHECK(!a.is_discarded() && a.is_object());
    FUZZ_CHECK(a.contains("ok") && a["ok"].is_boolean());
    if (!a["ok"].get<bool>()) {
      FUZZ_CHECK(a.contains("error") && a["error"].is_string());
      const std::string err = a["error"].get<std::string>();
      FUZZ_CHECK(!err.empty());
      FUZZ_CHECK(err.rfind("internal error", 0) != 0);
      if (err.rfind("unknown cmd", 0) == 0) continue;  // names the client's own cmd
    }
    FUZZ_CHECK(!hasPlantedPiece(line, input_before_key));
  }
  FUZZ_CHECK(answers == expectedAnswers(bytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > kMaxInput) return 0;
  Harness& h = harness();
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  // At most 64 writes, so a run stays fast.
  const std::size_t step = std::max<std::size_t>(std::size_t{1} + data[0] % 97 * (data[0] & 0x80 ? 1 : 40),
                                                 input.size() / 64 + 1);
  checkAnswers(exchange(h, input, step), input, input);

  if (input.find("KEY") == std::string::npos) return 0;
  std::string planted = input;
  const std::string_view key = kKey;
  for (auto pos = planted.find("KEY"); pos != std::string::npos; pos = planted.find("KEY", pos + key.size()))
    planted.replace(pos, 3, key);
  if (planted.size() > kMaxInput) return 0;
  checkAnswers(exchange(h, planted, step), planted, input);
  return 0;
}
