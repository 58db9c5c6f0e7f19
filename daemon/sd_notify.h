#pragma once
// The sd_notify protocol without libsystemd: datagrams of "KEY=VALUE\n..." to
// $NOTIFY_SOCKET (a path, or an abstract name when it starts with '@').
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pathwatch {

// Builds the address for a NOTIFY_SOCKET value; nullopt when it is empty,
// too long or neither absolute nor abstract. For '@name' sun_path[0] is NUL
// and the length is offsetof(sun_path) + strlen(value) (never sizeof).
struct NotifyAddress {
  sockaddr_un addr{};
  socklen_t len = 0;
};
std::optional<NotifyAddress> notifyAddress(std::string_view value);

// Half of WATCHDOG_USEC when the watchdog is on for this process (WATCHDOG_PID
// unset or equal to getpid()); nullopt otherwise.
std::optional<std::chrono::microseconds> watchdogPingInterval(const char* watchdog_usec,
                                                              const char* watchdog_pid,
                                                              long self_pid);

// Text safe for one "STATUS=" line: every control character (newlines
// included, which would start another KEY= field) becomes a space.
std::string statusText(std::string_view text);

// CLOCK_MONOTONIC in microseconds, for "MONOTONIC_USEC=" with RELOADING=1.
uint64_t monotonicUsec();

class SdNotifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the environment.
  static SdNotifier fromEnvironment();
  SdNotifier() = default;
  explicit SdNotifier(std::optional<NotifyAddress> address,
                      std::optional<std::chrono::microseconds> watchdog = std::nullopt);
  ~SdNotifier();
  SdNotifier(SdNotifier&& o) noexcept;
  SdNotifier& operator=(SdNotifier&& o) noexcept;
  SdNotifier(const SdNotifier&) = delete;
  SdNotifier& operator=(const SdNotifier&) = delete;

  bool enabled() const { return address_.has_value(); }
  std::optional<std::chrono::microseconds> watchdogInterval() const { return watchdog_; }

  // Sends one datagram, never blocking; false when disabled or the send failed.
  bool notify(std::string_view state);
  bool ready() { return notify("READY=1"); }
  bool status(std::string_view text);  // STATUS=statusText(text)
  bool readyWithStatus(std::string_view text);  // READY=1 + STATUS= (after a reload)
  bool watchdog() { return notify("WATCHDOG=1"); }
  bool reloading();  // RELOADING=1 + MONOTONIC_USEC=
  bool stopping() { return notify("STOPPING=1"); }

 private:
  std::optional<NotifyAddress> address_;
  std::optional<std::chrono::microseconds> watchdog_;
  int fd_ = -1;
};

}  // namespace pathwatch
