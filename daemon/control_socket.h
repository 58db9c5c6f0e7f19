#pragma once
// The control socket of SPEC.md: a Unix stream socket, mode 0660, one JSON
// object per line each way. This class is the transport only (framing, caps,
// slow and hostile clients); what a command means is the daemon's handler.
//
// Caps: an input line longer than max_line gets {"ok":false,"error":"request
// too large"} and the rest of that line is discarded; a client whose unsent
// output passes max_output is dropped (it never blocks others); beyond
// max_clients a connection gets an error line and is closed; clients idle
// for idle_timeout are closed (watchers and clients awaiting an answer are
// not idle). Malformed JSON gets an error and the connection stays usable.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "pathwatch/duration.h"

namespace pathwatch {

struct ControlOptions {
  std::string path;
  std::size_t max_line = 64 * 1024;
  std::size_t max_output = 1024 * 1024;
  std::size_t max_clients = 128;
  std::size_t max_pending = 8;  // requests awaiting an answer, per client
  Millis idle_timeout = std::chrono::minutes(5);
};

class ControlServer {
 public:
  using ClientId = uint64_t;
  // Called with each well-formed request (an object with a string "cmd");
  // the handler answers with reply(), now or later, exactly once.
  using RequestHandler = std::function<void(ClientId, const nlohmann::json&)>;

  ControlServer(uv_loop_t* loop, ControlOptions options, RequestHandler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the parent directory if missing, removes a stale socket (only
  // when nothing listens on it), binds, chmods 0660, listens. Throws
  // std::runtime_error naming the path and the problem.
  void listen();

  // The answer to a request (one line). False when the client is gone.
  bool reply(ClientId id, const nlohmann::json& answer);
  // The same with the answer already serialised (one JSON object, no newline),
  // for answers built off the loop.
  bool replyLine(ClientId id, std::string line);
  // A line that answers nothing (watch events).
  bool send(ClientId id, const nlohmann::json& line);
  void setWatching(ClientId id, bool watching);
  // One line to every watching client.
  void broadcast(const nlohmann::json& line);

  // Closes every client and the listener and unlinks the socket path.
  void close();

  std::size_t clientCount() const { return clients_.size(); }
  std::size_t watcherCount() const;
  const ControlOptions& options() const { return opt_; }

 private:
  struct Client;
  struct WriteReq;
  static void onConnection(uv_stream_t* server, int status) noexcept;
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept;
  static void onWrite(uv_write_t* req, int status) noexcept;
  static void onSweep(uv_timer_t* t) noexcept;

  void accept();
  void handleData(Client& c, const char* data, std::size_t n);
  void handleLine(Client& c, std::string_view line);
  bool writeLine(Client& c, const nlohmann::json& j);
  bool writeText(Client& c, std::string line);
  void closeClient(Client& c, const char* why);
  void sweep();

  uv_loop_t* loop_;
  ControlOptions opt_;
  RequestHandler handler_;
  uv_pipe_t* listener_ = nullptr;
  uv_timer_t* sweep_timer_ = nullptr;
  std::map<ClientId, Client*> clients_;
  ClientId next_id_ = 1;
  bool listening_ = false;
  bool closed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace pathwatch
