#pragma once
// The control socket of docs/socket.md: a Unix stream socket, mode 0660, one JSON
// object per line each way. This class is the transport only (framing, caps,
// who is asking, slow and hostile clients); what a command means is the
// daemon's handler.
//
// Caps, each bounding what one client can make the daemon hold:
// - an input line longer than max_line gets {"ok":false,"error":"request too
//   large"} and the rest of that line is discarded;
// - one request at a time per client: the handler sees a client's next
//   request only after the previous one was answered; up to max_queued wait
//   behind it, one more gets an error and the connection is closed;
// - a client whose unsent output passes max_output is dropped (it never
//   blocks others), and so is an answer line larger than max_output (an
//   error is sent instead);
// - beyond max_clients a connection gets an error line and is closed;
// - beyond max_watchers setWatching() refuses; a watcher whose unsent output
//   stays above watch_backlog for watch_stall is dropped;
// - clients idle for idle_timeout are closed (watchers and clients with a
//   request in progress are not idle).
// Malformed JSON gets an error in its turn and the connection stays usable.
//
// Who is asking: SO_PEERCRED (uid, gid, pid) and the peer's supplementary
// groups are read at accept; mayControl() says whether the peer is root, the
// daemon's user, or in the socket file's group.
#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pathwatch/uv_handle.h"
#include "pathwatch/duration.h"

namespace pathwatch {

struct ControlOptions {
  std::string path;
  std::size_t max_line = 64 * 1024;
  std::size_t max_output = 1024 * 1024;
  std::size_t max_clients = 128;
  std::size_t max_queued = 4;  // requests waiting behind the one being answered
  std::size_t max_watchers = 32;
  std::size_t watch_backlog = 64 * 1024;
  Millis watch_stall = std::chrono::seconds(30);
  Millis idle_timeout = std::chrono::minutes(5);
  Millis close_grace = std::chrono::seconds(2);  // for a last error line to go out
};

// The peer of a connection as the kernel saw it at connect().
struct PeerCred {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary; empty when unknown
  bool known = false;         // SO_PEERCRED answered
};

// run/reload: root, the daemon's user, or a member (primary or supplementary)
// of the socket file's group.
bool mayControl(const PeerCred& peer, uid_t daemon_uid, gid_t socket_gid);

// The gids of the "Groups:" line of /proc/PID/status text; nullopt when the
// line is missing or not complete in `status`.
std::optional<std::vector<gid_t>> parseStatusGroups(std::string_view status);

// The peer's supplementary groups: SO_PEERGROUPS (the kernel's record from
// connect(), no PID race), else the Groups: line of /proc/PID/status read with
// a bound (and only if that process still has the peer's uid and gid);
// empty when neither is available, so only the primary gid counts.
std::vector<gid_t> peerGroups(int fd, const PeerCred& peer);

class ControlServer {
 public:
  using ClientId = uint64_t;
  // Called with each well-formed request (an object with a string "cmd"),
  // one at a time per client; the handler answers with reply(), now or
  // later, exactly once. It must not destroy the server.
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
  // The same for an answer already serialised (one line, no '\n').
  bool replyLine(ClientId id, std::string line);
  // The same for an answer shared by many requests (one line ending in '\n'):
  // every client's write refers to it, nothing is copied.
  bool replyLine(ClientId id, std::shared_ptr<const std::string> line);
  // A line that answers nothing (watch events).
  bool send(ClientId id, const nlohmann::json& line);
  // False when the watcher cap is reached (or the client is gone).
  bool setWatching(ClientId id, bool watching);
  // One line to every watching client.
  void broadcast(const nlohmann::json& line);

  // The connection's peer; nullptr when the client is gone.
  const PeerCred* peer(ClientId id) const;
  // mayControl() for this client, against the socket file's group now.
  bool mayControl(ClientId id) const;

  // Closes every client and the listener and unlinks the socket path.
  void close();

  std::size_t clientCount() const { return clients_.size(); }
  std::size_t watcherCount() const;
  const ControlOptions& options() const { return opt_; }

 private:
  struct Client;
  static void onConnection(uv_stream_t* server, int status) noexcept;
  static void onAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept;
  static void onWritten(void* owner, int status);
  static void onSweep(uv_timer_t* t) noexcept;

  Client* find(ClientId id) const;
  void accept();
  void handleData(ClientId id, const char* data, std::size_t n);
  void enqueue(Client& c, std::string line);
  void drain(ClientId id);
  void dispatch(Client& c, std::string_view line);
  bool writeLine(Client& c, const nlohmann::json& j);
  bool writeText(Client& c, std::string line);  // one line, '\n' added
  bool writeShared(Client& c, std::shared_ptr<const std::string> line);  // ends in '\n'
  void closeClient(Client& c, const char* why);  // destroys c
  void closeAfterFlush(Client& c, const char* why);
  gid_t socketGroup() const;
  void sweep();

  uv_loop_t* loop_;
  ControlOptions opt_;
  RequestHandler handler_;
  UvPipe listener_;
  UvTimer sweep_timer_;
  std::map<ClientId, std::unique_ptr<Client>> clients_;
  ClientId next_id_ = 1;
  uid_t daemon_uid_;
  gid_t socket_gid_ = static_cast<gid_t>(-1);  // at listen(); socketGroup() re-reads it
  bool listening_ = false;
  bool closed_ = false;
};

}  // namespace pathwatch
