#include "page_migration.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace migration {
namespace {

constexpr int kMoveFlag = 1 << 1;     // MPOL_MF_MOVE: pages mapped only by this process
constexpr int kMoveAllFlag = 1 << 2;  // MPOL_MF_MOVE_ALL: shared pages too (CAP_SYS_NICE)
constexpr unsigned kMaskBits = 1024;  // MAX_NUMNODES on distribution kernels
constexpr size_t kInitialBatchPages = 64;
constexpr size_t kMinBatchPages = 16;
constexpr size_t kMaxBatchPages = 16384;
constexpr size_t kRecentCalls = 5;
// Aim at 60% of the budget. A move call costs ~0.3 ms plus ~40 µs a page (measured in the TCG
// guest), so calls this size lose ~3% to the fixed part, and the rest of the budget absorbs
// jitter and short stalls of the machine that a fuller call would turn into a call over budget.
constexpr double kBudgetFill = 0.6;

uint64_t clockNs(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t nowNs() { return clockNs(CLOCK_MONOTONIC); }

// Only read when calls are recorded: outside the vDSO it is a system call of its own.
uint64_t threadCpuNs() { return clockNs(CLOCK_THREAD_CPUTIME_ID); }

long movePagesCall(int pid, size_t count, void** pages, const int* nodes, int* status, int flags) {
  return syscall(SYS_move_pages, pid, count, pages, nodes, status, flags);
}

}  // namespace

std::string errnoText(int err) { return std::strerror(err); }

std::vector<uint64_t> listMovablePages(int pid, const std::vector<uint64_t>& ranges, uint64_t pageBytes, bool includeShared, int* error) {
  constexpr uint64_t kPresent = 1ull << 63;
  constexpr uint64_t kFileOrShared = 1ull << 61;
  constexpr size_t kChunkPages = 16384;
  *error = 0;
  std::vector<uint64_t> pages;
  const int pagemap = open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
  std::vector<uint64_t> entries(kChunkPages);
  for (size_t r = 0; r + 1 < ranges.size() && *error == 0; r += 2) {
    for (uint64_t first = ranges[r]; first < ranges[r + 1]; first += kChunkPages * pageBytes) {
      const size_t count = std::min<uint64_t>(kChunkPages, (ranges[r + 1] - first) / pageBytes);
      if (pagemap < 0) {
        for (size_t i = 0; i < count; ++i) pages.push_back(first + i * pageBytes);
        continue;
      }
      const ssize_t bytes = pread(pagemap, entries.data(), count * sizeof(uint64_t), static_cast<off_t>(first / pageBytes * sizeof(uint64_t)));
      if (bytes < 0) {
        *error = errno;
        break;
      }
      for (size_t i = 0; i < static_cast<size_t>(bytes) / sizeof(uint64_t); ++i) {
        if ((entries[i] & kPresent) != 0 && (includeShared || (entries[i] & kFileOrShared) == 0)) pages.push_back(first + i * pageBytes);
      }
    }
  }
  if (pagemap >= 0) close(pagemap);
  return pages;
}

std::vector<int32_t> queryPageNodes(int pid, const std::vector<uint64_t>& addresses, int* error) {
  std::vector<void*> pages(addresses.size());
  for (size_t i = 0; i < addresses.size(); ++i) pages[i] = reinterpret_cast<void*>(addresses[i]);
  std::vector<int32_t> status(addresses.size(), 0);
  *error = 0;
  if (!addresses.empty() && movePagesCall(pid, pages.size(), pages.data(), nullptr, status.data(), 0) != 0) {
    *error = errno;
  }
  return status;
}

void Cancellation::cancel() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.store(true);
  }
  wake_.notify_all();
}

bool Cancellation::sleepFor(uint64_t ns) {
  std::unique_lock<std::mutex> lock(mutex_);
  return !wake_.wait_for(lock, std::chrono::nanoseconds(ns), [this] { return cancelled_.load(); });
}

size_t nextBatchPages(const std::vector<double>& recentNsPerPage, size_t lastPages, uint64_t budgetNs) {
  const size_t growthCap = std::min(kMaxBatchPages, lastPages * 2);
  std::vector<double> sorted = recentNsPerPage;
  std::sort(sorted.begin(), sorted.end());
  const double nsPerPage = sorted.empty() ? 0 : sorted[sorted.size() / 2];
  if (nsPerPage <= 0) return std::max(kMinBatchPages, growthCap);
  const double fitting = kBudgetFill * static_cast<double>(budgetNs) / nsPerPage;
  return std::max(kMinBatchPages, std::min(growthCap, static_cast<size_t>(fitting)));
}

namespace {

// One paced move's state: the pages still to move and the counts so far.
class PacedMove {
 public:
  PacedMove(const std::vector<uint64_t>& ranges, const PacedOptions& options, Cancellation& cancellation,
            const std::function<void(const PacedProgress&)>& onProgress)
      : ranges_(ranges), options_(options), cancellation_(cancellation), onProgress_(onProgress), start_(nowNs()) {}

  PacedResult run() {
    addresses_ = listMovablePages(options_.pid, ranges_, options_.pageBytes, options_.moveShared, &result_.error);
    result_.progress.pagesSeen = addresses_.size();
    result_.progress.listNs = nowNs() - start_;
    std::vector<void*> pending = queryAll();
    for (int round = 0; !pending.empty() && !stopped(); ++round) {
      const bool retriesLeft = round < options_.maxRetries;
      if (round > 0) {
        result_.progress.pagesRetried += pending.size();
        result_.progress.pacingNs += pause(options_.retryDelayNs);
        if (stopped()) break;
      }
      pending = moveAll(pending, retriesLeft);
    }
    result_.cancelled = cancellation_.cancelled();
    result_.progress.elapsedNs = nowNs() - start_;
    return std::move(result_);
  }

 private:
  bool stopped() const { return result_.error != 0 || cancellation_.cancelled(); }

  // Sleeps until ns passed or the move is cancelled; returns the time asleep.
  uint64_t pause(uint64_t ns) {
    const uint64_t before = nowNs();
    cancellation_.sleepFor(ns);
    return nowNs() - before;
  }

  void countCall(uint64_t ns) {
    result_.progress.calls++;
    result_.progress.maxCallNs = std::max(result_.progress.maxCallNs, ns);
    result_.progress.elapsedNs = nowNs() - start_;
    onProgress_(result_.progress);
  }

  // Where every page is, in budget-sized query calls; returns the pages not on the target.
  std::vector<void*> queryAll() {
    std::vector<void*> pages(addresses_.size());
    for (size_t i = 0; i < pages.size(); ++i) pages[i] = reinterpret_cast<void*>(addresses_[i]);
    std::vector<int> status(pages.size(), 0);
    std::vector<void*> pending;
    std::vector<double> recent;
    size_t batch = kInitialBatchPages;
    for (size_t offset = 0; offset < pages.size() && !stopped();) {
      const size_t count = std::min(batch, pages.size() - offset);
      const uint64_t callStart = nowNs();
      const long rc = movePagesCall(options_.pid, count, pages.data() + offset, nullptr, status.data() + offset, 0);
      const uint64_t callNs = nowNs() - callStart;
      result_.progress.queryNs += callNs;
      if (rc != 0) result_.error = errno;
      for (size_t i = offset; i < offset + count && rc == 0; ++i) {
        if (status[i] == options_.targetNode) result_.progress.pagesAlreadyThere++;
        else pending.push_back(pages[i]);
      }
      countCall(callNs);
      remember(recent, callNs, count);
      offset += count;
      batch = nextBatchPages(recent, count, options_.budgetNs);
    }
    return pending;
  }

  // One round of move calls over pages by options_.movers threads taking batches in turn; returns
  // the pages to retry. More movers overlap calls: more throughput for more CPUs, calls slower
  // side by side (measured in the TCG guest: 2 movers +13%, a third more calls over budget).
  std::vector<void*> moveAll(const std::vector<void*>& pages, bool retriesLeft) {
    std::vector<int> status(pages.size(), 0);
    std::vector<void*> retry;
    const size_t largest = std::min(pages.size(), kMaxBatchPages);
    if (nodes_.size() < largest) nodes_.assign(largest, options_.targetNode);
    size_t next = 0;
    auto mover = [&]() {
      std::unique_lock<std::mutex> lock(mutex_);
      while (next < pages.size() && !stopped()) {
        const size_t offset = next;
        const size_t count = std::min(batch_, pages.size() - offset);
        next += count;
        lock.unlock();
        const uint64_t cpuStart = options_.recordCalls ? threadCpuNs() : 0;
        const int cpuBefore = options_.recordCalls ? sched_getcpu() : -1;
        const uint64_t callStart = nowNs();
        // A positive return is the number of pages not migrated; their status says why. The
        // kernel only reads the page list.
        const long rc = movePagesCall(options_.pid, count, const_cast<void**>(pages.data()) + offset, nodes_.data(),
                                      status.data() + offset, options_.moveShared ? kMoveAllFlag : kMoveFlag);
        const uint64_t callNs = nowNs() - callStart;
        const int callError = rc < 0 ? errno : 0;
        const uint64_t callCpuNs = options_.recordCalls ? threadCpuNs() - cpuStart : 0;
        const int callCpu = options_.recordCalls && sched_getcpu() == cpuBefore ? cpuBefore : -1;
        lock.lock();
        result_.progress.moveNs += callNs;
        if (callError != 0) result_.error = callError;
        for (size_t i = offset; i < offset + count && callError == 0; ++i) {
          const int page = status[i];
          if (page == options_.targetNode) result_.progress.pagesMoved++;
          else if (retriesLeft && isTransient(page)) retry.push_back(pages[i]);
          else result_.failedByErrno[page < 0 ? -page : 0]++;
        }
        if (options_.recordCalls) {
          result_.callPages.push_back(static_cast<uint32_t>(count));
          result_.callStartNs.push_back(callStart);
          result_.callNs.push_back(callNs);
          result_.callCpuNs.push_back(callCpuNs);
          result_.callCpu.push_back(callCpu);
        }
        countCall(callNs);
        remember(recentMoves_, callNs, count);
        batch_ = nextBatchPages(recentMoves_, count, options_.budgetNs);
        const uint64_t waitNs = capWaitNs();
        if (waitNs > 0) {
          lock.unlock();
          const uint64_t sleptNs = pause(waitNs);
          lock.lock();
          result_.progress.pacingNs += sleptNs;
        }
      }
    };
    std::vector<std::thread> helpers;
    for (int i = 1; i < options_.movers; ++i) helpers.emplace_back(mover);
    mover();
    for (std::thread& helper : helpers) helper.join();
    return retry;
  }

  static bool isTransient(int status) { return status == -ENOENT || status == -EBUSY || status == -EAGAIN; }

  static void remember(std::vector<double>& recent, uint64_t callNs, size_t pages) {
    if (recent.size() == kRecentCalls) recent.erase(recent.begin());
    recent.push_back(static_cast<double>(callNs) / static_cast<double>(pages));
  }

  // How long to wait until the bytes moved so far fit under the bandwidth cap.
  uint64_t capWaitNs() const {
    if (options_.maxBytesPerSec <= 0) return 0;
    const double bytes = static_cast<double>(result_.progress.pagesMoved * options_.pageBytes);
    const double dueNs = bytes / options_.maxBytesPerSec * 1e9;
    const double elapsedNs = static_cast<double>(nowNs() - start_);
    return dueNs > elapsedNs ? static_cast<uint64_t>(dueNs - elapsedNs) : 0;
  }

  const std::vector<uint64_t>& ranges_;
  std::vector<uint64_t> addresses_;
  const PacedOptions& options_;
  Cancellation& cancellation_;
  const std::function<void(const PacedProgress&)>& onProgress_;
  const uint64_t start_;
  PacedResult result_;
  std::vector<int> nodes_;
  std::vector<double> recentMoves_;
  size_t batch_ = kInitialBatchPages;
  std::mutex mutex_;  // the movers' shared state: result_, recentMoves_, batch_
};

}  // namespace

PacedResult movePagesPaced(const std::vector<uint64_t>& ranges, const PacedOptions& options, Cancellation& cancellation,
                           const std::function<void(const PacedProgress&)>& onProgress) {
  return PacedMove(ranges, options, cancellation, onProgress).run();
}

WholeResult migrateProcessPages(int pid, const std::vector<int>& fromNodes, const std::vector<int>& toNodes) {
  constexpr unsigned kWordBits = 8 * sizeof(unsigned long);
  std::vector<unsigned long> from(kMaskBits / kWordBits, 0), to(kMaskBits / kWordBits, 0);
  WholeResult result;
  for (int node : fromNodes) {
    if (node < 0 || static_cast<unsigned>(node) >= kMaskBits) { result.error = EINVAL; return result; }
    from[node / kWordBits] |= 1ul << (node % kWordBits);
  }
  for (int node : toNodes) {
    if (node < 0 || static_cast<unsigned>(node) >= kMaskBits) { result.error = EINVAL; return result; }
    to[node / kWordBits] |= 1ul << (node % kWordBits);
  }
  const uint64_t start = nowNs();
  // The kernel reads maxnode - 1 bits.
  long rc = syscall(SYS_migrate_pages, pid, kMaskBits + 1, from.data(), to.data());
  result.elapsedNs = nowNs() - start;
  if (rc < 0) result.error = errno;
  else result.notMoved = rc;
  return result;
}

std::string probeMovePages() {
  const long pageBytes = sysconf(_SC_PAGESIZE);
  void* page = mmap(nullptr, pageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
  static_cast<volatile char*>(page)[0] = 1;
  std::string reason;
  int node = -1;
  if (movePagesCall(0, 1, &page, nullptr, &node, 0) != 0) {
    reason = std::string("move_pages (query): ") + std::strerror(errno);
  } else if (node < 0) {
    reason = std::string("move_pages (query) status: ") + std::strerror(-node);
  } else {
    int status = -1;
    if (movePagesCall(0, 1, &page, &node, &status, kMoveFlag) != 0) {
      reason = std::string("move_pages: ") + std::strerror(errno);
    } else if (status != node) {
      reason = std::string("move_pages status: ") + (status < 0 ? std::strerror(-status) : "wrong node");
    }
  }
  munmap(page, pageBytes);
  return reason;
}

}  // namespace migration
