#pragma once
// A blocking loopback TCP client for tests of the servers on the loop (echo
// server, metrics endpoint): every call gives up after its limit, so a server
// that never answers fails the test instead of hanging it.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace pathwatch::testclient {

class LoopbackClient {
 public:
  // `from`: an IPv4 loopback source address (all of 127.0.0.0/8 reaches lo);
  // `v6`: connect to ::1 instead of 127.0.0.1.
  explicit LoopbackClient(uint16_t port, const char* from = nullptr, bool v6 = false,
                          std::chrono::seconds limit = std::chrono::seconds(10));
  ~LoopbackClient();
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // False once the peer stops taking bytes (reset, closed, our limit).
  bool send(std::string_view data);

  struct Read {
    std::string data;
    bool eof = false;        // orderly close
    bool reset = false;      // ECONNRESET
    bool timed_out = false;  // our limit passed: the server never closed
  };
  // Reads until the server closes, resets, or the limit passes.
  Read readAll();

 private:
  int fd_ = -1;
  bool connected_ = false;
};

struct HttpResponse {
  int status = 0;  // 0: not an HTTP/1.1 answer with a complete head
  std::string head, body;
  // `line` ("Connection: close") is one of the head's lines, exactly.
  bool hasHeader(const std::string& line) const;
};
HttpResponse parseHttpResponse(const std::string& raw);

}  // namespace pathwatch::testclient
