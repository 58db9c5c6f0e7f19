// Reading the config file: the one piece of I/O in the config domain. Only a
// regular file is read, never waited on: a FIFO or a device named by mistake
// (or by someone else) must not hang the daemon at start or on reload.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pathwatch/config.h"

namespace pathwatch {

Config loadConfigFile(const std::string& path) {
  // O_NONBLOCK: opening a FIFO without a writer returns at once instead of
  // blocking; O_NOCTTY: a terminal named by mistake never becomes ours.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    throw ConfigError(path, "", err == ENOENT    ? std::string("no such file")
                                : err == EACCES ? std::string("permission denied")
                                                : std::string("cannot open: ") + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw ConfigError(path, "", std::string("cannot stat: ") + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw ConfigError(path, "", "is a directory, not a config file");
  if (!S_ISREG(st.st_mode))
    throw ConfigError(path, "", "is not a regular file (a FIFO, socket or device); name a JSON file");
  // A config is a few KiB; refuse anything absurd rather than read it all.
  const std::string too_big = "larger than 1 MiB; not a config file";
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) throw ConfigError(path, "", too_big);
  std::string text;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ConfigError(path, "", std::string("cannot read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    // The size can grow while it is read (a file being written): bound the read too.
    if (text.size() > kMaxConfigBytes) throw ConfigError(path, "", too_big);
  }
  return parseConfig(text, path);
}

}  // namespace pathwatch
