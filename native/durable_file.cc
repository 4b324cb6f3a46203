#include "durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

namespace durable {
namespace {

ReplaceResult failed(const char* step, int error, const std::string& tempPath) {
  unlink(tempPath.c_str());
  return ReplaceResult{error, step};
}

}  // namespace

ReplaceResult replaceFile(const std::string& path, const std::string& tempPath, const std::string& bytes, unsigned mode) {
  const int fd = open(tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ReplaceResult{errno, "open"};  // nothing was created
  for (size_t written = 0; written < bytes.size();) {
    const ssize_t count = write(fd, bytes.data() + written, bytes.size() - written);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      const int error = errno;
      close(fd);
      return failed("write", error, tempPath);
    }
    written += static_cast<size_t>(count);
  }
  if (fdatasync(fd) != 0) {
    const int error = errno;
    close(fd);
    return failed("fdatasync", error, tempPath);
  }
  if (close(fd) != 0) return failed("close", errno, tempPath);
  if (rename(tempPath.c_str(), path.c_str()) != 0) return failed("rename", errno, tempPath);
  return ReplaceResult{};
}

}  // namespace durable
