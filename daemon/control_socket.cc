#include "control_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <stdexcept>

#include "log.h"

namespace pathwatch {

using nlohmann::json;

struct ControlServer::Client {
  ControlServer* server = nullptr;
  ClientId id = 0;
  UvPipe pipe;  // data: this Client
  PeerCred peer;
  std::string in;
  bool discarding = false;  // inside an oversized line
  bool watching = false;
  bool busy = false;        // a request is with the handler, unanswered
  bool in_handler = false;  // the handler is running for this client now
  bool input_ended = false; // EOF read while answers were due: close once they are out
  std::deque<std::string> queue;  // lines waiting behind the busy request
  const char* draining = nullptr;  // closing once the output is out: why
  uint64_t draining_since = 0;
  uint64_t last_active = 0;
  uint64_t backlog_since = 0;  // watchers: since when output stays above watch_backlog

  uv_stream_t* stream() const { return pipe.stream(); }
  std::size_t unsent() const { return uv_stream_get_write_queue_size(stream()); }
};

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
char g_read_buf[kReadChunk];  // reads are consumed synchronously in onRead
constexpr std::size_t kMaxProcStatus = 64 * 1024;

json errorAnswer(const std::string& msg) { return {{"ok", false}, {"error", msg}}; }

// Something listens on `path` when a connect succeeds.
bool someoneListens(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// The numbers after `key` on its line of /proc/PID/status text ("Uid:\t0\t0\t0\t0").
std::optional<std::vector<unsigned long>> statusNumbers(std::string_view status,
                                                        std::string_view key) {
  std::size_t at = 0;
  while (at < status.size()) {
    std::size_t eol = status.find('\n', at);
    if (eol == std::string_view::npos) return std::nullopt;  // cut short: not trusted
    std::string_view line = status.substr(at, eol - at);
    at = eol + 1;
    if (line.substr(0, key.size()) != key) continue;
    line.remove_prefix(key.size());
    std::vector<unsigned long> out;
    while (!line.empty()) {
      const std::size_t skip = line.find_first_not_of(" \t");
      if (skip == std::string_view::npos) break;
      line.remove_prefix(skip);
      unsigned long v = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
      if (ec != std::errc()) return std::nullopt;
      out.push_back(v);
      line.remove_prefix(static_cast<std::size_t>(p - line.data()));
    }
    return out;
  }
  return std::nullopt;
}

std::string readBounded(const std::string& path, std::size_t cap) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  while (out.size() < cap) {
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, cap - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

bool mayControl(const PeerCred& peer, uid_t daemon_uid, gid_t socket_gid) {
  if (!peer.known) return false;
  if (peer.uid == 0 || peer.uid == daemon_uid) return true;
  if (socket_gid == static_cast<gid_t>(-1)) return false;
  if (peer.gid == socket_gid) return true;
  return std::find(peer.groups.begin(), peer.groups.end(), socket_gid) != peer.groups.end();
}

std::optional<std::vector<gid_t>> parseStatusGroups(std::string_view status) {
  auto nums = statusNumbers(status, "Groups:");
  if (!nums) return std::nullopt;
  std::vector<gid_t> out;
  for (unsigned long n : *nums) out.push_back(static_cast<gid_t>(n));
  return out;
}

std::vector<gid_t> peerGroups(int fd, const PeerCred& peer) {
  if (!peer.known) return {};
  // The kernel's record from connect() time.
  std::vector<gid_t> groups(64);
  for (int round = 0; round < 3; ++round) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(std::min<std::size_t>(len / sizeof(gid_t) + 1, 65536));
  }
  // Older kernels: the peer's /proc entry, if it is still that process.
  if (peer.pid <= 0) return {};
  const std::string status =
      readBounded("/proc/" + std::to_string(peer.pid) + "/status", kMaxProcStatus);
  auto uids = statusNumbers(status, "Uid:");
  auto gids = statusNumbers(status, "Gid:");
  auto has = [](const std::optional<std::vector<unsigned long>>& v, unsigned long x) {
    return v && std::find(v->begin(), v->end(), x) != v->end();
  };
  if (!has(uids, peer.uid) || !has(gids, peer.gid)) return {};
  return parseStatusGroups(status).value_or(std::vector<gid_t>{});
}

ControlServer::ControlServer(uv_loop_t* loop, ControlOptions options, RequestHandler handler)
    : loop_(loop), opt_(std::move(options)), handler_(std::move(handler)), daemon_uid_(::geteuid()) {
  if (opt_.max_queued == 0) opt_.max_queued = 1;
}

ControlServer::~ControlServer() { close(); }

void ControlServer::listen() {
  if (opt_.path.empty()) throw std::runtime_error("control socket: no path configured");
  if (opt_.path.size() >= sizeof(sockaddr_un{}.sun_path))
    throw std::runtime_error("control socket " + opt_.path + ": path longer than " +
                             std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
  namespace fs = std::filesystem;
  fs::path parent = fs::path(opt_.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    if (!fs::exists(parent, ec)) {
      fs::create_directories(parent, ec);
      if (ec)
        throw std::runtime_error("control socket " + opt_.path + ": cannot create " +
                                 parent.string() + ": " + ec.message());
      ::chmod(parent.c_str(), 0750);
    }
  }
  struct stat st {};
  if (::lstat(opt_.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error("control socket " + opt_.path +
                               ": exists and is not a socket; not removing it");
    if (someoneListens(opt_.path))
      throw std::runtime_error("control socket " + opt_.path +
                               ": another process listens on it (is pathwatchd already running?)");
    ::unlink(opt_.path.c_str());
    logNotice("control: removed stale socket " + opt_.path);
  }
  int rc = listener_.init([&](uv_pipe_t* p) { return uv_pipe_init(loop_, p, 0); }, this);
  if (rc == 0) rc = uv_pipe_bind(listener_.get(), opt_.path.c_str());
  if (rc == 0) {
    ::chmod(opt_.path.c_str(), 0660);
    struct stat sst {};
    if (::stat(opt_.path.c_str(), &sst) == 0) socket_gid_ = sst.st_gid;
    rc = uv_listen(listener_.stream(), 128, onConnection);
  }
  if (rc != 0) {
    listener_.reset();
    throw std::runtime_error("control socket " + opt_.path + ": " + uv_strerror(rc));
  }
  listening_ = true;
  sweep_timer_.init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }, this);
  int64_t every = std::min<int64_t>(opt_.idle_timeout.count(), opt_.watch_stall.count()) / 4;
  every = std::clamp<int64_t>(every, 50, 10000);
  uv_timer_start(sweep_timer_.get(), onSweep, static_cast<uint64_t>(every),
                 static_cast<uint64_t>(every));
  uv_unref(sweep_timer_.handle());
}

void ControlServer::close() {
  if (closed_) return;
  closed_ = true;
  for (auto& [id, c] : clients_) logDebug("control: client " + std::to_string(id) + " closed: shutting down");
  clients_.clear();  // each owner closes its pipe
  sweep_timer_.reset();
  listener_.reset();
  if (listening_) {
    ::unlink(opt_.path.c_str());
    listening_ = false;
  }
}

std::size_t ControlServer::watcherCount() const {
  std::size_t n = 0;
  for (auto& [id, c] : clients_) n += c->watching ? 1 : 0;
  return n;
}

ControlServer::Client* ControlServer::find(ClientId id) const {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second.get();
}

const PeerCred* ControlServer::peer(ClientId id) const {
  const Client* c = find(id);
  return c ? &c->peer : nullptr;
}

gid_t ControlServer::socketGroup() const {
  // Re-read: the admin may chgrp the socket while the daemon runs.
  struct stat st {};
  if (::stat(opt_.path.c_str(), &st) == 0) return st.st_gid;
  return socket_gid_;
}

bool ControlServer::mayControl(ClientId id) const {
  const Client* c = find(id);
  return c && pathwatch::mayControl(c->peer, daemon_uid_, socketGroup());
}

void ControlServer::onConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<ControlServer*>(server->data);
  if (!self || status < 0) return;
  try {
    self->accept();
  } catch (...) {
    logError("control: accepting a client failed");
  }
}

void ControlServer::accept() {
  auto c = std::make_unique<Client>();
  c->server = this;
  if (c->pipe.init([&](uv_pipe_t* p) { return uv_pipe_init(loop_, p, 0); }, c.get()) != 0) return;
  if (uv_accept(listener_.stream(), c->stream()) != 0) return;
  uv_os_fd_t fd = -1;
  std::string who = "uid ?";
  if (uv_fileno(c->pipe.handle(), &fd) == 0) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      c->peer.pid = cred.pid;
      c->peer.uid = cred.uid;
      c->peer.gid = cred.gid;
      c->peer.known = true;
      c->peer.groups = peerGroups(fd, c->peer);
      who = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
    }
  }
  if (clients_.size() >= opt_.max_clients) {
    // Tell it why, best effort and without queueing, then hang up.
    std::string line = errorAnswer("too many clients (limit " +
                                   std::to_string(opt_.max_clients) + "); try again later")
                           .dump() +
                       "\n";
    uv_buf_t b = uv_buf_init(line.data(), static_cast<unsigned>(line.size()));
    uv_try_write(c->stream(), &b, 1);
    logWarning("control: refused a client (" + who + "): too many clients");
    return;  // c's owner closes the pipe
  }
  c->id = next_id_++;
  c->last_active = uv_now(loop_);
  Client& ref = *c;
  clients_[c->id] = std::move(c);
  logInfo("control: client " + std::to_string(ref.id) + " connected (" + who + ")");
  if (uv_read_start(ref.stream(), onAlloc, onRead) != 0) closeClient(ref, "read failed");
}

void ControlServer::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) noexcept {
  *buf = uv_buf_init(g_read_buf, sizeof g_read_buf);
}

void ControlServer::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
  auto* c = static_cast<Client*>(s->data);
  if (!c || c->draining) return;
  ControlServer* self = c->server;
  const ClientId id = c->id;
  try {
    if (n == UV_EOF && (c->busy || !c->queue.empty())) {
      // Half-closed (`echo REQUEST | socat ...`): the answers still due go out
      // first, then the connection closes (replyLine).
      c->input_ended = true;
      uv_read_stop(c->stream());
      return;
    }
    if (n < 0) {
      self->closeClient(*c, n == UV_EOF ? nullptr : uv_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) return;
    c->last_active = uv_now(self->loop_);
    self->handleData(id, buf->base, static_cast<std::size_t>(n));
  } catch (const std::exception& e) {
    logError(std::string("control: ") + e.what());
    if (Client* live = self->find(id)) self->closeClient(*live, "internal error");
  } catch (...) {
    if (Client* live = self->find(id)) self->closeClient(*live, "internal error");
  }
}

void ControlServer::handleData(ClientId id, const char* data, std::size_t n) {
  std::string_view chunk(data, n);
  while (!chunk.empty()) {
    Client* c = find(id);  // any step below may have closed it
    if (!c || c->draining) return;
    auto nl = chunk.find('\n');
    if (c->discarding) {
      if (nl == std::string_view::npos) return;  // still inside the oversized line
      c->discarding = false;
      chunk.remove_prefix(nl + 1);
      continue;
    }
    if (nl == std::string_view::npos) {
      if (c->in.size() + chunk.size() > opt_.max_line) {
        c->in.clear();
        c->discarding = true;
        enqueue(*c, {});  // the error takes its turn like the request would have
        return;
      }
      c->in.append(chunk);
      return;
    }
    std::string line;
    if (c->in.size() + nl > opt_.max_line) {
      c->in.clear();
    } else {
      line = std::move(c->in);
      c->in.clear();
      line.append(chunk.substr(0, nl));
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty()) {
        chunk.remove_prefix(nl + 1);
        continue;
      }
    }
    chunk.remove_prefix(nl + 1);
    enqueue(*c, std::move(line));  // an empty line here stands for "too large"
  }
}

void ControlServer::enqueue(Client& c, std::string line) {
  if (c.busy || !c.queue.empty()) {
    if (c.queue.size() >= opt_.max_queued) {
      const ClientId id = c.id;
      writeLine(c, errorAnswer("too many requests waiting on this connection (limit " +
                               std::to_string(opt_.max_queued) +
                               " behind the one being answered); closing"));
      if (Client* live = find(id)) closeAfterFlush(*live, "too many queued requests");
      return;
    }
    c.queue.push_back(std::move(line));
    return;
  }
  c.queue.push_back(std::move(line));
  drain(c.id);
}

void ControlServer::drain(ClientId id) {
  for (;;) {
    Client* c = find(id);
    if (!c || c->busy || c->in_handler || c->draining || c->queue.empty()) return;
    std::string line = std::move(c->queue.front());
    c->queue.pop_front();
    dispatch(*c, line);
  }
}

void ControlServer::dispatch(Client& c, std::string_view line) {
  if (line.empty()) {
    writeLine(c, errorAnswer("request too large (limit " + std::to_string(opt_.max_line) +
                             " bytes)"));
    return;
  }
  json req = json::parse(line, nullptr, false);
  if (req.is_discarded()) {
    writeLine(c, errorAnswer("malformed JSON: expected one JSON object per line"));
    return;
  }
  if (!req.is_object()) {
    writeLine(c, errorAnswer("a request is a JSON object like {\"cmd\": \"status\"}"));
    return;
  }
  auto cmd = req.find("cmd");
  if (cmd == req.end() || !cmd->is_string()) {
    writeLine(c, errorAnswer("missing \"cmd\" (status, history, run, reload, watch, metrics)"));
    return;
  }
  const ClientId id = c.id;
  c.busy = true;
  c.in_handler = true;
  try {
    handler_(id, req);
  } catch (const std::exception& e) {
    if (Client* live = find(id); live && live->busy)
      reply(id, errorAnswer(std::string("internal error: ") + e.what()));
  }
  if (Client* live = find(id)) live->in_handler = false;
}

bool ControlServer::reply(ClientId id, const json& answer) {
  return replyLine(id, answer.dump(-1, ' ', false, json::error_handler_t::replace));
}

bool ControlServer::replyLine(ClientId id, std::string line) {
  Client* c = find(id);
  if (!c) return false;
  c->busy = false;
  c->last_active = uv_now(loop_);
  bool ok = writeText(*c, std::move(line));
  // The next request in line, unless the handler is still on the stack
  // (then drain() continues once it returns).
  if (Client* live = find(id); live && !live->in_handler) {
    drain(id);
    if (Client* after = find(id); after && after->input_ended && !after->busy && after->queue.empty())
      closeAfterFlush(*after, "end of input, answers sent");
  }
  return ok;
}
bool ControlServer::replyLine(ClientId id, std::shared_ptr<const std::string> line) {
  Client* c = find(id);
  if (!c) return false;
  c->busy = false;
  c->last_active = uv_now(loop_);
  bool ok = writeShared(*c, std::move(line));
  if (Client* live = find(id); live && !live->in_handler) drain(id);
  return ok;
}

bool ControlServer::send(ClientId id, const json& line) {
  Client* c = find(id);
  return c && writeLine(*c, line);
}

bool ControlServer::setWatching(ClientId id, bool watching) {
  Client* c = find(id);
  if (!c) return false;
  if (watching && !c->watching && watcherCount() >= opt_.max_watchers) return false;
  c->watching = watching;
  c->backlog_since = 0;
  return true;
}

void ControlServer::broadcast(const json& line) {
  std::vector<ClientId> ids;
  for (auto& [id, c] : clients_)
    if (c->watching && !c->draining) ids.push_back(id);
  for (auto id : ids) send(id, line);
}

bool ControlServer::writeLine(Client& c, const json& j) {
  return writeText(c, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

bool ControlServer::writeText(Client& c, std::string data) {
  if (c.draining) return false;
  data += '\n';
  if (data.size() > opt_.max_output) {
    // Never queue more than the cap in one go; the handler should have cut it.
    logWarning("control: client " + std::to_string(c.id) + ": an answer of " +
               std::to_string(data.size()) + " bytes replaced by an error");
    data = errorAnswer("answer too large (" + std::to_string(data.size()) + " bytes, limit " +
                       std::to_string(opt_.max_output) + ")")
               .dump() +
           "\n";
  }
  const std::size_t queued = c.unsent();
  if (queued > 0 && queued + data.size() > opt_.max_output) {
    closeClient(c, "not reading its answers (output cap reached)");
    return false;
  }
  if (uvWrite(c.stream(), std::move(data), &ControlServer::onWritten) != 0) {
    closeClient(c, "write failed");
    return false;
  }
  return true;
}

bool ControlServer::writeShared(Client& c, std::shared_ptr<const std::string> line) {
  if (!line || line->empty() || line->back() != '\n' || line->size() > opt_.max_output)
    return writeText(c, line ? line->substr(0, line->size() - (line->ends_with('\n') ? 1 : 0)) : "");
  if (c.draining) return false;
  const std::size_t queued = c.unsent();
  if (queued > 0 && queued + line->size() > opt_.max_output) {
    closeClient(c, "not reading its answers (output cap reached)");
    return false;
  }
  if (uvWrite(c.stream(), std::move(line), &ControlServer::onWritten) != 0) {
    closeClient(c, "write failed");
    return false;
  }
  return true;
}

void ControlServer::onWritten(void* owner, int status) {
  auto* c = static_cast<Client*>(owner);
  if (!c) return;  // the client is gone; nothing to do
  if (status < 0) {
    c->server->closeClient(*c, uv_strerror(status));
    return;
  }
  if (c->draining && c->unsent() == 0) c->server->closeClient(*c, c->draining);
}

void ControlServer::closeClient(Client& c, const char* why) {
  if (why)
    logInfo("control: client " + std::to_string(c.id) + " closed: " + why);
  else
    logDebug("control: client " + std::to_string(c.id) + " disconnected");
  clients_.erase(c.id);  // the owner closes the pipe; pending writes are cancelled
}

void ControlServer::closeAfterFlush(Client& c, const char* why) {
  if (c.draining) return;
  c.draining = why;
  c.draining_since = uv_now(loop_);
  c.watching = false;
  c.queue.clear();
  uv_read_stop(c.stream());
  if (c.unsent() == 0) closeClient(c, why);
}

void ControlServer::onSweep(uv_timer_t* t) noexcept {
  auto* self = static_cast<ControlServer*>(t->data);
  if (!self) return;
  try {
    self->sweep();
  } catch (...) {
  }
}

void ControlServer::sweep() {
  const uint64_t now = uv_now(loop_);
  const auto idle = static_cast<uint64_t>(opt_.idle_timeout.count());
  const auto stall = static_cast<uint64_t>(opt_.watch_stall.count());
  const auto grace = static_cast<uint64_t>(opt_.close_grace.count());
  std::vector<std::pair<ClientId, const char*>> doomed;
  for (auto& [id, c] : clients_) {
    if (c->draining) {
      if (now - c->draining_since >= grace) doomed.emplace_back(id, c->draining);
      continue;
    }
    if (c->watching) {
      if (c->unsent() <= opt_.watch_backlog) {
        c->backlog_since = 0;
      } else if (c->backlog_since == 0) {
        c->backlog_since = now;
      } else if (now - c->backlog_since >= stall) {
        doomed.emplace_back(id, "watcher not reading (output backlog)");
      }
      continue;
    }
    if (!c->busy && c->queue.empty() && now - c->last_active >= idle)
      doomed.emplace_back(id, "idle");
  }
  for (auto [id, why] : doomed)
    if (Client* c = find(id)) closeClient(*c, why);
}

}  // namespace pathwatch
