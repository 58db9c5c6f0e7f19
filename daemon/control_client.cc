#include "control_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

namespace pathwatch {

namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline` for poll(); -1 when there is none.
int pollTimeout(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
  return static_cast<int>(std::clamp<long long>(left.count(), 0, 1 << 30));
}

std::optional<Clock::time_point> deadlineAfter(std::chrono::milliseconds timeout) {
  if (timeout == ControlClient::kForever) return std::nullopt;
  return Clock::now() + timeout;
}

}  // namespace

const char* toString(ControlErrorKind k) {
  switch (k) {
    case ControlErrorKind::None: return "none";
    case ControlErrorKind::NotRunning: return "not running";
    case ControlErrorKind::Closed: return "closed";
    case ControlErrorKind::Timeout: return "timeout";
    case ControlErrorKind::BadAnswer: return "bad answer";
  }
  return "?";
}

ControlClient::~ControlClient() { close(); }

ControlClient::ControlClient(ControlClient&& o) noexcept
    : max_line(o.max_line),
      fd_(std::exchange(o.fd_, -1)),
      buf_(std::move(o.buf_)),
      error_(o.error_),
      error_text_(std::move(o.error_text_)) {}

ControlClient& ControlClient::operator=(ControlClient&& o) noexcept {
  if (this != &o) {
    close();
    max_line = o.max_line;
    fd_ = std::exchange(o.fd_, -1);
    buf_ = std::move(o.buf_);
    error_ = o.error_;
    error_text_ = std::move(o.error_text_);
  }
  return *this;
}

void ControlClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
}

bool ControlClient::fail(ControlErrorKind kind, std::string text) {
  error_ = kind;
  error_text_ = std::move(text);
  return false;
}

bool ControlClient::connect(const std::string& path, Millis timeout) {
  close();
  error_ = ControlErrorKind::None;
  error_text_.clear();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path)
    return fail(ControlErrorKind::NotRunning, "socket path empty or too long");
  std::memcpy(a.sun_path, path.data(), path.size());
  const auto deadline = deadlineAfter(timeout);
  // Non-blocking: a Unix socket whose backlog is full answers EAGAIN instead
  // of making us wait without a bound; retry until the deadline.
  for (int attempt = 0;; ++attempt) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) return fail(ControlErrorKind::NotRunning, std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) break;
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err != EAGAIN && err != EINTR) return fail(ControlErrorKind::NotRunning, std::strerror(err));
    if (deadline && Clock::now() >= *deadline)
      return fail(ControlErrorKind::Timeout, "the daemon accepts no connection (backlog full)");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt + 1, 20)));
  }
  // Blocking from here on: reads poll with deadlines, writes are small.
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  return true;
}

bool ControlClient::sendRaw(std::string_view bytes) {
  if (fd_ < 0) return fail(ControlErrorKind::Closed, "not connected");
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left) {
    ssize_t n = ::send(fd_, p, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ControlErrorKind::Closed, "the daemon closed the connection");
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<std::string> ControlClient::readLine(Millis timeout) {
  const auto deadline = deadlineAfter(timeout);
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (buf_.size() > max_line) {
      fail(ControlErrorKind::BadAnswer, "an answer line longer than " + std::to_string(max_line));
      return std::nullopt;
    }
    if (fd_ < 0) {
      fail(ControlErrorKind::Closed, "not connected");
      return std::nullopt;
    }
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, pollTimeout(deadline));
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0) {
      fail(ControlErrorKind::Timeout, "no answer in time");
      return std::nullopt;
    }
    if (pr < 0) {
      fail(ControlErrorKind::Closed, std::strerror(errno));
      return std::nullopt;
    }
    char tmp[65536];
    ssize_t n = ::read(fd_, tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail(ControlErrorKind::Closed, "the daemon closed the connection");
      return std::nullopt;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
  }
}

std::optional<nlohmann::json> ControlClient::readJson(Millis timeout) {
  auto line = readLine(timeout);
  if (!line) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*line, nullptr, false);
  if (j.is_discarded()) {
    fail(ControlErrorKind::BadAnswer, "an answer that is not JSON");
    return std::nullopt;
  }
  return j;
}

std::optional<nlohmann::json> ControlClient::ask(const nlohmann::json& req, Millis timeout) {
  if (!send(req)) return std::nullopt;
  return readJson(timeout);
}

nlohmann::json ControlClient::call(const std::string& path, const nlohmann::json& req,
                                   Millis timeout) {
  if (!connect(path)) throw ControlError(error_, error_text_);
  auto answer = ask(req, timeout);
  if (!answer) throw ControlError(error_, error_text_);
  if (!answer->is_object()) throw ControlError(ControlErrorKind::BadAnswer, "an answer that is not a JSON object");
  return *answer;
}

}  // namespace pathwatch
