#pragma once
// A plain-HTTP server on the test's own libuv loop (127.0.0.1, port 0) that
// answers every request with one canned response, or never answers (hang).
// In a response body, "{peer}" becomes the client's address.
#include <uv.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pathwatch/provider.h"

namespace pathwatch::testing {

class EngineFakeHttp {
 public:
  struct Response {
    int status = 200;
    HeaderList headers;
    std::string body;
  };
  EngineFakeHttp(uv_loop_t* loop, Response response, bool hang = false);
  // Keeps connections open between requests (HTTP/1.1 keep-alive) and
  // answers a path in `by_path` with its own response.
  void keepAlive(std::map<std::string, Response> by_path) {
    keep_alive_ = true;
    by_path_ = std::move(by_path);
  }
  // Per-path answers as above, but every connection closed after its answer.
  void closeAfterEachAnswer() { keep_alive_ = false; }
  // Holds answers with the main response until `n` requests wait for one,
  // then writes them all in the same loop turn, the last request's first
  // (clients see them together, in the other order than they asked).
  void answerInGroupsOf(std::size_t n) { group_of_ = n; }
  int connections() const { return connections_; }
  const std::vector<std::string>& requestLines() const { return request_lines_; }
  ~EngineFakeHttp();
  EngineFakeHttp(const EngineFakeHttp&) = delete;
  EngineFakeHttp& operator=(const EngineFakeHttp&) = delete;

  uint16_t port() const { return port_; }
  int requests() const { return requests_; }
  const std::string& lastHead() const { return last_head_; }

 private:
  struct Conn;
  static void onConn(uv_stream_t* s, int status) noexcept;
  void closeConn(Conn* c);
  void answer(Conn* c, const Response& r);

  uv_loop_t* loop_;
  uv_tcp_t* listener_;
  Response response_;
  bool hang_;
  bool keep_alive_ = false;
  std::map<std::string, Response> by_path_;
  uint16_t port_ = 0;
  int requests_ = 0;
  int connections_ = 0;
  std::vector<std::string> request_lines_;
  std::string last_head_;
  std::set<Conn*> conns_;
  std::size_t group_of_ = 0;
  std::vector<Conn*> held_;
};

}  // namespace pathwatch::testing
