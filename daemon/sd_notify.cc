#include "sd_notify.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace pathwatch {

std::optional<NotifyAddress> notifyAddress(std::string_view value) {
  if (value.empty()) return std::nullopt;
  if (value[0] != '/' && value[0] != '@') return std::nullopt;
  NotifyAddress a;
  a.addr.sun_family = AF_UNIX;
  if (value.size() > sizeof(a.addr.sun_path) - (value[0] == '/' ? 1 : 0)) return std::nullopt;
  std::memcpy(a.addr.sun_path, value.data(), value.size());
  if (value[0] == '@') {
    a.addr.sun_path[0] = '\0';
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size());
  } else {
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + value.size() + 1);
  }
  return a;
}

std::optional<std::chrono::microseconds> watchdogPingInterval(const char* watchdog_usec,
                                                              const char* watchdog_pid,
                                                              long self_pid) {
  if (!watchdog_usec || !*watchdog_usec) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long usec = std::strtoull(watchdog_usec, &end, 10);
  if (errno != 0 || !end || *end != '\0' || usec == 0) return std::nullopt;
  if (watchdog_pid && *watchdog_pid) {
    char* pend = nullptr;
    long pid = std::strtol(watchdog_pid, &pend, 10);
    if (!pend || *pend != '\0' || pid != self_pid) return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<long long>(usec / 2));
}

uint64_t monotonicUsec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000ull + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

SdNotifier SdNotifier::fromEnvironment() {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  auto addr = sock ? notifyAddress(sock) : std::nullopt;
  auto wd = watchdogPingInterval(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"),
                                 static_cast<long>(getpid()));
  return SdNotifier(addr, wd);
}

SdNotifier::SdNotifier(std::optional<NotifyAddress> address,
                       std::optional<std::chrono::microseconds> watchdog)
    : address_(address), watchdog_(watchdog) {
  if (address_) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd_ < 0) address_.reset();
  }
}

SdNotifier::~SdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

SdNotifier::SdNotifier(SdNotifier&& o) noexcept
    : address_(o.address_), watchdog_(o.watchdog_), fd_(o.fd_) {
  o.fd_ = -1;
  o.address_.reset();
}

SdNotifier& SdNotifier::operator=(SdNotifier&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    address_ = o.address_;
    watchdog_ = o.watchdog_;
    fd_ = o.fd_;
    o.fd_ = -1;
    o.address_.reset();
  }
  return *this;
}

bool SdNotifier::notify(std::string_view state) {
  if (!address_ || fd_ < 0) return false;
  ssize_t n = ::sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                       reinterpret_cast<const sockaddr*>(&address_->addr), address_->len);
  return n == static_cast<ssize_t>(state.size());
}

std::string statusText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  return out;
}

bool SdNotifier::status(std::string_view text) { return notify("STATUS=" + statusText(text)); }

bool SdNotifier::readyWithStatus(std::string_view text) {
  return notify("READY=1\nSTATUS=" + statusText(text));
}

bool SdNotifier::reloading() {
  return notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonicUsec()));
}

}  // namespace pathwatch
