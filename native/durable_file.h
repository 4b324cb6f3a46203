// A durable replace of one file in one call on one thread: the daemon's checkpoint is written
// before every create is forwarded, and each step of it as a separate trip through the thread
// pool costs more than the fsync itself on a busy node.
#ifndef CRI_REBALANCER_DURABLE_FILE_H
#define CRI_REBALANCER_DURABLE_FILE_H

#include <string>

namespace durable {

struct ReplaceResult {
  int error = 0;        // errno of the step that failed; 0 when the file was replaced
  std::string step;     // "open", "fstat", "fchmod", "write", "ftruncate", "fdatasync", "close" or "rename"
};

// Writes `bytes` into the temp file `sparePath` (opened, or created with `mode`), padded with
// spaces to a size it keeps from write to write, flushes it (fdatasync), and swaps it with `path`
// in one rename (RENAME_EXCHANGE): `path` then holds `bytes`, and `sparePath` the old content,
// ready to be overwritten by the next write. Overwriting blocks the file already has and keeping
// its size leave fdatasync no metadata to commit, and the exchange frees no inode: together
// about a quarter less per write than a new temp file renamed over the old one (`npm run
// bench:checkpoint` compares the two). Where `path` is missing or not a regular file, or the
// filesystem cannot exchange, it is a plain rename. On failure the temp file is removed and
// `path` stays as it was.
ReplaceResult replaceFile(const std::string& path, const std::string& sparePath, std::string bytes, unsigned mode);

}  // namespace durable

#endif
