#include "file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace filelock {
namespace {

std::string readHolder(int fd) {
  char buffer[32];
  const ssize_t count = pread(fd, buffer, sizeof buffer - 1, 0);
  return count > 0 ? std::string(buffer, static_cast<size_t>(count)) : std::string();
}

LockResult failed(int fd, const char* step, int error) {
  LockResult result{-1, error, step, error == EWOULDBLOCK ? readHolder(fd) : std::string()};
  close(fd);
  return result;
}

}  // namespace

LockResult lockExclusive(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return LockResult{-1, errno, "open", ""};
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) return failed(fd, "flock", errno);
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) return failed(fd, "write", errno);
  return LockResult{fd, 0, "", ""};
}

}  // namespace filelock
