#include "durable_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace durable {
namespace {

constexpr size_t kBlockBytes = 4096;

ReplaceResult failed(const char* step, int error, const std::string& sparePath) {
  unlink(sparePath.c_str());
  return ReplaceResult{error, step};
}

// The spare's size for `length` bytes: the size it has while that fits and is not mostly
// padding; otherwise `length` rounded up to whole blocks.
size_t paddedSize(size_t length, size_t current) {
  const size_t blocks = (length + kBlockBytes - 1) / kBlockBytes * kBlockBytes;
  return current >= length && current <= 2 * blocks ? current : blocks;
}

bool writeAll(int fd, const std::string& bytes) {
  for (size_t written = 0; written < bytes.size();) {
    const ssize_t count = pwrite(fd, bytes.data() + written, bytes.size() - written, static_cast<off_t>(written));
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return false;
    written += static_cast<size_t>(count);
  }
  return true;
}

// Swaps the two names when `path` is a regular file the filesystem can exchange with; renames
// over it otherwise (which also gives the usual error for a directory in the way).
int swapIntoPlace(const std::string& sparePath, const std::string& path) {
  struct stat target;
  if (lstat(path.c_str(), &target) == 0 && S_ISREG(target.st_mode)) {
    if (renameat2(AT_FDCWD, sparePath.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) return errno;
  }
  return rename(sparePath.c_str(), path.c_str()) == 0 ? 0 : errno;
}

}  // namespace

ReplaceResult replaceFile(const std::string& path, const std::string& sparePath, std::string bytes, unsigned mode) {
  // O_NONBLOCK: something other than a file in the spare's place fails at fstat, not hangs here.
  const int fd = open(sparePath.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) return ReplaceResult{errno, "open"};  // nothing was created
  const auto fail = [&](const char* step, int error) {
    close(fd);
    return failed(step, error, sparePath);
  };
  struct stat spare;
  if (fstat(fd, &spare) != 0) return fail("fstat", errno);
  if (!S_ISREG(spare.st_mode)) return fail("fstat", EINVAL);
  if ((spare.st_mode & 07777) != mode && fchmod(fd, mode) != 0) return fail("fchmod", errno);
  const size_t current = static_cast<size_t>(spare.st_size);
  bytes.resize(paddedSize(bytes.size(), current), ' ');
  if (!writeAll(fd, bytes)) return fail("write", errno);
  if (bytes.size() < current && ftruncate(fd, static_cast<off_t>(bytes.size())) != 0) return fail("ftruncate", errno);
  if (fdatasync(fd) != 0) return fail("fdatasync", errno);
  if (close(fd) != 0) return failed("close", errno, sparePath);
  const int error = swapIntoPlace(sparePath, path);
  if (error != 0) return failed("rename", error, sparePath);
  return ReplaceResult{};
}

}  // namespace durable
