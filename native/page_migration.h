// move_pages(2) and migrate_pages(2). A paced move runs all its batches on one thread (no
// round trip to JavaScript per batch); each kernel call is one bounded piece of work.
#ifndef CRI_REBALANCER_PAGE_MIGRATION_H
#define CRI_REBALANCER_PAGE_MIGRATION_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace migration {

// A paced move of many pages to one node, run start to end on one thread: which pages there are
// (listMovablePages), where each one is (queried once, in budget-sized calls), then move_pages in
// batches sized from the measured cost per page to fill ~60% of the time budget, rounds of
// retries for transient statuses, sleeps only when the bandwidth cap needs them, and a stop
// between calls when cancelled.
struct PacedOptions {
  int pid = 0;
  int targetNode = 0;
  bool moveShared = false;
  uint64_t budgetNs = 20000000;
  double maxBytesPerSec = 0;  // 0: uncapped
  int maxRetries = 3;
  uint64_t retryDelayNs = 10000000;
  uint64_t pageBytes = 4096;
  bool recordCalls = false;  // keep every move call's page count and duration
  int movers = 1;            // threads taking batches in turn (see moveAll)
};

struct PacedProgress {
  uint64_t pagesSeen = 0;
  uint64_t pagesMoved = 0;
  uint64_t pagesAlreadyThere = 0;
  uint64_t pagesRetried = 0;
  uint64_t calls = 0;  // query and move calls
  uint64_t maxCallNs = 0;
  uint64_t elapsedNs = 0;
  uint64_t listNs = 0;    // time listing the pages (pagemap)
  uint64_t queryNs = 0;   // time inside query calls
  uint64_t moveNs = 0;    // time inside move calls
  uint64_t pacingNs = 0;  // time asleep for the bandwidth cap and before retry rounds
};

struct PacedResult {
  PacedProgress progress;
  std::map<int, uint64_t> failedByErrno;  // pages that failed for good; key 0: kept on another node
  int error = 0;                          // errno of a failed call (ESRCH, EPERM, ...)
  bool cancelled = false;
  // With recordCalls, per move call: its pages, start (CLOCK_MONOTONIC), duration, the calling
  // thread's CPU time in it (the rest it slept) and the CPU it ran on (-1: it changed CPUs).
  std::vector<uint32_t> callPages;
  std::vector<uint64_t> callStartNs;
  std::vector<uint64_t> callNs;
  std::vector<uint64_t> callCpuNs;
  std::vector<int32_t> callCpu;
};

// Set from any thread; wakes a sleeping migration.
class Cancellation {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Sleeps up to ns; false when cancelled.
  bool sleepFor(uint64_t ns);

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
};

// The next batch's size from the recent calls' cost per page (ns): fills 60% of the budget at the
// median of the last five costs (a lone stall of the machine, which strikes a call of any size,
// does not shrink the batches; a lasting slowdown does, at once), at most doubling the last batch
// (each call has a fixed cost, so the cost per page falls as batches grow: growing is safe).
size_t nextBatchPages(const std::vector<double>& recentNsPerPage, size_t lastPages, uint64_t budgetNs);

// ranges: start, end pairs (the mappings to move).
PacedResult movePagesPaced(const std::vector<uint64_t>& ranges, const PacedOptions& options, Cancellation& cancellation,
                           const std::function<void(const PacedProgress&)>& onProgress);

// The pages of the ranges (start, end pairs) worth a move_pages call: from /proc/PID/pagemap, the
// present pages, anonymous and private ones only unless includeShared (moveShared): what a
// container's traffic is about is its own memory, while the page cache is shared by design. Every
// page of the ranges where pagemap cannot be opened (move_pages reports the absent ones).
// error: errno of a failed read.
std::vector<uint64_t> listMovablePages(int pid, const std::vector<uint64_t>& ranges, uint64_t pageBytes, bool includeShared, int* error);

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
