// An exclusive lock on a file, held for as long as its descriptor is open: the daemon holds one
// on its state directory so that a second daemon pointed at the same directory stops before it
// reads or writes the checkpoint. flock(2), so the kernel drops it when the holder dies, SIGKILL
// included: a restart never finds a stale lock.
#ifndef CRI_REBALANCER_FILE_LOCK_H
#define CRI_REBALANCER_FILE_LOCK_H

#include <string>

namespace filelock {

struct LockResult {
  int fd = -1;          // the descriptor holding the lock; -1 on failure
  int error = 0;        // errno of the step that failed (EWOULDBLOCK: another process holds it)
  std::string step;     // "open", "flock" or "write"
  std::string holder;   // on EWOULDBLOCK, what the holder wrote into the file (its pid)
};

// Opens `path` (created with mode 0600 when missing), takes an exclusive flock without waiting,
// and writes this process's pid into it for the message another process will show.
LockResult lockExclusive(const std::string& path);

}  // namespace filelock

#endif
