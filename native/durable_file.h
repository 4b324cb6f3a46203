// A durable replace of one file in one call on one thread: the daemon's checkpoint is written
// before every create is forwarded, and each step of it as a separate trip through the thread
// pool costs more than the fsync itself on a busy node.
#ifndef CRI_REBALANCER_DURABLE_FILE_H
#define CRI_REBALANCER_DURABLE_FILE_H

#include <string>

namespace durable {

struct ReplaceResult {
  int error = 0;        // errno of the step that failed; 0 when the file was replaced
  std::string step;     // "open", "write", "fdatasync", "close" or "rename"
};

// Writes `bytes` to `tempPath` (created, never reused: O_EXCL, with `mode`), flushes it to disk
// (fdatasync), closes it and renames it over `path`. On failure the temp file is removed and the
// old file stays as it was.
ReplaceResult replaceFile(const std::string& path, const std::string& tempPath, const std::string& bytes, unsigned mode);

}  // namespace durable

#endif
