#pragma once
// The client side of the control socket (docs/socket.md): connect to a path, send
// one JSON object per line, read answers a line at a time. Blocking I/O with
// deadlines: it serves the CLI, the tests and the benchmarks, never the
// daemon's loop.
//
// Two styles on one connection: the primitives (connect, send, readLine,
// readJson, ask) return false / nullopt and leave the reason in lastError();
// call() is the one-shot of the CLI and throws a ControlError whose kind says
// "not running" (exit 3) apart from everything else.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pathwatch {

enum class ControlErrorKind {
  None,
  NotRunning,  // no socket, nothing listening, or not allowed to connect
  Closed,      // the daemon closed the connection (or a write failed)
  Timeout,     // no (complete) answer within the deadline
  BadAnswer,   // an answer that is not one JSON object per line
};

const char* toString(ControlErrorKind k);

class ControlError : public std::runtime_error {
 public:
  ControlError(ControlErrorKind kind, const std::string& what)
      : std::runtime_error(what), kind_(kind) {}
  ControlErrorKind kind() const { return kind_; }

 private:
  ControlErrorKind kind_;
};

class ControlClient {
 public:
  using Millis = std::chrono::milliseconds;
  // Waits forever (readLine, call): `pathwatch run` and `watch`.
  static constexpr Millis kForever = Millis::max();

  ControlClient() = default;
  ~ControlClient();
  ControlClient(ControlClient&& o) noexcept;
  ControlClient& operator=(ControlClient&& o) noexcept;
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // False (lastError() NotRunning) when nothing listens at `path`, or the
  // listener's backlog stays full past the timeout (Timeout).
  bool connect(const std::string& path, Millis timeout = std::chrono::seconds(5));
  bool connected() const { return fd_ >= 0; }

  bool sendRaw(std::string_view bytes);
  bool send(const nlohmann::json& j) { return sendRaw(j.dump() + "\n"); }

  // One line (without its newline) within `timeout`; nullopt on EOF
  // (Closed), timeout (Timeout) or a line longer than max_line (BadAnswer).
  std::optional<std::string> readLine(Millis timeout);
  // One line parsed; nullopt also when it is not JSON (BadAnswer).
  std::optional<nlohmann::json> readJson(Millis timeout);
  // send + readJson.
  std::optional<nlohmann::json> ask(const nlohmann::json& req,
                                    Millis timeout = std::chrono::seconds(10));

  // Connects to `path`, sends `req`, returns the answer object as it is
  // (ok true or false). Throws ControlError.
  nlohmann::json call(const std::string& path, const nlohmann::json& req,
                      Millis timeout = kForever);

  ControlErrorKind lastError() const { return error_; }
  const std::string& lastErrorText() const { return error_text_; }

  int fd() const { return fd_; }
  void close();

  // Longest answer line accepted (history answers are capped by the daemon
  // well below this).
  std::size_t max_line = 64u << 20;

 private:
  bool fail(ControlErrorKind kind, std::string text);

  int fd_ = -1;
  std::string buf_;
  ControlErrorKind error_ = ControlErrorKind::None;
  std::string error_text_;
};

}  // namespace pathwatch
