#include "control_socket.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "log.h"

namespace pathwatch {

using nlohmann::json;

struct ControlServer::Client {
  uv_pipe_t pipe;  // first: the handle pointer is the client pointer
  ControlServer* server = nullptr;
  ClientId id = 0;
  std::string in;
  bool discarding = false;  // inside an oversized line
  bool watching = false;
  bool closing = false;
  std::size_t pending = 0;
  uint64_t last_active = 0;
};

struct ControlServer::WriteReq {
  uv_write_t req;
  std::string data;
};

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
char g_read_buf[kReadChunk];  // reads are consumed synchronously in onRead

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

}  // namespace

ControlServer::ControlServer(uv_loop_t* loop, ControlOptions options, RequestHandler handler)
    : loop_(loop), opt_(std::move(options)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  close();
  *alive_ = false;
}

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
  listener_ = new uv_pipe_t;
  uv_pipe_init(loop_, listener_, 0);
  listener_->data = this;
  int rc = uv_pipe_bind(listener_, opt_.path.c_str());
  if (rc == 0) {
    ::chmod(opt_.path.c_str(), 0660);
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, onConnection);
  }
  if (rc != 0) {
    listener_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    listener_ = nullptr;
    throw std::runtime_error("control socket " + opt_.path + ": " + uv_strerror(rc));
  }
  listening_ = true;
  sweep_timer_ = new uv_timer_t;
  uv_timer_init(loop_, sweep_timer_);
  sweep_timer_->data = this;
  uint64_t every = static_cast<uint64_t>(std::max<int64_t>(100, opt_.idle_timeout.count() / 4));
  every = std::min<uint64_t>(every, 10000);
  uv_timer_start(sweep_timer_, onSweep, every, every);
  uv_unref(reinterpret_cast<uv_handle_t*>(sweep_timer_));
}

void ControlServer::close() {
  if (closed_) return;
  closed_ = true;
  std::vector<Client*> all;
  for (auto& [id, c] : clients_) all.push_back(c);
  for (auto* c : all) closeClient(*c, "shutting down");
  if (sweep_timer_) {
    sweep_timer_->data = nullptr;
    uv_timer_stop(sweep_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(sweep_timer_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    sweep_timer_ = nullptr;
  }
  if (listener_) {
    listener_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
    listener_ = nullptr;
  }
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
  auto* c = new Client;
  uv_pipe_init(loop_, &c->pipe, 0);
  c->pipe.data = c;
  c->server = this;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
    return;
  }
  uv_os_fd_t fd = -1;
  std::string who = "uid ?";
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->pipe), &fd) == 0) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
      who = "uid " + std::to_string(cred.uid) + " pid " + std::to_string(cred.pid);
  }
  if (clients_.size() >= opt_.max_clients) {
    // Tell it why, best effort and without queueing, then hang up.
    std::string line = errorAnswer("too many clients (limit " +
                                   std::to_string(opt_.max_clients) + "); try again later")
                           .dump() +
                       "\n";
    uv_buf_t b = uv_buf_init(line.data(), static_cast<unsigned>(line.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(&c->pipe), &b, 1);
    logWarning("control: refused a client (" + who + "): too many clients");
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe),
             [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
    return;
  }
  c->id = next_id_++;
  c->last_active = uv_now(loop_);
  clients_[c->id] = c;
  logInfo("control: client " + std::to_string(c->id) + " connected (" + who + ")");
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), onAlloc, onRead);
}

void ControlServer::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) noexcept {
  *buf = uv_buf_init(g_read_buf, sizeof g_read_buf);
}

void ControlServer::onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
  auto* c = static_cast<Client*>(s->data);
  if (!c || c->closing) return;
  try {
    if (n < 0) {
      c->server->closeClient(*c, n == UV_EOF ? nullptr : uv_strerror(static_cast<int>(n)));
      return;
    }
    if (n == 0) return;
    c->last_active = uv_now(c->server->loop_);
    c->server->handleData(*c, buf->base, static_cast<std::size_t>(n));
  } catch (const std::exception& e) {
    logError(std::string("control: ") + e.what());
    c->server->closeClient(*c, "internal error");
  } catch (...) {
    c->server->closeClient(*c, "internal error");
  }
}

void ControlServer::handleData(Client& c, const char* data, std::size_t n) {
  std::string_view chunk(data, n);
  while (!chunk.empty() && !c.closing) {
    auto nl = chunk.find('\n');
    if (c.discarding) {
      if (nl == std::string_view::npos) return;  // still inside the oversized line
      c.discarding = false;
      chunk.remove_prefix(nl + 1);
      continue;
    }
    if (nl == std::string_view::npos) {
      if (c.in.size() + chunk.size() > opt_.max_line) {
        c.in.clear();
        c.discarding = true;
        writeLine(c, errorAnswer("request too large (limit " + std::to_string(opt_.max_line) +
                                 " bytes)"));
        return;
      }
      c.in.append(chunk);
      return;
    }
    if (c.in.size() + nl > opt_.max_line) {
      c.in.clear();
      writeLine(c, errorAnswer("request too large (limit " + std::to_string(opt_.max_line) +
                               " bytes)"));
      chunk.remove_prefix(nl + 1);
      continue;
    }
    std::string line = std::move(c.in);
    c.in.clear();
    line.append(chunk.substr(0, nl));
    chunk.remove_prefix(nl + 1);
    handleLine(c, line);
  }
}

void ControlServer::handleLine(Client& c, std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return;
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
    writeLine(c, errorAnswer("missing \"cmd\" (status, history, run, reload, watch)"));
    return;
  }
  if (c.pending >= opt_.max_pending) {
    writeLine(c, errorAnswer("too many requests awaiting an answer on this connection"));
    return;
  }
  ++c.pending;
  ClientId id = c.id;
  std::weak_ptr<bool> alive = alive_;
  try {
    handler_(id, req);
  } catch (const std::exception& e) {
    if (alive.lock()) reply(id, errorAnswer(std::string("internal error: ") + e.what()));
  }
}

bool ControlServer::reply(ClientId id, const json& answer) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return false;
  Client& c = *it->second;
  if (c.pending > 0) --c.pending;
  c.last_active = uv_now(loop_);
  return writeLine(c, answer);
}

bool ControlServer::send(ClientId id, const json& line) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return false;
  return writeLine(*it->second, line);
}

void ControlServer::setWatching(ClientId id, bool watching) {
  auto it = clients_.find(id);
  if (it != clients_.end()) it->second->watching = watching;
}

void ControlServer::broadcast(const json& line) {
  std::vector<ClientId> ids;
  for (auto& [id, c] : clients_)
    if (c->watching) ids.push_back(id);
  for (auto id : ids) send(id, line);
}

bool ControlServer::writeLine(Client& c, const json& j) {
  if (c.closing) return false;
  return writeText(c, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

bool ControlServer::replyLine(ClientId id, std::string line) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return false;
  Client& c = *it->second;
  if (c.pending > 0) --c.pending;
  c.last_active = uv_now(loop_);
  return writeText(c, std::move(line));
}

bool ControlServer::writeText(Client& c, std::string line) {
  if (c.closing) return false;
  auto* w = new WriteReq;
  w->data = std::move(line);
  w->data += '\n';
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.pipe);
  std::size_t queued = uv_stream_get_write_queue_size(stream);
  if (queued > 0 && queued + w->data.size() > opt_.max_output) {
    delete w;
    closeClient(c, "not reading its answers (output cap reached)");
    return false;
  }
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  w->req.data = w;
  if (uv_write(&w->req, stream, &b, 1, onWrite) != 0) {
    delete w;
    closeClient(c, "write failed");
    return false;
  }
  return true;
}

void ControlServer::onWrite(uv_write_t* req, int) noexcept {
  delete static_cast<WriteReq*>(req->data);
}

void ControlServer::closeClient(Client& c, const char* why) {
  if (c.closing) return;
  c.closing = true;
  clients_.erase(c.id);
  if (why)
    logInfo("control: client " + std::to_string(c.id) + " closed: " + why);
  else
    logDebug("control: client " + std::to_string(c.id) + " disconnected");
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.pipe));
  uv_close(reinterpret_cast<uv_handle_t*>(&c.pipe),
           [](uv_handle_t* h) { delete static_cast<Client*>(h->data); });
}

void ControlServer::onSweep(uv_timer_t* t) noexcept {
  auto* self = static_cast<ControlServer*>(t->data);
  if (self) self->sweep();
}

void ControlServer::sweep() {
  uint64_t now = uv_now(loop_);
  auto limit = static_cast<uint64_t>(opt_.idle_timeout.count());
  std::vector<Client*> idle;
  for (auto& [id, c] : clients_)
    if (!c->watching && c->pending == 0 && now - c->last_active >= limit) idle.push_back(c);
  for (auto* c : idle) closeClient(*c, "idle");
}

}  // namespace pathwatch
