// move_pages(2) and migrate_pages(2). Each call is one bounded piece of work; the caller (the
// TypeScript migrator) sizes batches, paces them and retries, from a worker thread.
#ifndef CRI_REBALANCER_PAGE_MIGRATION_H
#define CRI_REBALANCER_PAGE_MIGRATION_H

#include <cstdint>
#include <string>
#include <vector>

namespace migration {

struct BatchResult {
  std::vector<int32_t> before;  // node of each page before, or -errno (-ENOENT: not present)
  std::vector<int32_t> after;   // node after, or -errno of the move; == before for skipped pages
  uint64_t elapsedNs = 0;       // the whole batch: query + move
  uint64_t moveNs = 0;          // the move_pages call that migrated pages (0 when none needed)
  int error = 0;                // errno of a failed call (ESRCH, EPERM, ...), 0 when it worked
};

// Queries where each page is, then moves the pages not yet on targetNode.
BatchResult movePagesToNode(int pid, const std::vector<uint64_t>& addresses, int targetNode, bool moveShared);

// Where each page is (node or -errno); error is the call's errno.
std::vector<int32_t> queryPageNodes(int pid, const std::vector<uint64_t>& addresses, int* error);

struct WholeResult {
  int64_t notMoved = 0;  // pages the kernel could not move
  uint64_t elapsedNs = 0;
  int error = 0;
};

WholeResult migrateProcessPages(int pid, const std::vector<int>& fromNodes, const std::vector<int>& toNodes);

// Moves one page of this process to the node it is on: "" when move_pages works here, else why not.
std::string probeMovePages();

std::string errnoText(int err);

}  // namespace migration

#endif
